"""Replies across processes on Redis: how fast Stop reaches another process, and how fast a
reply whose process was SIGKILLed is saved as "interrupted".

The writer is a real second process (tests/support/reply_writer.py: the app's generation service
and reply bus, the server's lifespan) on the bench's database and fake model; this process is
"the other process": it stops or watches through its own bus. Redis: BENCH_REDIS_URL (default
the local server) under a key prefix of this run, deleted afterwards.

- stop before / after the first token: from ``stop_reply`` here until the row says "stopped";
- SIGKILL: from the kill until a follower here gets the "interrupted" end (lease 5 s, grace 2 s,
  sweep every 1 s: expected 7 to 9 s).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
import uuid
from contextlib import aclosing

from bench.common import Stack
from bench.report import fmt, median, table
from tests.support.redis_keys import delete_keys

RUNS = 5
KILL_RUNS = 3


async def _status(user_id: uuid.UUID, message_id: uuid.UUID) -> str:
    from chat_app.services import chat

    return (await chat.get_message(user_id, message_id)).status


async def _wait_status(user_id: uuid.UUID, message_id: uuid.UUID, status: str) -> float:
    began = time.monotonic()
    while await _status(user_id, message_id) != status:
        if time.monotonic() - began > 30:
            raise AssertionError(f"reply {message_id} never became {status}")
        await asyncio.sleep(0.01)
    return time.monotonic()


async def _first_text(user_id: uuid.UUID, cid: uuid.UUID) -> None:
    from chat_app.services import replies

    began = time.monotonic()
    while True:
        reply = await replies.find_reply(user_id, cid)
        if reply is not None and reply.length > 0:
            return
        if time.monotonic() - began > 30:
            raise AssertionError("no text arrived from the writer")
        await asyncio.sleep(0.02)


async def _stop_once(stack: Stack, user_id: uuid.UUID, *, first_token: bool) -> float:
    from chat_app.services import replies
    from tests.support.reply_writer import WriterProcess

    stack.fake.configure(
        ttft_ms=100 if first_token else 8000, tokens_per_second=50, reply_tokens=500
    )
    writer = WriterProcess(user_id, stack.workdir / "writers")
    try:
        cid, mid = await writer.started()
        if first_token:
            await _first_text(user_id, cid)
        else:
            # A fresh process's first provider call imports and connects for a few hundred ms:
            # stop once the request is waiting on the model, as in a server that runs for days.
            await asyncio.sleep(1.5)
        asked = time.monotonic()
        assert await replies.stop_reply(user_id, cid)
        return (await _wait_status(user_id, mid, "stopped")) - asked
    finally:
        writer.stop()


async def _kill_once(stack: Stack, user_id: uuid.UUID) -> tuple[float, bool]:
    from chat_app.services import chat, replies
    from chat_app.services.live import Finished
    from tests.support.reply_writer import WriterProcess

    stack.fake.configure(ttft_ms=100, tokens_per_second=50, reply_tokens=2000)
    writer = WriterProcess(user_id, stack.workdir / "writers")
    try:
        cid, mid = await writer.started()
        await _first_text(user_id, cid)
        events = replies.follow(user_id, cid, mid)
        writer.send(signal.SIGKILL)
        killed = time.monotonic()
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Finished):
                    elapsed = time.monotonic() - killed
                    stored = await chat.get_message(user_id, mid)
                    kept = (
                        stored.status == "interrupted" and stored.content == event.message.content
                    )
                    return elapsed, kept and bool(stored.content)
        raise AssertionError("the killed reply never ended")
    finally:
        writer.stop()


async def run(stack: Stack) -> dict:
    from chat_app.core.redis import close_redis
    from chat_app.core.settings import get_settings
    from chat_app.services import auth, replies

    prefix = f"bench-{secrets.token_hex(4)}:"
    saved = {name: os.environ.get(name) for name in ("REDIS_URL", "REDIS_KEY_PREFIX")}
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ["REDIS_KEY_PREFIX"] = prefix
    os.environ.setdefault("OPENAI_BASE_URL", stack.fake.base_url)
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    get_settings.cache_clear()
    registry = replies.get_replies()
    registry.bus.start()
    load_before = open("/proc/loadavg").read().split()[:3]
    try:
        user = await auth.register(f"failover-{prefix[6:-1]}@example.com", "Bench", "password123")
        runs = 2 if stack.options.quick else RUNS
        before = [await _stop_once(stack, user.user.id, first_token=False) for _ in range(runs)]
        after = [await _stop_once(stack, user.user.id, first_token=True) for _ in range(runs)]
        kills = [
            await _kill_once(stack, user.user.id)
            for _ in range(1 if stack.options.quick else KILL_RUNS)
        ]
    finally:
        await registry.bus.close()
        await close_redis()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        delete_keys(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), prefix)
    load_after = open("/proc/loadavg").read().split()[:3]
    rows = [
        [
            "stop before the first token (ms)",
            fmt(median(before) * 1000, 0),
            fmt(max(before) * 1000, 0),
            len(before),
        ],
        [
            "stop after the first token (ms)",
            fmt(median(after) * 1000, 0),
            fmt(max(after) * 1000, 0),
            len(after),
        ],
        [
            "SIGKILL -> interrupted (s)",
            fmt(median([k[0] for k in kills])),
            fmt(max(k[0] for k in kills)),
            len(kills),
        ],
    ]
    return {
        "table": table(
            ["across processes", "median", "max", "runs"],
            rows,
            title=f"Failover (loadavg {' '.join(load_before)} -> {' '.join(load_after)})",
        ),
        "stop_before_first_token_s": before,
        "stop_after_first_token_s": after,
        "sigkill_to_interrupted_s": [k[0] for k in kills],
        "sigkill_text_kept": all(k[1] for k in kills),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }
