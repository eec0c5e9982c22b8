"""Reading an uploaded file that may be hostile: size, encoding, JSON, depth and counts are
checked before anything is built from it, and every string is made storable."""

from __future__ import annotations

import json
from typing import Any

from chat_app.services.errors import InvalidInput
from chat_app.services.text_rules import has_unstorable, storable

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_IMPORT_CONVERSATIONS = 10_000
MAX_IMPORT_MESSAGES = 100_000
MAX_JSON_DEPTH = 64


def load_json(raw: object) -> Any:
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


def check_counts(conversations: int, messages: int) -> None:
    """Refuse a file with more conversations or messages than one import may write."""
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


def _refuse_constant(name: str) -> float:
    raise ValueError(name)


def _too_deep() -> str:
    return f"The file is nested too deeply (more than {MAX_JSON_DEPTH} levels)."


def _check_depth_and_clean(data: Any) -> Any:
    """Refuse nesting deeper than ``MAX_JSON_DEPTH``; replace unpaired surrogates in place.

    Iterative on purpose: a recursive walk is exactly what a deep file would break.
    Unpaired surrogates (``"\\ud800"``) and NUL are valid JSON escapes that no UTF-8 database
    (or HTTP response) can carry; they become U+FFFD in values and keys alike (the app's one
    input rule, ``text_rules.user_text``).
    """
    if isinstance(data, str):
        return storable(data)
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(_too_deep())
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if has_unstorable(key):
                    del node[key]
                    key = storable(key)
                    node[key] = value
                if isinstance(value, str):
                    node[key] = storable(value)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str):
                    node[index] = storable(value)
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
    return data
