"""The reply bus of several processes, through Redis (REDIS_URL set).

A reply is written by one process and followed from any. Keys, under REDIS_KEY_PREFIX:

- ``conv:{cid}:reply`` — ``{"m": message id, "u": owner id}``, set NX when a reply opens: one
  reply at a time per conversation, across processes. Deleted once the reply's text is final.
- ``reply:{mid}:lease`` — ``"{instance}:{epoch}"``: the writer's lease, renewed every
  ``RENEW_SECONDS`` with a ``LEASE_SECONDS`` expiry by a thread of the writing process
  (services/lease_keeper.py: an overloaded event loop must not look like a dead process).
- ``reply:{mid}:stream`` — a Redis Stream: ``{o: offset, t: text}`` batches (one per reply every
  ``FLUSH_SECONDS``), then ``{e: finished, m, c}``, ``{e: titled, t}``, ``{e: closed}``. Whole
  while the reply is live (a follower joining late replays it from the start); it expires
  ``ENDED_TTL_SECONDS`` after the end.
- ``reply:{mid}:stop`` — Stop, asked from any process: a durable flag the writer polls every
  ``STOP_POLL_SECONDS`` (a published message would be lost if nobody was listening).

Fencing: the writer's appends go through a script that checks the lease still holds its epoch,
and its database writes are conditional on the row still being "streaming". A writer that finds
its lease gone after it could not renew for longer than the lease (it was frozen) stops without
writing anything. A lease gone while the writer kept renewing means Redis lost it (a restart):
the writer takes it again and re-sends its whole text from offset 0, so followers repair any gap.

The sweeper (every process, every ``SWEEP_SECONDS``) ends replies nobody writes: a "streaming"
row whose lease has been missing for ``SWEEP_GRACE_SECONDS`` gets the text viewers saw (the row's
copy merged with the stream), status "interrupted", and an end published on its stream.

Each process runs one reader (a single XREAD over every stream it mirrors) that feeds mirror
``LiveReply`` objects; followers follow those exactly as they follow a reply written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from chat_app.core import metrics
from chat_app.core.db import read_scope, session_scope
from chat_app.core.redis import RedisError, blocking_client, get_redis, key
from chat_app.core.settings import get_settings
from chat_app.models.conversation import ConversationPublic
from chat_app.models.message import MessagePublic, MessageStatus
from chat_app.repositories import messages as messages_repo
from chat_app.services.lease_keeper import HeldLease, LeaseKeeper
from chat_app.services.live import Delta, Finished, LiveReply, ReplyEvent, Titled

log = logging.getLogger(__name__)

LEASE_SECONDS = 5.0
RENEW_SECONDS = 1.0
STOP_POLL_SECONDS = 0.1  # every writer tick: one MGET for all the replies written here
FLUSH_SECONDS = 0.1
SWEEP_SECONDS = 1.0
SWEEP_GRACE_SECONDS = 2.0  # two renewals: long enough for a writer to take back a lost lease
READ_BLOCK_SECONDS = 0.25  # a newly mirrored stream joins the shared read within this
ENDED_TTL_SECONDS = 300
STOP_TTL_SECONDS = 600
MAX_STREAM_ENTRIES = 20_000  # ~30 min of 10/s batches: beyond any reply's time cap
# A writer that cannot publish its end for this long gives up (the row is already final).
PUBLISH_GIVE_UP_SECONDS = 60.0
RETRY_PAUSE_SECONDS = 0.5

# Claim the conversation for a new reply: free, or held by a reply of this process that has
# finished but whose end is not published yet (ARGV[4], else ""), which it then replaces.
_OPEN = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[4] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
# One entry, if the lease is still ours. With ARGV[3] (the claim, given with the "finished"
# entry, else "") the conversation is released in the same step, so no process can see the
# reply finished yet still find its conversation taken (a send right after a reply).
_APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local entry = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*'}
for i = 4, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call(unpack(entry))
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
return 1
"""
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if not holder then return -1 end
if holder ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
"""
_RETAKE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) end
return 1
"""
_RELEASE_CONVERSATION = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_END = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
"""
_SWEEP_END = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local entry = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*'}
for i = 4, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call(unpack(entry))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', 'closed')
redis.call('EXPIRE', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 1
"""


