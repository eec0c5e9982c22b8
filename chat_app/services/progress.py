"""Progress saves of every running reply in this process, coalesced into one write per interval.

A reply's row is its durable copy while it streams: if the process dies, what the row holds is
what the user keeps. Saving each reply on its own every second costs a write transaction per reply
per second (200 replies: 200 commits/s, each taking SQLite's write lock); here the generation task
only *marks* its reply as having new text, and one loop writes the text of every marked reply with
one statement per interval.

What is at risk when the process dies is unchanged: at most one interval of text per reply (plus
the write in flight). A write that fails is not retried at once: the replies stay marked and the
next round carries their (newer) text; a reply never ends because of a progress save. Rows that
are no longer "streaming" are left alone (the final write, or Stop, got there first).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref

from chat_app.core.db import session_scope
from chat_app.core.settings import get_settings
from chat_app.repositories import messages as messages_repo
from chat_app.services.live import LiveReply

log = logging.getLogger(__name__)


class ProgressSaver:
    """Marks in, one write per interval out. One per event loop (see ``progress_saver``)."""

    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._due: dict[uuid.UUID, LiveReply] = {}  # new text since the last save
        self._saved: dict[uuid.UUID, int] = {}  # how much of each reply's text the row holds
        self._in_flight: dict[uuid.UUID, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def mark(self, reply: LiveReply) -> None:
        """The reply has text the row may not hold yet (cheap: called for every chunk)."""
        self._due[reply.message_id] = reply
        self._saved.setdefault(reply.message_id, 0)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def finish(self, message_id: uuid.UUID) -> int:
        """The reply is about to be written for the last time: stop saving it. Returns how much
        of its text the row holds (waits for a save of it that is already under way)."""
        self._due.pop(message_id, None)
        in_flight = self._in_flight.get(message_id)
        if in_flight is not None:
            await asyncio.shield(in_flight)
        return self._saved.pop(message_id, 0)

    def saved_length(self, message_id: uuid.UUID) -> int:
        return self._saved.get(message_id, 0)

    async def _run(self) -> None:
        while self._due:
            await asyncio.sleep(self._interval)
            await self.save_due()

    async def save_due(self) -> None:
        """Write the text of every marked reply now, in one transaction."""
        batch, self._due = self._due, {}
        if not batch:
            return
        items = [
            (reply, messages_repo.Progress(reply.owner_id, reply.message_id, reply.text()))
            for reply in batch.values()
        ]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for message_id in batch:
            self._in_flight[message_id] = done
        try:
            async with session_scope() as session:
                await messages_repo.save_progress_of_streaming(session, [i for _, i in items])
        except Exception:
            log.warning("progress save of %d replies failed", len(items), exc_info=True)
            for reply, _ in items:  # next round, unless the reply ended meanwhile
                if reply.message_id in self._saved:
                    self._due.setdefault(reply.message_id, reply)
        else:
            for reply, item in items:
                if reply.message_id in self._saved:
                    self._saved[reply.message_id] = len(item.content)
        finally:
            for message_id in batch:
                if self._in_flight.get(message_id) is done:
                    del self._in_flight[message_id]
            done.set_result(None)


_savers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProgressSaver] = (
    weakref.WeakKeyDictionary()
)


def progress_saver() -> ProgressSaver:
    """This event loop's saver (an asyncio task belongs to one loop; tests run several)."""
    loop = asyncio.get_running_loop()
    saver = _savers.get(loop)
    if saver is None:
        saver = _savers[loop] = ProgressSaver(get_settings().save_interval_seconds)
    return saver
