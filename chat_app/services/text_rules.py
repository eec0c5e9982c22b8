"""Rules for text the app stores: messages from users, replies from models, titles."""

from __future__ import annotations

import re

from chat_app.services.errors import InvalidInput, TooLarge

# Text must be storable in both databases and encodable as UTF-8 (JSON, websockets, SSE).
# PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate (``"\ud800"``, which a JSON
# escape can produce) cannot be encoded at all: both become U+FFFD. Every other control
# character and all of unicode round-trips unchanged.
_NUL = "\x00"
_REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    if _UNSTORABLE.search(text) is None:
        return text
    # Through UTF-16: a high+low surrogate pair written as two code points becomes the one
    # character it stands for; a surrogate without its partner becomes U+FFFD.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return joined.replace(_NUL, _REPLACEMENT)


def _is_high_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


class StorableStream:
    """``storable`` for text that arrives in pieces (a model's reply).

    A JSON-escaped surrogate pair can be split across two pieces (a proxy slicing UTF-16):
    a trailing high surrogate waits for the next piece instead of becoming U+FFFD at once.
    """

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        self._pending = ""
        if text and _is_high_surrogate(text[-1]):
            text, self._pending = text[:-1], text[-1]
        return storable(text)

    def flush(self) -> str:
        """What is still held back (a high surrogate nobody completed), made storable."""
        pending, self._pending = self._pending, ""
        return storable(pending)


def validate_user_message(text: object, max_chars: int) -> str:
    if isinstance(text, str):
        text = user_text(text, "message")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Type a message first.", {"message": "Type a message first."})
    if len(text) > max_chars:
        message = too_long_message(len(text), max_chars)
        raise TooLarge(message, {"message": message})
    return storable(text)


def too_long_message(length: int, max_chars: int) -> str:
    """Also shown by the composer, which counts before sending (the same words either way)."""
    return (
        f"That message is too long ({length:,} characters; the limit is {max_chars:,}). "
        "Shorten it or split it into several messages."
    )


def title_from_text(text: str, max_words: int = 6, max_chars: int = 60) -> str:
    """A fallback title: the first words of the first message, on one line."""
    words = " ".join(text.split()).split(" ")
    title = " ".join(words[:max_words])
    if len(title) > max_chars:
        title = title[: max_chars - 1].rstrip() + "…"
    elif len(words) > max_words:
        title += "…"
    return title


# ---- the input rule: every text field a user supplies passes here at the service edge --------
# The characters no layer below can carry are those ``storable`` replaces (see the top).


def has_unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def user_text(value: object, field: str, *, refuse: bool = False) -> str:
    """A user-supplied text field, safe for every layer below.

    ``refuse=False`` (free text: messages, titles, system prompts, search, names of things):
    NUL and lone surrogates become U+FFFD, so a pasted text is never lost for one stray
    character, and a search finds the text that was stored the same way. ``refuse=True``
    (identifiers and secrets: model, email, password, display name): a replacement would
    silently change what the user meant, so the field is refused with a message saying why.
    """
    label = field.replace("_", " ").capitalize()
    if not isinstance(value, str):
        message = f"{label} must be text."
        raise InvalidInput(message, {field: message})
    if not refuse:
        return storable(value)
    if has_unstorable(value):
        message = (
            f"{label} contains a character it cannot hold (NUL or an unpaired surrogate). "
            "Retype it."
        )
        raise InvalidInput(message, {field: message})
    return value
