"""Fixtures of the transfer tests; ``user_id`` and ``other_user_id`` come from tests/services."""

from __future__ import annotations

import uuid

import pytest

from chat_app.core.db import session_scope
from chat_app.repositories import messages as messages_repo
from chat_app.services import chat
from tests.services.transfer.samples import HOSTILE_TEXT, HOSTILE_TITLE


@pytest.fixture
async def seeded(user_id: uuid.UUID) -> list[uuid.UUID]:
    """Two conversations of ``user_id``: one with every message field set, one plain with a
    stopped reply. Returns their ids, the first one first."""
    first = await chat.create_conversation(
        user_id, title=HOSTILE_TITLE, model="gpt-4o", system_prompt="Be <b>terse</b>.\nAlways."
    )
    second = await chat.create_conversation(user_id, title="Plain chat")
    async with session_scope() as session:
        await messages_repo.add(session, user_id, first.id, role="user", content=HOSTILE_TEXT)
        reply = await messages_repo.add(
            session,
            user_id,
            first.id,
            role="assistant",
            content="",
            model="gpt-4o",
            status="streaming",
        )
        assert reply is not None
        await messages_repo.save_progress(
            session,
            user_id,
            reply.id,
            content="Sure: <script>document.cookie</script>\n\n| a | b |\n|---|---|",
            status="complete",
            prompt_tokens=12,
            completion_tokens=34,
            ttft_ms=567,
        )
        await messages_repo.add(session, user_id, first.id, role="user", content="Again?")
        failed = await messages_repo.add(
            session,
            user_id,
            first.id,
            role="assistant",
            content="Half",
            model="gpt-4o",
            status="streaming",
        )
        assert failed is not None
        await messages_repo.save_progress(
            session,
            user_id,
            failed.id,
            content="Half a repl",
            status="error",
            error_detail="Provider said: <b>rate limited</b>",
        )
        await messages_repo.add(session, user_id, second.id, role="user", content="Hi")
        await messages_repo.add(
            session, user_id, second.id, role="assistant", content="Hel", status="stopped"
        )
    # The second conversation was touched last: it comes first in exports (newest first).
    await chat.update_conversation(user_id, second.id, title="Plain chat, renamed")
    return [first.id, second.id]
