"""Conversations for one user: list, search, create, rename, settings, delete, read messages.

Every function takes the acting user's id first; ids from the outside arrive as strings and an
id that is malformed, missing or someone else's raises the same ``NotFound``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from chat_app.core.db import read_scope, session_scope
from chat_app.models.conversation import (
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
)
from chat_app.models.message import MessagePublic
from chat_app.providers import ModelInfo, get_provider
from chat_app.repositories import conversations as conversations_repo
from chat_app.repositories import messages as messages_repo
from chat_app.services import replies
from chat_app.services.errors import InvalidInput, NotFound
from chat_app.services.ids import parse_id
from chat_app.services.text_rules import storable, user_text

PAGE_SIZE_MAX = 100
SEARCH_MAX_CHARS = 200


@dataclass(frozen=True)
class ConversationPage:
    items: list[ConversationPublic]
    next_cursor: str | None


def _encode_cursor(updated_at: datetime, conversation_id: uuid.UUID) -> str:
    raw = f"{updated_at.isoformat()}|{conversation_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> conversations_repo.PageCursor:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, raw_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        return conversations_repo.PageCursor(datetime.fromisoformat(stamp), uuid.UUID(raw_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("That page cursor is not valid.") from None


def _validation_error(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "form"
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidInput(f"{field.replace('_', ' ').capitalize()}: {message}", {field: message})


def _given(value: str | None, field: str, *, refuse: bool = False) -> str | None:
    """An optional field of an update: ``None`` means "leave it as it is"."""
    return None if value is None else user_text(value, field, refuse=refuse)


def _public(conversation: object) -> ConversationPublic:
    return ConversationPublic.model_validate(conversation, from_attributes=True)


async def list_conversations(
    user_id: uuid.UUID, *, limit: int = 30, cursor: str | None = None, search: str | None = None
) -> ConversationPage:
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    after = _decode_cursor(cursor) if cursor else None
    # Replaced, never refused: a search box must not answer with an error for a stray character.
    search = user_text(search or "", "search")[:SEARCH_MAX_CHARS]
    async with read_scope() as session:
        rows = await conversations_repo.list_page(
            session, user_id, limit=limit + 1, after=after, search=search
        )
    items = [_public(c) for c in rows[:limit]]
    next_cursor = (
        _encode_cursor(items[-1].updated_at, items[-1].id) if len(rows) > limit and items else None
    )
    return ConversationPage(items=items, next_cursor=next_cursor)


async def create_conversation(
    user_id: uuid.UUID, *, title: str = "", model: str = "", system_prompt: str = ""
) -> ConversationPublic:
    try:
        data = ConversationCreate(
            title=user_text(title, "title"),
            model=user_text(model, "model", refuse=True),
            system_prompt=user_text(system_prompt, "system_prompt"),
        )
    except ValidationError as exc:
        raise _validation_error(exc) from None
    async with session_scope() as session:
        return _public(await conversations_repo.create(session, user_id, data))


async def get_conversation(user_id: uuid.UUID, conversation_id: object) -> ConversationPublic:
    async with read_scope() as session:
        conversation = await conversations_repo.get(session, user_id, parse_id(conversation_id))
        if conversation is None:
            raise NotFound()
        return _public(conversation)


async def update_conversation(
    user_id: uuid.UUID,
    conversation_id: object,
    *,
    title: str | None = None,
    model: str | None = None,
    system_prompt: str | None = None,
) -> ConversationPublic:
    try:
        changes = ConversationUpdate(
            title=_given(title, "title"),
            model=_given(model, "model", refuse=True),
            system_prompt=_given(system_prompt, "system_prompt"),
        )
    except ValidationError as exc:
        raise _validation_error(exc) from None
    async with session_scope() as session:
        conversation = await conversations_repo.update(
            session, user_id, parse_id(conversation_id), changes
        )
        if conversation is None:
            raise NotFound()
        return _public(conversation)


async def delete_conversation(user_id: uuid.UUID, conversation_id: object) -> None:
    cid = parse_id(conversation_id)
    async with read_scope() as session:
        if await conversations_repo.get(session, user_id, cid) is None:
            raise NotFound()
    await replies.stop_reply(user_id, cid)
    async with session_scope() as session:
        if not await conversations_repo.delete(session, user_id, cid):
            raise NotFound()


async def list_messages(
    user_id: uuid.UUID, conversation_id: object, *, limit: int | None = None
) -> list[MessagePublic]:
    cid = parse_id(conversation_id)
    async with read_scope() as session:
        if await conversations_repo.get(session, user_id, cid) is None:
            raise NotFound()
        rows = await messages_repo.list_for_conversation(session, user_id, cid, limit=limit)
    return [MessagePublic.model_validate(m, from_attributes=True) for m in rows]


async def get_message(user_id: uuid.UUID, message_id: object) -> MessagePublic:
    async with read_scope() as session:
        message = await messages_repo.get(session, user_id, parse_id(message_id, "Message"))
        if message is None:
            raise NotFound("Message")
        return MessagePublic.model_validate(message, from_attributes=True)


async def latest_reply(user_id: uuid.UUID, conversation_id: object) -> MessagePublic:
    """The conversation's last assistant message (the one a client may want to follow)."""
    messages = await list_messages(user_id, conversation_id, limit=2)
    for message in reversed(messages):
        if message.role == "assistant":
            return message
    raise NotFound("Reply")


@dataclass(frozen=True)
class MessagePage:
    items: list[MessagePublic]
    next_cursor: str | None


async def list_messages_page(
    user_id: uuid.UUID, conversation_id: object, *, limit: int = 50, cursor: str | None = None
) -> MessagePage:
    """Oldest first, a page at a time (the API's view; the UI loads a conversation whole)."""
    cid = parse_id(conversation_id)
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    after = None
    if cursor:
        position = _decode_cursor(cursor)
        after = (position.updated_at, position.id)
    async with read_scope() as session:
        if await conversations_repo.get(session, user_id, cid) is None:
            raise NotFound()
        rows = await messages_repo.list_page_for_conversation(
            session, user_id, cid, after=after, limit=limit + 1
        )
    items = [MessagePublic.model_validate(m, from_attributes=True) for m in rows[:limit]]
    next_cursor = (
        _encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit and items else None
    )
    return MessagePage(items=items, next_cursor=next_cursor)


async def available_models() -> list[ModelInfo]:
    """The provider's models. Their ids are provider text like any other: one holding NUL or
    a lone surrogate is left out (it cannot be stored, and a repaired id names no model)."""
    models = await get_provider().list_models()
    return [m for m in models if storable(m.id) == m.id and storable(m.label) == m.label]
