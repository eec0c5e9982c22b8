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
import signal
import sys
import uuid

from chat_app.services import generation
from chat_app.services.replies import serving_replies


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
