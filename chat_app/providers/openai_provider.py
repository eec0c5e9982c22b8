"""Adapter for OpenAI and every OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp).

One ``AsyncOpenAI`` client per adapter, so all chats share its connection pool. The SDK's own
retries are off: it would retry a stream after tokens had already reached the user, and it
cannot tell "before the first token" from "mid-reply". Retries happen here instead, only while
nothing has been shown yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast
from urllib.parse import urlparse

import anyio
import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from .base import ChatTurn, ModelInfo, ProviderError, StreamEnd, TextDelta
from .openai_chunks import MalformedChunk, parse_chunk
from .openai_errors import MappedError, map_error
from .sse import read_events

if TYPE_CHECKING:
    from chat_app.core.settings import Settings

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_API_KEY = "not-needed"
# A model list that takes longer than this is not worth blocking the model picker for.
LIST_MODELS_TIMEOUT_SECONDS = 10.0
# Ids on /models that cannot chat; OpenAI lists dozens of them, Ollama lists embedders.
_NON_CHAT_MARKERS = (
    "embed",
    "whisper",
    "tts",
    "dall-e",
    "moderation",
    "transcribe",
    "davinci",
    "babbage",
    "image",
    "sora",
    "realtime",
)

# A healthy server never sends an unreadable chunk; a few (a proxy mangling one event) are
# survivable, a stream of them means nothing sensible is coming.
MAX_MALFORMED_CHUNKS = 10
# One SSE event larger than this is dropped as malformed rather than buffered: far above any
# real chunk, and above MAX_REPLY_CHARS' default (100,000 characters, even JSON-escaped).
MAX_EVENT_BYTES = 4 * 1024 * 1024
# After [DONE], what is left of the body is read (briefly) so the connection can be reused.
DRAIN_SECONDS = 0.1
# A body read that took longer than this went to the socket (see _PacedRead).
SOCKET_READ_SECONDS = 0.0005

MaxTokensParam = Literal["max_tokens", "max_completion_tokens"]


@dataclass
class _StreamProgress:
    """What one attempt learned besides text; filled in by ``_raw_stream``."""

    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    malformed: int = 0


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str = "",
        base_url: str = "",
        timeout_seconds: float = 60.0,
        connect_timeout_seconds: float = 10.0,
        max_retries: int = 2,
        default_model: str = "",
        fallback_models: Sequence[str] = (),
        retry_base_delay: float = 0.5,
        max_retry_wait: float = 4.0,
        max_tokens_param: MaxTokensParam | None = None,
        max_malformed_chunks: int = MAX_MALFORMED_CHUNKS,
        max_event_bytes: int = MAX_EVENT_BYTES,
        read_interval_seconds: float = 0.0,
    ) -> None:
        """Build the adapter and its client; pass everything explicitly (no environment).

        ``max_retry_wait`` caps one backoff pause; a ``Retry-After`` longer than that is not
        waited out but reported, since the user is watching a spinner meanwhile.
        ``max_tokens_param`` defaults to ``max_completion_tokens`` for api.openai.com (its
        reasoning models reject ``max_tokens``) and ``max_tokens`` elsewhere (older local
        servers only know that one). ``max_malformed_chunks`` unreadable chunks in one reply
        are skipped (and logged); one more ends the reply, keeping the text that arrived.
        ``read_interval_seconds`` > 0: once the first text has arrived, the body is read at most
        that often (see ``_PacedRead``); 0 reads every chunk the moment it arrives.
        """
        self.base_url = base_url.strip() or OPENAI_BASE_URL
        self.default_model = default_model
        self.fallback_models = list(fallback_models) or ([default_model] if default_model else [])
        self._max_retries = max(0, max_retries)
        self._retry_base_delay = retry_base_delay
        self._max_retry_wait = max_retry_wait
        self._max_tokens_param: MaxTokensParam = max_tokens_param or (
            "max_completion_tokens" if _is_official_openai(self.base_url) else "max_tokens"
        )
        self._max_malformed_chunks = max(0, max_malformed_chunks)
        self._max_event_bytes = max_event_bytes
        self._read_interval = max(0.0, read_interval_seconds)
        self._list_timeout = min(timeout_seconds, LIST_MODELS_TIMEOUT_SECONDS)
        # Explicit api_key and base_url also stop the SDK from falling back to os.environ.
        self._client = openai.AsyncOpenAI(
            api_key=api_key or PLACEHOLDER_API_KEY,
            base_url=self.base_url,
            timeout=openai.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            max_retries=0,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        return cls(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout_seconds=settings.provider_timeout_seconds,
            connect_timeout_seconds=settings.provider_connect_timeout_seconds,
            max_retries=settings.provider_max_retries,
            default_model=settings.default_model,
            fallback_models=settings.fallback_models,
            read_interval_seconds=settings.provider_read_interval_seconds,
        )

    async def aclose(self) -> None:
        await self._client.close()

    # ---- models ----------------------------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        try:
            page = await self._client.models.list(timeout=self._list_timeout)
            ids = [model.id for model in page.data]
        except Exception as exc:  # any failure: the picker still needs something to show
            log.warning("Listing models failed, using the configured list: %s", exc)
            ids = []
        return self._model_infos(ids or self.fallback_models)

    def _model_infos(self, ids: Sequence[str]) -> list[ModelInfo]:
        unique = sorted(set(ids))
        chat_ids = [i for i in unique if i == self.default_model or not _looks_non_chat(i)]
        chat_ids = chat_ids or unique  # never filter a server's whole list away
        chat_ids.sort(key=lambda i: i != self.default_model)  # stable: default first
        return [ModelInfo(id=i, label=i) for i in chat_ids]

    # ---- chat ------------------------------------------------------------------------------

    async def stream_chat(
        self, *, model: str, messages: Sequence[ChatTurn], max_tokens: int
    ) -> AsyncGenerator[TextDelta | StreamEnd, None]:
        payload = _to_openai_messages(messages)
        attempt = 0
        started = False
        while True:
            progress = _StreamProgress()
            chunks = self._raw_stream(model, payload, max_tokens, progress)
            failure: MappedError | None = None
            try:
                while True:
                    # The yield stays outside this try so nothing thrown into the generator by
                    # the consumer is mistaken for a provider failure.
                    try:
                        text = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except Exception as exc:
                        if progress.finish_reason is not None and isinstance(
                            exc, openai.APIConnectionError
                        ):
                            break  # the reply was complete; only the usage chunk got lost
                        failure = map_error(exc, mid_stream=started)
                        if failure.error is not exc:
                            failure.error.__cause__ = exc
                        break
                    started = True
                    yield TextDelta(text)
            finally:
                await chunks.aclose()

            if failure is None and progress.finish_reason is None:
                failure = _ended_without_finish(started)
            if failure is None:
                yield StreamEnd(
                    finish_reason=progress.finish_reason,
                    prompt_tokens=progress.prompt_tokens,
                    completion_tokens=progress.completion_tokens,
                )
                return
            delay = None if started else self._retry_delay(attempt, failure)
            if delay is None:
                log.warning("Chat stream failed (%s): %s", failure.error.kind, failure.error)
                raise failure.error
            log.info("Retrying chat stream in %.2fs after: %s", delay, failure.error)
            await asyncio.sleep(delay)
            attempt += 1

    async def _raw_stream(
        self,
        model: str,
        payload: list[ChatCompletionMessageParam],
        max_tokens: int,
        progress: _StreamProgress,
    ) -> AsyncGenerator[str, None]:
        # The raw body, read by our own tolerant SSE reader: the SDK's stream iterator ends
        # for good at the first chunk it cannot decode (see sse.py).
        request = self._client.chat.completions.with_streaming_response.create(
            model=model,
            messages=payload,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=self._tokens_if("max_tokens", max_tokens),
            max_completion_tokens=self._tokens_if("max_completion_tokens", max_tokens),
        )
        pace = _PacedRead(self._read_interval)
        async with (
            request as response,  # closing the response frees the connection on early exit
            aclosing(_body(response.http_response, pace)) as body,
            aclosing(read_events(body, max_event_bytes=self._max_event_bytes)) as events,
        ):
            async for event in events:
                if event.data.startswith("[DONE]") and not event.oversized:
                    await _drain(body)
                    return
                try:
                    chunk = parse_chunk(event)
                except MalformedChunk as exc:
                    progress.malformed += 1
                    log.warning(
                        "Skipped malformed chunk %d from the model provider: %s",
                        progress.malformed,
                        exc,
                    )
                    if progress.malformed > self._max_malformed_chunks:
                        raise ProviderError(
                            "bad_stream",
                            detail=f"{progress.malformed} malformed chunks; last: {exc}",
                        ) from exc
                    continue
                if chunk.error is not None:
                    raise _stream_error(chunk.error, response.http_response.request)
                if chunk.prompt_tokens is not None or chunk.completion_tokens is not None:
                    progress.prompt_tokens = chunk.prompt_tokens
                    progress.completion_tokens = chunk.completion_tokens
                if chunk.text:
                    pace.started = True
                    yield chunk.text
                if chunk.finish_reason:
                    progress.finish_reason = chunk.finish_reason

    async def complete(self, *, model: str, messages: Sequence[ChatTurn], max_tokens: int) -> str:
        payload = _to_openai_messages(messages)
        attempt = 0
        while True:
            try:
                response = await self._client.chat.completions.create(
                    model=model,
                    messages=payload,
                    max_tokens=self._tokens_if("max_tokens", max_tokens),
                    max_completion_tokens=self._tokens_if("max_completion_tokens", max_tokens),
                )
            except Exception as exc:
                failure = map_error(exc, mid_stream=False)
                delay = self._retry_delay(attempt, failure)
                if delay is None:
                    log.warning("Completion failed (%s): %s", failure.error.kind, failure.error)
                    raise failure.error from exc
                await asyncio.sleep(delay)
                attempt += 1
                continue
            if not response.choices:
                return ""
            return (response.choices[0].message.content or "").strip()

    # ---- helpers ---------------------------------------------------------------------------

    def _retry_delay(self, attempt: int, failure: MappedError) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up."""
        if not failure.retryable or attempt >= self._max_retries:
            return None
        retry_after = failure.error.retry_after
        if retry_after is not None:
            return retry_after if retry_after <= self._max_retry_wait else None
        return min(self._retry_base_delay * 2**attempt, self._max_retry_wait)

    def _tokens_if(self, param: MaxTokensParam, max_tokens: int) -> int | openai.Omit:
        """Send the cap under exactly one of the two names; some servers reject the other."""
        return max_tokens if param == self._max_tokens_param else openai.omit


