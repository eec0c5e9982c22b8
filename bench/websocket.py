"""A small RFC 6455 websocket client that counts what crosses the socket.

Why not a library: the benchmark must count the bytes that actually travel (compressed frames,
headers included) *and* the uncompressed payload, per frame. This client does its own framing
over an asyncio stream, so both numbers are exact:

- ``wire_in``: every byte read from the TCP socket after the HTTP upgrade (frame headers plus
  the possibly compressed payload), i.e. the TCP payload bytes server -> client;
- ``payload_in``: the UTF-8 size of the messages after decompression.

It negotiates permessage-deflate exactly as Chromium does (offer
``permessage-deflate; client_max_window_bits``), honours what the server answers
(``server_no_context_takeover``, window bits), and compresses its own messages too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHROMIUM_EXTENSION_OFFER = "permessage-deflate; client_max_window_bits"
HANDSHAKE_TIMEOUT_SECONDS = 30.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a runaway server cannot exhaust the benchmark's memory

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    pass


class ConnectionClosed(WebSocketError):
    pass


@dataclass
class Deflate:
    """Negotiated permessage-deflate parameters (RFC 7692)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    @classmethod
    def parse(cls, header: str) -> Deflate | None:
        for offer in header.split(","):
            parts = [p.strip() for p in offer.split(";")]
            if parts[0].lower() != "permessage-deflate":
                continue
            deflate = cls()
            for param in parts[1:]:
                name, _, value = param.partition("=")
                name = name.strip().lower()
                value = value.strip().strip('"')
                if name == "server_no_context_takeover":
                    deflate.server_no_context_takeover = True
                elif name == "client_no_context_takeover":
                    deflate.client_no_context_takeover = True
                elif name == "server_max_window_bits" and value:
                    deflate.server_max_window_bits = int(value)
                elif name == "client_max_window_bits" and value:
                    deflate.client_max_window_bits = int(value)
            return deflate
        return None


@dataclass
class Counters:
    """Running totals; subtract two snapshots to get one phase's numbers."""

    wire_in: int = 0  # TCP payload bytes received after the upgrade
    wire_out: int = 0
    payload_in: int = 0  # message bytes after decompression
    payload_out: int = 0
    messages_in: int = 0
    messages_out: int = 0
    handshake_in: int = 0
    handshake_out: int = 0

    def snapshot(self) -> Counters:
        return Counters(**vars(self))

    def since(self, earlier: Counters) -> Counters:
        return Counters(**{k: v - getattr(earlier, k) for k, v in vars(self).items()})


@dataclass
class Message:
    opcode: int
    data: bytes
    wire_bytes: int  # frame header(s) + payload as received
    compressed: bool


