"""Bulk data access for moving conversations in and out (exports and imports).

Owner-scoped like the other repositories: reads only see the owner's conversations, and
inserted conversations belong to the owner given, under fresh ids. Ids never come from the
caller (an import file could name someone else's conversation).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat_app.models.common import new_id
from chat_app.models.conversation import Conversation
from chat_app.models.message import Message, MessageStatus

# Rows per INSERT statement: bounded memory per round trip on big imports.
_CHUNK = 2_000


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    created_at: datetime
    status: str = MessageStatus.COMPLETE.value
    error_detail: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: int | None = None


@dataclass(frozen=True)
class NewConversation:
    """A conversation to insert as-is, timestamps included (validated by the caller).

    The app reads messages back ordered by ``created_at``: callers give them in that order,
    with strictly increasing timestamps.
    """

    title: str
    model: str
    system_prompt: str
    created_at: datetime
    updated_at: datetime
    messages: Sequence[NewMessage] = field(default_factory=tuple)


@dataclass(frozen=True)
class ConversationWithMessages:
    conversation: Conversation
    messages: list[Message]


async def insert_conversations(
    session: AsyncSession, owner_id: uuid.UUID, conversations: Sequence[NewConversation]
) -> list[uuid.UUID]:
    """Insert conversations and their messages for ``owner_id``; returns the new ids in order.

    Writes in the caller's transaction: the caller decides when everything is committed.
    """
    ids = [new_id() for _ in conversations]
    conversation_rows = [
        {
            "id": conversation_id,
            "owner_id": owner_id,
            "title": c.title,
            "model": c.model,
            "system_prompt": c.system_prompt,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        }
        for conversation_id, c in zip(ids, conversations, strict=True)
    ]
    message_rows = [
        {
            "id": new_id(),
            "conversation_id": conversation_id,
            "role": m.role,
            "content": m.content,
            "status": m.status,
            "error_detail": m.error_detail,
            "model": m.model,
            "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens,
            "ttft_ms": m.ttft_ms,
            "created_at": m.created_at,
            "updated_at": m.created_at,
        }
        for conversation_id, c in zip(ids, conversations, strict=True)
        for m in c.messages
    ]
    for rows, model in ((conversation_rows, Conversation), (message_rows, Message)):
        for start in range(0, len(rows), _CHUNK):
            await session.execute(insert(model), rows[start : start + _CHUNK])
    return ids


async def list_with_messages(
    session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID | None = None
) -> list[ConversationWithMessages]:
    """The owner's conversations (all, or the one asked for), newest-updated first, each with
    its messages in conversation order. Two queries whatever the number of conversations."""
    owned = Conversation.owner_id == owner_id
    conversations_query = select(Conversation).where(owned)  # type: ignore[arg-type]
    if conversation_id is not None:
        conversations_query = conversations_query.where(
            Conversation.id == conversation_id  # type: ignore[arg-type]
        )
    conversations_query = conversations_query.order_by(
        Conversation.updated_at.desc(),  # type: ignore[attr-defined]
        Conversation.id.desc(),  # type: ignore[attr-defined]
    )
    conversations = list((await session.execute(conversations_query)).scalars())
    if not conversations:
        return []

    messages_query = (
        select(Message)
        .join(Conversation, Message.conversation_id == Conversation.id)  # type: ignore[arg-type]
        .where(owned)  # type: ignore[arg-type]
        .order_by(Message.conversation_id, Message.created_at, Message.id)  # type: ignore[arg-type]
    )
    if conversation_id is not None:
        messages_query = messages_query.where(
            Message.conversation_id == conversation_id  # type: ignore[arg-type]
        )
    by_conversation: dict[uuid.UUID, list[Message]] = {c.id: [] for c in conversations}
    for message in (await session.execute(messages_query)).scalars():
        # A conversation created between the two queries is not in this export.
        bucket = by_conversation.get(message.conversation_id)
        if bucket is not None:
            bucket.append(message)
    return [ConversationWithMessages(c, by_conversation[c.id]) for c in conversations]
