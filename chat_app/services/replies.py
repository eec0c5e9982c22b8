"""The replies being written, as one service: follow one, look one up, stop one.

The Reflex state and the SSE route consume replies only through here, as thin translators of
``follow``'s events (``Delta``, ``Finished``, ``Titled``): ownership is checked in this one place,
and a reply that is not live any more is answered from the database by this module too, so no
consumer reads the database when a reply ends.

The process keeps its running replies in one ``ReplyRegistry`` (``get_replies()``, created once
like ``get_settings()``): the bus the replies are published on, each reply task with the controls
Stop shares with it, and the endings it could not write. The generation service starts replies
in it; nothing else holds reply state.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Coroutine
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from chat_app.core.db import session_scope
from chat_app.models.conversation import ConversationPublic
from chat_app.models.message import MessagePublic
from chat_app.repositories import conversations as conversations_repo
from chat_app.repositories import messages as messages_repo
from chat_app.services import auth as auth_service
from chat_app.services.errors import NotFound
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


@dataclass(frozen=True)
class UnsavedEnding:
    owner_id: uuid.UUID
    conversation_id: uuid.UUID


@dataclass(frozen=True)
class _Running:
    reply: LiveReply
    task: asyncio.Task[None]
    control: ReplyControl


@dataclass
class ReplyRegistry:
    """This process's replies: the bus they are published on and the tasks writing them."""

    bus: ReplyBus = field(default_factory=LocalReplyBus)
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

    def done(self, reply: LiveReply) -> None:
        """The reply's own task has nothing more to do: release it and forget the task."""
        self.bus.release(reply)
        running = self._running.get(reply.conversation_id)
        if running is not None and running.task is asyncio.current_task():
            del self._running[reply.conversation_id]

    def is_writing(self, conversation_id: uuid.UUID) -> bool:
        reply = self.bus.get(conversation_id)
        return reply is not None and not reply.finished

    # ---- everyone's side ------------------------------------------------------------------

    def live(self, user_id: uuid.UUID, conversation_id: object) -> LiveReply | None:
        """The reply being written (or titled) in this conversation, if the user owns it."""
        try:
            cid = parse_id(conversation_id)
        except NotFound:
            return None
        reply = self.bus.get(cid)
        return reply if reply is not None and reply.owner_id == user_id else None

    def cancel(self, reply: LiveReply) -> bool:
        """Stop the task writing ``reply``; False when it is being launched or already ending."""
        running = self._running.get(reply.conversation_id)
        if running is None or running.reply is not reply or running.control.ending:
            return False
        running.control.stop_requested = True
        running.task.cancel()
        return True

    def writing(self) -> list[LiveReply]:
        return [reply for reply in self.bus.all() if not reply.finished]

    async def cancel_all(self) -> None:
        """End every reply task (tests, and shutdown): each one records itself as ended."""
        tasks = [r.task for r in list(self._running.values()) if not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


@lru_cache
def get_replies() -> ReplyRegistry:
    return ReplyRegistry()


def live_reply(user_id: uuid.UUID, conversation_id: object) -> LiveReply | None:
    """The reply being written in this conversation, if the user owns it."""
    return get_replies().live(user_id, conversation_id)


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
    reply = get_replies().live(user_id, cid)
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
    async with session_scope() as session:
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

    With no task here writing it, a row still marked "streaming" is a reply nothing will end
    (its final write failed, or its process died): it is marked stopped, so Stop always ends
    a reply.
    """
    registry = get_replies()
    reply = registry.live(user_id, conversation_id)
    if reply is not None and not reply.finished:
        return registry.cancel(reply)
    try:
        cid = parse_id(conversation_id)
    except NotFound:
        return False
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
        for reply in [r for r in get_replies().bus.all() if r.owner_id == user_id]:
            stopped += await stop_reply(user_id, reply.conversation_id)
    return stopped
