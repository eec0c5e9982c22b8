"""The replies being written, as one service: follow one, look one up, stop one.

The Reflex state and the SSE route consume replies only through here, as thin translators of
``follow``'s events (``Delta``, ``Finished``, ``Titled``): ownership is checked in this one place,
and a reply that is not live any more is answered from the database by this module too, so no
consumer reads the database when a reply ends.

The process keeps its running replies in one ``ReplyRegistry`` (``get_replies()``, created once
per Redis configuration, so once in a server): the bus the replies are published on
(in-process, or Redis when REDIS_URL is set: services/redis_bus.py), each reply task with the
controls Stop shares with it, and the endings it could not write. The generation service starts
replies in it; nothing else holds reply state. On SIGTERM ``drain`` lets running replies finish
for a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from chat_app.core.db import read_scope, session_scope
from chat_app.core.redis import RedisError
from chat_app.core.settings import get_settings
from chat_app.models.conversation import ConversationPublic
from chat_app.models.message import MessagePublic
from chat_app.repositories import conversations as conversations_repo
from chat_app.repositories import messages as messages_repo
from chat_app.services import auth as auth_service
from chat_app.services.errors import NotFound, Unavailable
from chat_app.services.ids import parse_id
from chat_app.services.live import (
    Delta,
    Finished,
    LiveReply,
    LocalReplyBus,
    ReplyBus,
    ReplyEvent,
)

log = logging.getLogger(__name__)


@dataclass
class ReplyControl:
    """What a reply's task and Stop share (both run in this process's event loop)."""

    stop_requested: bool = False
    ending: bool = False  # generation is over; the final write must not be cancelled
    fenced: bool = False  # another process may own the reply now: write nothing more


@dataclass(frozen=True)
class UnsavedEnding:
    owner_id: uuid.UUID
    conversation_id: uuid.UUID


@dataclass(frozen=True)
class _Running:
    reply: LiveReply
    task: asyncio.Task[None]
    control: ReplyControl


RESTARTING = "This server is restarting. Send your message again in a moment."


@dataclass
class ReplyRegistry:
    """This process's replies: the bus they are published on and the tasks writing them."""

    bus: ReplyBus = field(default_factory=LocalReplyBus)
    accepting: bool = field(default=True, init=False)  # False once draining for shutdown
    # By conversation: at most one reply is written in a conversation at a time.
    _running: dict[uuid.UUID, _Running] = field(default_factory=dict, init=False, repr=False)
    # Replies whose end could not be written at all (even the status-only write failed): their
    # rows still say "streaming" although nothing writes them. By message id; they block nothing
    # in this process, and every later send in their conversation retries the write.
    unsaved_endings: dict[uuid.UUID, UnsavedEnding] = field(default_factory=dict, init=False)

    # ---- the generation service's side ----------------------------------------------------

    def start(
        self, reply: LiveReply, control: ReplyControl, work: Coroutine[Any, Any, None]
    ) -> None:
        """Run ``work`` (the task writing ``reply``, already open on the bus) in the process."""
        task = asyncio.create_task(work, name=f"reply-{reply.message_id}")
        self._running[reply.conversation_id] = _Running(reply, task, control)

    async def done(self, reply: LiveReply) -> None:
        """The reply's own task has nothing more to do: release it and forget the task."""
        await self.bus.release(reply)
        running = self._running.get(reply.conversation_id)
        if running is not None and running.task is asyncio.current_task():
            del self._running[reply.conversation_id]

    def refuse_if_draining(self) -> None:
        if not self.accepting:
            raise Unavailable(RESTARTING)

    async def is_writing(self, conversation_id: uuid.UUID) -> bool:
        """Whether a reply is being written in the conversation, by any process."""
        try:
            return await self.bus.writing_in(conversation_id)
        except RedisError as exc:
            raise Unavailable() from exc

    # ---- everyone's side ------------------------------------------------------------------

    def live(self, user_id: uuid.UUID, conversation_id: object) -> LiveReply | None:
        """The reply being written (or titled) in this conversation as this process knows it
        now, if the user owns it (``find`` also asks the other processes)."""
        try:
            cid = parse_id(conversation_id)
        except NotFound:
            return None
        return _owned(self.bus.peek(cid), user_id)

    async def find(self, user_id: uuid.UUID, conversation_id: object) -> LiveReply | None:
        """The reply being written (or titled) in this conversation by any process, if the
        user owns it."""
        try:
            cid = parse_id(conversation_id)
        except NotFound:
            return None
        return _owned(await self.bus.find(cid), user_id)

    def writes(self, reply: LiveReply) -> bool:
        """Whether a task of this process writes ``reply`` (not a mirror of another's)."""
        running = self._running.get(reply.conversation_id)
        return running is not None and running.reply is reply

    def cancel(self, reply: LiveReply) -> bool:
        """Stop the task writing ``reply``; False when it is being launched or already ending."""
        running = self._running.get(reply.conversation_id)
        if running is None or running.reply is not reply or running.control.ending:
            return False
        running.control.stop_requested = True
        running.task.cancel()
        return True

    def fence(self, reply: LiveReply) -> None:
        """Another process may own ``reply`` now: end its task here without writing."""
        running = self._running.get(reply.conversation_id)
        if running is None or running.reply is not reply:
            return
        running.control.fenced = True
        if not running.control.ending:
            running.task.cancel()

    def writing(self) -> list[LiveReply]:
        return [reply for reply in self.bus.all() if not reply.finished]

    async def cancel_all(self) -> None:
        """End every reply task (tests, and shutdown): each one records itself as ended."""
        tasks = [r.task for r in list(self._running.values()) if not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, grace_seconds: float) -> None:
        """Shutdown: take no new replies, let running ones finish for up to ``grace_seconds``,
        end the rest as "interrupted" (their text so far kept), then close the bus."""
        self.accepting = False
        tasks = [r.task for r in list(self._running.values()) if not r.task.done()]
        if tasks:
            log.info("shutting down: waiting up to %gs for %d reply(s)", grace_seconds, len(tasks))
            _done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            if pending:
                log.warning("shutting down: %d reply(s) marked interrupted", len(pending))
            await self.cancel_all()
        await self.bus.close()


