"""One node of a ChatGPT conversation's branch into one message of ours, or the reason it is
left out (tool traffic, hidden or empty messages, content this app cannot show)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chat_app.models.common import utcnow
from chat_app.models.message import MessageStatus, Role
from chat_app.repositories.imports import NewMessage
from chat_app.services.text_rules import storable
from chat_app.services.transfer.import_rules import LAST_YEAR, MAX_MESSAGE_CHARS, MESSAGE_MODEL_MAX


class Skip(Exception):
    """The whole conversation cannot be imported; ``reason`` says why, for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Omitted:
    """A message left out of an imported conversation, counted in the report under ``reason``."""

    reason: str


def message_from_node(
    node: dict[str, Any], *, number: int, fallback_time: datetime | None
) -> NewMessage | Omitted | None:
    """The node's message as ours, ``Omitted``, or None for a node without one (the root).

    ``number`` is the position the message would take (for the reason of a ``Skip``);
    ``fallback_time`` is used when the message has no time of its own.
    """
    message = node.get("message")
    if message is None:
        return None
    if not isinstance(message, dict):
        raise Skip("a message is not an object")
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    if not isinstance(role, str):
        raise Skip("a message has no author role")
    metadata = message.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    left_out = _left_out(role, message, metadata)
    if left_out is not None:
        return left_out
    text = _visible_text(role, message.get("content"))
    if isinstance(text, Omitted):
        return text
    if len(text) > MAX_MESSAGE_CHARS:
        raise Skip(
            f"message {number} has {len(text):,} characters (the limit is {MAX_MESSAGE_CHARS:,})"
        )
    model = metadata.get("model_slug") if role == Role.ASSISTANT else None
    return NewMessage(
        role=role,
        content=storable(text),
        status=(
            MessageStatus.INTERRUPTED.value
            if message.get("status") == "in_progress"
            else MessageStatus.COMPLETE.value
        ),
        model=storable(model)[:MESSAGE_MODEL_MAX] if isinstance(model, str) else None,
        created_at=unix_time(message.get("create_time")) or fallback_time or utcnow(),
    )


def _left_out(role: str, message: dict[str, Any], metadata: dict[str, Any]) -> Omitted | None:
    """Messages left out for who wrote them or where they went, before reading their text."""
    if role == "tool":
        return Omitted("tool")
    if role not in {Role.USER, Role.ASSISTANT, Role.SYSTEM}:
        return Omitted("unknown role")
    recipient = message.get("recipient")
    if role == Role.ASSISTANT and isinstance(recipient, str) and recipient != "all":
        return Omitted("tool call")  # the model calling a tool; its output is a tool message
    if metadata.get("is_visually_hidden_from_conversation") is True:
        return Omitted("empty or hidden system" if role == Role.SYSTEM else "hidden")
    return None


def _visible_text(role: str, content: object) -> str | Omitted:
    text = _chatgpt_text(content)
    if role == Role.SYSTEM and (text is None or not text.strip()):
        return Omitted("empty or hidden system")
    if text is None:
        return Omitted("unsupported content")
    if not text.strip():
        return Omitted("empty")
    return text


def _chatgpt_text(content: object) -> str | None:
    """The message's text, or None for content this app cannot show (thoughts, ...)."""
    if not isinstance(content, dict):
        raise Skip("a message has no content object")
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


def unix_time(value: object) -> datetime | None:
    """A ChatGPT time (seconds since 1970), or None when it is missing or out of range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        stamp = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):  # NaN, infinity, years beyond 9999
        return None
    return stamp if stamp.year <= LAST_YEAR else None
