"""What the scenarios share: the running stack, following a reply, direct and SSE streams."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.reflex_client import FrontendBuild, ReflexTab, TabError
from bench.servers import App, FakeServer
from bench.users import User


def expected_reply(tokens: int) -> str:
    """What the fake server streams for ``reply_tokens=tokens`` (see tests/support/fake_openai)."""
    return "".join(f"tok{i} " for i in range(tokens))


@dataclass
class Options:
    quick: bool = False
    repeat: int | None = None
    database_url: str = ""
    ttft_ms: float = 100.0
    levels: list[int] = field(default_factory=lambda: [50, 100, 200])
    profile: bool = False
    app_env: list[str] = field(default_factory=list)


@dataclass
class Stack:
    app: App
    fake: FakeServer
    build: FrontendBuild
    workdir: Path
    options: Options
    http: httpx.AsyncClient
    profile_path: Path | None = None

    def tab(self, user: User, **kwargs: Any) -> ReflexTab:
        return ReflexTab(self.app.base_url, self.build, cookie=user.cookie, **kwargs)


# ---- following a reply in a tab ------------------------------------------------------------------


@dataclass
class ReplyTrace:
    sent: float
    first_token: float | None = None
    done: float | None = None
    draft_times: list[float] = field(default_factory=list)
    final_text: str | None = None
    status: str | None = None
    live_chars: int = 0  # the longest the streamed (live) text got in the client
    error: str | None = None
    wire_in: int = 0
    payload_in: int = 0
    wire_out: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.sent

    def gaps(self) -> list[float]:
        """Seconds between consecutive visible changes, first token through the final text."""
        times = list(self.draft_times)
        if self.done is not None and (not times or self.done > times[-1]):
            times.append(self.done)
        return [b - a for a, b in itertools.pairwise(times)]


def _known_ids(tab: ReflexTab) -> set[str]:
    return {m["id"] for m in (tab.var("history") or []) + tab.visit_messages()}


async def send_and_follow(
    tab: ReflexTab,
    text: str,
    timeout: float,
    *,
    quiet: float = 0.0,
    keep_update_sizes: bool = False,
) -> ReplyTrace:
    """Send a message from the composer and follow the reply until it is committed."""
    known = _known_ids(tab)
    first_update = len(tab.updates)
    before = tab.counters.snapshot()
    tab.state.get(tab_state_key("composer"), {}).pop("error_rx_state_", None)
    errors_before = len(tab.errors)

    def finished(t: ReflexTab) -> bool:
        if t.var("composer_error") or len(t.errors) > errors_before:
            return True
        return t.var("active") is False and any(
            m["role"] == "assistant" and m["id"] not in known for m in t.visit_messages()
        )

    trace = ReplyTrace(sent=await tab.send_message(text))
    try:
        await tab.wait_for(finished, timeout)
    except TimeoutError:
        trace.error = f"timeout after {timeout:.0f}s"
    except TabError as exc:
        trace.error = f"tab: {exc}"
    if quiet:
        await asyncio.sleep(quiet)
    after = tab.counters
    trace.wire_in = after.wire_in - before.wire_in
    trace.payload_in = after.payload_in - before.payload_in
    trace.wire_out = after.wire_out - before.wire_out
    for update in tab.updates[first_update:]:
        if keep_update_sizes:
            trace.updates.append(
                {
                    "t": round(update.t - trace.sent, 4),
                    "wire": update.wire_bytes,
                    "payload": update.payload_bytes,
                    "vars": sorted(
                        f"{s.rsplit('.', 1)[-1]}.{v.removesuffix('_rx_state_')}"
                        for s, values in update.delta.items()
                        for v in values
                    ),
                }
            )
        # The live text (window.__chatLive) growing: a visible change of the reply.
        if any(op != "clear" and length > 0 for op, _, length in update.live):
            trace.live_chars = max(trace.live_chars, *(n for _, _, n in update.live))
            trace.draft_times.append(update.t)
            if trace.first_token is None:
                trace.first_token = update.t
        if update.visit_added and trace.done is None:
            added = update.visit_added
            new = [m for m in added if m["role"] == "assistant" and m["id"] not in known]
            if new:
                trace.done = update.t
                trace.final_text = new[-1]["content"]
                trace.status = new[-1]["status"]
                if trace.first_token is None and trace.final_text:
                    trace.first_token = update.t  # the whole reply arrived in the commit
    error = tab.var("composer_error")
    if error and trace.error is None:
        trace.error = f"composer: {error}"
    if len(tab.errors) > errors_before and trace.error is None:
        trace.error = "; ".join(tab.errors[errors_before:][-3:])
    return trace


def tab_state_key(name: str) -> str:
    from bench.reflex_client import STATES

    return STATES[name]


# ---- the fake server directly (baseline) and the HTTP API's SSE route ---------------------------


@dataclass
class StreamTrace:
    sent: float
    first_token: float | None = None
    done: float | None = None
    text: str = ""
    status: str | None = None
    error: str | None = None
    delta_times: list[float] = field(default_factory=list)

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.sent


async def direct_stream(client: httpx.AsyncClient, fake: FakeServer) -> StreamTrace:
    """One streamed completion straight from the fake server, through the same kind of HTTP
    client the app's provider uses (httpx, keep-alive): the baseline."""
    body = {
        "model": "fake-small",
        "messages": [{"role": "user", "content": "baseline"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    trace = StreamTrace(sent=time.perf_counter())
    try:
        async with client.stream(
            "POST",
            fake.base_url + "/chat/completions",
            json=body,
            headers={"authorization": "Bearer bench-key"},
        ) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        now = time.perf_counter()
                        trace.delta_times.append(now)
                        if trace.first_token is None:
                            trace.first_token = now
                        trace.text += content
        trace.done = time.perf_counter()
        trace.status = "complete"
    except (httpx.HTTPError, ValueError) as exc:
        trace.error = repr(exc)
    return trace


async def sse_stream(
    client: httpx.AsyncClient, user: User, cid: str, text: str, timeout: float = 120
) -> StreamTrace:
    """POST /api/v1/conversations/{id}/messages and read the SSE reply to its end."""
    trace = StreamTrace(sent=time.perf_counter())
    try:
        async with (
            asyncio.timeout(timeout),
            client.stream(
                "POST",
                f"/api/v1/conversations/{cid}/messages",
                json={"content": text, "stream": True},
                headers=user.auth_headers,
            ) as response,
        ):
            if response.status_code != 200:
                body = await response.aread()
                trace.error = f"HTTP {response.status_code}: {body[:200]!r}"
                return trace
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "delta":
                        now = time.perf_counter()
                        trace.delta_times.append(now)
                        if trace.first_token is None and data.get("text"):
                            trace.first_token = now
                        trace.text += data.get("text", "")
                    elif event == "done":
                        trace.status = data.get("status")
                        trace.done = time.perf_counter()
                    elif event == "error":
                        trace.error = str(data.get("message"))
    except TimeoutError:
        trace.error = f"timeout after {timeout:.0f}s"
    except (httpx.HTTPError, ValueError) as exc:
        trace.error = repr(exc)
    return trace


# ---- measuring the load generator itself ----------------------------------------------------


class LoopLag:
    """How late this process's event loop wakes up: if the load generator is saturated, the
    latencies it measures include its own lag (it shares the 2 cores with the server)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None
        self._cpu0 = 0.0
        self.cpu_seconds = 0.0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, loop.time() - start - self.interval))

    def __enter__(self) -> LoopLag:
        self._cpu0 = _own_cpu()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.cpu_seconds = _own_cpu() - self._cpu0


def _own_cpu() -> float:
    times = psutil.Process(os.getpid()).cpu_times()
    return times.user + times.system


async def gather_limited(coros, limit: int) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro):
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def close_tabs(tabs: list[ReflexTab]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
