"""This app's own lossless JSON export (the format is described in the package docstring)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from chat_app.models.common import utcnow
from chat_app.models.message import Message
from chat_app.repositories.imports import ConversationWithMessages
from chat_app.services.transfer.store import load_for_export

EXPORT_FORMAT = "chat-app-export"
EXPORT_VERSION = 1


async def export_json(user_id: uuid.UUID, conversation_id: object | None = None) -> dict[str, Any]:
    """One conversation (``NotFound`` when missing or someone else's) or all of the user's."""
    found = await load_for_export(user_id, conversation_id)
    # Seconds of CPU for a big account: off the event loop, like the parsing of imports.
    return await asyncio.to_thread(_export_document, found)


def _export_document(found: list[ConversationWithMessages]) -> dict[str, Any]:
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


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
