"""The JSON export: its shape, and only the owner's conversations in it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest

from chat_app.services import chat, transfer
from chat_app.services.errors import NotFound
from tests.services.transfer.samples import (
    HOSTILE_TEXT,
    HOSTILE_TITLE,
)


async def test_export_json_shape(user_id, seeded):
    first_id, _ = seeded
    data = await transfer.export_json(user_id)
    assert data["format"] == "chat-app-export" and data["version"] == 1
    assert datetime.fromisoformat(data["exported_at"]).tzinfo is not None
    assert [c["title"] for c in data["conversations"]] == ["Plain chat, renamed", HOSTILE_TITLE]
    first = data["conversations"][1]
    assert first["model"] == "gpt-4o" and first["system_prompt"] == "Be <b>terse</b>.\nAlways."
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user", "assistant"]
    assert first["messages"][0]["content"] == HOSTILE_TEXT
    assert first["messages"][1] == {
        "role": "assistant",
        "content": "Sure: <script>document.cookie</script>\n\n| a | b |\n|---|---|",
        "status": "complete",
        "error_detail": None,
        "model": "gpt-4o",
        "prompt_tokens": 12,
        "completion_tokens": 34,
        "ttft_ms": 567,
        "created_at": first["messages"][1]["created_at"],
    }
    assert first["messages"][3]["status"] == "error"
    assert first["messages"][3]["error_detail"] == "Provider said: <b>rate limited</b>"
    for stamp in (first["created_at"], first["updated_at"], first["messages"][0]["created_at"]):
        assert stamp.endswith("Z") and datetime.fromisoformat(stamp).utcoffset() == timedelta(0)
    json.dumps(data)  # plain JSON types only

    one = await transfer.export_json(user_id, str(first_id))
    assert one["conversations"] == [first]


async def test_export_of_missing_or_foreign_conversation_is_not_found(
    user_id, seeded, other_user_id
):
    foreign = await chat.create_conversation(other_user_id, title="Theirs")
    for conversation_id in (foreign.id, str(foreign.id), uuid.uuid4(), "not-an-id"):
        with pytest.raises(NotFound):
            await transfer.export_json(user_id, conversation_id)
        with pytest.raises(NotFound):
            await transfer.export_markdown(user_id, conversation_id)
    everything = await transfer.export_json(user_id)
    assert "Theirs" not in [c["title"] for c in everything["conversations"]]


async def test_export_of_a_user_without_conversations(user_id):
    assert (await transfer.export_json(user_id))["conversations"] == []
    assert "no conversations" in await transfer.export_markdown(user_id)
