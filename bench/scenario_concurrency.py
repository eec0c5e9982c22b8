"""Scenario 3 — many users streaming at once on one worker.

N simulated users (own account, own HttpOnly session cookie, own tab token) each open their own
conversation page; then all of them send at the same moment and follow their reply (fake server
at 50 tokens/s). Per level: time to first token (minus the configured delay), the gap between
visible updates, errors, lost or truncated replies (checked in the database afterwards and
against what each client received), server CPU seconds per reply (psutil, whole server process
tree), peak RSS. The load generator runs on the same 2 cores: its own CPU and event-loop lag are
reported so the latencies can be read with that in mind.

Then 50 concurrent SSE streams through the HTTP API: reply throughput, paced (50 tokens/s) and
unpaced (the fake server at full speed, i.e. what the app itself can push).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import (
    LoopLag,
    ReplyTrace,
    Stack,
    StreamTrace,
    close_tabs,
    direct_stream,
    expected_reply,
    gather_limited,
    send_and_follow,
    sse_stream,
)
from bench.profile_summary import summarise
from bench.report import median, percentile, table
from bench.seed import conversation_messages
from bench.servers import ResourceSampler
from bench.users import User, create_conversation, create_users

TOKENS_PER_SECOND = 50.0
SSE_STREAMS = 50
OPEN_PARALLEL = 20
TARGET_P95_TTFT_ADDED_MS = 300.0
TARGET_P95_GAP_MS = 250.0
STEADY_REPLIES = 3
MODES = ("steady", "burst")


async def _db_check(users: list[User], cids: list[str], expected: str, sends: int) -> dict:
    """A send the app refused (its message not stored) is an error, not lost text. For every
    accepted send, a reply that is missing or empty is lost; one that differs from what the
    fake server sent, or did not complete, is truncated."""
    lost = truncated = refused = 0
    for user, cid in zip(users, cids, strict=True):
        messages = await conversation_messages(user.user_id, cid)
        asked = sum(1 for m in messages if m.role == "user")
        refused += max(0, sends - asked)
        replies = [m for m in messages if m.role == "assistant"]
        lost += max(0, asked - len(replies)) + sum(1 for m in replies if not m.content)
        truncated += sum(
            1 for m in replies if m.content and (m.content != expected or m.status != "complete")
        )
    return {"lost": lost, "truncated": truncated, "refused": refused}


async def run_direct(stack: Stack, n: int, reply_tokens: int) -> dict:
    """The same N streams straight from the fake server: what the machine and the fake server
    alone deliver under this load (the baseline for the level)."""
    delay = stack.options.ttft_ms
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(timeout=reply_tokens + 120, limits=limits) as client:
        traces = await asyncio.gather(*(direct_stream(client, stack.fake) for _ in range(n)))
    ttft = [t.ttft * 1000 - delay for t in traces if t.ttft is not None]
    gaps = [
        (b - a) * 1000
        for t in traces
        for a, b in zip(t.delta_times, t.delta_times[1:], strict=False)
    ]
    return {
        "ttft_added_ms": {"median": percentile(ttft, 50), "p95": percentile(ttft, 95)},
        "token_gap_ms_p95": percentile(gaps, 95),
        "errors": sum(1 for t in traces if t.error),
    }


def _profile(stack: Stack, seconds: float) -> subprocess.Popen | None:
    """py-spy on the worker for ``seconds`` (only with --profile; py-spy is not a dependency:
    ``pip install py-spy`` into the venv). Writes collapsed stacks to the workdir."""
    pyspy = Path(sys.executable).with_name("py-spy")
    command = str(pyspy) if pyspy.exists() else shutil.which("py-spy")
    pid = stack.app.worker_pid()
    if command is None or pid is None:
        print("(--profile: py-spy not found; pip install py-spy into the venv)")
        return None
    stack.profile_path = stack.workdir / "profile-concurrency.txt"
    return subprocess.Popen(
        [
            command,
            *("record", "--pid", str(pid), "--duration", str(int(seconds))),
            *("--rate", "100", "--gil", "--format", "raw", "--output", str(stack.profile_path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


async def run_level(stack: Stack, users: list[User], n: int, reply_tokens: int, mode: str) -> dict:
    """``burst``: all N send at the same instant, once. ``steady``: each user sends, follows
    the reply, and sends again at once (closed loop, STEADY_REPLIES replies each), starting at
    evenly spread offsets within one reply's duration, so about N replies stream at any time;
    only replies after each user's first are measured (steady state)."""
    delay = stack.options.ttft_ms
    stack.fake.configure(
        ttft_ms=delay, tokens_per_second=TOKENS_PER_SECOND, reply_tokens=reply_tokens
    )
    users = users[:n]
    expected = expected_reply(reply_tokens)
    cids = await gather_limited(
        (create_conversation(stack.http, u, f"Load {mode} {n} #{i}") for i, u in enumerate(users)),
        16,
    )
    tabs = [stack.tab(u) for u in users]

    async def open_tab(tab, cid) -> str | None:
        try:
            await tab.open(f"/c/{cid}", {"conversation_id": cid}, timeout=120)
            return None
        except Exception as exc:
            return f"open: {exc!r}"

    open_started = time.perf_counter()
    open_errors = await gather_limited(
        (open_tab(t, c) for t, c in zip(tabs, cids, strict=True)), OPEN_PARALLEL
    )
    open_seconds = time.perf_counter() - open_started
    duration = reply_tokens / TOKENS_PER_SECOND
    timeout = duration + 120
    sends = 1 if mode == "burst" else STEADY_REPLIES

    async def user_loop(i: int, tab) -> list[ReplyTrace]:
        if mode == "steady":
            await asyncio.sleep(duration * i / n)
        traces = []
        for k in range(sends):
            trace = await send_and_follow(tab, f"Hello {k} from user {i}", timeout)
            traces.append(trace)
            if trace.error and trace.done is None:
                break  # this tab is stuck; do not pile more on it
        return traces

    profiler = None
    if stack.options.profile and n == max(stack.options.levels) and mode == "steady":
        profiler = _profile(stack, duration * (sends + 1))
    try:
        with ResourceSampler(stack.app) as sampler, LoopLag() as lag:
            started = time.perf_counter()
            per_user = await asyncio.gather(
                *(
                    user_loop(i, tab) if err is None else _no_traces()
                    for i, (tab, err) in enumerate(zip(tabs, open_errors, strict=True))
                )
            )
            wall = time.perf_counter() - started
    finally:
        await close_tabs(tabs)
        if profiler is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(timeout=60)
    all_traces = [t for traces in per_user for t in traces]
    # Steady state: leave out each user's first reply (the ramp-up).
    traces = all_traces if mode == "burst" else [t for ts in per_user for t in ts[1:]]
    replies = len(all_traces)
    db = await _db_check(users, cids, expected, sends)
    direct = await run_direct(stack, n, reply_tokens)
    ok = traces
    ttft = [t.ttft * 1000 - delay for t in ok if t.ttft is not None]
    gaps = [g * 1000 for t in ok for g in t.gaps()]
    per_user_gap_p95 = [percentile([g * 1000 for g in t.gaps()], 95) for t in ok if t.gaps()]
    errors = [e for e in open_errors if e] + [t.error for t in all_traces if t.error]
    client_mismatch = sum(1 for t in all_traces if t.final_text != expected)
    return {
        "mode": mode,
        "users": n,
        "replies": replies,
        "measured_replies": len(ok),
        "reply_tokens": reply_tokens,
        "open_seconds": open_seconds,
        "ttft_added_ms": {"median": percentile(ttft, 50), "p95": percentile(ttft, 95)},
        "gap_ms": {
            "median": percentile(gaps, 50),
            "p95": percentile(gaps, 95),
            "max": max(gaps) if gaps else None,
            "median_of_user_p95": median(per_user_gap_p95),
        },
        "updates_per_reply": median(len(t.draft_times) for t in ok),
        "errors": len(errors),
        "error_samples": errors[:10],
        "lost": db["lost"],
        "truncated": db["truncated"],
        "refused_sends": db["refused"],
        "client_text_mismatch": client_mismatch,
        "fake_direct": direct,
        "server_cpu_seconds": sampler.cpu_seconds,
        "server_cpu_per_reply": sampler.cpu_seconds / max(1, replies),
        "server_cpu_utilisation": sampler.cpu_seconds / sampler.wall_seconds,
        "peak_rss_tree_mb": sampler.peak_total / 2**20,
        "peak_rss_worker_mb": sampler.peak_largest / 2**20,
        "wall_seconds": wall,
        "client_cpu_seconds": lag.cpu_seconds,
        "client_loop_lag_p95_ms": (percentile(lag.lags, 95) or 0) * 1000,
        "client_loop_lag_max_ms": (max(lag.lags) if lag.lags else 0) * 1000,
        "ttft_samples_ms": ttft,
    }


