"""A second app process for the several-process tests: it writes one reply, then serves on.

    python -m tests.support.reply_writer <user id> <message text>

Configured by the environment like the app (DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX,
OPENAI_BASE_URL, ...). It runs the same lifespan as the server (``serving_replies``: the bus's
writer, reader and sweeper loops; the drain on SIGTERM), sends the message through the real
generation service, prints ``{"conversation_id", "message_id"}`` as one JSON line, and then waits
for SIGTERM, after which it drains and prints ``drained``. Tests signal it by PID (SIGKILL,
SIGSTOP/SIGCONT, SIGTERM) and act as "the other process" themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from chat_app.services import generation
from chat_app.services.replies import serving_replies

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 90.0


class WriterProcess:
    """This module run as a process of its own, writing one reply for ``user_id``."""

    def __init__(self, user_id: uuid.UUID, log_dir: Path, **env: str) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"writer-{uuid.uuid4().hex[:6]}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.reply_writer", str(user_id), "Tell me more"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=self._log,
        )

    async def started(self) -> tuple[uuid.UUID, uuid.UUID]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(
            asyncio.to_thread(self.process.stdout.readline), START_TIMEOUT_SECONDS
        )
        assert line, f"the writer exited: {self.log_tail()}"
        ids = json.loads(line)
        return uuid.UUID(ids["conversation_id"]), uuid.UUID(ids["message_id"])

    def send(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def exit_code(self, timeout: float = 60.0) -> int:
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout)

    def output(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.read().decode()

    def log_tail(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()


async def main(user_id: uuid.UUID, text: str) -> None:
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    async with serving_replies():
        started = await generation.send_message(user_id, None, text)
        print(
            json.dumps(
                {
                    "conversation_id": str(started.conversation.id),
                    "message_id": str(started.assistant_message.id),
                }
            ),
            flush=True,
        )
        await terminated.wait()
    print("drained", flush=True)


if __name__ == "__main__":
    asyncio.run(main(uuid.UUID(sys.argv[1]), sys.argv[2]))