@dataclass
class _PacedRead:
    """Fewer, larger socket reads of a streaming body once its first text has arrived.

    A server streams one small event per token (50 a second per reply), and each one that is
    read off the socket on its own costs a trip through anyio and the event loop: at 200
    replies, 10,000 a second. After a read that had to wait for the socket, the next one waits
    ``interval`` first, so the kernel collects the events meanwhile and one socket read takes
    them all; events already buffered (several HTTP chunks from one read) are taken at once.
    Nothing is lost or reordered; text reaches viewers at most ``interval`` later (the UI
    flushes less often than that anyway). The first text is never delayed.
    """

    interval: float
    started: bool = False
    pauses: int = 0
    _read_began: float = 0.0
    _waited_for_socket: bool = False

    async def before_read(self) -> None:
        if self.started and self.interval > 0 and self._waited_for_socket:
            self.pauses += 1
            await asyncio.sleep(self.interval)
        self._read_began = time.monotonic()

    def after_read(self) -> None:
        # A chunk h11 already held comes back without a trip through the event loop (well
        # under a millisecond); one that needed the socket took at least a loop turn.
        self._waited_for_socket = time.monotonic() - self._read_began > SOCKET_READ_SECONDS


async def _body(response: httpx2.Response, pace: _PacedRead) -> AsyncGenerator[bytes, None]:
    """The response body, with transport failures raised as the SDK's own errors (which
    ``map_error`` knows), as its stream iterator would have."""
    try:
        chunks = response.aiter_bytes()
        while True:
            await pace.before_read()
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            pace.after_read()
            yield chunk
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream) as exc:
        raise openai.APIConnectionError(request=response.request) from exc


def _stream_error(error: dict[str, object], request: httpx2.Request) -> openai.APIError:
    """The error the SDK raises for an error event, so ``map_error`` treats both alike."""
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = "An error occurred during streaming"
    return openai.APIError(message, request, body=error)


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] for a moment; whatever happens there, the reply is complete."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in body:
                pass


def _ended_without_finish(started: bool) -> MappedError:
    """A body that ended cleanly but without a finish_reason: a proxy or server gave up."""
    detail = "stream ended without a finish_reason"
    if started:
        return MappedError(ProviderError("stream_cut", detail=detail), retryable=False)
    message = "The model provider ended the reply without sending any text. Please try again."
    return MappedError(ProviderError("server", message, detail=detail), retryable=True)


def _to_openai_messages(messages: Sequence[ChatTurn]) -> list[ChatCompletionMessageParam]:
    return [
        cast(ChatCompletionMessageParam, {"role": turn.role, "content": turn.content})
        for turn in messages
    ]


def _looks_non_chat(model_id: str) -> bool:
    lowered = model_id.lower()
    return any(marker in lowered for marker in _NON_CHAT_MARKERS)


def _is_official_openai(base_url: str) -> bool:
    return (urlparse(base_url).hostname or "").endswith("api.openai.com")
