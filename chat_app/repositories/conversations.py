"""Data access for conversations.

Every function takes the acting user's id and scopes its query to that owner: this module (with
``messages``) is the one place ownership is enforced. Someone else's id behaves exactly like an id
that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete as sa_delete
from sqlalchemy import exists, or_, select, tuple_
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from chat_app.models.common import utcnow
from chat_app.models.conversation import Conversation, ConversationCreate, ConversationUpdate
from chat_app.models.message import Message
from chat_app.repositories._sql import affected_rows


@dataclass(frozen=True)
class PageCursor:
    """Keyset position: the last row of the previous page (stable under concurrent inserts)."""

    updated_at: datetime
    id: uuid.UUID


def _owned(owner_id: uuid.UUID) -> ColumnElement[bool]:
    return col(Conversation.owner_id) == owner_id


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def create(
    session: AsyncSession, owner_id: uuid.UUID, data: ConversationCreate
) -> Conversation:
    conversation = Conversation(owner_id=owner_id, **data.model_dump())
    session.add(conversation)
    await session.flush()
    return conversation


async def get(
    session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID
) -> Conversation | None:
    result = await session.execute(
        select(Conversation).where(col(Conversation.id) == conversation_id, _owned(owner_id))
    )
    return result.scalar_one_or_none()


async def list_page(
    session: AsyncSession,
    owner_id: uuid.UUID,
    *,
    limit: int = 30,
    after: PageCursor | None = None,
    search: str | None = None,
) -> list[Conversation]:
    """Newest-updated first; ``search`` matches titles and message text, case-insensitively."""
    query = select(Conversation).where(_owned(owner_id))
    if after is not None:
        query = query.where(
            tuple_(col(Conversation.updated_at), col(Conversation.id))
            < tuple_(after.updated_at, after.id)
        )
    if search and search.strip():
        pattern = like_pattern(search.strip())
        in_messages = exists().where(
            col(Message.conversation_id) == col(Conversation.id),
            col(Message.content).ilike(pattern, escape="\\"),
        )
        query = query.where(or_(col(Conversation.title).ilike(pattern, escape="\\"), in_messages))
    query = query.order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc()).limit(
        limit
    )
    return list((await session.execute(query)).scalars())


async def update(
    session: AsyncSession,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID,
    changes: ConversationUpdate,
) -> Conversation | None:
    conversation = await get(session, owner_id, conversation_id)
    if conversation is None:
        return None
    for field, value in changes.model_dump(exclude_none=True).items():
        setattr(conversation, field, value)
    conversation.updated_at = utcnow()
    await session.flush()
    return conversation


async def touch(session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """Mark activity (one UPDATE: no read-then-write window)."""
    await session.execute(
        sa_update(Conversation)
        .where(col(Conversation.id) == conversation_id, _owned(owner_id))
        .values(updated_at=utcnow())
    )


async def delete(session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    result = await session.execute(
        sa_delete(Conversation).where(col(Conversation.id) == conversation_id, _owned(owner_id))
    )
    return bool(affected_rows(result))


async def set_title_if_unchanged(
    session: AsyncSession,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    expected: str,
    title: str,
) -> bool:
    """Replace a provisional title, unless the user renamed the conversation meanwhile."""
    conversation = await get(session, owner_id, conversation_id)
    if conversation is None or conversation.title != expected:
        return False
    conversation.title = title
    await session.flush()
    return True
