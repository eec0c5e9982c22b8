"""Reading one ``chat.completion.chunk`` event, trusting nothing about its shape.

The data of an SSE event is checked field by field rather than handed to the SDK's models,
which accept anything and fail later, far from the bad chunk. Only what the adapter uses is
read: the first choice's text and finish reason, and the usage counts. Unknown fields
(``reasoning_content``, ``logprobs``…) are ignored; missing optional ones are ``None``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .sse import SSEEvent

# How much of a bad event goes into the log: enough to recognise it, never a whole reply.
_EXCERPT_CHARS = 80


class MalformedChunk(ValueError):
    """An event that cannot be read as a chunk; the message says why, for the log."""


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # An OpenAI-shaped {"error": {...}} event: the server gave up mid-stream.
    error: dict[str, Any] | None = None


def parse_chunk(event: SSEEvent) -> Chunk:
    if event.oversized:
        raise MalformedChunk("a line longer than the size cap")
    try:
        data = json.loads(event.data)
    except json.JSONDecodeError as exc:
        raise MalformedChunk(f"not JSON ({exc.msg}): {_excerpt(event.data)}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, [[[[…]]]] nesting
        raise MalformedChunk(f"unreadable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise MalformedChunk(f"not a JSON object: {_excerpt(event.data)}")
    error = data.get("error")
    if error:
        return Chunk(error=error if isinstance(error, dict) else {"message": str(error)})
    text, finish_reason = _first_choice(data.get("choices", []))
    prompt_tokens, completion_tokens = _usage(data.get("usage"))
    return Chunk(text, finish_reason, prompt_tokens, completion_tokens)


def _first_choice(choices: object) -> tuple[str, str | None]:
    if choices is None:
        return "", None
    if not isinstance(choices, list):
        raise MalformedChunk(f"choices is not a list: {_excerpt(repr(choices))}")
    for choice in choices:
        if not isinstance(choice, dict):
            raise MalformedChunk(f"a choice is not an object: {_excerpt(repr(choice))}")
        if choice.get("index", 0) != 0:
            continue  # only one reply was asked for; others are not ours to show
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise MalformedChunk(f"delta is not an object: {_excerpt(repr(delta))}")
        text = delta.get("content") or ""
        finish_reason = choice.get("finish_reason")
        if not isinstance(text, str):
            raise MalformedChunk(f"content is not text: {_excerpt(repr(text))}")
        if finish_reason is not None and not isinstance(finish_reason, str):
            raise MalformedChunk(f"finish_reason is not text: {_excerpt(repr(finish_reason))}")
        return text, finish_reason or None
    return "", None


def _usage(usage: object) -> tuple[int | None, int | None]:
    if usage is None:
        return None, None
    if not isinstance(usage, dict):
        raise MalformedChunk(f"usage is not an object: {_excerpt(repr(usage))}")
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: object) -> int | None:
    # bool is an int in Python; a count of True tokens is not a count.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _excerpt(text: str) -> str:
    shown = text[:_EXCERPT_CHARS]
    return repr(shown) + ("…" if len(text) > _EXCERPT_CHARS else "")
