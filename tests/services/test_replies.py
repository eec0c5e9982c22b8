"""The one seam for live replies: ``replies.follow`` and the process's reply registry.

Against both databases, with the fake OpenAI server behind the real SDK: what a follower gets
(deltas with exact offsets, then the stored row once, then the title), from any offset, live or
after the end, and nothing at all for ids that are not the user's.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import event as sa_event

from chat_app.api import sse
from chat_app.core.db import get_engine
from chat_app.models.message import MessagePublic, MessageStatus
from chat_app.services import chat, generation, replies
from chat_app.services.errors import NotFound
from chat_app.services.live import Delta, Finished, LiveReply, ReplyEvent, Titled
from tests.conftest import PROJECT_ROOT
from tests.services.conftest import wait_until


def tokens(count: int) -> str:
    return "".join(f"tok{i} " for i in range(count))


async def collect(events: AsyncIterator[ReplyEvent]) -> list[ReplyEvent]:
    return [event async for event in events]


def joined_from(offset: int, events: list[ReplyEvent]) -> str:
    """The deltas' text, checking each one starts where the previous ended (no gap, no dup)."""
    text = ""
    for event in events:
        if isinstance(event, Delta):
            assert event.offset == offset + len(text)
            assert event.text  # an empty delta is noise a translator would have to skip
            text += event.text
    return text


def assert_in_order(events: list[ReplyEvent]) -> Finished:
    """Deltas, then exactly one Finished, then at most one Titled; returns the Finished."""
    kinds = [type(event) for event in events]
    assert kinds.count(Finished) == 1, kinds
    end = kinds.index(Finished)
    assert set(kinds[:end]) <= {Delta}, kinds
    assert kinds[end + 1 :] in ([], [Titled]), kinds
    finished = events[end]
    assert isinstance(finished, Finished)
    return finished


async def ended(user_id: uuid.UUID, cid: uuid.UUID) -> None:
    """Wait until nothing more happens to the conversation's reply (text, row and title)."""
    await wait_until(lambda: replies.live_reply(user_id, cid) is None)


# ---- the in-process reply on its own (no database) ---------------------------------------------


def _message(content: str) -> MessagePublic:
    return MessagePublic(
        id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        role="assistant",
        content=content,
        status=MessageStatus.COMPLETE,
        error_detail=None,
        model="m",
        prompt_tokens=None,
        completion_tokens=None,
        ttft_ms=None,
        created_at=datetime.now(),
    )


@pytest.mark.parametrize("min_interval", [0.0, 0.001])
async def test_followers_joining_at_any_point_get_every_character_once_in_order(min_interval):
    reply = LiveReply(owner_id=uuid.uuid4(), conversation_id=uuid.uuid4(), message_id=uuid.uuid4())
    final = _message("".join(f"{i}," for i in range(50)))

    async def follow(offset: int) -> tuple[str, list[ReplyEvent]]:
        events = await collect(reply.follow(offset, min_interval=min_interval))
        return joined_from(offset, events), events

    early = asyncio.create_task(follow(0))
    late: dict[int, asyncio.Task] = {}
    snapshots: dict[int, str] = {}
    for i in range(50):
        reply.append(f"{i},")
        if i in (0, 25, 49):
            late[i] = asyncio.create_task(follow(reply.length))  # joins mid-way
            snapshots[i] = reply.text()
        await asyncio.sleep(0)
    reply.finish(final, None)
    reply.set_title("Counting")
    reply.close()

    text, events = await early
    assert text == final.content
    assert assert_in_order(events) == Finished(final, None)
    assert events[-1] == Titled("Counting")
    for i, task in late.items():
        rest, events = await task
        assert snapshots[i] + rest == final.content
        assert_in_order(events)


async def test_a_follower_arriving_after_the_end_gets_it_all_at_once():
    reply = LiveReply(owner_id=uuid.uuid4(), conversation_id=uuid.uuid4(), message_id=uuid.uuid4())
    final = _message("all of it")
    reply.append("all ")
    reply.append("of it")
    reply.finish(final, None)
    reply.close()
    assert await collect(reply.follow(0)) == [Delta(0, "all of it"), Finished(final, None)]
    assert await collect(reply.follow(len("all of it"))) == [Finished(final, None)]


# ---- follow() against the databases and the fake model -----------------------------------------

# Reply tasks a test leaves running are ended inside its own event loop.
settles = pytest.mark.usefixtures("settle")


@settles
async def test_follow_gives_deltas_then_the_stored_row_then_the_title(fake, user_id):
    fake.configure(reply_tokens=30, tokens_per_second=200)
    started = await generation.send_message(user_id, None, "Hello there")
    cid, mid = started.conversation.id, started.assistant_message.id

    events = await collect(replies.follow(user_id, cid, mid, min_interval=0.02))

    finished = assert_in_order(events)
    stored = (await chat.list_messages(user_id, cid))[-1]
    assert joined_from(0, events) == stored.content == tokens(30)
    assert finished.message == stored  # the final row itself, usage and ttft included
    assert stored.status == MessageStatus.COMPLETE and stored.completion_tokens == 30
    # The conversation as the reply ended it: moved up, still under its provisional title.
    assert finished.conversation is not None and finished.conversation.id == cid
    assert finished.conversation.title == "Hello there"
    assert finished.conversation.updated_at >= started.conversation.updated_at
    conversation = await chat.get_conversation(user_id, cid)
    assert conversation.title != "Hello there"
    assert events[-1] == Titled(conversation.title)


