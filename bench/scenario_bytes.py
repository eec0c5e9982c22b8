"""Scenario 2 — bytes per reply on the websocket.

A 500-token reply (fake server at 50 tokens/s) in a conversation with 0, 50 and 500 earlier
messages (seeded directly in the database). A fresh tab opens the conversation (page load), then
sends; everything the server sends from the send until the reply is committed (plus a short
quiet period) is counted twice: on the wire (TCP payload after the upgrade: frame headers and
permessage-deflate-compressed payload, as negotiated the way Chromium negotiates it) and
uncompressed (the Socket.IO packets' UTF-8 size). The reply's own size is its UTF-8 text.
The server's CPU (whole process tree, psutil) over the same time is the single-stream cost.
A second reply in the same visit shows whether cost grows within a visit, and a last row
measures the reply after ``LONG_VISIT_EXCHANGES`` exchanges in one visit (sent with the fake
server at full speed, then the measured reply at 50 tokens/s): every message written during a
visit used to be re-sent with each later one.
"""

from __future__ import annotations

from bench.common import Stack, expected_reply, send_and_follow
from bench.report import median, table
from bench.seed import seed_conversations
from bench.users import create_users

HISTORIES = (0, 50, 500)
REPLY_TOKENS = 500
TOKENS_PER_SECOND = 50.0
TARGET_RATIO = 2.0
USER_CHARS, ASSISTANT_CHARS = 200, 1500  # seeded history: about 0.85 KB a message
LONG_VISIT_EXCHANGES = 50
LONG_VISIT_TOKENS = 250  # each earlier exchange's reply: ~1.7 KB


async def run_once(stack: Stack, replies_per_visit: int) -> list[dict]:
    stack.fake.configure(
        ttft_ms=stack.options.ttft_ms,
        tokens_per_second=TOKENS_PER_SECOND,
        reply_tokens=REPLY_TOKENS,
    )
    [user] = await create_users(stack.app.base_url, 1, "bytes")
    rows = []
    expected = expected_reply(REPLY_TOKENS)
    timeout = REPLY_TOKENS / TOKENS_PER_SECOND + 60
    for history in HISTORIES:
        [cid] = await seed_conversations(
            user.user_id,
            1,
            history,
            title=f"Bytes h{history}",
            user_chars=USER_CHARS,
            assistant_chars=ASSISTANT_CHARS,
        )
        tab = stack.tab(user)
        try:
            await tab.open(f"/c/{cid}", {"conversation_id": str(cid)})
            opened = tab.counters.snapshot()
            assert tab.ws is not None
            negotiated = tab.ws.response_headers.get("sec-websocket-extensions", "")
            for k in range(replies_per_visit):
                cpu_before = stack.app.cpu_seconds()
                trace = await send_and_follow(
                    tab, f"Reply {k + 1}, please.", timeout, quiet=0.5, keep_update_sizes=True
                )
                cpu = stack.app.cpu_seconds() - cpu_before
                reply_bytes = len((trace.final_text or "").encode())
                largest = max(trace.updates, key=lambda u: u["wire"], default=None)
                rows.append(
                    {
                        "history": history,
                        "reply_in_visit": k + 1,
                        "reply_bytes": reply_bytes,
                        "reply_ok": trace.final_text == expected,
                        "wire_in": trace.wire_in,
                        "payload_in": trace.payload_in,
                        "wire_out": trace.wire_out,
                        "wire_ratio": trace.wire_in / reply_bytes if reply_bytes else None,
                        "payload_ratio": trace.payload_in / reply_bytes if reply_bytes else None,
                        "frames": len(trace.updates),
                        "draft_frames": len(trace.draft_times),
                        "largest_frame_wire": largest["wire"] if largest else None,
                        "largest_frame_payload": largest["payload"] if largest else None,
                        "largest_frame_vars": largest["vars"] if largest else None,
                        "open_wire_in": opened.wire_in + opened.handshake_in,
                        "open_payload_in": opened.payload_in,
                        "error": trace.error,
                        "negotiated": negotiated,
                        "server_cpu_seconds": cpu,
                        "updates": trace.updates,
                    }
                )
        finally:
            await tab.close()
    rows.append(await _after_a_long_visit(stack, user, expected, timeout))
    return rows


