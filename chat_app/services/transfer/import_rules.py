"""What both importers hold the messages they plan to: bounded fields, and timestamps that
keep the file's order.

Timestamps are kept, with one adjustment: the app orders (and regenerates/edits) messages by
``created_at``, so a message whose timestamp is not after its predecessor's is moved to 1 µs
after it. Exports of this app never need that; hand-edited files and ChatGPT messages without
a time do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chat_app.repositories.imports import NewMessage

MAX_MESSAGE_CHARS = 200_000
MESSAGE_MODEL_MAX = 200  # messages.model is VARCHAR(200)
# Leaves room to nudge timestamps forward (see strictly_increasing) without overflowing.
LAST_YEAR = 9998

_ONE_MICROSECOND = timedelta(microseconds=1)


def strictly_increasing(messages: list[NewMessage]) -> list[NewMessage]:
    """Keep every timestamp that is after its predecessor's; nudge the others 1 µs past it."""
    result: list[NewMessage] = []
    for message in messages:
        if result and message.created_at <= result[-1].created_at:
            message = replace(message, created_at=result[-1].created_at + _ONE_MICROSECOND)
        result.append(message)
    return result
