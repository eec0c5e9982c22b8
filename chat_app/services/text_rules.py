"""Rules for text the app stores: messages from users, replies from models, titles."""

from __future__ import annotations

import re

from chat_app.services.errors import InvalidInput, TooLarge

# PostgreSQL text cannot hold NUL; it is the one character we do not keep as-is. Every other
# control character and all of unicode round-trips unchanged.
_NUL = "\x00"
_REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    return text.replace(_NUL, _REPLACEMENT) if _NUL in text else text


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
# NUL (PostgreSQL text cannot hold it) and UTF-16 surrogates (no UTF-8 encoder accepts them: not
# the database driver, not the websocket, not an HTTP response) are the characters no layer below
# can carry. A str holding a *pair* of surrogates (as a UTF-16 decoder may leave one) is really
# one character and is joined back; a surrogate without its partner becomes U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def has_unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def replace_unstorable(text: str) -> str:
    if not has_unstorable(text):
        return text
    text = text.replace(_NUL, _REPLACEMENT)
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


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
        return replace_unstorable(value)
    if has_unstorable(value):
        message = (
            f"{label} contains a character it cannot hold (NUL or an unpaired surrogate). "
            "Retype it."
        )
        raise InvalidInput(message, {field: message})
    return value
