"""A server-sent-events reader that survives what a broken or hostile server sends.

The ``openai`` SDK's own reader decodes every line as strict UTF-8 and parses every event as
JSON inside its stream iterator: one bad byte or one bad event raises there and ends the
iterator, so the rest of the reply is lost. This reader never raises on content: bytes that
are not UTF-8 become U+FFFD, and an event (or a line) larger than ``max_event_bytes`` is
dropped and flagged ``oversized`` instead of being buffered without bound. Judging each event's
data is left to the caller.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass

# CR, LF and CRLF all end a line in SSE. Splitting bytes is safe for UTF-8: neither byte can
# appear inside a multi-byte sequence.
_LINE_END = re.compile(b"\r\n|\r|\n")


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str | None = None
    oversized: bool = False  # past the size cap: its data was dropped


class _Lines:
    """Bytes in, complete lines out; at most ``max_line_bytes`` buffered per line."""

    def __init__(self, max_line_bytes: int) -> None:
        self._max = max_line_bytes
        self._buffer = bytearray()
        self._skipping = False  # inside a line that already went past the cap
        self._cr_pending = False  # the last chunk ended with CR: a leading LF belongs to it

    def feed(self, chunk: bytes) -> Iterator[bytes | None]:
        """Complete lines; ``None`` stands for a line that was too long and got dropped."""
        start = 0
        if self._cr_pending and chunk[:1] == b"\n":
            start = 1
        self._cr_pending = False
        for match in _LINE_END.finditer(chunk, start):
            yield self._take(chunk[start : match.start()])
            start = match.end()
        if chunk.endswith(b"\r"):
            self._cr_pending = True
        rest = chunk[start:]
        if self._skipping:
            return
        self._buffer += rest
        if len(self._buffer) > self._max:
            self._buffer.clear()
            self._skipping = True

    def _take(self, tail: bytes) -> bytes | None:
        if self._skipping or len(self._buffer) + len(tail) > self._max:
            self._buffer.clear()
            self._skipping = False
            return None
        line = bytes(self._buffer) + tail
        self._buffer.clear()
        return line


async def read_events(
    chunks: AsyncIterator[bytes], *, max_event_bytes: int
) -> AsyncGenerator[SSEEvent, None]:
    """Events in arrival order. An event still open when the body ends is discarded (SSE)."""
    lines = _Lines(max_event_bytes)
    data: list[str] = []
    size = 0  # bytes of the data lines so far
    event: str | None = None
    oversized = False
    async for chunk in chunks:
        for raw in lines.feed(chunk):
            if raw is None:
                oversized = True
                continue
            line = raw.decode("utf-8", errors="replace")
            if not line:
                if data or oversized:
                    yield SSEEvent("\n".join(data), event, oversized)
                data, size, event, oversized = [], 0, None, False
                continue
            if line.startswith(":"):
                continue  # a comment (keep-alive)
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data" and not oversized:
                size += len(raw)
                if size > max_event_bytes:  # many short data lines with no end in sight
                    data, oversized = [], True
                else:
                    data.append(value)
            elif name == "event":
                event = value or None
            # id and retry mean nothing here: this reader never reconnects.
