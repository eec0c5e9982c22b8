"""Re-importing this app's own JSON export: the schema a file must match, and the refusal
that lists every problem when it does not (nothing is written then)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    field_validator,
)

from chat_app.models.conversation import (
    DEFAULT_TITLE,
    MODEL_MAX,
    SYSTEM_PROMPT_MAX,
    TITLE_MAX,
    clean_title,
)
from chat_app.models.message import MessageStatus, Role
from chat_app.repositories.imports import NewConversation, NewMessage
from chat_app.services.errors import InvalidInput
from chat_app.services.text_rules import storable
from chat_app.services.transfer.import_rules import (
    LAST_YEAR,
    MAX_MESSAGE_CHARS,
    MESSAGE_MODEL_MAX,
    strictly_increasing,
)
from chat_app.services.transfer.json_export import EXPORT_FORMAT, EXPORT_VERSION
from chat_app.services.transfer.report import ImportedItem, ImportReport, bounded, plural, shorten
from chat_app.services.transfer.store import write
from chat_app.services.transfer.untrusted_json import check_counts, load_json

# PostgreSQL INTEGER: larger token counts would fail at insert time instead of validation.
MAX_INT = 2**31 - 1


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("must be an ISO 8601 timestamp string, e.g. 2025-01-31T12:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone (add Z or +00:00)")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # e.g. year 1 with a positive offset
        raise ValueError(f"{value!r} is out of range") from None
    if parsed.year > LAST_YEAR:
        raise ValueError(f"{value!r} is out of range (after the year {LAST_YEAR})")
    return parsed


Timestamp = Annotated[datetime, PlainValidator(_timestamp)]
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_INT)]


Content = Annotated[str, StringConstraints(strict=True, max_length=MAX_MESSAGE_CHARS)]
Title = Annotated[str, StringConstraints(strict=True, max_length=TITLE_MAX)]
SystemPrompt = Annotated[str, StringConstraints(strict=True, max_length=SYSTEM_PROMPT_MAX)]
ConversationModel = Annotated[str, StringConstraints(strict=True, max_length=MODEL_MAX)]
MessageModel = Annotated[str, StringConstraints(strict=True, max_length=MESSAGE_MODEL_MAX)]


class _MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Annotated[Role, Field(strict=False)]
    content: Content
    status: Annotated[MessageStatus, Field(strict=False)] = MessageStatus.COMPLETE
    error_detail: Content | None = None
    model: MessageModel | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    ttft_ms: Count | None = None
    created_at: Timestamp

    @field_validator("status")
    @classmethod
    def _not_streaming(cls, value: MessageStatus) -> MessageStatus:
        # Nothing is writing this reply any more: same rule as after a restart.
        return MessageStatus.INTERRUPTED if value == MessageStatus.STREAMING else value


class _ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: Title
    model: ConversationModel = ""
    system_prompt: SystemPrompt = ""
    created_at: Timestamp
    updated_at: Timestamp
    messages: list[_MessageIn]


class _ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: Literal["chat-app-export"]
    version: Literal[1]
    exported_at: Timestamp | None = None
    conversations: list[_ConversationIn]


async def import_json(user_id: uuid.UUID, raw: bytes | str) -> ImportReport:
    """Re-import this app's JSON export as new conversations of ``user_id``.

    All or nothing: the whole file is validated first (shapes, enums and lengths, over-long
    titles included: an export of this app never has one, so such a file was altered and is
    refused rather than silently truncated); on any problem ``InvalidInput`` lists them and
    nothing is written. A "streaming" message becomes "interrupted".
    """
    planned = await asyncio.to_thread(_plan_json_import, raw)
    ids = await write(user_id, planned)
    return ImportReport(
        imported=[
            ImportedItem(c.title, len(c.messages), cid) for c, cid in zip(planned, ids, strict=True)
        ]
    )


def _plan_json_import(raw: object) -> list[NewConversation]:
    """Parse and validate the whole file (CPU-bound: runs in a worker thread)."""
    data = load_json(raw)
    _check_export_shape(data)
    try:
        export = _ExportIn.model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc) from None
    return [_from_export(c) for c in export.conversations]


def _check_export_shape(data: Any) -> None:
    if isinstance(data, list):
        raise InvalidInput(
            "This is not a chat-app export (it is a list; a ChatGPT conversations.json "
            "is imported with the ChatGPT import)."
        )
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise InvalidInput(
            f'This is not a chat-app export (expected a JSON object with "format": '
            f'"{EXPORT_FORMAT}").'
        )
    if data.get("version") != EXPORT_VERSION:
        raise InvalidInput(
            f"Unsupported export version {shorten(repr(data.get('version')), 20)}: "
            f"this app reads version {EXPORT_VERSION}."
        )
    conversations = data.get("conversations")
    if not isinstance(conversations, list):
        raise InvalidInput('The export has no "conversations" list.')
    messages = sum(
        len(c["messages"])
        for c in conversations
        if isinstance(c, dict) and isinstance(c.get("messages"), list)
    )
    check_counts(len(conversations), messages)


def _refusal(exc: ValidationError) -> InvalidInput:
    errors = exc.errors(include_url=False, include_input=False)
    problems: dict[str, str] = {}
    for error in errors:
        where = _where(error["loc"])
        problems.setdefault(where, str(error["msg"]).removeprefix("Value error, "))
    lines = bounded([f"- {where}: {message}" for where, message in problems.items()])
    return InvalidInput(
        f"Nothing was imported: the file has {plural(len(problems), 'problem')}.\n"
        + "\n".join(lines),
        problems,
    )


def _where(loc: Sequence[int | str]) -> str:
    """A pydantic error location in words: ``conversation 2, message 1, “role”``."""
    words: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        index = loc[i + 1] if i + 1 < len(loc) and isinstance(loc[i + 1], int) else None
        name = shorten(str(part), 40)
        if index is not None and part in {"conversations", "messages"}:
            words.append(f"{part[:-1]} {int(index) + 1}")
        elif index is not None:
            words.append(f"{name}[{index}]")
        else:
            words.append(f"“{name}”")
    return ", ".join(words) or "file"


def _from_export(conversation: _ConversationIn) -> NewConversation:
    messages = [
        NewMessage(
            role=m.role.value,
            content=storable(m.content),
            status=m.status.value,
            error_detail=_optional_text(m.error_detail),
            model=_optional_text(m.model),
            prompt_tokens=m.prompt_tokens,
            completion_tokens=m.completion_tokens,
            ttft_ms=m.ttft_ms,
            created_at=m.created_at,
        )
        for m in conversation.messages
    ]
    return NewConversation(
        title=clean_title(storable(conversation.title)) or DEFAULT_TITLE,
        model=storable(conversation.model),
        system_prompt=storable(conversation.system_prompt),
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        messages=strictly_increasing(messages),
    )


def _optional_text(value: str | None) -> str | None:
    return None if value is None else storable(value)
