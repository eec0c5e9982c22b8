"""Server-sent events for replies: ``replies.follow``, the UI's own feed, as text/event-stream.

Events: ``start`` (ids), ``delta`` (``{"text", "offset"}``; the event id is the offset *after*
the text, so a client reconnecting with ``Last-Event-ID`` resumes exactly there: no gap, no
duplicate), ``usage``, ``done`` (final status), ``error`` (the reply failed; partial text kept).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from chat_app.models.message import MessagePublic, MessageStatus
from chat_app.services import replies
from chat_app.services.live import Delta, Finished

KEEPALIVE_SECONDS = 15.0


def format_event(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    # json.dumps escapes newlines, so one data line always holds the whole payload.
    lines.append(f"data: {json.dumps(data, ensure_ascii=False)}")
    return "\n".join(lines) + "\n\n"


def parse_offset(last_event_id: str | None, offset: int | None) -> int:
    for candidate in (last_event_id, offset):
        try:
            value = int(candidate)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if value >= 0:
            return value
    return 0


async def reply_events(
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    offset: int = 0,
    start: dict[str, Any] | None = None,
) -> AsyncIterator[str]:
    if start is not None:
        yield format_event("start", start)
    async for event in replies.follow(user_id, conversation_id, message_id, offset=offset):
        if isinstance(event, Delta):
            end = event.offset + len(event.text)
            yield format_event("delta", {"text": event.text, "offset": event.offset}, end)
        elif isinstance(event, Finished):
            for line in final_events(event.message):
                yield line
            return  # the auto-title that may follow is not part of this stream


def final_events(message: MessagePublic) -> list[str]:
    events = []
    if message.prompt_tokens is not None or message.completion_tokens is not None:
        events.append(
            format_event(
                "usage",
                {
                    "prompt_tokens": message.prompt_tokens,
                    "completion_tokens": message.completion_tokens,
                },
            )
        )
    if message.status == MessageStatus.ERROR:
        events.append(format_event("error", {"message": message.error_detail or "Reply failed"}))
    events.append(
        format_event(
            "done",
            {
                "message_id": str(message.id),
                "status": message.status,
                "error_detail": message.error_detail,
                "ttft_ms": message.ttft_ms,
            },
        )
    )
    return events
