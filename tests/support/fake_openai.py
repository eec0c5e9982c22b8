"""A fake OpenAI-compatible server that speaks real HTTP, for tests and benchmarks.

Requests go through the real ``openai`` SDK, so SSE framing, error bodies, status codes and
dropped connections are exercised exactly as in production. Timing (time to first token,
tokens per second) and faults are switchable at run time, in-process or over HTTP.

In-process (tests)::

    with start_fake_openai() as fake:          # port 0: a free port is picked
        fake.configure(reply_tokens=5, fault="429", retry_after=1, fault_times=1)
        ... OpenAIProvider(base_url=fake.base_url, api_key="x") ...
        fake.requests                           # JSON bodies received so far
        # Hostile output: text the SDK receives as JSON escapes (lone surrogates, NUL), one
        # huge chunk, raw broken events (names in INJECTABLE) after the first 2 chunks.
        fake.configure(reply_text="a\ud800\x00b", chunk_chars=200_000)
        fake.configure(inject=["invalid_json", "non_utf8_text"], inject_after_tokens=2)

As a process (benchmarks, manual checks)::

    python -m tests.support.fake_openai --host 127.0.0.1 --port 8999 --tokens-per-second 50
    curl -X POST localhost:8999/_control -d '{"fault": "500", "fault_times": 2}'

Faults apply to ``/v1/chat/completions`` only; ``/v1/models`` always answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.config import LOGGING_CONFIG

FAULTS = (None, "400", "401", "429", "500", "hang", "drop", "context_too_long")

# Raw SSE events a hostile or broken server sends, by name, for ``inject``. The "malformed"
# ones cannot be read as a chunk at all; the others are odd but carry readable text.
MALFORMED_EVENTS: dict[str, bytes] = {
    "invalid_json": b'data: {"choices": [{"index": 0, "delta": {"content": "cut\n\n',
    "not_json": b"data: this is not json\n\n",
    "empty_data": b"data:\n\n",
    "not_object": b"data: [1, 2, 3]\n\n",
    "wrong_shape": b'data: {"choices": "nope"}\n\n',
    "content_not_text": b'data: {"choices": [{"index": 0, "delta": {"content": 42}}]}\n\n',
    "non_utf8_garbage": b"data: \xff\xfe\xfa\x80\n\n",
}
READABLE_EVENTS: dict[str, bytes] = {
    # Latin-1 "é" (a lone 0xE9 byte) where UTF-8 was due: the text survives, the byte is U+FFFD.
    "non_utf8_text": b'data: {"choices": [{"index": 0, "delta": {"content": "caf\xe9 "}}]}\n\n',
    "comment": b": keep-alive\n\n",
    # Not malformed either: the server giving up mid-stream, the way vLLM and proxies do.
    "error_event": (
        b'data: {"error": {"message": "maximum context length exceeded", '
        b'"type": "invalid_request_error", "code": "context_length_exceeded"}}\n\n'
    ),
}
INJECTABLE = {**MALFORMED_EVENTS, **READABLE_EVENTS}
MAX_INJECTED = 1_000

# Everything is bounded so a misconfigured test or benchmark cannot wedge a run.
MAX_REPLY_TOKENS = 200_000
MAX_DELAY_SECONDS = 600.0
HANG_MAX_SECONDS = 300.0
MAX_RECORDED_REQUESTS = 10_000
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
GRACEFUL_SHUTDOWN_SECONDS = 2


@dataclass
class FakeConfig:
    ttft_ms: float = 0.0
    tokens_per_second: float | None = None
    reply_tokens: int = 16
    reply_text: str | None = None
    fault: str | None = None
    retry_after: float | None = None
    drop_after_tokens: int = 3
    fault_times: int | None = None
    # reply_text is sent in chunks of this many characters (one huge chunk: a big number).
    chunk_chars: int = 4
    # Raw events (names from INJECTABLE) sent after ``inject_after_tokens`` text chunks.
    inject: list[str] = field(default_factory=list)
    inject_after_tokens: int = 1
    # The "message" of the "400" fault's error body (what a server says about a bad request).
    error_message: str = "Invalid model name."
    models: list[str] = field(default_factory=lambda: ["fake-large", "fake-small"])

    def validate(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, not {self.fault!r}")
        if not 0 <= self.reply_tokens <= MAX_REPLY_TOKENS:
            raise ValueError(f"reply_tokens must be within 0..{MAX_REPLY_TOKENS}")
        if not 0 <= self.ttft_ms <= MAX_DELAY_SECONDS * 1000:
            raise ValueError(f"ttft_ms must be within 0..{MAX_DELAY_SECONDS * 1000:.0f}")
        if self.tokens_per_second is not None and self.tokens_per_second < 0:
            raise ValueError("tokens_per_second must be >= 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.drop_after_tokens < 0:
            raise ValueError("drop_after_tokens must be >= 0")
        if self.fault_times is not None and self.fault_times < 0:
            raise ValueError("fault_times must be >= 0 or None")
        if self.reply_text is not None and len(self.reply_text) > MAX_REPLY_TOKENS * 4:
            raise ValueError("reply_text is too long")
        if self.chunk_chars < 1:
            raise ValueError("chunk_chars must be >= 1")
        unknown = [name for name in self.inject if name not in INJECTABLE]
        if unknown or len(self.inject) > MAX_INJECTED:
            raise ValueError(f"inject takes at most {MAX_INJECTED} of {sorted(INJECTABLE)}")
        if self.inject_after_tokens < 0:
            raise ValueError("inject_after_tokens must be >= 0")


class _State:
    """Config, fault budget and request log, shared between the test thread and the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = FakeConfig()
        self._fault_remaining: int | None = None
        self._requests: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_REQUESTS)

    def configure(self, **changes: Any) -> FakeConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(FakeConfig)}
        if unknown:
            raise ValueError(f"unknown fake server settings: {sorted(unknown)}")
        if changes.get("fault") is not None:
            changes["fault"] = str(changes["fault"])
        with self._lock:
            config = dataclasses.replace(self._config, **changes)
            config.validate()
            self._config = config
            if "fault" in changes or "fault_times" in changes:
                self._fault_remaining = config.fault_times
            return dataclasses.replace(config)

    def reset(self) -> None:
        with self._lock:
            self._config = FakeConfig()
            self._fault_remaining = None
            self._requests.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **dataclasses.asdict(self._config),
                "fault_remaining": self._fault_remaining,
                "request_count": len(self._requests),
            }

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def admit(self, body: dict[str, Any]) -> tuple[FakeConfig, str | None]:
        """Record a chat request; return the config it runs under and the fault it gets."""
        with self._lock:
            self._requests.append(body)
            config = dataclasses.replace(self._config)
            fault = config.fault
            if fault is not None and self._fault_remaining is not None:
                if self._fault_remaining <= 0:
                    fault = None
                else:
                    self._fault_remaining -= 1
            return config, fault


