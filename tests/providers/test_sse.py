"""The tolerant SSE reader: any byte split, any line ending, bad bytes, oversized lines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat_app.providers.sse import SSEEvent, read_events

BODY = (
    b": keep-alive\r\n\r\n"
    b'data: {"a": 1}\n\n'
    b"event: note\r\ndata: two\r\ndata: lines\r\n\r\n"
    b"data:no-space\r\r"
    b"data: caf\xe9\n\n"
    b"data: [DONE]\n\n"
    b"data: never dispatched"
)
EXPECTED = [
    SSEEvent('{"a": 1}'),
    SSEEvent("two\nlines", "note"),
    SSEEvent("no-space"),
    SSEEvent("caf\ufffd"),
    SSEEvent("[DONE]"),
]


async def _events(parts: list[bytes], max_event_bytes: int = 1_000) -> list[SSEEvent]:
    async def chunks() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    return [e async for e in read_events(chunks(), max_event_bytes=max_event_bytes)]


async def test_one_piece() -> None:
    assert await _events([BODY]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7])
async def test_every_split_gives_the_same_events(size: int) -> None:
    """Splits inside CRLF, inside a multi-byte character, inside a field name."""
    parts = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    assert await _events(parts) == EXPECTED


async def test_a_split_utf8_character_is_not_mangled() -> None:
    body = "data: é😀\n\n".encode()
    assert await _events([body[:7], body[7:10], body[10:]]) == [SSEEvent("é😀")]


@pytest.mark.parametrize("size", [1, 50, 10_000])
async def test_an_oversized_line_is_dropped_and_flagged(size: int) -> None:
    body = b"data: " + b"x" * 500 + b"\n\ndata: ok\n\n"
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    assert await _events(parts, max_event_bytes=100) == [
        SSEEvent("", oversized=True),
        SSEEvent("ok"),
    ]


async def test_an_event_of_many_short_lines_is_capped_too() -> None:
    body = b"data: xxxxxxxxx\n" * 50 + b"\ndata: ok\n\n"
    assert await _events([body], max_event_bytes=100) == [
        SSEEvent("", oversized=True),
        SSEEvent("ok"),
    ]