async def _after_a_long_visit(stack: Stack, user, expected: str, timeout: float) -> dict:
    """One visit: LONG_VISIT_EXCHANGES quick exchanges, then the measured reply."""
    [cid] = await seed_conversations(user.user_id, 1, 0, title="Bytes long visit")
    tab = stack.tab(user)
    try:
        await tab.open(f"/c/{cid}", {"conversation_id": str(cid)})
        stack.fake.configure(ttft_ms=0, tokens_per_second=None, reply_tokens=LONG_VISIT_TOKENS)
        for k in range(LONG_VISIT_EXCHANGES):
            warm = await send_and_follow(tab, f"Quick one {k + 1}.", 60)
            if warm.error:
                raise RuntimeError(f"long visit, exchange {k + 1}: {warm.error}")
        stack.fake.configure(
            ttft_ms=stack.options.ttft_ms,
            tokens_per_second=TOKENS_PER_SECOND,
            reply_tokens=REPLY_TOKENS,
        )
        cpu_before = stack.app.cpu_seconds()
        trace = await send_and_follow(
            tab, "And now a long one.", timeout, quiet=0.5, keep_update_sizes=True
        )
        cpu = stack.app.cpu_seconds() - cpu_before
    finally:
        await tab.close()
    reply_bytes = len((trace.final_text or "").encode())
    largest = max(trace.updates, key=lambda u: u["wire"], default=None)
    return {
        "history": f"0 (+{LONG_VISIT_EXCHANGES} in visit)",
        "reply_in_visit": LONG_VISIT_EXCHANGES + 1,
        "reply_bytes": reply_bytes,
        "reply_ok": trace.final_text == expected,
        "wire_in": trace.wire_in,
        "payload_in": trace.payload_in,
        "wire_out": trace.wire_out,
        "wire_ratio": trace.wire_in / reply_bytes if reply_bytes else None,
        "payload_ratio": trace.payload_in / reply_bytes if reply_bytes else None,
        "frames": len(trace.updates),
        "draft_frames": len(trace.draft_times),
        "largest_frame_wire": largest["wire"] if largest else None,
        "largest_frame_payload": largest["payload"] if largest else None,
        "largest_frame_vars": largest["vars"] if largest else None,
        "open_wire_in": None,
        "open_payload_in": None,
        "error": trace.error,
        "negotiated": "",
        "server_cpu_seconds": cpu,
        "updates": trace.updates,
    }


async def run(stack: Stack) -> dict:
    repeats = stack.options.repeat or (1 if stack.options.quick else 2)
    replies_per_visit = 2
    runs = [await run_once(stack, replies_per_visit) for _ in range(repeats)]
    keys = [(r["history"], r["reply_in_visit"]) for r in runs[0]]
    summary = []
    for history, k in keys:
        rows = [
            r for run in runs for r in run if (r["history"], r["reply_in_visit"]) == (history, k)
        ]
        item = {"history": history, "reply_in_visit": k}
        for field in (
            "reply_bytes",
            "wire_in",
            "payload_in",
            "wire_ratio",
            "payload_ratio",
            "frames",
            "largest_frame_wire",
            "largest_frame_payload",
            "open_wire_in",
            "open_payload_in",
            "server_cpu_seconds",
        ):
            value = median(r[field] for r in rows)
            exact = value is None or "ratio" in field or "seconds" in field
            item[field] = value if exact else round(value)
        item["errors"] = sum(1 for r in rows if r["error"] or not r["reply_ok"])
        item["largest_frame_vars"] = rows[0]["largest_frame_vars"]
        item["met"] = item["wire_ratio"] is not None and item["wire_ratio"] <= TARGET_RATIO
        summary.append(item)
    text = table(
        [
            "history",
            "reply #",
            "reply B",
            "wire B",
            "wire ×",
            "uncompressed B",
            "uncompr. ×",
            "frames",
            "largest frame wire/raw B",
            "open page wire B",
            "server CPU ms",
            "≤2×",
        ],
        [
            [
                s["history"],
                s["reply_in_visit"],
                s["reply_bytes"],
                s["wire_in"],
                s["wire_ratio"],
                s["payload_in"],
                s["payload_ratio"],
                s["frames"],
                f"{_int(s['largest_frame_wire'])} / {_int(s['largest_frame_payload'])}",
                s["open_wire_in"],
                s["server_cpu_seconds"] * 1000,
                s["met"],
            ]
            for s in summary
        ],
        title=(
            f"Websocket bytes per {REPLY_TOKENS}-token reply at {TOKENS_PER_SECOND:g} tokens/s "
            f"(server -> client; median of {repeats} run(s); history messages ~"
            f"{USER_CHARS}/{ASSISTANT_CHARS} chars user/assistant)"
        ),
    )
    return {
        "table": text,
        "summary": summary,
        "runs": runs,
        "negotiated_extension": runs[0][0]["negotiated"] if runs and runs[0] else None,
        "targets": {
            "target_ratio": TARGET_RATIO,
            "met_at_every_history": all(s["met"] for s in summary if s["reply_in_visit"] == 1),
            "met_after_a_long_visit": all(
                s["met"] for s in summary if s["reply_in_visit"] == LONG_VISIT_EXCHANGES + 1
            ),
        },
    }


def _int(value: float | None) -> str:
    return "–" if value is None else f"{int(value):,}"