@settles
@pytest.mark.parametrize("where", ["start", "middle", "current end", "ahead of the text"])
async def test_follow_resumes_a_live_reply_from_an_offset(fake, user_id, where):
    fake.configure(reply_tokens=80, tokens_per_second=100)
    started = await generation.send_message(user_id, None, "count")
    cid, mid = started.conversation.id, started.assistant_message.id
    reply = replies.live_reply(user_id, cid)
    assert reply is not None
    await wait_until(lambda: reply.length >= 30)
    length = reply.length
    offset = {"start": 0, "middle": length // 2, "current end": length}.get(where, length + 7)

    events = await collect(replies.follow(user_id, cid, mid, offset=offset))

    finished = assert_in_order(events)
    assert finished.message.content == tokens(80)
    assert joined_from(offset, events) == tokens(80)[offset:]


@settles
@pytest.mark.parametrize("where", ["start", "middle", "end", "past the end"])
async def test_follow_of_an_ended_reply_answers_from_the_database(fake, user_id, where):
    fake.configure(reply_text="An answer, stored and read back.")
    started = await generation.send_message(user_id, None, "question")
    cid, mid = started.conversation.id, started.assistant_message.id
    await ended(user_id, cid)
    stored = (await chat.list_messages(user_id, cid))[-1]
    size = len(stored.content)
    offset = {"start": 0, "middle": size // 2, "end": size}.get(where, size + 10)

    events = await collect(replies.follow(user_id, cid, mid, offset=offset))

    rest = [Delta(offset, stored.content[offset:])] if offset < size else []
    assert events == [*rest, Finished(stored, await chat.get_conversation(user_id, cid))]


@settles
async def test_stop_ends_every_follower_with_the_stopped_row(fake, user_id):
    fake.configure(reply_tokens=300, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "long answer please")
    cid, mid = started.conversation.id, started.assistant_message.id
    followers = [
        asyncio.create_task(collect(replies.follow(user_id, cid, mid, min_interval=interval)))
        for interval in (0.0, 0.05)
    ]
    reply = replies.live_reply(user_id, cid)
    assert reply is not None
    await wait_until(lambda: reply.length > 20)

    assert await replies.stop_reply(user_id, cid)

    done = [await follower for follower in followers]
    stored = (await chat.list_messages(user_id, cid))[-1]
    for events in done:
        assert assert_in_order(events).message == stored
        assert joined_from(0, events) == stored.content
    assert stored.status == MessageStatus.STOPPED and 0 < stored.content.count("tok") < 300
    assert not await replies.stop_reply(user_id, cid)  # nothing left to stop


async def _sse_text(user_id, cid, mid) -> list[str]:
    return [event async for event in sse.reply_events(user_id, cid, mid)]


@settles
@pytest.mark.parametrize("consumer", ["replies.follow", "sse.reply_events"])
async def test_following_a_live_reply_to_its_end_reads_nothing_from_the_database(
    fake, user_id, consumer
):
    """The writer hands the final row to its followers: however many there are, none of
    them costs a query when the reply ends."""
    fake.configure(reply_tokens=40, tokens_per_second=100)
    started = await generation.send_message(user_id, None, "Hello there")
    cid, mid = started.conversation.id, started.assistant_message.id
    queries: dict[asyncio.Task | None, list[str]] = {}

    def record(conn, cursor, statement, parameters, context, executemany):
        queries.setdefault(asyncio.current_task(), []).append(statement)

    engine = get_engine().sync_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        run = (
            collect(replies.follow(user_id, cid, mid))
            if consumer == "replies.follow"
            else (_sse_text(user_id, cid, mid))
        )
        follower = asyncio.create_task(run)
        result = await follower
        await ended(user_id, cid)
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)

    assert result and queries.get(follower, []) == []
    # The listener does see queries, and tells tasks apart: the reply task's final write.
    writer = next(task for task in queries if task and task.get_name() == f"reply-{mid}")
    assert any(q.lstrip().upper().startswith("UPDATE") for q in queries[writer])


# ---- ownership: someone else's reply is not there at all ----------------------------------------


@settles
async def test_another_users_follow_finds_nothing_live_or_ended(fake, user_id, other_user_id):
    fake.configure(reply_tokens=300, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "mine")
    cid, mid = started.conversation.id, started.assistant_message.id
    reply = replies.live_reply(user_id, cid)
    assert reply is not None
    await wait_until(lambda: reply.length > 0)

    for phase in ("live", "ended"):
        events = replies.follow(other_user_id, cid, mid)
        with pytest.raises(NotFound):
            await anext(events)  # not one event: no text, not even that it exists
        assert replies.live_reply(other_user_id, cid) is None
        assert not await replies.stop_reply(other_user_id, cid)
        if phase == "live":
            assert await replies.stop_reply(user_id, cid)
            await ended(user_id, cid)
    assert (await chat.list_messages(user_id, cid))[-1].status == MessageStatus.STOPPED


BAD_IDS = [
    # (id, conversation id, message id) built from the user's own live reply ``c``/``m``
    ("malformed-conversation", lambda c, m, o: ("not-a-uuid", m)),
    ("malformed-message", lambda c, m, o: (c, "../../etc")),
    ("non-string-ids", lambda c, m, o: (None, 12)),
    ("missing-message", lambda c, m, o: (c, uuid.uuid4())),
    ("missing-conversation", lambda c, m, o: (uuid.uuid4(), m)),
    ("message-of-another-conversation", lambda c, m, o: (o, m)),
]


@settles
@pytest.mark.parametrize("make", [case[1] for case in BAD_IDS], ids=[c[0] for c in BAD_IDS])
async def test_ids_that_do_not_name_the_users_reply_raise_not_found(fake, user_id, make):
    fake.configure(reply_tokens=300, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "mine")
    cid, mid = started.conversation.id, started.assistant_message.id
    other = await chat.create_conversation(user_id, title="another of mine")
    conversation_id, message_id = make(cid, mid, other.id)

    with pytest.raises(NotFound):
        await anext(replies.follow(user_id, conversation_id, message_id))
    with pytest.raises(NotFound):
        await replies.stored_reply(user_id, conversation_id, message_id)
    assert await replies.stop_reply(user_id, cid)  # the real reply was untouched by all that


# ---- one registry, no chat <-> generation cycle -------------------------------------------------


def test_the_chat_service_does_not_import_the_generation_service():
    # A fresh interpreter: in this one, every module is loaded already.
    code = (
        "import sys, chat_app.services.chat, chat_app.services.replies; "
        "assert 'chat_app.services.generation' not in sys.modules, 'cycle'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True, timeout=60)


@settles
async def test_the_registry_holds_each_running_reply_until_its_task_ends(fake, user_id):
    registry = replies.get_replies()
    assert replies.get_replies() is registry  # created once for the process
    fake.configure(reply_tokens=300, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "one")
    cid = started.conversation.id
    assert await registry.is_writing(cid) and user_id in replies.live_owner_ids()
    reply = replies.live_reply(user_id, cid)
    assert reply is not None
    await wait_until(lambda: reply.length > 0)

    await registry.cancel_all()

    stored = (await chat.list_messages(user_id, cid))[-1]
    assert stored.status == MessageStatus.INTERRUPTED  # cancelled without Stop: shutdown
    assert not await registry.is_writing(cid) and replies.live_reply(user_id, cid) is None
    assert user_id not in replies.live_owner_ids()


def test_a_mirror_applies_batches_by_offset_once_each() -> None:
    """What a process reading another's stream does: repeats and re-sends add nothing twice."""
    reply = LiveReply(owner_id=uuid.uuid4(), conversation_id=uuid.uuid4(), message_id=uuid.uuid4())
    reply.append_at(0, "Hello")
    reply.append_at(0, "Hello")  # read twice
    reply.append_at(3, "lo, wor")  # overlaps what is known
    reply.append_at(20, "after a gap")  # never guessed: the writer re-sends from 0 then
    assert reply.text() == "Hello, wor"
    reply.append_at(0, "Hello, world")  # the re-send
    assert reply.text() == "Hello, world"


async def test_a_draining_process_takes_no_new_reply_and_finishes_the_running_one(
    fake, user_id
) -> None:
    from chat_app.services.errors import Unavailable

    registry = replies.get_replies()
    fake.configure(reply_tokens=20, tokens_per_second=40)
    started = await generation.send_message(user_id, None, "one")
    draining = asyncio.create_task(registry.drain(30))
    await asyncio.sleep(0)
    try:
        with pytest.raises(Unavailable, match="restarting"):
            await generation.send_message(user_id, None, "two")
        await draining
    finally:
        registry.accepting = True  # the registry outlives this test in the process
    stored = (await chat.list_messages(user_id, started.conversation.id))[-1]
    assert stored.status == MessageStatus.COMPLETE


async def test_a_drain_past_its_grace_keeps_the_text_as_interrupted(fake, user_id) -> None:
    registry = replies.get_replies()
    fake.configure(reply_tokens=400, tokens_per_second=40)
    started = await generation.send_message(user_id, None, "long")
    reply = replies.live_reply(user_id, started.conversation.id)
    assert reply is not None
    await wait_until(lambda: reply.length > 0)
    try:
        await registry.drain(0.2)
    finally:
        registry.accepting = True
    stored = (await chat.list_messages(user_id, started.conversation.id))[-1]
    assert stored.status == MessageStatus.INTERRUPTED and stored.content
