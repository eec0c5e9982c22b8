"""The coalesced progress saves: every marked reply in one write, only rows still streaming,
a failed write retried with the next round, and what the row holds reported at the end."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.exc import OperationalError

from chat_app.core.db import read_scope, session_scope
from chat_app.models import ConversationCreate, MessageStatus
from chat_app.repositories import conversations as conv_repo
from chat_app.repositories import messages as msg_repo
from chat_app.repositories import users as users_repo
from chat_app.services.live import LiveReply
from chat_app.services.progress import ProgressSaver
from tests.conftest import unique_email


async def _streaming_replies(count: int) -> list[LiveReply]:
    async with session_scope() as session:
        user = await users_repo.create(
            session, email=unique_email("p"), display_name="p", password_hash="not-a-hash"
        )
        conversation = await conv_repo.create(session, user.id, ConversationCreate(title="c"))
        replies = []
        for _ in range(count):
            row = await msg_repo.add(
                session,
                user.id,
                conversation.id,
                role="assistant",
                content="",
                status=MessageStatus.STREAMING,
            )
            assert row is not None
            replies.append(
                LiveReply(owner_id=user.id, conversation_id=conversation.id, message_id=row.id)
            )
    return replies


async def _stored(reply: LiveReply) -> tuple[str, str]:
    async with read_scope() as session:
        row = await msg_repo.get(session, reply.owner_id, reply.message_id)
    assert row is not None
    return row.content, row.status


async def test_one_round_saves_every_marked_reply(db: str) -> None:
    replies = await _streaming_replies(30)
    saver = ProgressSaver(interval_seconds=60)
    for i, reply in enumerate(replies):
        reply.append(f"text of reply {i}")
        saver.mark(reply)
    await saver.save_due()
    assert [await _stored(r) for r in replies] == [
        (f"text of reply {i}", MessageStatus.STREAMING) for i in range(30)
    ]
    assert saver.saved_length(replies[3].message_id) == len("text of reply 3")


async def test_a_row_that_ended_is_not_overwritten(db: str) -> None:
    [reply] = await _streaming_replies(1)
    saver = ProgressSaver(interval_seconds=60)
    reply.append("final words")
    async with session_scope() as session:
        await msg_repo.save_progress(
            session,
            reply.owner_id,
            reply.message_id,
            content="final words",
            status=MessageStatus.COMPLETE,
        )
    reply.append(" and a late chunk")
    saver.mark(reply)
    await saver.save_due()
    assert await _stored(reply) == ("final words", MessageStatus.COMPLETE)


async def test_only_the_owner_s_rows_are_written(db: str) -> None:
    [reply] = await _streaming_replies(1)
    saver = ProgressSaver(interval_seconds=60)
    stranger = LiveReply(
        owner_id=uuid.uuid4(), conversation_id=reply.conversation_id, message_id=reply.message_id
    )
    stranger.append("not yours")
    saver.mark(stranger)
    await saver.save_due()
    assert await _stored(reply) == ("", MessageStatus.STREAMING)


async def test_a_failed_round_is_carried_by_the_next_one(db: str, monkeypatch) -> None:
    replies = await _streaming_replies(3)
    saver = ProgressSaver(interval_seconds=60)
    real = msg_repo.save_progress_of_streaming
    calls = []

    async def failing_once(session, items):
        calls.append(len(items))
        if len(calls) == 1:
            raise OperationalError("UPDATE messages", {}, Exception("database is locked"))
        return await real(session, items)

    monkeypatch.setattr(msg_repo, "save_progress_of_streaming", failing_once)
    for reply in replies:
        reply.append("first")
        saver.mark(reply)
    await saver.save_due()  # fails: nothing saved, nothing lost
    assert saver.saved_length(replies[0].message_id) == 0
    replies[0].append(" and more")  # new text meanwhile: the retry carries it
    await saver.save_due()
    assert calls == [3, 3]
    assert await _stored(replies[0]) == ("first and more", MessageStatus.STREAMING)
    assert await _stored(replies[2]) == ("first", MessageStatus.STREAMING)
    assert await saver.finish(replies[0].message_id) == len("first and more")
    # Finished replies are not saved again.
    replies[0].append(" after the end")
    await saver.save_due()
    assert await _stored(replies[0]) == ("first and more", MessageStatus.STREAMING)


async def test_marks_are_saved_by_the_saver_s_own_loop(db: str) -> None:
    [reply] = await _streaming_replies(1)
    saver = ProgressSaver(interval_seconds=0.05)
    reply.append("saved without being asked")
    saver.mark(reply)
    for _ in range(200):  # bounded: up to 10 s on a loaded machine
        if saver.saved_length(reply.message_id):
            break
        await asyncio.sleep(0.05)
    assert await _stored(reply) == ("saved without being asked", MessageStatus.STREAMING)
    assert await saver.finish(reply.message_id) == len("saved without being asked")