# ---- OpenAI wire format ---------------------------------------------------------------------


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _error_response(fault: str, config: FakeConfig) -> Response:
    if fault == "401":
        body = _error_body(
            "Incorrect API key provided: sk-fake***. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
        return JSONResponse(body, status_code=401)
    if fault == "400":
        body = _error_body(config.error_message, "invalid_request_error", None, "model")
        # ASCII JSON (\uXXXX escapes): the message may hold text UTF-8 cannot encode.
        return Response(json.dumps(body), status_code=400, media_type="application/json")
    if fault == "429":
        headers = {}
        if config.retry_after is not None:
            headers["retry-after"] = f"{config.retry_after:g}"
        body = _error_body(
            "Rate limit reached for requests. Please try again later.",
            "requests",
            "rate_limit_exceeded",
        )
        return JSONResponse(body, status_code=429, headers=headers)
    if fault == "context_too_long":
        body = _error_body(
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9001 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        )
        return JSONResponse(body, status_code=400)
    body = _error_body(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    )
    return JSONResponse(body, status_code=500)


def _plan_reply(config: FakeConfig, body: dict[str, Any]) -> tuple[list[str], str]:
    """Tokens to send and the finish reason, honouring the request's token cap."""
    if config.reply_text is not None:
        text = config.reply_text
        size = config.chunk_chars
        tokens = [text[i : i + size] for i in range(0, len(text), size)]
    else:
        tokens = [f"tok{i} " for i in range(config.reply_tokens)]
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(cap, int) and 0 <= cap < len(tokens):
        return tokens[:cap], "length"
    return tokens, "stop"


def _prompt_tokens(body: dict[str, Any]) -> int:
    """A rough count (4 characters a token) so usage numbers look plausible."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    chars = sum(len(str(m.get("content") or "")) for m in messages)
    return max(1, chars // 4)


class _Completion:
    """The ids and timestamps one response shares across all of its chunks."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-fake{uuid.uuid4().hex[:20]}"
        self.model = model
        self.created = int(time.time())

    def chunk(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        *,
        with_usage_field: bool = False,
    ) -> bytes:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if with_usage_field:
            data["usage"] = None  # OpenAI sends usage: null on every chunk but the last
        return _sse(data)

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return _sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [],
                "usage": _usage(prompt_tokens, completion_tokens),
            }
        )

    def completion(self, text: str, finish_reason: str, prompt_tokens: int, n: int) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": _usage(prompt_tokens, n),
        }


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


# ---- the app --------------------------------------------------------------------------------


