"""Turn ``openai`` SDK exceptions into ``ProviderError`` and decide which are worth a retry.

Separate from the adapter so the mapping rules (which differ between OpenAI, Ollama, vLLM,
llama.cpp…) can be read and tested in one place.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import openai

from .base import ErrorKind, ProviderError

# OpenAI says "maximum context length"/code context_length_exceeded, vLLM copies it, llama.cpp
# says "exceeds the available context size", Anthropic-style proxies say "prompt is too long".
_CONTEXT_RE = re.compile(
    r"context[_ ]length|context size|context window|maximum context|prompt is too long"
    r"|too many tokens",
    re.IGNORECASE,
)
# Provider messages for plain 4xx (unknown model, bad parameter) help the user; keep them short.
_MAX_PROVIDER_MESSAGE = 300


@dataclass(frozen=True)
class MappedError:
    error: ProviderError
    # Transient before the first token: a new attempt may well succeed.
    retryable: bool


def map_error(exc: BaseException, *, mid_stream: bool) -> MappedError:
    """Classify ``exc``; ``mid_stream`` means text was already handed to the caller."""
    if isinstance(exc, ProviderError):
        # Already judged by the adapter (an unreadable stream): retrying would read it again.
        return MappedError(exc, retryable=False)
    detail = f"{type(exc).__name__}: {exc}"
    if mid_stream and isinstance(exc, openai.APIConnectionError):
        # Includes read timeouts between chunks: either way the reply stopped half-way.
        return MappedError(ProviderError("stream_cut", detail=detail), retryable=False)
    if isinstance(exc, openai.APITimeoutError):
        # Not retried: the wait already took the full timeout, a retry would double it.
        return MappedError(ProviderError("timeout", detail=detail), retryable=False)
    if isinstance(exc, openai.APIConnectionError):
        return MappedError(ProviderError("unreachable", detail=detail), retryable=True)
    if isinstance(exc, openai.APIStatusError):
        return _map_status(exc, detail)
    if isinstance(exc, openai.APIError):
        # An error event inside the SSE stream (vLLM, some proxies): no status code to go on.
        if _is_context_error(exc):
            return MappedError(ProviderError("context_too_long", detail=detail), retryable=False)
        kind: ErrorKind = "stream_cut" if mid_stream else "server"
        return MappedError(ProviderError(kind, detail=detail), retryable=False)
    return MappedError(ProviderError("server", detail=detail), retryable=False)


def _map_status(exc: openai.APIStatusError, detail: str) -> MappedError:
    status = exc.status_code
    detail = f"HTTP {status} {detail}"
    if status in (401, 403):
        # Never echo the provider message: OpenAI's includes a fragment of the key.
        return MappedError(ProviderError("auth", detail=detail), retryable=False)
    if status == 429:
        retry_after = retry_after_seconds(exc.response.headers)
        if exc.code == "insufficient_quota":
            message = "The model provider account has run out of credits or quota."
            return MappedError(
                ProviderError("rate_limited", message, retry_after=retry_after, detail=detail),
                retryable=False,
            )
        wait = math.ceil(retry_after) if retry_after else 0
        message = "The model provider is rate-limiting requests. Please try again " + (
            f"in {wait} second{'s' if wait != 1 else ''}." if wait else "in a moment."
        )
        return MappedError(
            ProviderError("rate_limited", message, retry_after=retry_after, detail=detail),
            retryable=True,
        )
    if status == 408:
        return MappedError(ProviderError("timeout", detail=detail), retryable=False)
    if status >= 500:
        return MappedError(ProviderError("server", detail=detail), retryable=True)
    if _is_context_error(exc):
        return MappedError(ProviderError("context_too_long", detail=detail), retryable=False)
    message = "The model provider rejected the request"
    provider_message = _provider_message(exc)
    message = f"{message}: {provider_message}" if provider_message else f"{message}."
    return MappedError(ProviderError("bad_request", message, detail=detail), retryable=False)


def _is_context_error(exc: openai.APIError) -> bool:
    return exc.code == "context_length_exceeded" or bool(_CONTEXT_RE.search(exc.message or ""))


def _provider_message(exc: openai.APIStatusError) -> str:
    """The ``error.message`` field of an OpenAI-shaped body, whitespace-folded and capped."""
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    text = " ".join(message.split())
    return text if len(text) <= _MAX_PROVIDER_MESSAGE else text[: _MAX_PROVIDER_MESSAGE - 1] + "…"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after``), if any."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
