"""Ids from the outside (URLs, forms, API paths) arrive as strings.

A malformed id names nothing a user owns, so it raises the same ``NotFound`` as a missing or
someone else's id: a caller cannot tell "bad id" from "not yours" apart.
"""

from __future__ import annotations

import uuid

from chat_app.services.errors import NotFound


def parse_id(value: object, what: str = "Conversation") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(what) from None