def conversation_key(conversation_id: uuid.UUID) -> str:
    return key("conv", conversation_id, "reply")


def lease_key(message_id: uuid.UUID) -> str:
    return key("reply", message_id, "lease")


def stream_key(message_id: uuid.UUID) -> str:
    return key("reply", message_id, "stream")


def stop_key(message_id: uuid.UUID) -> str:
    return key("reply", message_id, "stop")


def _claim(message_id: uuid.UUID, owner_id: uuid.UUID) -> str:
    """The conversation key's value while the reply is written."""
    return json.dumps({"m": str(message_id), "u": str(owner_id)})


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _finished_fields(finished: Finished) -> list[str]:
    conversation = finished.conversation.model_dump_json() if finished.conversation else ""
    return ["e", "finished", "m", finished.message.model_dump_json(), "c", conversation]


def apply_entry(reply: LiveReply, fields: dict[str, str]) -> None:
    """Apply one stream entry to a mirror (idempotent: offsets decide what is new)."""
    if "o" in fields:
        reply.append_at(int(fields["o"]), fields.get("t", ""))
        return
    kind = fields.get("e")
    if kind == "finished":
        conversation = fields.get("c") or ""
        reply.finish(
            MessagePublic.model_validate_json(fields["m"]),
            ConversationPublic.model_validate_json(conversation) if conversation else None,
        )
    elif kind == "titled":
        reply.set_title(fields.get("t", ""))
    elif kind == "closed":
        reply.close()


@dataclass
class _Writing:
    """A reply written by this process, as the bus publishes it."""

    reply: LiveReply
    token: str  # "{instance}:{epoch}": what the lease holds while this process owns the reply
    claim: str  # the conversation key's value; "" once the conversation is released
    text_from: int = 0  # offset of the first character not yet published
    resend_all: bool = False  # the stream may have lost entries: publish the text from 0
    markers: list[list[str]] = field(default_factory=list)  # finished / titled / closed
    published: list[list[str]] = field(default_factory=list)  # the markers already sent
    closed_at: float | None = None
    stop_seen: bool = False


@dataclass
class _Mirror:
    reply: LiveReply
    last_id: str = "0-0"
    seen_at: float = field(default_factory=time.monotonic)