async def _no_traces() -> list[ReplyTrace]:
    return []


async def run_sse(stack: Stack, users: list[User], reply_tokens: int, paced: bool) -> dict:
    delay = stack.options.ttft_ms
    stack.fake.configure(
        ttft_ms=delay,
        tokens_per_second=TOKENS_PER_SECOND if paced else None,
        reply_tokens=reply_tokens,
    )
    users = users[:SSE_STREAMS]
    expected = expected_reply(reply_tokens)
    cids = await gather_limited(
        (create_conversation(stack.http, u, f"SSE #{i}") for i, u in enumerate(users)), 16
    )
    with ResourceSampler(stack.app) as sampler, LoopLag() as lag:
        started = time.perf_counter()
        traces: list[StreamTrace] = list(
            await asyncio.gather(
                *(
                    sse_stream(stack.http, u, c, f"SSE hello {i}", timeout=reply_tokens + 120)
                    for i, (u, c) in enumerate(zip(users, cids, strict=True))
                )
            )
        )
        wall = time.perf_counter() - started
    db = await _db_check(users, cids, expected, 1)
    complete = [t for t in traces if t.error is None and t.text == expected]
    ttft = [t.ttft * 1000 - delay for t in traces if t.ttft is not None]
    last_done = max((t.done for t in traces if t.done), default=started)
    span = last_done - started
    gaps = [
        (b - a) * 1000
        for t in traces
        for a, b in zip(t.delta_times, t.delta_times[1:], strict=False)
    ]
    return {
        "streams": len(users),
        "paced_tokens_per_second": TOKENS_PER_SECOND if paced else None,
        "reply_tokens": reply_tokens,
        "complete": len(complete),
        "errors": sum(1 for t in traces if t.error),
        "error_samples": [t.error for t in traces if t.error][:5],
        "lost": db["lost"],
        "truncated": db["truncated"],
        "ttft_added_ms": {"median": percentile(ttft, 50), "p95": percentile(ttft, 95)},
        "gap_ms_p95": percentile(gaps, 95),
        "seconds": span,
        "replies_per_second": len(complete) / span if span > 0 else None,
        "tokens_per_second": len(complete) * reply_tokens / span if span > 0 else None,
        "server_cpu_seconds": sampler.cpu_seconds,
        "server_cpu_per_reply": sampler.cpu_seconds / max(1, len(users)),
        "peak_rss_worker_mb": sampler.peak_largest / 2**20,
        "client_cpu_seconds": lag.cpu_seconds,
        "wall_seconds": wall,
    }


