"""Rules for text the app stores: messages from users, replies from models, titles."""

from __future__ import annotations

from chat_app.services.errors import InvalidInput, TooLarge

# PostgreSQL text cannot hold NUL; it is the one character we do not keep as-is. Every other
# control character and all of unicode round-trips unchanged.
_NUL = "\x00"
_REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    return text.replace(_NUL, _REPLACEMENT) if _NUL in text else text


def validate_user_message(text: object, max_chars: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Type a message first.", {"message": "Type a message first."})
    if len(text) > max_chars:
        message = (
            f"That message is too long ({len(text):,} characters; the limit is {max_chars:,}). "
            "Shorten it or split it into several messages."
        )
        raise TooLarge(message, {"message": message})
    return storable(text)


def title_from_text(text: str, max_words: int = 6, max_chars: int = 60) -> str:
    """A fallback title: the first words of the first message, on one line."""
    words = " ".join(text.split()).split(" ")
    title = " ".join(words[:max_words])
    if len(title) > max_chars:
        title = title[: max_chars - 1].rstrip() + "…"
    elif len(words) > max_words:
        title += "…"
    return title
