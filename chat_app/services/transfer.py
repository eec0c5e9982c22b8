"""Moving conversations in and out: JSON export and re-import, Markdown export, ChatGPT import.

JSON export (``chat-app-export`` version 1) is lossless for everything a user can see::

    {"format": "chat-app-export", "version": 1, "exported_at": "<ISO 8601 UTC>",
     "conversations": [{"title", "model", "system_prompt", "created_at", "updated_at",
                        "messages": [{"role", "content", "status", "error_detail", "model",
                                      "prompt_tokens", "completion_tokens", "ttft_ms",
                                      "created_at"}]}]}

Timestamps are ISO 8601 in UTC with microseconds (``2025-01-31T12:00:00.123456Z``); messages
are in conversation order. Ids are not exported: an import always creates new ones.

Imports are all-or-nothing per file for our own format (the whole file is validated before a
single row is written, then everything is written in one transaction) and per conversation for
ChatGPT exports (a malformed conversation is skipped with a reason, the others are written in
one transaction). Hostile files are refused with ``InvalidInput`` before anything is written:
over ``MAX_IMPORT_BYTES``, not UTF-8, not JSON, nested deeper than ``MAX_JSON_DEPTH``, more than
``MAX_IMPORT_CONVERSATIONS`` conversations or ``MAX_IMPORT_MESSAGES`` messages.

Text is stored verbatim (HTML and scripts included: the UI renders them inert), except for the
two things a database cannot store: NUL and unpaired surrogates (``"\\ud800"``) become U+FFFD.

Timestamps are kept, with one adjustment: the app orders (and regenerates/edits) messages by
``created_at``, so a message whose timestamp is not after its predecessor's is moved to 1 µs
after it. Exports of this app never need that; hand-edited files and ChatGPT messages without
a time do.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
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

from chat_app.core.db import session_scope
from chat_app.models.common import utcnow
from chat_app.models.conversation import (
    DEFAULT_TITLE,
    MODEL_MAX,
    SYSTEM_PROMPT_MAX,
    TITLE_MAX,
    clean_title,
)
from chat_app.models.message import Message, MessageStatus, Role
from chat_app.repositories import imports as imports_repo
from chat_app.repositories.imports import NewConversation, NewMessage
from chat_app.services.errors import InvalidInput, NotFound
from chat_app.services.ids import parse_id
from chat_app.services.text_rules import (
    has_unstorable,
    storable,
    title_from_text,
)

EXPORT_FORMAT = "chat-app-export"
EXPORT_VERSION = 1

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_IMPORT_CONVERSATIONS = 10_000
MAX_IMPORT_MESSAGES = 100_000
MAX_JSON_DEPTH = 64
MAX_MESSAGE_CHARS = 200_000
MESSAGE_MODEL_MAX = 200  # messages.model is VARCHAR(200)
# PostgreSQL INTEGER: larger token counts would fail at insert time instead of validation.
MAX_INT = 2**31 - 1
# How many problems (or skipped conversations) a message lists; the rest are counted.
MAX_PROBLEMS_SHOWN = 10

_ONE_MICROSECOND = timedelta(microseconds=1)
# Leaves room to nudge timestamps forward (see _strictly_increasing) without overflowing.
_LAST_YEAR = 9998


# ---- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedItem:
    title: str
    message_count: int
    conversation_id: uuid.UUID
    omitted_messages: int = 0  # ChatGPT: tool, hidden, empty or unsupported messages left out


@dataclass(frozen=True)
class SkippedItem:
    index: int  # position in the file's list of conversations, counting from 0
    title: str | None
    reason: str


@dataclass
class ImportReport:
    imported: list[ImportedItem] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    # Why messages were left out of imported conversations, and how many: {"tool": 3, ...}.
    omitted_messages: dict[str, int] = field(default_factory=dict)

    @property
    def message_count(self) -> int:
        return sum(item.message_count for item in self.imported)

    def summary(self) -> str:
        if not self.imported and not self.skipped:
            return "Nothing to import: the file has no conversations."
        parts = [
            f"Imported {_plural(len(self.imported), 'conversation')} "
            f"({_plural(self.message_count, 'message')})."
        ]
        if self.omitted_messages:
            reasons = ", ".join(
                f"{count} {reason}" for reason, count in sorted(self.omitted_messages.items())
            )
            total = sum(self.omitted_messages.values())
            parts.append(f"Left out {_plural(total, 'message')} ({reasons}).")
        if self.skipped:
            lines = [
                f"- #{item.index + 1}"
                + (f" “{_shorten(item.title)}”" if item.title else "")
                + f": {item.reason}"
                for item in self.skipped[:MAX_PROBLEMS_SHOWN]
            ]
            if len(self.skipped) > MAX_PROBLEMS_SHOWN:
                lines.append(f"- … and {len(self.skipped) - MAX_PROBLEMS_SHOWN:,} more")
            parts.append(
                f"Skipped {_plural(len(self.skipped), 'conversation')}:\n" + "\n".join(lines)
            )
        return "\n".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- export -------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


async def _load_for_export(
    user_id: uuid.UUID, conversation_id: object | None
) -> list[imports_repo.ConversationWithMessages]:
    cid = None if conversation_id is None else parse_id(conversation_id)
    async with session_scope() as session:
        found = await imports_repo.list_with_messages(session, user_id, cid)
    if cid is not None and not found:
        raise NotFound()
    return found


def _message_dict(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error_detail": message.error_detail,
        "model": message.model,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "ttft_ms": message.ttft_ms,
        "created_at": _iso(message.created_at),
    }


async def export_json(user_id: uuid.UUID, conversation_id: object | None = None) -> dict[str, Any]:
    """One conversation (``NotFound`` when missing or someone else's) or all of the user's."""
    found = await _load_for_export(user_id, conversation_id)
    # Seconds of CPU for a big account: off the event loop, like the parsing of imports.
    return await asyncio.to_thread(_export_document, found)


def _export_document(found: list[imports_repo.ConversationWithMessages]) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _iso(utcnow()),
        "conversations": [
            {
                "title": item.conversation.title,
                "model": item.conversation.model,
                "system_prompt": item.conversation.system_prompt,
                "created_at": _iso(item.conversation.created_at),
                "updated_at": _iso(item.conversation.updated_at),
                "messages": [_message_dict(m) for m in item.messages],
            }
            for item in found
        ],
    }


async def export_markdown(user_id: uuid.UUID, conversation_id: object | None = None) -> str:
    """A readable document; not meant for re-import (use the JSON export for that).

    Layout: each conversation is a ``#`` heading (its title) with a metadata list, then the
    system prompt and every message under ``##`` headings ("System prompt", "User",
    "Assistant", "System"), separated by horizontal rules. Content is the user's and the
    model's own Markdown, copied verbatim; the one change is that a code fence or raw-HTML block
    a message leaves open (``` or <!-- or <script> ...) is closed at the end of that message, so
    it cannot swallow the rest of the document.
    """
    found = await _load_for_export(user_id, conversation_id)
    return await asyncio.to_thread(_markdown_document, found)


def _markdown_document(found: list[imports_repo.ConversationWithMessages]) -> str:
    if not found:
        return "# Chat export\n\n*(no conversations)*\n"
    return _RULE.join(_conversation_markdown(item) for item in found) + "\n"


_RULE = "\n\n---\n\n"
_ROLE_HEADINGS = {Role.USER: "User", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _conversation_markdown(item: imports_repo.ConversationWithMessages) -> str:
    conversation = item.conversation
    header = [f"# {conversation.title}", ""]
    if conversation.model:
        header.append(f"- Model: {conversation.model}")
    header.append(f"- Created: {_when(conversation.created_at)}")
    header.append(f"- Updated: {_when(conversation.updated_at)}")
    sections = ["\n".join(header)]
    if conversation.system_prompt.strip():
        sections.append("## System prompt\n\n" + _close_open_blocks(conversation.system_prompt))
    for message in item.messages:
        sections.append(_message_markdown(message))
    if not item.messages:
        sections.append("*(no messages)*")
    return _RULE.join(sections)


def _message_markdown(message: Message) -> str:
    heading = _ROLE_HEADINGS.get(message.role, message.role.capitalize())  # type: ignore[call-overload]
    details = [_when(message.created_at)]
    if message.model:
        details.append(message.model)
    if message.status != MessageStatus.COMPLETE:
        details.append(message.status)
    lines = [f"## {heading}", "", "*" + " · ".join(details) + "*", ""]
    lines.append(_close_open_blocks(message.content) if message.content else "*(empty)*")
    if message.error_detail:
        lines.append("")
        lines.extend("> " + line for line in f"Error: {message.error_detail}".splitlines())
    return "\n".join(lines)


_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
# CommonMark HTML blocks that run until an end marker rather than a blank line (kinds 1-5).
_HTML_BLOCKS: tuple[tuple[re.Pattern[str], re.Pattern[str], str | None], ...] = (
    (
        re.compile(r"^ {0,3}<(script|pre|style|textarea)(?=[\s>]|$)", re.IGNORECASE),
        re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
        None,  # closed with the opening tag's own end tag
    ),
    (re.compile(r"^ {0,3}<!--"), re.compile(r"-->"), "-->"),
    (re.compile(r"^ {0,3}<\?"), re.compile(r"\?>"), "?>"),
    (re.compile(r"^ {0,3}<!\[CDATA\["), re.compile(r"\]\]>"), "]]>"),
    (re.compile(r"^ {0,3}<![A-Za-z]"), re.compile(r">"), ">"),
)


def _close_open_blocks(text: str) -> str:
    """``text`` plus closers for a fenced code block or raw-HTML block it leaves open."""
    fence: tuple[str, int] | None = None
    html_end: re.Pattern[str] | None = None
    html_closer = ""
    for raw_line in text.split("\n"):
        line = raw_line.rstrip("\r")
        if fence is not None:
            close = _FENCE_CLOSE.match(line)
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= fence[1]:
                fence = None
            continue
        if html_end is not None:
            if html_end.search(line):
                html_end = None
            continue
        opening = _FENCE_OPEN.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = (opening.group(1)[0], len(opening.group(1)))
            continue
        for start, end, closer in _HTML_BLOCKS:
            started = start.match(line)
            if started:
                if not end.search(line, started.end()):
                    html_end = end
                    html_closer = closer or f"</{started.group(1).lower()}>"
                break
    if fence is not None:
        return f"{text}\n{fence[0] * fence[1]}"
    if html_end is not None:
        return f"{text}\n{html_closer}"
    return text


# ---- reading untrusted files --------------------------------------------------------------


def _refuse_constant(name: str) -> float:
    raise ValueError(name)


def _load_json(raw: object) -> Any:
    """Parse an uploaded file, refusing anything too big, not UTF-8, not JSON or too deep."""
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes | str):
        raise InvalidInput("The upload must be a file (bytes) or text.")
    size = len(raw)
    if isinstance(raw, str) and size <= MAX_IMPORT_BYTES:
        size = len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"The file is too large ({size / 1_048_576:,.1f} MB; "
            f"the limit is {MAX_IMPORT_BYTES / 1_048_576:,.0f} MB)."
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"The file is not UTF-8 text (invalid byte at position {exc.start:,})."
            ) from None
    else:
        text = raw
    if not text.strip():
        raise InvalidInput("The file is empty.")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        # The C parser stops at the interpreter's recursion limit, far below a stack overflow.
        raise InvalidInput(_too_deep()) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The file is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from None
    except ValueError:  # NaN/Infinity, integers with thousands of digits
        raise InvalidInput(
            "The file is not valid JSON (it contains NaN, Infinity or a number too long to read)."
        ) from None
    return _check_depth_and_clean(data)


def _too_deep() -> str:
    return f"The file is nested too deeply (more than {MAX_JSON_DEPTH} levels)."


def _clean(value: str) -> str:
    return storable(value)


def _check_depth_and_clean(data: Any) -> Any:
    """Refuse nesting deeper than ``MAX_JSON_DEPTH``; replace unpaired surrogates in place.

    Iterative on purpose: a recursive walk is exactly what a deep file would break.
    Unpaired surrogates (``"\\ud800"``) and NUL are valid JSON escapes that no UTF-8 database
    (or HTTP response) can carry; they become U+FFFD in values and keys alike (the app's one
    input rule, ``text_rules.user_text``).
    """
    if isinstance(data, str):
        return _clean(data)
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(_too_deep())
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if has_unstorable(key):
                    del node[key]
                    key = _clean(key)
                    node[key] = value
                if isinstance(value, str):
                    node[key] = _clean(value)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str):
                    node[index] = _clean(value)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
    return data


def _check_counts(conversations: int, messages: int) -> None:
    if conversations > MAX_IMPORT_CONVERSATIONS:
        raise InvalidInput(
            f"The file has {conversations:,} conversations; "
            f"at most {MAX_IMPORT_CONVERSATIONS:,} can be imported at once."
        )
    if messages > MAX_IMPORT_MESSAGES:
        raise InvalidInput(
            f"The file has {messages:,} messages; "
            f"at most {MAX_IMPORT_MESSAGES:,} can be imported at once."
        )


def _text(value: str) -> str:
    """Storable text: NUL, which PostgreSQL cannot hold, becomes U+FFFD."""
    return storable(value)


def _optional_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _title(value: str) -> str:
    return clean_title(_text(value)) or DEFAULT_TITLE


def _strictly_increasing(messages: list[NewMessage]) -> list[NewMessage]:
    """Keep every timestamp that is after its predecessor's; nudge the others 1 µs past it."""
    result: list[NewMessage] = []
    for message in messages:
        if result and message.created_at <= result[-1].created_at:
            message = replace(message, created_at=result[-1].created_at + _ONE_MICROSECOND)
        result.append(message)
    return result


async def _write(user_id: uuid.UUID, conversations: Sequence[NewConversation]) -> list[uuid.UUID]:
    if not conversations:
        return []
    async with session_scope() as session:
        return await imports_repo.insert_conversations(session, user_id, conversations)


# ---- import: our own format ---------------------------------------------------------------


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
    if parsed.year > _LAST_YEAR:
        raise ValueError(f"{value!r} is out of range (after the year {_LAST_YEAR})")
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


def _where(loc: Sequence[int | str]) -> str:
    words: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        index = loc[i + 1] if i + 1 < len(loc) and isinstance(loc[i + 1], int) else None
        name = _shorten(str(part), 40)
        if index is not None and part in {"conversations", "messages"}:
            words.append(f"{part[:-1]} {int(index) + 1}")
        elif index is not None:
            words.append(f"{name}[{index}]")
        else:
            words.append(f"“{name}”")
    return ", ".join(words) or "file"


def _refusal(exc: ValidationError) -> InvalidInput:
    errors = exc.errors(include_url=False, include_input=False)
    problems: dict[str, str] = {}
    for error in errors:
        where = _where(error["loc"])
        problems.setdefault(where, str(error["msg"]).removeprefix("Value error, "))
    lines = [
        f"- {where}: {message}" for where, message in list(problems.items())[:MAX_PROBLEMS_SHOWN]
    ]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"- … and {len(problems) - MAX_PROBLEMS_SHOWN:,} more")
    return InvalidInput(
        f"Nothing was imported: the file has {_plural(len(problems), 'problem')}.\n"
        + "\n".join(lines),
        problems,
    )


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
            f"Unsupported export version {_shorten(repr(data.get('version')), 20)}: "
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
    _check_counts(len(conversations), messages)


def _from_export(conversation: _ConversationIn) -> NewConversation:
    messages = [
        NewMessage(
            role=m.role.value,
            content=_text(m.content),
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
        title=_title(conversation.title),
        model=_text(conversation.model),
        system_prompt=_text(conversation.system_prompt),
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        messages=_strictly_increasing(messages),
    )


async def import_json(user_id: uuid.UUID, raw: bytes | str) -> ImportReport:
    """Re-import this app's JSON export as new conversations of ``user_id``.

    All or nothing: the whole file is validated first (shapes, enums and lengths, over-long
    titles included: an export of this app never has one, so such a file was altered and is
    refused rather than silently truncated); on any problem ``InvalidInput`` lists them and
    nothing is written. A "streaming" message becomes "interrupted".
    """
    planned = await asyncio.to_thread(_plan_json_import, raw)
    ids = await _write(user_id, planned)
    return ImportReport(
        imported=[
            ImportedItem(c.title, len(c.messages), cid) for c, cid in zip(planned, ids, strict=True)
        ]
    )


def _plan_json_import(raw: object) -> list[NewConversation]:
    """Parse and validate the whole file (CPU-bound: runs in a worker thread)."""
    data = _load_json(raw)
    _check_export_shape(data)
    try:
        export = _ExportIn.model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc) from None
    return [_from_export(c) for c in export.conversations]


# ---- import: ChatGPT's conversations.json -------------------------------------------------


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Planned:
    conversation: NewConversation
    omitted: Counter[str]


def _unix_time(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        stamp = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):  # NaN, infinity, years beyond 9999
        return None
    return stamp if stamp.year <= _LAST_YEAR else None


def _placeholder(part: dict[str, Any]) -> str:
    kind = part.get("content_type")
    if kind == "audio_transcription" and isinstance(part.get("text"), str):
        return str(part["text"])
    kind = kind if isinstance(kind, str) else ""
    for word in ("image", "audio", "video"):
        if word in kind:
            return f"[{word} omitted]"
    return "[attachment omitted]"


def _fenced(code: str, language: object) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    info = language if isinstance(language, str) and language.isalnum() else ""
    info = "" if info == "unknown" else info
    return f"{fence}{info}\n{code}\n{fence}"


def _chatgpt_text(content: object) -> str | None:
    """The message's text, or None for content this app cannot show (thoughts, ...)."""
    if not isinstance(content, dict):
        raise _Skip("a message has no content object")
    parts = content.get("parts")
    if isinstance(parts, list):
        pieces = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict):
                pieces.append(_placeholder(part))
            elif part is not None:
                pieces.append("[attachment omitted]")
        return "\n\n".join(piece for piece in pieces if piece)
    text = content.get("text")
    if isinstance(text, str):
        if content.get("content_type") == "code":
            return _fenced(text, content.get("language"))
        return text
    return None


def _branch(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes from the root to ``current_node``: the branch the user last looked at."""
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise _Skip("it has no message mapping")
    current = item.get("current_node")
    if not isinstance(current, str) or current not in mapping:
        raise _Skip(f"current_node {_shorten(repr(current), 50)} is not a node of its mapping")
    path: list[dict[str, Any]] = []
    seen: set[str] = set()
    node_id: str = current
    while True:
        if node_id in seen:
            raise _Skip("its mapping has a cycle")
        seen.add(node_id)
        node = mapping[node_id]
        if not isinstance(node, dict):
            raise _Skip(f"node {_shorten(node_id, 50)!r} is not an object")
        path.append(node)
        parent = node.get("parent")
        if parent is None:
            break
        if not isinstance(parent, str) or parent not in mapping:
            raise _Skip(f"node {_shorten(node_id, 50)!r} has a parent that is not in the mapping")
        node_id = parent
    path.reverse()
    return path


def _from_chatgpt(item: object) -> _Planned:
    if not isinstance(item, dict):
        raise _Skip("it is not a conversation object")
    raw_title = item.get("title")
    if raw_title is not None and not isinstance(raw_title, str):
        raise _Skip("its title is not text")
    branch = _branch(item)
    # Messages without a time take their predecessor's (then nudged 1 µs later); the first
    # ones take the conversation's, else the first time found on the branch.
    conversation_time = _unix_time(item.get("create_time")) or next(
        (
            stamp
            for node in branch
            if isinstance(node.get("message"), dict)
            and (stamp := _unix_time(node["message"].get("create_time")))
        ),
        None,
    )
    omitted: Counter[str] = Counter()
    messages: list[NewMessage] = []
    previous_time = conversation_time
    for node in branch:
        message = node.get("message")
        if message is None:
            continue
        if not isinstance(message, dict):
            raise _Skip("a message is not an object")
        author = message.get("author")
        role = author.get("role") if isinstance(author, dict) else None
        if not isinstance(role, str):
            raise _Skip("a message has no author role")
        metadata = message.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        hidden = metadata.get("is_visually_hidden_from_conversation") is True
        if role == "tool":
            omitted["tool"] += 1
            continue
        if role not in {Role.USER, Role.ASSISTANT, Role.SYSTEM}:
            omitted["unknown role"] += 1
            continue
        recipient = message.get("recipient")
        if role == Role.ASSISTANT and isinstance(recipient, str) and recipient != "all":
            omitted["tool call"] += 1  # the model calling a tool; its output is a tool message
            continue
        if hidden:
            omitted["empty or hidden system" if role == Role.SYSTEM else "hidden"] += 1
            continue
        text = _chatgpt_text(message.get("content"))
        if role == Role.SYSTEM and (text is None or not text.strip()):
            omitted["empty or hidden system"] += 1
            continue
        if text is None:
            omitted["unsupported content"] += 1
            continue
        if not text.strip():
            omitted["empty"] += 1
            continue
        if len(text) > MAX_MESSAGE_CHARS:
            raise _Skip(
                f"message {len(messages) + 1} has {len(text):,} characters "
                f"(the limit is {MAX_MESSAGE_CHARS:,})"
            )
        created = _unix_time(message.get("create_time")) or previous_time or utcnow()
        previous_time = created
        model = metadata.get("model_slug") if role == Role.ASSISTANT else None
        messages.append(
            NewMessage(
                role=role,
                content=_text(text),
                status=(
                    MessageStatus.INTERRUPTED.value
                    if message.get("status") == "in_progress"
                    else MessageStatus.COMPLETE.value
                ),
                model=_text(model)[:MESSAGE_MODEL_MAX] if isinstance(model, str) else None,
                created_at=created,
            )
        )
    if not messages:
        raise _Skip("it has no visible messages on its current branch")
    messages = _strictly_increasing(messages)
    created_at = conversation_time or messages[0].created_at
    updated_at = _unix_time(item.get("update_time")) or max(created_at, messages[-1].created_at)
    default_model = item.get("default_model_slug")
    if not isinstance(default_model, str):
        default_model = next((m.model for m in reversed(messages) if m.model), "")
    first_user = next((m.content for m in messages if m.role == Role.USER), "")
    title = clean_title(_text(raw_title or "")) or title_from_text(first_user) or DEFAULT_TITLE
    return _Planned(
        conversation=NewConversation(
            title=clean_title(title) or DEFAULT_TITLE,
            model=_text(default_model)[:MODEL_MAX],
            system_prompt="",
            created_at=created_at,
            updated_at=updated_at,
            messages=messages,
        ),
        omitted=omitted,
    )


def _looks_like_chatgpt(item: object) -> bool:
    return isinstance(item, dict) and ("mapping" in item or "current_node" in item)


async def import_chatgpt(user_id: uuid.UUID, raw: bytes | str) -> ImportReport:
    """Import ChatGPT's ``conversations.json`` (from its data export) as new conversations.

    Each conversation keeps its title, timestamps and the messages of its current branch (the
    one last shown in ChatGPT; regenerated alternatives are dropped). Tool messages, the
    model's tool calls, hidden or empty system messages, hidden messages (custom instructions)
    and content this app cannot show (e.g. "thoughts") are left out and counted in the report.
    String parts are joined with blank lines; images and other attachments become placeholders
    such as "[image omitted]"; visible "code" content is kept inside a code fence. Non-empty
    visible system messages are kept as system messages. Over-long titles are shortened to fit
    (ChatGPT's limits are not ours); an over-long message skips its conversation.

    A malformed conversation is skipped with its reason; the others are written together in
    one transaction. A file that is not a list of conversations is refused whole.
    """
    planned, skipped = await asyncio.to_thread(_plan_chatgpt_import, raw)
    ids = await _write(user_id, [p.conversation for p in planned])
    report = ImportReport(skipped=skipped)
    omitted_total: Counter[str] = Counter()
    for plan, cid in zip(planned, ids, strict=True):
        omitted_total.update(plan.omitted)
        report.imported.append(
            ImportedItem(
                plan.conversation.title,
                len(plan.conversation.messages),
                cid,
                sum(plan.omitted.values()),
            )
        )
    report.omitted_messages = dict(omitted_total)
    return report


def _plan_chatgpt_import(raw: object) -> tuple[list[_Planned], list[SkippedItem]]:
    """Parse the file and convert each conversation (CPU-bound: runs in a worker thread)."""
    data = _load_json(raw)
    if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
        raise InvalidInput("This is a chat-app export: import it with the chat-app JSON import.")
    if not isinstance(data, list) or (data and not any(_looks_like_chatgpt(c) for c in data)):
        raise InvalidInput(
            "This is not a ChatGPT conversations.json (expected a list of conversations, "
            'each with a "mapping" of messages).'
        )
    nodes = sum(
        len(c["mapping"])
        for c in data
        if isinstance(c, dict) and isinstance(c.get("mapping"), dict)
    )
    _check_counts(len(data), nodes)

    planned: list[_Planned] = []
    skipped: list[SkippedItem] = []
    for index, item in enumerate(data):
        try:
            planned.append(_from_chatgpt(item))
        except _Skip as skip:
            title = item.get("title") if isinstance(item, dict) else None
            title = clean_title(_text(title)) if isinstance(title, str) else None
            skipped.append(SkippedItem(index, title or None, skip.reason))
    return planned, skipped
