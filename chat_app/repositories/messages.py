"""Data access for messages, scoped to the owner of their conversation (see conversations.py)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlmodel import col

from chat_app.models.common import utcnow
from chat_app.models.conversation import Conversation
from chat_app.models.message import Message, MessageStatus
from chat_app.repositories._sql import affected_rows


def _owned_conversations(owner_id: uuid.UUID) -> Select[Any]:
    return select(col(Conversation.id)).where(col(Conversation.owner_id) == owner_id)


def _in_order() -> tuple[Any, Any]:
    return (Message.created_at, Message.id)


async def list_for_conversation(
    session: AsyncSession,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    limit: int | None = None,
) -> list[Message]:
    """Messages in order. With ``limit``, the *last* ``limit`` messages (still in order)."""
    query = select(Message).where(
        col(Message.conversation_id) == conversation_id,
        col(Message.conversation_id).in_(_owned_conversations(owner_id)),
    )
    if limit is None:
        query = query.order_by(*_in_order())
        return list((await session.execute(query)).scalars())
    query = query.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit)
    return list(reversed((await session.execute(query)).scalars().all()))


async def get(session: AsyncSession, owner_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    result = await session.execute(
        select(Message).where(
            col(Message.id) == message_id,
            col(Message.conversation_id).in_(_owned_conversations(owner_id)),
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
        _owned_conversations(owner_id).where(col(Conversation.id) == conversation_id)
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
    """Write a reply's text so far (and, at the end, its final status and usage).

    Only while the row is "streaming": once anything ended it (Stop with no writer, the sweeper
    of another process) a late write of its old writer changes nothing and returns False.
    """
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
            col(Message.id) == message_id,
            col(Message.conversation_id).in_(_owned_conversations(owner_id)),
            col(Message.status) == MessageStatus.STREAMING,
        )
        .values(**values)
    )
    return bool(affected_rows(result))


@dataclass(frozen=True)
class Progress:
    """The text so far of one running reply (see ``save_progress_of_streaming``)."""

    owner_id: uuid.UUID
    message_id: uuid.UUID
    content: str


async def save_progress_of_streaming(session: AsyncSession, items: Sequence[Progress]) -> None:
    """Write the text so far of many running replies with one statement (an executemany).

    Only rows still "streaming" change: a save that lands after the reply's final write (or after
    Stop ended the row) must not put older text back.
    """
    if not items:
        return
    messages = Message.__table__  # type: ignore[attr-defined]
    conversations = Conversation.__table__  # type: ignore[attr-defined]
    owned = select(conversations.c.id).where(conversations.c.owner_id == bindparam("b_owner"))
    statement = (
        update(messages)
        .where(
            messages.c.id == bindparam("b_id"),
            messages.c.status == MessageStatus.STREAMING.value,
            messages.c.conversation_id.in_(owned),
        )
        .values(content=bindparam("b_content"), updated_at=bindparam("b_now"))
    )
    now = utcnow()
    await session.execute(
        statement,
        [
            {"b_owner": i.owner_id, "b_id": i.message_id, "b_content": i.content, "b_now": now}
            for i in items
        ],
    )


async def delete_from(
    session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID, message: Message
) -> int:
    """Delete ``message`` and everything after it (regenerate / edit re-run from there)."""
    result = await session.execute(
        sa_delete(Message).where(
            col(Message.conversation_id) == conversation_id,
            col(Message.conversation_id).in_(_owned_conversations(owner_id)),
            col(Message.created_at) >= message.created_at,
        )
    )
    return affected_rows(result)


async def mark_streaming_as_interrupted(session: AsyncSession) -> int:
    """System task at start-up, not a user action: replies a dead process left half-written."""
    result = await session.execute(
        update(Message)
        .where(col(Message.status) == MessageStatus.STREAMING)
        .values(status=MessageStatus.INTERRUPTED, updated_at=utcnow())
    )
    return affected_rows(result)


@dataclass(frozen=True)
class StreamingReply:
    id: uuid.UUID
    conversation_id: uuid.UUID
    owner_id: uuid.UUID
    content: str


async def streaming_replies(session: AsyncSession) -> list[StreamingReply]:
    """System task (the reply sweeper), not a user action: every reply marked "streaming"."""
    rows = await session.execute(
        select(
            col(Message.id),
            col(Message.conversation_id),
            col(Conversation.owner_id),
            col(Message.content),
        )
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(col(Message.status) == MessageStatus.STREAMING)
    )
    return [StreamingReply(*row) for row in rows.all()]


async def interrupt_reply(
    session: AsyncSession, message_id: uuid.UUID, content: str
) -> Message | None:
    """System task (the reply sweeper): end a reply nothing writes any more, keeping ``content``.

    Conditional on the row still being "streaming" (None when it is not: its writer, or another
    process's sweeper, ended it first), so of several sweepers exactly one ends it.
    """
    result = await session.execute(
        update(Message)
        .where(col(Message.id) == message_id, col(Message.status) == MessageStatus.STREAMING)
        .values(content=content, status=MessageStatus.INTERRUPTED, updated_at=utcnow())
    )
    if not affected_rows(result):
        return None
    return await session.get(Message, message_id, populate_existing=True)


async def has_streaming_reply(
    session: AsyncSession,
    owner_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    ignoring: Collection[uuid.UUID] = (),
) -> bool:
    """Whether a reply in this conversation is marked "streaming"; ``ignoring`` names rows
    known to be dead whatever they say."""
    query = select(col(Message.id)).where(
        col(Message.conversation_id) == conversation_id,
        col(Message.conversation_id).in_(_owned_conversations(owner_id)),
        col(Message.status) == MessageStatus.STREAMING,
    )
    if ignoring:
        query = query.where(col(Message.id).not_in(list(ignoring)))
    result = await session.execute(query.limit(1))
    return result.scalar_one_or_none() is not None


async def end_streaming_reply(
    session: AsyncSession,
    owner_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    status: str,
    error_detail: str | None,
) -> bool:
    """Status only, the text left as last saved: the write that still works when writing the
    text did not. A row that is no longer "streaming" is left alone."""
    result = await session.execute(
        update(Message)
        .where(
            col(Message.id) == message_id,
            col(Message.conversation_id).in_(_owned_conversations(owner_id)),
            col(Message.status) == MessageStatus.STREAMING,
        )
        .values(status=status, error_detail=error_detail, updated_at=utcnow())
    )
    return bool(affected_rows(result))


async def stop_streaming_replies(
    session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID
) -> int:
    """Mark this conversation's "streaming" replies stopped, text kept (Stop, when no task in
    this process is writing them)."""
    result = await session.execute(
        update(Message)
        .where(
            col(Message.conversation_id) == conversation_id,
            col(Message.conversation_id).in_(_owned_conversations(owner_id)),
            col(Message.status) == MessageStatus.STREAMING,
        )
        .values(status=MessageStatus.STOPPED, updated_at=utcnow())
    )
    return affected_rows(result)


async def interrupt_stale_replies(
    session: AsyncSession, owner_id: uuid.UUID, conversation_id: uuid.UUID, *, started_before: Any
) -> int:
    """Replies still "streaming" that began before ``started_before`` cannot be alive (every
    reply is capped in time): a failed final write left them so. Keep their text, mark them."""
    result = await session.execute(
        update(Message)
        .where(
            col(Message.conversation_id) == conversation_id,
            col(Message.conversation_id).in_(_owned_conversations(owner_id)),
            col(Message.status) == MessageStatus.STREAMING,
            col(Message.created_at) < started_before,
        )
        .values(status=MessageStatus.INTERRUPTED, updated_at=utcnow())
    )
    return affected_rows(result)


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
        col(Message.conversation_id) == conversation_id,
        col(Message.conversation_id).in_(_owned_conversations(owner_id)),
    )
    if after is not None:
        query = query.where(tuple_(col(Message.created_at), col(Message.id)) > tuple_(*after))
    query = query.order_by(*_in_order()).limit(limit)
    return list((await session.execute(query)).scalars())
