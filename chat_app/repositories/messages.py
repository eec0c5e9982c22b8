"""Data access for messages, scoped to the owner of their conversation (see conversations.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete as sa_delete
from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from chat_app.models.common import utcnow
from chat_app.models.conversation import Conversation
from chat_app.models.message import Message, MessageStatus


def _owned_conversations(owner_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    return select(Conversation.id).where(Conversation.owner_id == owner_id)


def _in_order() -> tuple[object, object]:
    return (Message.created_at, Message.id)  # type: ignore[return-value]


async def list_for_conversation(
    session: AsyncSession,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    limit: int | None = None,
) -> list[Message]:
    """Messages in order. With ``limit``, the *last* ``limit`` messages (still in order)."""
    query = select(Message).where(
        Message.conversation_id == conversation_id,
        Message.conversation_id.in_(_owned_conversations(owner_id)),  # type: ignore[attr-defined]
    )
    if limit is None:
        query = query.order_by(*_in_order())  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())
    query = query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)  # type: ignore[attr-defined]
    return list(reversed((await session.execute(query)).scalars().all()))


async def get(session: AsyncSession, owner_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    result = await session.execute(
        select(Message).where(
            Message.id == message_id,
            Message.conversation_id.in_(_owned_conversations(owner_id)),  # type: ignore[attr-defined]
        )
    )
    return result.scalar_one_or_none()


async def add(
    session: AsyncSession,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    role: str,
    content: str,
    status: str = MessageStatus.COMPLETE,
    model: str | None = None,
) -> Message | None:
    """Append a message; ``None`` when the conversation is not the owner's."""
    owned = await session.execute(
        _owned_conversations(owner_id).where(Conversation.id == conversation_id)
    )
    if owned.scalar_one_or_none() is None:
        return None
    message = Message(
        conversation_id=conversation_id, role=role, content=content, status=status, model=model
    )
    session.add(message)
    await session.flush()
    return message


async def save_progress(
    session: AsyncSession,
    owner_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    content: str,
    status: str | None = None,
    error_detail: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    ttft_ms: int | None = None,
) -> bool:
    """Write a reply's text so far (and, at the end, its final status and usage)."""
    values: dict[str, object] = {"content": content, "updated_at": utcnow()}
    optional = {
        "status": status,
        "error_detail": error_detail,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "ttft_ms": ttft_ms,
    }
    values.update({k: v for k, v in optional.items() if v is not None})
    result = await session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.conversation_id.in_(_owned_conversations(owner_id)),  # type: ignore[attr-defined]
        )
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_from(
    session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID, message: Message
) -> int:
    """Delete ``message`` and everything after it (regenerate / edit re-run from there)."""
    result = await session.execute(
        sa_delete(Message).where(
            Message.conversation_id == conversation_id,
            Message.conversation_id.in_(_owned_conversations(owner_id)),  # type: ignore[attr-defined]
            Message.created_at >= message.created_at,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def mark_streaming_as_interrupted(session: AsyncSession) -> int:
    """System task at start-up, not a user action: replies a dead process left half-written."""
    result = await session.execute(
        update(Message)
        .where(Message.status == MessageStatus.STREAMING)
        .values(status=MessageStatus.INTERRUPTED, updated_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def has_streaming_reply(
    session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID
) -> bool:
    result = await session.execute(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.conversation_id.in_(_owned_conversations(owner_id)),  # type: ignore[attr-defined]
            Message.status == MessageStatus.STREAMING,
        )
        .limit(1)
    )
    return result.scalar_one_or_none() is not None


async def list_page_for_conversation(
    session: AsyncSession,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    after: tuple[object, uuid.UUID] | None,
    limit: int,
) -> list[Message]:
    """Oldest first, starting after the (created_at, id) position ``after``."""
    query = select(Message).where(
        Message.conversation_id == conversation_id,
        Message.conversation_id.in_(_owned_conversations(owner_id)),  # type: ignore[attr-defined]
    )
    if after is not None:
        query = query.where(tuple_(Message.created_at, Message.id) > tuple_(*after))
    query = query.order_by(*_in_order()).limit(limit)  # type: ignore[arg-type]
    return list((await session.execute(query)).scalars())
