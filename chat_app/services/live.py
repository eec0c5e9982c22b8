"""Live replies: the text a reply has so far, fanned out to everyone watching its conversation.

A reply belongs to its conversation, not to a browser tab. The generation task appends to a
``LiveReply``; any number of viewers (tabs, API streams) follow it from an offset, so a viewer
that arrives late, reloads, or reconnects gets the text so far and then the continuation, with no
gap and no duplicate. What a follower receives is a ``ReplyEvent``: ``Delta`` (new text at an
offset), ``Finished`` (the final message, as stored, once) and ``Titled`` (the auto-title, which
comes after the text).

Where the replies live is the ``ReplyBus``'s business. ``LocalReplyBus`` keeps them in this
process (the embedded default). ``RedisReplyBus`` (services/redis_bus.py) publishes the replies
written here and mirrors the ones written by other processes into ``LiveReply`` objects of this
process, so a follower never knows which process writes what it follows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol

from chat_app.models.conversation import ConversationPublic
from chat_app.models.message import MessagePublic, MessageStatus


@dataclass(frozen=True)
class Delta:
    """New text: ``text`` starts at code-point ``offset`` of the reply."""

    offset: int
    text: str


@dataclass(frozen=True)
class Finished:
    """The reply ended: ``message`` is what the database holds for it.

    ``conversation`` is the conversation as it was when the reply ended (its activity time
    moved); None when it could not be read then (deleted meanwhile, or the database failed).
    """

    message: MessagePublic
    conversation: ConversationPublic | None


@dataclass(frozen=True)
class Titled:
    """The conversation got its auto-title (after the reply's text)."""

    title: str


ReplyEvent = Delta | Finished | Titled
# What a bus hears from a reply written here: its events, and None once it is closed.
ReplyListener = Callable[["LiveReply", ReplyEvent | None], None]


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
        self._final: Finished | None = None
        self.title: str | None = None
        self.closed = False  # nothing more will happen (title generated, bus entry released)
        self._changed = asyncio.Event()
        self.listener: ReplyListener | None = None  # set by a bus that publishes the reply

    def _tell(self, event: ReplyEvent | None) -> None:
        if self.listener is not None:
            self.listener(self, event)

    # ---- writer side (the generation task) ------------------------------------------------

    def append(self, text: str) -> None:
        if not text or self.finished:
            return
        self._tell(Delta(self._length, text))
        self._parts.append(text)
        self._length += len(text)
        self._notify()

    def append_at(self, offset: int, text: str) -> None:
        """Apply text that starts at ``offset`` (a mirror of a reply written elsewhere): what
        overlaps the text so far is skipped, so a repeated or re-based batch adds nothing twice.
        """
        end = offset + len(text)
        if end <= self._length or offset > self._length:
            return  # all known already, or after a gap (the writer re-sends from 0 then)
        self.append(text[self._length - offset :])

    def finish(self, message: MessagePublic, conversation: ConversationPublic | None) -> None:
        """The text is final; ``message`` is the reply as stored (followers need no read)."""
        if self._final is not None:
            return
        self._final = Finished(message, conversation)
        self._tell(self._final)
        self._notify()

    def set_title(self, title: str) -> None:
        self.title = title
        self._tell(Titled(title))
        self._notify()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._tell(None)
        self._notify()

    def _notify(self) -> None:
        # Wake every current follower; each one re-arms by awaiting the new event.
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- reader side ----------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._final is not None

    @property
    def status(self) -> str:
        return self._final.message.status if self._final else MessageStatus.STREAMING.value

    @property
    def error_detail(self) -> str | None:
        return self._final.message.error_detail if self._final else None

    @property
    def length(self) -> int:
        return self._length

    def text(self) -> str:
        if len(self._joined_cache) != self._length:
            self._joined_cache = "".join(self._parts)
            self._parts = [self._joined_cache] if self._joined_cache else []
        return self._joined_cache

    async def follow(
        self, offset: int = 0, *, min_interval: float = 0.0
    ) -> AsyncGenerator[ReplyEvent, None]:
        """Events from ``offset`` until the reply is closed: deltas, then Finished, then Titled.

        ``min_interval`` coalesces: a follower that renders 15 times a second passes 1/15 and
        gets one delta carrying all the text that arrived in between.
        """
        finished_sent = False
        title_sent: str | None = None
        loop = asyncio.get_running_loop()
        while True:
            changed = self._changed
            if self._length > offset:
                delta = Delta(offset, self.text()[offset:])
                offset = self._length
                started = loop.time()
                yield delta
                if min_interval and not self.finished:
                    await asyncio.sleep(max(0.0, min_interval - (loop.time() - started)))
                continue
            if self._final is not None and not finished_sent:
                finished_sent = True
                yield self._final
                continue
            if self.title is not None and self.title != title_sent:
                title_sent = self.title
                yield Titled(self.title)
                continue
            if self.closed:
                return
            await changed.wait()


class ReplyBus(Protocol):
    """Where the replies being written live, by conversation (one at a time in each)."""

    async def open(self, reply: LiveReply) -> bool:
        """Register a reply about to be written here; False when its conversation has one
        being written already (here or, with a shared bus, anywhere)."""
        ...

    def peek(self, conversation_id: uuid.UUID) -> LiveReply | None:
        """The conversation's reply as this process knows it now (written or mirrored here)."""
        ...

    async def find(self, conversation_id: uuid.UUID) -> LiveReply | None:
        """The conversation's live reply wherever it is written (mirrored here if elsewhere)."""
        ...

    async def writing_in(self, conversation_id: uuid.UUID) -> bool:
        """Whether a reply is being written in the conversation, anywhere."""
        ...

    def all(self) -> list[LiveReply]:
        """The replies written by this process."""
        ...

    async def request_stop(self, owner_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
        """Ask whoever writes the conversation's reply elsewhere to stop it."""
        ...

    async def release(self, reply: LiveReply) -> None:
        """Nothing more will happen to the reply: close it and forget it."""
        ...

    def start(self) -> None:
        """Run the bus's own background work in the running event loop (idempotent)."""
        ...

    async def close(self) -> None:
        """The process is going away: end the bus's own work."""
        ...


class LocalReplyBus:
    """Replies being generated in this process, by conversation."""

    def __init__(self) -> None:
        self._replies: dict[uuid.UUID, LiveReply] = {}

    async def open(self, reply: LiveReply) -> bool:
        """Register a reply; False when the conversation already has one being written here.

        A finished reply may still be open (its title is being generated): a new one replaces it.
        """
        current = self._replies.get(reply.conversation_id)
        if current is not None and not current.finished:
            return False
        self._replies[reply.conversation_id] = reply
        return True

    def peek(self, conversation_id: uuid.UUID) -> LiveReply | None:
        return self._replies.get(conversation_id)

    async def find(self, conversation_id: uuid.UUID) -> LiveReply | None:
        return self._replies.get(conversation_id)

    async def writing_in(self, conversation_id: uuid.UUID) -> bool:
        reply = self._replies.get(conversation_id)
        return reply is not None and not reply.finished

    def all(self) -> list[LiveReply]:
        return list(self._replies.values())

    async def request_stop(self, owner_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
        return False  # nothing is written anywhere else

    async def release(self, reply: LiveReply) -> None:
        reply.close()
        if self._replies.get(reply.conversation_id) is reply:
            del self._replies[reply.conversation_id]

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
