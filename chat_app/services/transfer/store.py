"""The package's two database touches: what an export reads, and one write per import."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from chat_app.core.db import read_scope, session_scope
from chat_app.repositories import imports as imports_repo
from chat_app.repositories.imports import ConversationWithMessages, NewConversation
from chat_app.services.errors import NotFound
from chat_app.services.ids import parse_id


async def load_for_export(
    user_id: uuid.UUID, conversation_id: object | None
) -> list[ConversationWithMessages]:
    """One conversation (``NotFound`` when missing or someone else's) or all of the user's."""
    cid = None if conversation_id is None else parse_id(conversation_id)
    async with read_scope() as session:
        found = await imports_repo.list_with_messages(session, user_id, cid)
    if cid is not None and not found:
        raise NotFound()
    return found


async def write(user_id: uuid.UUID, conversations: Sequence[NewConversation]) -> list[uuid.UUID]:
    """Insert every planned conversation in one transaction: an import is written whole."""
    if not conversations:
        return []
    async with session_scope() as session:
        return await imports_repo.insert_conversations(session, user_id, conversations)
