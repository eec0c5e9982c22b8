"""Scenario 1 — added time to first token.

Per send: the time from the send event leaving the client to the first token reaching it,
minus the fake server's configured delay. Three paths, interleaved send by send so they share
the same conditions: the fake server directly (the baseline: HTTP client + fake server), the
app's websocket (composer send -> the first streamed text, a ``window.__chatLive`` append),
and the HTTP API's SSE route (POST /api/v1/conversations/{id}/messages -> first ``delta``
event). "Added" is a path's median
minus the baseline's median in the same run.
"""

from __future__ import annotations

from typing import Any

import httpx

from bench.common import (
    ReplyTrace,
    Stack,
    StreamTrace,
    direct_stream,
    send_and_follow,
    sse_stream,
)
from bench.report import median, percentile, table
from bench.seed import conversation_messages
from bench.users import create_conversation, create_users

SENDS = 30
WARMUP = 3
REPLY_TOKENS = 16
TARGET_ADDED_MEDIAN_MS = 15.0


def _ms(values: list[float | None], delay_ms: float) -> list[float]:
    return [v * 1000 - delay_ms for v in values if v is not None]


async def run_once(stack: Stack, sends: int) -> dict:
    delay = stack.options.ttft_ms
    stack.fake.configure(ttft_ms=delay, tokens_per_second=None, reply_tokens=REPLY_TOKENS)
    ws_user, sse_user = await create_users(stack.app.base_url, 2, "ttft")
    ws_cid = await create_conversation(stack.http, ws_user, "TTFT websocket")
    sse_cid = await create_conversation(stack.http, sse_user, "TTFT SSE")
    tab = stack.tab(ws_user)
    await tab.open(f"/c/{ws_cid}", {"conversation_id": ws_cid})
    direct: list[StreamTrace] = []
    websocket: list[ReplyTrace] = []
    sse: list[StreamTrace] = []
    errors: list[str] = []
    async with httpx.AsyncClient(timeout=60) as fake_client:
        try:
            for i in range(WARMUP + sends):
                d = await direct_stream(fake_client, stack.fake)
                w = await send_and_follow(tab, f"TTFT probe {i}", timeout=60)
                s = await sse_stream(stack.http, sse_user, sse_cid, f"TTFT probe {i}")
                for name, trace in (("direct", d), ("websocket", w), ("sse", s)):
                    if trace.error:
                        errors.append(f"{name} #{i}: {trace.error}")
                if i >= WARMUP:
                    direct.append(d)
                    websocket.append(w)
                    sse.append(s)
        finally:
            await tab.close()
    # The app's own clock: generation stores ttft_ms (send_message start -> first token
    # received from the provider), so the added time splits into "before the token reached
    # the app" and "delivering it to the client".
    server_ws = await _stored_ttft(ws_user, ws_cid, len(websocket) + WARMUP)
    server_sse = await _stored_ttft(sse_user, sse_cid, len(sse) + WARMUP)
    base = _ms([t.ttft for t in direct], delay)
    ws_ms = _ms([t.ttft for t in websocket], delay)
    sse_ms = _ms([t.ttft for t in sse], delay)
    paired_ws = [
        (w.ttft - d.ttft) * 1000
        for w, d in zip(websocket, direct, strict=True)
        if w.ttft is not None and d.ttft is not None
    ]
    paired_sse = [
        (s.ttft - d.ttft) * 1000
        for s, d in zip(sse, direct, strict=True)
        if s.ttft is not None and d.ttft is not None
    ]
    return {
        "configured_delay_ms": delay,
        "sends": sends,
        "baseline_ms": base,
        "websocket_ms": ws_ms,
        "sse_ms": sse_ms,
        "paired_added_websocket_ms": paired_ws,
        "paired_added_sse_ms": paired_sse,
        "server_ttft_websocket_ms": [v - delay for v in server_ws[WARMUP:]],
        "server_ttft_sse_ms": [v - delay for v in server_sse[WARMUP:]],
        "errors": errors,
    }


async def _stored_ttft(user, cid: str, count: int) -> list[float]:
    messages = await conversation_messages(user.user_id, cid)
    values = [float(m.ttft_ms) for m in messages if m.role == "assistant" and m.ttft_ms is not None]
    return values[-count:]


def _row(name: str, values: list[float], base_median: float | None) -> list:
    med = percentile(values, 50)
    added = None if med is None or base_median is None else med - base_median
    return [name, len(values), med, percentile(values, 95), added]


async def run(stack: Stack) -> dict:
    repeats = stack.options.repeat or (1 if stack.options.quick else 3)
    runs = [await run_once(stack, SENDS) for _ in range(repeats)]
    per_run = []
    for r in runs:
        base = percentile(r["baseline_ms"], 50)
        per_run.append(
            {
                "baseline_median": base,
                "baseline_p95": percentile(r["baseline_ms"], 95),
                "websocket_median": percentile(r["websocket_ms"], 50),
                "websocket_p95": percentile(r["websocket_ms"], 95),
                "sse_median": percentile(r["sse_ms"], 50),
                "sse_p95": percentile(r["sse_ms"], 95),
                "added_websocket_median": _minus(percentile(r["websocket_ms"], 50), base),
                "added_websocket_p95": _minus(percentile(r["websocket_ms"], 95), base),
                "added_sse_median": _minus(percentile(r["sse_ms"], 50), base),
                "added_sse_p95": _minus(percentile(r["sse_ms"], 95), base),
                "app_internal_websocket_median": percentile(r["server_ttft_websocket_ms"], 50),
                "app_internal_sse_median": percentile(r["server_ttft_sse_ms"], 50),
                "errors": len(r["errors"]),
            }
        )
    agg: dict[str, Any] = {k: median(p[k] for p in per_run) for k in per_run[0] if k != "errors"}
    agg["errors"] = sum(p["errors"] for p in per_run)
    rows = [
        ["fake server directly (baseline)", agg["baseline_median"], agg["baseline_p95"], 0.0, 0.0],
        [
            "app websocket (composer send)",
            agg["websocket_median"],
            agg["websocket_p95"],
            agg["added_websocket_median"],
            agg["added_websocket_p95"],
        ],
        [
            "app HTTP API (SSE)",
            agg["sse_median"],
            agg["sse_p95"],
            agg["added_sse_median"],
            agg["added_sse_p95"],
        ],
    ]
    rows[1].append(agg["app_internal_websocket_median"])
    rows[2].append(agg["app_internal_sse_median"])
    rows[0].append(None)
    text = table(
        [
            "path",
            "TTFT−delay median ms",
            "p95 ms",
            "added median ms",
            "added p95 ms",
            "of which before the token reached the app (median ms)",
        ],
        rows,
        title=(
            f"Time to first token, minus the fake server's {stack.options.ttft_ms:g} ms delay "
            f"(median of {repeats} run(s) × {SENDS} sends; errors: {agg['errors']})"
        ),
    )
    added = agg["added_websocket_median"]
    verdict = {
        "target_added_median_ms": TARGET_ADDED_MEDIAN_MS,
        "websocket_met": added is not None and added <= TARGET_ADDED_MEDIAN_MS,
        "sse_met": agg["added_sse_median"] is not None
        and agg["added_sse_median"] <= TARGET_ADDED_MEDIAN_MS,
    }
    return {"table": text, "summary": agg, "per_run": per_run, "runs": runs, "targets": verdict}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