def _owned(reply: LiveReply | None, user_id: uuid.UUID) -> LiveReply | None:
    return reply if reply is not None and reply.owner_id == user_id else None


@lru_cache
def _registry_for(redis_url: str, key_prefix: str) -> ReplyRegistry:
    if not redis_url:
        return ReplyRegistry()
    from chat_app.services.redis_bus import RedisReplyBus

    registry = ReplyRegistry()
    registry.bus = RedisReplyBus(on_stop=registry.cancel, on_fenced=registry.fence)
    return registry


def get_replies() -> ReplyRegistry:
    """The process's registry, created once per Redis configuration (a server has one; tests
    switch between several)."""
    settings = get_settings()
    return _registry_for(settings.redis_url, settings.redis_key_prefix)


@contextlib.asynccontextmanager
async def serving_replies() -> AsyncIterator[None]:
    """The server's lifespan: the bus's loops run from the start (a process that writes no
    reply still sweeps dead ones); at shutdown running replies drain (SHUTDOWN_GRACE_SECONDS)."""
    registry = get_replies()
    registry.bus.start()
    try:
        yield
    finally:
        await registry.drain(get_settings().shutdown_grace_seconds)


def live_reply(user_id: uuid.UUID, conversation_id: object) -> LiveReply | None:
    """The reply being written in this conversation, as this process knows it now."""
    return get_replies().live(user_id, conversation_id)


async def find_reply(user_id: uuid.UUID, conversation_id: object) -> LiveReply | None:
    """The reply being written in this conversation by any process, if the user owns it."""
    return await get_replies().find(user_id, conversation_id)


async def follow(
    user_id: uuid.UUID,
    conversation_id: object,
    message_id: object,
    *,
    offset: int = 0,
    min_interval: float = 0.0,
) -> AsyncGenerator[ReplyEvent, None]:
    """The reply's text from ``offset`` as ``Delta``s, then ``Finished`` once, then ``Titled``.

    A reply that is not being written here is answered from the database: its text after
    ``offset`` (one ``Delta``) and ``Finished``. Ids that are malformed, missing or another
    user's raise ``NotFound`` before anything is yielded; another user's live reply is never
    followed. ``min_interval`` coalesces deltas (see ``LiveReply.follow``).
    """
    cid, mid = parse_id(conversation_id), parse_id(message_id, "Message")
    reply = await get_replies().find(user_id, cid)
    if reply is not None and reply.message_id == mid:
        async for event in reply.follow(offset, min_interval=min_interval):
            yield event
        return
    finished = await stored_reply(user_id, cid, mid)
    text = finished.message.content
    if len(text) > offset:
        yield Delta(offset, text[offset:])
    yield finished


async def stored_reply(user_id: uuid.UUID, conversation_id: object, message_id: object) -> Finished:
    """The reply as the database holds it; ``NotFound`` unless it is the user's, in that
    conversation."""
    cid, mid = parse_id(conversation_id), parse_id(message_id, "Message")
    async with read_scope() as session:
        message = await messages_repo.get(session, user_id, mid)
        conversation = await conversations_repo.get(session, user_id, cid)
        if message is None or conversation is None or message.conversation_id != cid:
            raise NotFound("Message")
        return Finished(
            MessagePublic.model_validate(message, from_attributes=True),
            ConversationPublic.model_validate(conversation, from_attributes=True),
        )


async def stop_reply(user_id: uuid.UUID, conversation_id: object) -> bool:
    """Stop the reply being written in this conversation; the text so far is kept.

    With no task anywhere writing it, a row still marked "streaming" is a reply nothing will end
    (its final write failed, or its process died): it is marked stopped, so Stop always ends
    a reply.
    """
    registry = get_replies()
    reply = registry.live(user_id, conversation_id)
    if reply is not None and not reply.finished and registry.writes(reply):
        return registry.cancel(reply)
    try:
        cid = parse_id(conversation_id)
    except NotFound:
        return False
    try:
        # Written by another process: it sees the request within a fraction of a second.
        if await registry.bus.request_stop(user_id, cid):
            return True
    except RedisError as exc:
        raise Unavailable() from exc
    async with session_scope() as session:
        stopped = await messages_repo.stop_streaming_replies(session, user_id, cid)
    if stopped:
        log.info("stopped %d reply row(s) left streaming in conversation %s", stopped, cid)
    return stopped > 0


def live_owner_ids() -> set[uuid.UUID]:
    """Whose replies are being written in this process right now."""
    return {reply.owner_id for reply in get_replies().writing()}


async def stop_replies_of_inactive_users() -> int:
    """End the replies of users who were disabled (or deleted) while one was being written.

    Disabling happens elsewhere (the admin CLI, another process): the watchdog of the serving
    process calls this every few seconds. The text so far is kept, as for Stop.
    """
    owners = live_owner_ids()
    if not owners:
        return 0
    stopped = 0
    for user_id in await auth_service.inactive_users(owners):
        for reply in [r for r in get_replies().writing() if r.owner_id == user_id]:
            stopped += await stop_reply(user_id, reply.conversation_id)
    return stopped
