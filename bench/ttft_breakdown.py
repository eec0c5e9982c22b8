"""Where the app's added time to first token goes, measured in-process (no Reflex, no socket).

    python -m bench.ttft_breakdown [--sends 35] [--database-url URL]

Against the fake OpenAI server (in-process, 100 ms delay) and a temporary SQLite database
(or ``--database-url``): the OpenAI SDK's first token vs raw httpx, the duration of
``generation.send_message`` (its database transaction), and send_message start -> the first
token in the ``LiveReply``. The first 5 sends are warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DELAY_MS = 100.0
WARMUP = 5


def _line(name: str, values: list[float]) -> str:
    values = sorted(values[WARMUP:])
    p95 = values[max(0, int(len(values) * 0.95) - 1)]
    return f"{name:58} median {statistics.median(values):6.1f} ms   p95 {p95:6.1f} ms"


async def measure(sends: int, fake_base_url: str) -> list[str]:
    import httpx

    from chat_app.core.db import dispose_engine
    from chat_app.providers import ChatTurn, TextDelta, get_provider
    from chat_app.services import auth, chat, generation, replies
    from chat_app.services.live import Delta

    user = (await auth.register("breakdown@bench.example", "B", "bench password 123")).user
    conversation = await chat.create_conversation(user.id, title="breakdown")
    provider = get_provider()
    sdk, raw, send, to_token = [], [], [], []
    turns = [ChatTurn(role="user", content="hi")]
    body = {"model": "fake-small", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with httpx.AsyncClient() as client:
        for i in range(sends):
            started = time.perf_counter()
            async for event in provider.stream_chat(
                model="fake-small", messages=turns, max_tokens=100
            ):
                if isinstance(event, TextDelta):
                    sdk.append((time.perf_counter() - started) * 1000 - DELAY_MS)
                    break
            started = time.perf_counter()
            async with client.stream("POST", fake_base_url + "/chat/completions", json=body) as r:
                async for line in r.aiter_lines():
                    if '"content":"tok' in line:
                        raw.append((time.perf_counter() - started) * 1000 - DELAY_MS)
                        break
            started = time.perf_counter()
            await generation.send_message(user.id, conversation.id, f"hello {i}")
            send.append((time.perf_counter() - started) * 1000)
            live = replies.live_reply(user.id, conversation.id)
            assert live is not None
            async for event in live.follow(0):
                if isinstance(event, Delta):
                    to_token.append((time.perf_counter() - started) * 1000 - DELAY_MS)
                    break
            for _ in range(1000):  # bounded: wait for the reply to finish before the next send
                if replies.live_reply(user.id, conversation.id) is None:
                    break
                await asyncio.sleep(0.01)
    await dispose_engine()
    return [
        _line("OpenAI SDK: request -> first token, minus delay", sdk),
        _line("raw httpx: request -> first token, minus delay", raw),
        _line("generation.send_message (its database transaction)", send),
        _line("send_message start -> first token in LiveReply, minus delay", to_token),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ttft_breakdown", description=__doc__)
    parser.add_argument("--sends", type=int, default=35)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    from tests.support.fake_openai import start_fake_openai

    with tempfile.TemporaryDirectory(prefix="chat-bench-ttft-") as data_dir:
        fake = start_fake_openai(ttft_ms=DELAY_MS, reply_tokens=16)
        try:
            os.environ.update(
                DATA_DIR=data_dir,
                DATABASE_URL=args.database_url,
                OPENAI_BASE_URL=fake.base_url,
                OPENAI_API_KEY="bench-key",
                SEND_RATE_PER_MINUTE="0",
                BCRYPT_ROUNDS="4",
                APP_ENV="development",
            )
            subprocess.run(
                [sys.executable, "-m", "alembic", "upgrade", "head"],
                cwd=PROJECT_ROOT,
                env=os.environ,
                check=True,
                capture_output=True,
            )
            for line in asyncio.run(measure(max(args.sends, WARMUP + 5), fake.base_url)):
                print(line)
        finally:
            fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
