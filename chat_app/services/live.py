"""Live replies: the text a reply has so far, fanned out to everyone watching its conversation.

A reply belongs to its conversation, not to a browser tab. The generation task appends to a
``LiveReply``; any number of viewers (tabs, API streams) follow it from an offset, so a viewer
that arrives late, reloads, or reconnects gets the text so far and then the continuation, with no
gap and no duplicate.

``LocalReplyBus`` keeps replies in this process. When several workers serve the app, a bus backed
by Redis (a stream per reply, read from an offset) can implement the same two methods, ``open``
and ``get``, and the same ``follow`` contract.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ReplyUpdate:
    """What a follower receives: new text from ``offset``, and the state after it."""

    offset: int
    text: str
    finished: bool
    status: str
    error_detail: str | None
    title: str | None


class LiveReply:
    def __init__(
        self, *, owner_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID
    ) -> None:
        self.owner_id = owner_id
        self.conversation_id = conversation_id
        self.message_id = message_id
        self._parts: list[str] = []
        self._length = 0
        self._joined_cache = ""
        self.status = "streaming"
        self.error_detail: str | None = None
        self.title: str | None = None
        self.finished = False  # the text is final
        self.closed = False  # nothing more will happen (title generated, bus entry released)
        self._changed = asyncio.Event()

    # ---- writer side (the generation task) ------------------------------------------------

    def append(self, text: str) -> None:
        if not text or self.finished:
            return
        self._parts.append(text)
        self._length += len(text)
        self._notify()

    def finish(self, status: str, error_detail: str | None = None) -> None:
        self.status = status
        self.error_detail = error_detail
        self.finished = True
        self._notify()

    def set_title(self, title: str) -> None:
        self.title = title
        self._notify()

    def close(self) -> None:
        self.closed = True
        self._notify()

    def _notify(self) -> None:
        # Wake every current follower; each one re-arms by awaiting the new event.
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- reader side ----------------------------------------------------------------------

    @property
    def length(self) -> int:
        return self._length

    def text(self) -> str:
        if len(self._joined_cache) != self._length:
            self._joined_cache = "".join(self._parts)
            self._parts = [self._joined_cache] if self._joined_cache else []
        return self._joined_cache

    def text_since(self, offset: int) -> str:
        return self.text()[offset:]

    def snapshot(self, offset: int = 0) -> ReplyUpdate:
        return ReplyUpdate(
            offset=offset,
            text=self.text_since(offset),
            finished=self.finished,
            status=self.status,
            error_detail=self.error_detail,
            title=self.title,
        )

    async def follow(
        self, offset: int = 0, *, min_interval: float = 0.0
    ) -> AsyncIterator[ReplyUpdate]:
        """Updates from ``offset`` until the reply is closed.

        ``min_interval`` coalesces: a follower that renders 15 times a second passes 1/15 and
        gets one update carrying all the text that arrived in between.
        """
        title_seen: str | None = None
        finished_seen = False
        loop = asyncio.get_running_loop()
        while True:
            changed = self._changed
            if self._length > offset or self.finished != finished_seen or self.title != title_seen:
                update = self.snapshot(offset)
                offset = self._length
                finished_seen, title_seen = update.finished, update.title
                started = loop.time()
                yield update
                if min_interval and not self.closed:
                    await asyncio.sleep(max(0.0, min_interval - (loop.time() - started)))
                continue
            if self.closed:
                return
            await changed.wait()


class LocalReplyBus:
    """Replies being generated in this process, by conversation."""

    def __init__(self) -> None:
        self._replies: dict[uuid.UUID, LiveReply] = {}

    def open(self, reply: LiveReply) -> bool:
        """Register a reply; False when the conversation already has one being written here.

        A finished reply may still be open (its title is being generated): a new one replaces it.
        """
        current = self._replies.get(reply.conversation_id)
        if current is not None and not current.finished:
            return False
        self._replies[reply.conversation_id] = reply
        return True

    def get(self, conversation_id: uuid.UUID) -> LiveReply | None:
        return self._replies.get(conversation_id)

    def all(self) -> list[LiveReply]:
        return list(self._replies.values())

    def release(self, reply: LiveReply) -> None:
        reply.close()
        if self._replies.get(reply.conversation_id) is reply:
            del self._replies[reply.conversation_id]