class _Runtime:
    """What handlers share: the state, and an event that ends every wait when stopping."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.stopping: asyncio.Event | None = None  # created inside the server's loop


async def _sleep_unless(seconds: float, abort: asyncio.Event) -> bool:
    """Sleep; return True early if ``abort`` fires (client gone or server stopping)."""
    if abort.is_set():
        return True
    if seconds <= 0:
        return False
    try:
        await asyncio.wait_for(abort.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


class _ChatCompletions:
    """Raw ASGI rather than a Starlette response: "drop" and "hang" need to break HTTP."""

    def __init__(self, runtime: _Runtime) -> None:
        self._rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            error = _error_body(
                "Invalid request: a JSON body with 'messages' is required.",
                "invalid_request_error",
                None,
            )
            await JSONResponse(error, status_code=400)(scope, receive, send)
            return
        config, fault = self._rt.state.admit(body)
        if fault in ("400", "401", "429", "500", "context_too_long"):
            await _error_response(fault, config)(scope, receive, send)
            return

        abort = asyncio.Event()
        watcher = asyncio.create_task(self._watch(receive, abort))
        try:
            if fault == "hang":
                await _sleep_unless(HANG_MAX_SECONDS, abort)
                return  # no response at all: the client's read timeout has to fire
            if body.get("stream"):
                await self._stream(send, body, config, drop=fault == "drop", abort=abort)
            else:
                await self._complete(send, body, config, drop=fault == "drop", abort=abort)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch(self, receive: Receive, abort: asyncio.Event) -> None:
        """Set ``abort`` when the client disconnects or the server starts stopping."""
        stopping = self._rt.stopping
        assert stopping is not None

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = {asyncio.ensure_future(disconnected()), asyncio.ensure_future(stopping.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            abort.set()

    async def _stream(
        self,
        send: Send,
        body: dict[str, Any],
        config: FakeConfig,
        *,
        drop: bool,
        abort: asyncio.Event,
    ) -> None:
        tokens, finish_reason = _plan_reply(config, body)
        if drop:
            tokens = tokens[: config.drop_after_tokens]
        stream_options = body.get("stream_options") or {}
        include_usage = bool(stream_options.get("include_usage"))
        reply = _Completion(str(body.get("model") or "fake-small"))

        async def emit(data: bytes, more_body: bool = True) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": more_body})

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-request-id", reply.id.encode()),
                ],
            }
        )
        await emit(
            reply.chunk({"role": "assistant", "content": ""}, with_usage_field=include_usage)
        )
        if await _sleep_unless(config.ttft_ms / 1000, abort):
            return
        interval = 1 / config.tokens_per_second if config.tokens_per_second else 0.0
        loop = asyncio.get_running_loop()
        first_token_at = loop.time()
        for index, token in enumerate(tokens):
            if index == config.inject_after_tokens:
                for name in config.inject:
                    await emit(INJECTABLE[name])
            if interval and index:
                # Scheduled from the first token so sleep overshoot does not add up.
                delay = first_token_at + index * interval - loop.time()
                if await _sleep_unless(delay, abort):
                    return
            elif index % 64 == 0:
                await asyncio.sleep(0)  # at full speed, still let the disconnect watcher run
            if abort.is_set():
                return
            await emit(reply.chunk({"content": token}, with_usage_field=include_usage))
        if len(tokens) <= config.inject_after_tokens:
            for name in config.inject:
                await emit(INJECTABLE[name])
        if drop:
            # Returning mid-response makes uvicorn close the socket: the client sees a
            # truncated chunked body, like a proxy or server dying mid-reply.
            return
        await emit(reply.chunk({}, finish_reason, with_usage_field=include_usage))
        if include_usage:
            await emit(reply.usage_chunk(_prompt_tokens(body), len(tokens)))
        await emit(b"data: [DONE]\n\n", more_body=False)

    async def _complete(
        self,
        send: Send,
        body: dict[str, Any],
        config: FakeConfig,
        *,
        drop: bool,
        abort: asyncio.Event,
    ) -> None:
        tokens, finish_reason = _plan_reply(config, body)
        generation = len(tokens) / config.tokens_per_second if config.tokens_per_second else 0.0
        if await _sleep_unless(config.ttft_ms / 1000 + generation, abort):
            return
        reply = _Completion(str(body.get("model") or "fake-small"))
        payload = json.dumps(
            reply.completion("".join(tokens), finish_reason, _prompt_tokens(body), len(tokens))
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        if drop:
            half = payload[: len(payload) // 2]
            await send({"type": "http.response.body", "body": half, "more_body": True})
            return
        await send({"type": "http.response.body", "body": payload, "more_body": False})


def create_app(state: _State, runtime: _Runtime | None = None) -> Starlette:
    runtime = runtime or _Runtime(state)

    async def list_models(request: Request) -> Response:
        models = state.snapshot()["models"]
        data = [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
            for m in models
        ]
        # ASCII JSON: hostile ids (lone surrogates) must reach the client as escapes.
        body = json.dumps({"object": "list", "data": data})
        return Response(body, media_type="application/json")

    async def get_control(request: Request) -> JSONResponse:
        return JSONResponse(state.snapshot())

    async def post_control(request: Request) -> JSONResponse:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            state.configure(**changes)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(state.snapshot())

    async def reset_control(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse(state.snapshot())

    async def control_requests(request: Request) -> JSONResponse:
        return JSONResponse(state.requests())

    return Starlette(
        routes=[
            Route("/v1/chat/completions", _ChatCompletions(runtime), methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/_control", get_control, methods=["GET"]),
            Route("/_control", post_control, methods=["POST"]),
            Route("/_control/reset", reset_control, methods=["POST"]),
            Route("/_control/requests", control_requests, methods=["GET"]),
        ]
    )


# ---- running it -----------------------------------------------------------------------------


class FakeOpenAI:
    """A handle on one fake server; ``start()`` runs it on a daemon thread, ``run()`` blocks."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str | None = None,
        in_process: bool = True,
    ) -> None:
        self._state = _State()
        self._runtime = _Runtime(self._state)
        self.app = create_app(self._state, self._runtime)
        # Binding here, not in uvicorn, so port 0 resolves before anyone asks for base_url.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            self.app,
            log_level=log_level,
            # In-process: leave the test runner's logging alone; log records just propagate.
            log_config=None if in_process else LOGGING_CONFIG,
            access_log=not in_process,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # ---- lifecycle ----

    def start(self) -> FakeOpenAI:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._thread_main, name="fake-openai", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake OpenAI server did not start: {self._error!r}")
            time.sleep(0.01)
        return self

    def run(self) -> None:
        """Serve in the calling thread until SIGINT/SIGTERM (uvicorn handles the signals)."""
        # uvicorn re-raises the captured SIGINT after a clean shutdown; that is a normal exit.
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(self._serve(announce=True))
        finally:
            self._sock.close()

    def stop(self) -> None:
        """Stop serving and join the thread; idempotent. Hanging requests end at once."""
        self._server.should_exit = True
        thread = self._thread
        if thread is not None:
            thread.join(STOP_TIMEOUT_SECONDS)
            if thread.is_alive():
                self._server.force_exit = True
                thread.join(STOP_TIMEOUT_SECONDS)
            if thread.is_alive():
                raise RuntimeError("fake OpenAI server thread did not stop")
            self._thread = None
        self._sock.close()

    def __enter__(self) -> FakeOpenAI:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve(announce=False))
        except BaseException as exc:  # reported by start() instead of dying silently
            self._error = exc

    async def _serve(self, *, announce: bool) -> None:
        self._runtime.stopping = asyncio.Event()
        relay = asyncio.create_task(self._relay_stop(announce=announce))
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay

    async def _relay_stop(self, *, announce: bool) -> None:
        """Turn uvicorn's ``should_exit`` flag (set by stop() or a signal) into the event
        that wakes hanging and slow requests, so shutdown never waits on them."""
        assert self._runtime.stopping is not None
        announced = False
        while not self._server.should_exit:
            if announce and not announced and self._server.started:
                print(f"Fake OpenAI server listening on {self.base_url}", flush=True)
                announced = True
            await asyncio.sleep(0.05)
        self._runtime.stopping.set()

    # ---- use ----

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def configure(self, **changes: Any) -> FakeConfig:
        """Change behaviour for the following requests; unknown keys raise ValueError."""
        return self._state.configure(**changes)

    def reset(self) -> None:
        """Back to defaults and forget recorded requests."""
        self._state.reset()

    @property
    def config(self) -> dict[str, Any]:
        return self._state.snapshot()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """JSON bodies of chat requests received, oldest first (a copy)."""
        return self._state.requests()


def start_fake_openai(port: int = 0, host: str = "127.0.0.1", **config: Any) -> FakeOpenAI:
    """Start a fake server on a background thread; stop it with ``.stop()`` or ``with``."""
    fake = FakeOpenAI(host, port)
    if config:
        fake.configure(**config)
    return fake.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--tokens-per-second", type=float, default=None)
    parser.add_argument("--reply-tokens", type=int, default=16)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(args.host, args.port, log_level=args.log_level, in_process=False)
    fake.configure(
        ttft_ms=args.ttft_ms,
        tokens_per_second=args.tokens_per_second,
        reply_tokens=args.reply_tokens,
    )
    fake.run()


if __name__ == "__main__":
    main()