async def run(stack: Stack) -> dict:
    quick = stack.options.quick
    levels = stack.options.levels if not quick else [n for n in stack.options.levels if n <= 100]
    reply_tokens = 100 if quick else 250
    repeats = stack.options.repeat or (1 if quick else 2)
    users = await create_users(stack.app.base_url, max([*levels, SSE_STREAMS]), "load", parallel=8)
    results = []
    for mode in MODES:
        for n in levels:
            runs = []
            for _ in range(repeats):
                runs.append(await run_level(stack, users, n, reply_tokens, mode))
                await asyncio.sleep(2)  # let the server settle (state writes)
            results.append(_median_runs(runs))
            r = results[-1]
            # Printed as it comes: a later part of the scenario that fails keeps these.
            print(
                f"{mode} {n}: TTFT+ p95 {_f(r['ttft_added_ms']['p95'])} ms, gap p95 "
                f"{_f(r['gap_ms']['p95'])} ms, errors {r['errors']}, lost/truncated "
                f"{r['lost']}/{r['truncated']}, "
                f"CPU/reply {r['server_cpu_per_reply'] * 1000:.1f} ms",
                flush=True,
            )
    sse = [
        await run_sse(stack, users, reply_tokens, paced=True),
        await run_sse(stack, users, reply_tokens, paced=False),
    ]
    rows = [
        [
            f"{r['mode']} {r['users']}",
            r["ttft_added_ms"]["median"],
            r["ttft_added_ms"]["p95"],
            r["gap_ms"]["median"],
            r["gap_ms"]["p95"],
            r["updates_per_reply"],
            r["errors"],
            f"{r['lost']}/{r['truncated']}",
            r["server_cpu_per_reply"] * 1000,
            r["server_cpu_utilisation"],
            r["peak_rss_worker_mb"],
            r["client_loop_lag_p95_ms"],
            f"{_f(r['fake_direct']['ttft_added_ms']['p95'])} / "
            f"{_f(r['fake_direct']['token_gap_ms_p95'])}",
        ]
        for r in results
    ]
    text = table(
        [
            "arrival, users",
            "TTFT+ med ms",
            "TTFT+ p95 ms",
            "gap med ms",
            "gap p95 ms",
            "updates/reply",
            "errors",
            "lost/trunc.",
            "CPU ms/reply",
            "server cores busy",
            "peak RSS MB",
            "client lag p95 ms",
            "fake direct TTFT+/gap p95 ms",
        ],
        rows,
        title=(
            f"Concurrent websocket streams ({reply_tokens} tokens at {TOKENS_PER_SECOND:g} tok/s, "
            f"one worker; TTFT+ = minus the {stack.options.ttft_ms:g} ms delay; steady = closed "
            f"loop, {STEADY_REPLIES} replies per user, first one not measured; burst = all send "
            "at once)"
        ),
    )
    sse_rows = [
        [
            "50 tok/s" if s["paced_tokens_per_second"] else "full speed",
            s["streams"],
            s["complete"],
            s["errors"],
            f"{s['lost']}/{s['truncated']}",
            s["ttft_added_ms"]["median"],
            s["ttft_added_ms"]["p95"],
            s["seconds"],
            s["replies_per_second"],
            s["tokens_per_second"],
            s["server_cpu_per_reply"] * 1000,
        ]
        for s in sse
    ]
    text += "\n\n" + table(
        [
            "fake server",
            "streams",
            "complete",
            "errors",
            "lost/trunc.",
            "TTFT+ med ms",
            "TTFT+ p95 ms",
            "seconds",
            "replies/s",
            "tokens/s",
            "CPU ms/reply",
        ],
        sse_rows,
        title=f"{SSE_STREAMS} concurrent SSE streams through the HTTP API ({reply_tokens} tokens)",
    )
    top = next((r for r in results if r["users"] == 200 and r["mode"] == "steady"), None)
    targets = None
    if top is not None:
        targets = {
            "p95_ttft_added_ms": top["ttft_added_ms"]["p95"],
            "p95_gap_ms": top["gap_ms"]["p95"],
            "ttft_met": (top["ttft_added_ms"]["p95"] or 1e9) <= TARGET_P95_TTFT_ADDED_MS,
            "gap_met": (top["gap_ms"]["p95"] or 1e9) <= TARGET_P95_GAP_MS,
            "errors_met": top["errors"] == 0,
            "lost_met": top["lost"] == 0 and top["truncated"] == 0,
        }
    profile = None
    if stack.profile_path is not None and stack.profile_path.exists():
        profile = summarise(stack.profile_path)
        lines = [f"  {pct:5.1f}%  {name}" for name, pct in profile["buckets_percent"].items()]
        text += "\n\nWhere the worker's CPU went at the largest level (py-spy --gil samples):\n"
        text += "\n".join(lines)
    return {"table": text, "levels": results, "sse": sse, "targets": targets, "profile": profile}


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _median_runs(runs: list[dict]) -> dict:
    if len(runs) == 1:
        return {**runs[0], "runs": runs}
    out = dict(runs[0])
    for key in ("ttft_added_ms", "gap_ms"):
        out[key] = {k: median(r[key][k] for r in runs) for k in runs[0][key]}
    for key in (
        "server_cpu_per_reply",
        "server_cpu_utilisation",
        "peak_rss_worker_mb",
        "peak_rss_tree_mb",
        "client_loop_lag_p95_ms",
        "updates_per_reply",
    ):
        out[key] = median(r[key] for r in runs)
    for key in ("errors", "lost", "truncated", "refused_sends", "client_text_mismatch"):
        out[key] = sum(r[key] for r in runs)
    out["runs"] = runs
    return out