class RedisReplyBus:
    """``ReplyBus`` shared by every process on one Redis (see the module docstring)."""

    def __init__(
        self,
        *,
        on_stop: Callable[[LiveReply], object],
        on_fenced: Callable[[LiveReply], None],
        instance: str | None = None,
    ) -> None:
        self.instance = instance or secrets.token_hex(6)
        self._on_stop = on_stop
        self._on_fenced = on_fenced
        self._local: dict[uuid.UUID, LiveReply] = {}  # by conversation: written here
        self._writing: dict[uuid.UUID, _Writing] = {}  # by message: being published
        self._mirrors: dict[uuid.UUID, _Mirror] = {}  # by message: written elsewhere
        self._missing_since: dict[uuid.UUID, float] = {}  # sweeper: rows whose lease is gone
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake_writer = asyncio.Event()
        self._wake_reader = asyncio.Event()
        self.reconnects = 0  # times a loop of this bus lost Redis and went on
        self._scripts_client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._keeper = LeaseKeeper(
            get_settings().redis_url,
            renew_script=_RENEW,
            retake_script=_RETAKE,
            lease_seconds=LEASE_SECONDS,
            renew_seconds=RENEW_SECONDS,
            on_retaken=self._lease_retaken,
            on_lost=self._lease_lost,
            on_redis_error=self._count_reconnect,
        )

    # ---- background work ------------------------------------------------------------------

    def start(self) -> None:
        """Run the writer, reader and sweeper loops in the running event loop (idempotent)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and all(not t.done() for t in self._tasks):
            return
        self._loop = loop
        self._wake_writer, self._wake_reader = asyncio.Event(), asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._writer_loop(), name="reply-bus-writer"),
            asyncio.create_task(self._reader_loop(), name="reply-bus-reader"),
            asyncio.create_task(self._sweeper_loop(), name="reply-bus-sweeper"),
        ]

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._publish_all()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(self._keeper.stop)

    def _script(self, source: str) -> AsyncScript:
        """``source`` as a script of this loop's client: called by its SHA (EVALSHA), so a
        batch of appends does not send the script's text with every call."""
        client = get_redis()
        if self._scripts_client is not client:
            self._scripts_client, self._scripts = client, {}
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        return script

    def _count_reconnect(self) -> None:
        self.reconnects += 1
        metrics.count_redis_reconnect()

    def _lost_redis(self, what: str) -> None:
        self._count_reconnect()
        log.warning("Redis unavailable (%s); retrying", what, exc_info=True)

    # ---- ReplyBus -------------------------------------------------------------------------

    async def open(self, reply: LiveReply) -> bool:
        self.start()
        token = f"{self.instance}:{secrets.token_hex(8)}"
        claim = _claim(reply.message_id, reply.owner_id)
        finished_here = [
            w
            for w in self._writing.values()
            if w.reply.conversation_id == reply.conversation_id and w.reply.finished and w.claim
        ]
        opened = await get_redis().eval(  # type: ignore[misc]
            _OPEN,
            2,
            conversation_key(reply.conversation_id),
            lease_key(reply.message_id),
            claim,
            token,
            _ms(LEASE_SECONDS),
            finished_here[0].claim if finished_here else "",
        )
        if not opened:
            return False
        for replaced in finished_here:  # the claim is the new reply's now
            replaced.claim = ""
            self._keeper.release_claim(replaced.reply.message_id)
        # A finished reply still being titled here stays in ``_writing`` (by message) until it
        # closes; the conversation's live reply is the new one.
        self._local[reply.conversation_id] = reply
        self._writing[reply.message_id] = _Writing(reply, token, claim)
        self._keeper.hold(
            reply.message_id,
            HeldLease(
                lease_key(reply.message_id),
                conversation_key(reply.conversation_id),
                token,
                claim,
                renewed_at=time.monotonic(),
            ),
        )
        reply.listener = self._heard
        return True

    def peek(self, conversation_id: uuid.UUID) -> LiveReply | None:
        local = self._local.get(conversation_id)
        if local is not None:
            return local
        for mirror in self._mirrors.values():
            if mirror.reply.conversation_id == conversation_id:
                return mirror.reply
        return None

    async def find(self, conversation_id: uuid.UUID) -> LiveReply | None:
        self.start()
        known = self.peek(conversation_id)
        if known is not None and not known.finished:
            return known
        try:
            raw = await get_redis().get(conversation_key(conversation_id))
            if raw is None:
                return known
            claim = json.loads(raw)
            message_id, owner_id = uuid.UUID(claim["m"]), uuid.UUID(claim["u"])
            if message_id in self._writing:
                return self._writing[message_id].reply
            mirror = self._mirrors.get(message_id) or self._mirror(
                owner_id, conversation_id, message_id
            )
        except RedisError:
            self._lost_redis("looking up a live reply")
            return known
        return mirror.reply

    async def writing_in(self, conversation_id: uuid.UUID) -> bool:
        local = self._local.get(conversation_id)
        if local is not None and not local.finished:
            return True
        raw = await get_redis().get(conversation_key(conversation_id))
        if raw is None:
            return False
        # Finished here a moment ago, its end not yet published (that releases the claim).
        writing = self._writing.get(uuid.UUID(json.loads(raw)["m"]))
        return writing is None or not writing.reply.finished

    def all(self) -> list[LiveReply]:
        return list(self._local.values())

    async def request_stop(self, owner_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
        redis = get_redis()
        raw = await redis.get(conversation_key(conversation_id))
        if raw is None:
            return False
        claim = json.loads(raw)
        if claim.get("u") != str(owner_id):
            return False
        await redis.set(stop_key(uuid.UUID(claim["m"])), "1", ex=STOP_TTL_SECONDS)
        return True

    async def release(self, reply: LiveReply) -> None:
        reply.close()  # the listener queues the "closed" marker; the writer loop publishes it
        if self._local.get(reply.conversation_id) is reply:
            del self._local[reply.conversation_id]
        self._wake_writer.set()

    def fence_out(self, reply: LiveReply) -> None:
        """This process lost the reply: publish nothing more for it."""
        reply.listener = None
        self._writing.pop(reply.message_id, None)
        self._keeper.drop(reply.message_id)
        if self._local.get(reply.conversation_id) is reply:
            del self._local[reply.conversation_id]

    # ---- the writer's side ----------------------------------------------------------------

    def _heard(self, reply: LiveReply, event: ReplyEvent | None) -> None:
        writing = self._writing.get(reply.message_id)
        if writing is None:
            return
        if isinstance(event, Delta):
            return  # the text is published from the reply itself, from ``text_from`` on
        if isinstance(event, Finished):
            writing.markers.append(_finished_fields(event))
        elif isinstance(event, Titled):
            writing.markers.append(["e", "titled", "t", event.title])
        else:
            writing.markers.append(["e", "closed"])
            writing.closed_at = time.monotonic()
        self._wake_writer.set()

    async def _writer_loop(self) -> None:
        last_stop_poll = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await self._wake_writer.wait()
            self._wake_writer.clear()
            try:
                await self._publish_all()
                now = time.monotonic()
                if now - last_stop_poll >= STOP_POLL_SECONDS:
                    last_stop_poll = now
                    await self._poll_stops()
            except RedisError:
                self._lost_redis("publishing replies")
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
            except Exception:
                # A loop that died would stop every reply of this process from reaching other
                # processes (and their leases from being renewed): log, go on.
                log.exception("the reply bus's writer loop failed; going on")
                await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def _publish_all(self) -> None:
        due = [w for w in self._writing.values() if w.markers or w.reply.length > w.text_from]
        if not due:
            return
        redis = get_redis()
        async with redis.pipeline(transaction=False) as pipe:
            batches = []
            for writing in due:
                reply = writing.reply
                start = 0 if writing.resend_all else writing.text_from
                batch: list[list[str]] = []
                if reply.length > start:
                    batch.append(["o", str(start), "t", reply.text()[start:]])
                if writing.resend_all:
                    # The stream may be a new one (Redis lost the old): the end markers already
                    # sent must be in it too, or a follower would see "closed" with no end.
                    batch.extend(writing.published)
                batch.extend(writing.markers)
                for fields in batch:
                    release = writing.claim if fields[:2] == ["e", "finished"] else ""
                    await self._script(_APPEND)(
                        keys=[
                            lease_key(reply.message_id),
                            stream_key(reply.message_id),
                            conversation_key(reply.conversation_id),
                        ],
                        args=[writing.token, MAX_STREAM_ENTRIES, release, *fields],
                        client=pipe,
                    )
                batches.append((writing, reply.length, len(batch)))
            results = await pipe.execute(raise_on_error=False)
        position = 0
        for writing, length, count in batches:
            outcome = results[position : position + count]
            position += count
            if all(result == 1 for result in outcome):
                writing.text_from, writing.resend_all = length, False
                writing.published.extend(writing.markers)
                writing.markers = []
                await self._after_published(writing)
            else:
                # Not ours right now (Redis lost the lease, or we are fenced): the renewal
                # decides; whatever it decides, followers need the whole text again.
                writing.resend_all = True
                if (
                    writing.closed_at is not None
                    and time.monotonic() - writing.closed_at > PUBLISH_GIVE_UP_SECONDS
                ):
                    self._writing.pop(writing.reply.message_id, None)
                    self._keeper.drop(writing.reply.message_id)

    async def _after_published(self, writing: _Writing) -> None:
        reply = writing.reply
        redis = get_redis()
        if reply.finished and writing.claim:
            await redis.eval(  # type: ignore[misc]
                _RELEASE_CONVERSATION, 1, conversation_key(reply.conversation_id), writing.claim
            )
            writing.claim = ""
            self._keeper.release_claim(reply.message_id)
        if writing.closed_at is not None:
            await redis.eval(  # type: ignore[misc]
                _END,
                3,
                lease_key(reply.message_id),
                stream_key(reply.message_id),
                stop_key(reply.message_id),
                writing.token,
                ENDED_TTL_SECONDS,
            )
            self._writing.pop(reply.message_id, None)
            self._keeper.drop(reply.message_id)

    async def _poll_stops(self) -> None:
        candidates = [w for w in self._writing.values() if not w.reply.finished and not w.stop_seen]
        if not candidates:
            return
        flags = await get_redis().mget([stop_key(w.reply.message_id) for w in candidates])
        for writing, flag in zip(candidates, flags, strict=True):
            if flag:
                writing.stop_seen = True
                self._on_stop(writing.reply)

    def _lease_retaken(self, message_id: uuid.UUID) -> None:
        """(From the keeper's thread.) Redis lost the stream too: re-send everything."""
        self._in_loop(self._resend_all, message_id)

    def _resend_all(self, message_id: uuid.UUID) -> None:
        writing = self._writing.get(message_id)
        if writing is not None:
            writing.resend_all = True
            log.info("reply %s: lease taken back after Redis lost it", message_id)

    def _lease_lost(self, message_id: uuid.UUID) -> None:
        """(From the keeper's thread.) This process does not own the reply any more."""
        self._in_loop(self._hand_off, message_id)

    def _hand_off(self, message_id: uuid.UUID) -> None:
        writing = self._writing.get(message_id)
        if writing is None:
            return
        log.warning("reply %s: lease lost; this process stops writing it", message_id)
        self.fence_out(writing.reply)
        self._on_fenced(writing.reply)

    def _in_loop(self, callback: Callable[[uuid.UUID], None], message_id: uuid.UUID) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, message_id)

    # ---- the readers' side ----------------------------------------------------------------

    def _mirror(
        self, owner_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID
    ) -> _Mirror:
        """Follow a reply written elsewhere: the reader replays its stream from the start, then
        goes on with it. Registered before anything is awaited, so two viewers joining at once
        share one mirror (entries applied twice would add nothing: offsets decide)."""
        reply = LiveReply(owner_id=owner_id, conversation_id=conversation_id, message_id=message_id)
        mirror = self._mirrors[message_id] = _Mirror(reply)
        self._wake_reader.set()
        return mirror

    async def _reader_loop(self) -> None:
        client: Redis | None = None
        last_check = time.monotonic()
        try:
            while True:
                if not self._mirrors:
                    await self._wake_reader.wait()
                self._wake_reader.clear()
                if client is None:
                    client = blocking_client(READ_BLOCK_SECONDS)
                try:
                    await self._read_once(client)
                    if time.monotonic() - last_check >= SWEEP_SECONDS:
                        last_check = time.monotonic()
                        await self._drop_vanished_mirrors()
                except RedisError:
                    self._lost_redis("reading reply streams")
                    with contextlib.suppress(RedisError, OSError):
                        await client.aclose()
                    client = None
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)
                except Exception:
                    log.exception("the reply bus's reader loop failed; going on")
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)
        finally:
            if client is not None:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()

    async def _read_once(self, client: Redis) -> None:
        streams: dict[Any, Any] = {
            stream_key(mid): mirror.last_id for mid, mirror in self._mirrors.items()
        }
        if not streams:
            return
        answer = await client.xread(streams, block=_ms(READ_BLOCK_SECONDS), count=1000)
        by_key = {stream_key(mid): mid for mid in self._mirrors}
        for name, entries in answer or []:
            message_id = by_key.get(name)
            mirror = self._mirrors.get(message_id) if message_id else None
            if mirror is None:
                continue
            for entry_id, fields in entries:
                mirror.last_id = entry_id
                mirror.seen_at = time.monotonic()
                if fields.get("e") == "closed" and not mirror.reply.finished:
                    # Its end was lost with a Redis restart: the database has it.
                    log.warning("reply %s closed with no end on its stream", message_id)
                    stored = await _stored_message(mirror.reply.owner_id, mirror.reply.message_id)
                    if stored is not None:
                        mirror.reply.finish(stored, None)
                apply_entry(mirror.reply, fields)
            if mirror.reply.closed:
                self._mirrors.pop(mirror.reply.message_id, None)

    async def _drop_vanished_mirrors(self) -> None:
        """A mirror whose stream is gone (Redis restarted, expired) ends from the database."""
        quiet = [m for m in self._mirrors.values() if time.monotonic() - m.seen_at > LEASE_SECONDS]
        if not quiet:
            return
        exists = await asyncio.gather(
            *(get_redis().exists(stream_key(m.reply.message_id)) for m in quiet)
        )
        for mirror, found in zip(quiet, exists, strict=True):
            if found:
                continue
            stored = await _stored_message(mirror.reply.owner_id, mirror.reply.message_id)
            if stored is not None and stored.status == MessageStatus.STREAMING:
                continue  # its writer may still take its lease back; else the sweeper ends it
            if stored is not None:
                mirror.reply.finish(stored, None)
            mirror.reply.close()  # deleted meanwhile: followers just stop
            self._mirrors.pop(mirror.reply.message_id, None)

    # ---- the sweeper ----------------------------------------------------------------------

    async def _sweeper_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep_once()
            except RedisError:
                self._lost_redis("sweeping dead replies")
            except Exception:
                log.warning("sweeping dead replies failed", exc_info=True)

    async def sweep_once(self) -> int:
        """End the "streaming" replies nobody holds a lease on any more; how many it ended."""
        async with read_scope() as session:
            rows = await messages_repo.streaming_replies(session)
        candidates = [row for row in rows if row.id not in self._writing]
        now = time.monotonic()
        if not candidates:
            self._missing_since.clear()
            return 0
        redis = get_redis()
        held = await redis.mget([lease_key(row.id) for row in candidates])
        ended = 0
        missing = set()
        for row, holder in zip(candidates, held, strict=True):
            if holder is not None:
                continue
            missing.add(row.id)
            since = self._missing_since.setdefault(row.id, now)
            if now - since >= SWEEP_GRACE_SECONDS and await self._interrupt(row):
                ended += 1
        self._missing_since = {k: v for k, v in self._missing_since.items() if k in missing}
        return ended

    async def _interrupt(self, row: messages_repo.StreamingReply) -> bool:
        """Keep what viewers saw (the row's text and the stream's, merged by offset), end it."""
        salvage = LiveReply(
            owner_id=row.owner_id, conversation_id=row.conversation_id, message_id=row.id
        )
        salvage.append(row.content)
        for _entry_id, fields in await get_redis().xrange(stream_key(row.id)):
            if "o" in fields:
                apply_entry(salvage, fields)
        async with session_scope() as session:
            message = await messages_repo.interrupt_reply(session, row.id, salvage.text())
            public = None if message is None else _public(message)
        if public is None:
            return False  # ended meanwhile (its writer, or another process's sweeper)
        log.warning("reply %s had no writer any more: marked interrupted", row.id)
        await get_redis().eval(  # type: ignore[misc]
            _SWEEP_END,
            3,
            lease_key(row.id),
            stream_key(row.id),
            conversation_key(row.conversation_id),
            ENDED_TTL_SECONDS,
            _claim(row.id, row.owner_id),
            MAX_STREAM_ENTRIES,
            *_finished_fields(Finished(public, None)),
        )
        return True


def _public(message: Any) -> MessagePublic:
    return MessagePublic.model_validate(message, from_attributes=True)


async def _stored_message(owner_id: uuid.UUID, message_id: uuid.UUID) -> MessagePublic | None:
    async with read_scope() as session:
        row = await messages_repo.get(session, owner_id, message_id)
        return None if row is None else _public(row)