@dataclass
class WebSocket:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    deflate: Deflate | None
    response_headers: dict[str, str]
    counters: Counters = field(default_factory=Counters)
    _decompressor: object | None = None
    _compressor: object | None = None
    closed: bool = False

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        url: str,
        headers: list[tuple[str, str]],
        *,
        subprotocols: list[str] | None = None,
        compression: bool = True,
        timeout: float = HANDSHAKE_TIMEOUT_SECONDS,
    ) -> WebSocket:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "http"):
            raise WebSocketError(f"only plain ws:// on loopback is supported, not {url}")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}:{port}",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Key: {key}",
        ]
        if subprotocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
        if compression:
            lines.append(f"Sec-WebSocket-Extensions: {CHROMIUM_EXTENSION_OFFER}")
        lines += [f"{name}: {value}" for name, value in headers]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()

        async def handshake() -> WebSocket:
            reader, writer = await asyncio.open_connection(host, port, limit=2**20)
            writer.write(request)
            await writer.drain()
            raw = await reader.readuntil(b"\r\n\r\n")
            head = raw.decode("latin-1").split("\r\n")
            status = head[0].split(" ", 2)
            if len(status) < 2 or status[1] != "101":
                writer.close()
                raise WebSocketError(f"upgrade refused: {head[0]}")
            response: dict[str, str] = {}
            for line in head[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    response[name.strip().lower()] = value.strip()
            expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            if response.get("sec-websocket-accept") != expected:
                writer.close()
                raise WebSocketError("bad Sec-WebSocket-Accept")
            deflate = Deflate.parse(response.get("sec-websocket-extensions", ""))
            ws = cls(reader, writer, deflate if compression else None, response)
            ws.counters.handshake_out = len(request)
            ws.counters.handshake_in = len(raw)
            return ws

        return await asyncio.wait_for(handshake(), timeout)

    # ---- receiving -------------------------------------------------------------------------

    async def _read_frame(self) -> tuple[bool, bool, int, bytes, int]:
        try:
            head = await self.reader.readexactly(2)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.closed = True
            raise ConnectionClosed("connection closed by the server") from exc
        fin = bool(head[0] & 0x80)
        rsv1 = bool(head[0] & 0x40)
        opcode = head[0] & 0x0F
        masked = bool(head[1] & 0x80)
        length = head[1] & 0x7F
        wire = 2
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            wire += 2
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            wire += 8
        if length > MAX_MESSAGE_BYTES:
            raise WebSocketError(f"frame of {length} bytes is over the benchmark's limit")
        mask = b""
        if masked:  # servers must not mask, but be lenient
            mask = await self.reader.readexactly(4)
            wire += 4
        payload = await self.reader.readexactly(length) if length else b""
        wire += length
        if masked:
            payload = _xor(payload, mask)
        self.counters.wire_in += wire
        return fin, rsv1, opcode, payload, wire

    async def recv(self) -> Message:
        """The next data message (pings are answered, pongs skipped, close raises)."""
        parts: list[bytes] = []
        opcode = None
        compressed = False
        wire_total = 0
        while True:
            fin, rsv1, op, payload, wire = await self._read_frame()
            wire_total += wire
            if op >= 0x8:  # control frames may arrive between fragments
                if op == OP_PING:
                    await self._send_frame(OP_PONG, payload, compress=False)
                elif op == OP_CLOSE:
                    self.closed = True
                    raise ConnectionClosed(f"server closed: {payload[2:].decode(errors='replace')}")
                continue
            if op != OP_CONT:
                opcode, compressed = op, rsv1
            parts.append(payload)
            if fin:
                break
        data = b"".join(parts)
        if compressed:
            data = self._decompress(data)
        self.counters.payload_in += len(data)
        self.counters.messages_in += 1
        assert opcode is not None
        return Message(opcode, data, wire_total, compressed)

    def _decompress(self, data: bytes) -> bytes:
        if self.deflate is None:
            raise WebSocketError("compressed frame without negotiated permessage-deflate")
        if self._decompressor is None or self.deflate.server_no_context_takeover:
            self._decompressor = zlib.decompressobj(-self.deflate.server_max_window_bits)
        return self._decompressor.decompress(data + b"\x00\x00\xff\xff")  # type: ignore[attr-defined]

    # ---- sending ---------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        data = text.encode()
        self.counters.payload_out += len(data)
        self.counters.messages_out += 1
        await self._send_frame(OP_TEXT, data, compress=self.deflate is not None)

    async def _send_frame(self, opcode: int, data: bytes, *, compress: bool) -> None:
        if self.closed:
            raise ConnectionClosed("connection is closed")
        first = 0x80 | opcode
        if compress and data:
            assert self.deflate is not None
            if self._compressor is None or self.deflate.client_no_context_takeover:
                self._compressor = zlib.compressobj(
                    zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.deflate.client_max_window_bits
                )
            body = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)  # type: ignore[attr-defined]
            data = body[:-4] if body.endswith(b"\x00\x00\xff\xff") else body
            first |= 0x40
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 2**16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        frame = header + mask + _xor(data, mask)
        self.counters.wire_out += len(frame)
        self.writer.write(frame)
        await self.writer.drain()

    async def close(self) -> None:
        if not self.closed:
            try:
                await asyncio.wait_for(
                    self._send_frame(OP_CLOSE, struct.pack("!H", 1000), compress=False), 2
                )
            except (Exception, asyncio.CancelledError):
                pass
        self.closed = True
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (Exception, asyncio.CancelledError):
            pass


def _xor(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
