"""Sample files and a row count shared by the transfer tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from chat_app.core.db import session_scope
from chat_app.models import Conversation, Message

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HOSTILE_TITLE = "<script>alert('t')</script> Ünïcødé 🚀 & \"quotes\""
HOSTILE_TEXT = "<img src=x onerror=alert(1)>\n```js\nalert('x')\n```\n— 日本語 ✓ 🐱"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def row_counts() -> tuple[int, int]:
    """(conversations, messages) in the database: a refused file must leave both unchanged."""
    async with session_scope() as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
        messages = await session.scalar(select(func.count()).select_from(Message))
    return int(conversations or 0), int(messages or 0)


def dump(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def valid_export(**conversation_overrides: object) -> dict:
    """A one-conversation export of this app that imports cleanly, with fields overridden."""
    conversation = {
        "title": "Imported",
        "model": "m",
        "system_prompt": "",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00Z",
        "messages": [
            {"role": "user", "content": "hello", "created_at": "2024-01-01T00:00:01Z"},
            {"role": "assistant", "content": "hi", "created_at": "2024-01-01T00:00:02Z"},
        ],
    }
    conversation.update(conversation_overrides)
    return {"format": "chat-app-export", "version": 1, "conversations": [conversation]}


def message(**changes: object) -> dict:
    """One message of an export, with fields changed or added."""
    return {"role": "user", "content": "ok", "created_at": "2024-01-01T00:00:01Z", **changes}


def chatgpt_sample() -> bytes:
    """A ChatGPT conversations.json with branches, tools, hidden messages and broken items."""
    return (FIXTURES / "chatgpt_conversations.json").read_bytes()
