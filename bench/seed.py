"""Seeding big data directly in the database, through the app's own repositories.

The benchmark process talks to the same database as the served app: ``use_app_database`` points
the app's settings (environment: DATA_DIR, DATABASE_URL) at it before any engine is created.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = (
    "the model answer question data python function value system request response time "
    "server client stream token message reply list table query index cache memory network "
    "error result example simple because which would there their about other after first "
    "code test build deploy config option default version update change return import"
).split()


def use_app_database(data_dir: Path, database_url: str) -> None:
    """Make chat_app's settings (and thus its engine) use the served app's database."""
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = database_url
    from chat_app.core.settings import get_settings

    get_settings.cache_clear()


async def reset_engine() -> None:
    from chat_app.core.db import dispose_engine

    await dispose_engine()


def text_of(chars: int, rng: random.Random) -> str:
    """Prose-like filler of about ``chars`` characters (compresses like text, not like zeros)."""
    out: list[str] = []
    size = 0
    while size < chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize()
        out.append(sentence + ".")
        size += len(sentence) + 2
    return " ".join(out)[:chars]


def _messages(count: int, start: datetime, user_chars: int, assistant_chars: int, rng, marker=""):
    from chat_app.repositories.imports import NewMessage

    messages = []
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        chars = user_chars if role == "user" else assistant_chars
        content = text_of(chars, rng)
        if marker and i == 0:
            content = f"{marker} {content}"
        messages.append(
            NewMessage(
                role=role,
                content=content,
                created_at=start + timedelta(milliseconds=i),
                model="fake-small" if role == "assistant" else None,
            )
        )
    return messages


async def seed_conversations(
    user_id: uuid.UUID,
    count: int,
    messages_each: int,
    *,
    title: str = "Seeded",
    user_chars: int = 200,
    assistant_chars: int = 1500,
    markers: dict[int, str] | None = None,
    batch: int = 500,
    seed: int = 1,
) -> list[uuid.UUID]:
    """``count`` conversations of ``messages_each`` alternating messages; returns their ids
    (oldest first). ``markers`` puts a word at the start of conversation i's first message."""
    from chat_app.core.db import session_scope
    from chat_app.repositories import imports as imports_repo
    from chat_app.repositories.imports import NewConversation

    rng = random.Random(seed)
    markers = markers or {}
    base = datetime.now(UTC) - timedelta(days=30)
    ids: list[uuid.UUID] = []
    for first in range(0, count, batch):
        planned = []
        for i in range(first, min(count, first + batch)):
            start = base + timedelta(seconds=i * 10)
            planned.append(
                NewConversation(
                    title=f"{title} {i}",
                    model="fake-small",
                    system_prompt="",
                    created_at=start,
                    updated_at=start + timedelta(seconds=5),
                    messages=_messages(
                        messages_each,
                        start,
                        user_chars,
                        assistant_chars,
                        rng,
                        markers.get(i, ""),
                    ),
                )
            )
        async with session_scope() as session:
            ids += await imports_repo.insert_conversations(session, user_id, planned)
    return ids


async def conversation_messages(user_id: uuid.UUID, cid: str | uuid.UUID) -> list:
    """The stored messages of a conversation, in order (for checking replies afterwards)."""
    from chat_app.core.db import session_scope
    from chat_app.repositories import messages as messages_repo

    async with session_scope() as session:
        return await messages_repo.list_for_conversation(session, user_id, uuid.UUID(str(cid)))
