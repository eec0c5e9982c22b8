"""Hostile model output and failed final writes: the reply keeps its valid text, its row never
stays "streaming", the conversation accepts the next message and Stop always ends a reply.

Real HTTP to the fake OpenAI server through the real SDK; SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import OperationalError

from chat_app.core.db import session_scope
from chat_app.core.settings import get_settings
from chat_app.models.message import MessageStatus
from chat_app.repositories import messages as messages_repo
from chat_app.services import chat, generation, replies
from chat_app.services.errors import Conflict
from chat_app.services.live import Delta, Finished
from tests.services.conftest import wait_until
from tests.support.fake_openai import MALFORMED_EVENTS

pytestmark = pytest.mark.usefixtures("settle")

TOKENS = "".join(f"tok{i} " for i in range(6))
REPLACEMENT = "\ufffd"


async def finished_reply(user_id, conversation_id):
    reply = replies.live_reply(user_id, conversation_id)
    if reply is not None:
        async for _ in reply.follow(0):
            pass
    return (await chat.list_messages(user_id, conversation_id))[-1]


async def assert_conversation_usable(fake, user_id, conversation_id) -> None:
    """No row left "streaming", and the next message is accepted and answered."""
    async with session_scope() as session:
        assert not await messages_repo.has_streaming_reply(session, user_id, conversation_id)
    fake.configure(reply_text="next answer", inject=[], fault=None, chunk_chars=4)
    await generation.send_message(user_id, conversation_id, "and now?")  # no Conflict (409)
    final = await finished_reply(user_id, conversation_id)
    assert (final.content, final.status) == ("next answer", MessageStatus.COMPLETE)


def assert_storable(text: str) -> None:
    text.encode("utf-8")  # raises on a lone surrogate
    assert "\x00" not in text


# ---- every class of hostile text --------------------------------------------------------------

HOSTILE_TEXT = [
    # (id, reply_text, chunk_chars, what is stored)
    ("lone-high-surrogate", "ab\ud800cd", 2, f"ab{REPLACEMENT}cd"),
    ("lone-low-surrogate", "ab\udfffcd", 2, f"ab{REPLACEMENT}cd"),
    ("many-surrogates", "\udc00\ud800\ud800x", 1, REPLACEMENT * 3 + "x"),
    ("high-surrogate-last", "abc\ud800", 2, f"abc{REPLACEMENT}"),
    # A JSON-escaped pair split across two chunks (a proxy slicing UTF-16) is rejoined.
    ("split-surrogate-pair", "x\ud83d\ude00y", 2, "x😀y"),
    ("pair-in-one-chunk", "x\ud83d\ude00y", 8, "x😀y"),
    ("nul", "a\x00b\x00", 1, f"a{REPLACEMENT}b{REPLACEMENT}"),
    ("nul-and-surrogate", "\x00\ud800", 4, REPLACEMENT * 2),
]


@pytest.mark.parametrize(
    ("reply_text", "chunk_chars", "stored"),
    [case[1:] for case in HOSTILE_TEXT],
    ids=[case[0] for case in HOSTILE_TEXT],
)
async def test_unstorable_characters_are_replaced_and_the_reply_is_kept(
    fake, user_id, reply_text, chunk_chars, stored
):
    fake.configure(reply_text=reply_text, chunk_chars=chunk_chars)
    started = await generation.send_message(user_id, None, "say something odd")
    cid = started.conversation.id
    reply = replies.live_reply(user_id, cid)
    assert reply is not None
    seen = "".join([e.text async for e in reply.follow(0) if isinstance(e, Delta)])

    final = await finished_reply(user_id, cid)
    assert (final.content, final.status) == (stored, MessageStatus.COMPLETE)
    assert seen == stored  # followers (UI, API) saw exactly what was stored
    # The auto-title is asked of the same model, which answers with the same text.
    assert_storable((await chat.get_conversation(user_id, cid)).title)
    await assert_conversation_usable(fake, user_id, cid)


@pytest.mark.parametrize("kind", sorted(MALFORMED_EVENTS))
async def test_a_few_malformed_chunks_are_skipped(fake, user_id, kind):
    fake.configure(reply_tokens=6, inject=[kind] * 3, inject_after_tokens=2)
    started = await generation.send_message(user_id, None, "hello")
    final = await finished_reply(user_id, started.conversation.id)
    assert (final.content, final.status) == (TOKENS, MessageStatus.COMPLETE)
    await assert_conversation_usable(fake, user_id, started.conversation.id)


@pytest.mark.parametrize("kind", sorted(MALFORMED_EVENTS))
async def test_past_the_malformed_bound_the_reply_ends_with_its_text(fake, user_id, kind):
    fake.configure(reply_tokens=6, inject=[kind] * 11, inject_after_tokens=2)
    started = await generation.send_message(user_id, None, "hello")
    final = await finished_reply(user_id, started.conversation.id)
    assert (final.content, final.status) == ("tok0 tok1 ", MessageStatus.ERROR)
    assert "could not be read" in final.error_detail and "kept" in final.error_detail
    await assert_conversation_usable(fake, user_id, started.conversation.id)


async def test_non_utf8_bytes_keep_the_rest_of_the_text(fake, user_id):
    fake.configure(reply_tokens=3, inject=["non_utf8_text"], inject_after_tokens=1)
    started = await generation.send_message(user_id, None, "hello")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.content == f"tok0 caf{REPLACEMENT} tok1 tok2 "
    assert final.status == MessageStatus.COMPLETE
    await assert_conversation_usable(fake, user_id, started.conversation.id)


async def test_a_provider_error_message_is_made_storable(fake, user_id):
    """A 400's reason is the provider's own words, shown to the user: hostile text too."""
    fake.configure(fault="400", error_message="no such model \ud800\x00 here")
    started = await generation.send_message(user_id, None, "hello")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.status == MessageStatus.ERROR
    assert f"no such model {REPLACEMENT}" in final.error_detail
    assert_storable(final.error_detail)
    await assert_conversation_usable(fake, user_id, started.conversation.id)


HOSTILE_MID_STREAM = [
    ("lone-surrogate", {"reply_text": "ok \ud800 " + "more " * 100, "chunk_chars": 5}),
    ("nul", {"reply_text": "ok \x00 " + "more " * 100, "chunk_chars": 5}),
    ("malformed-chunks", {"reply_tokens": 100, "inject": ["invalid_json"] * 5}),
    ("non-utf8", {"reply_tokens": 100, "inject": ["non_utf8_text", "non_utf8_garbage"]}),
]


@pytest.mark.parametrize(
    "config", [c[1] for c in HOSTILE_MID_STREAM], ids=[c[0] for c in HOSTILE_MID_STREAM]
)
async def test_stop_ends_a_reply_after_hostile_output(fake, user_id, config):
    fake.configure(tokens_per_second=40, inject_after_tokens=1, **config)
    started = await generation.send_message(user_id, None, "go on")
    cid = started.conversation.id
    reply = replies.live_reply(user_id, cid)
    await wait_until(lambda: reply.length > 8)
    assert await replies.stop_reply(user_id, cid)
    final = await finished_reply(user_id, cid)
    assert final.status == MessageStatus.STOPPED
    assert final.content and final.content == reply.text()
    assert_storable(final.content)
    await assert_conversation_usable(fake, user_id, cid)


# ---- the reply size cap -----------------------------------------------------------------------


async def test_a_single_huge_chunk_is_cut_at_the_default_cap(fake, user_id):
    """The case reported: one 200 KB chunk was stored whole."""
    cap = get_settings().max_reply_chars
    assert cap == 100_000
    text = "".join(chr(0x61 + i % 26) for i in range(200_000))
    fake.configure(reply_text=text, chunk_chars=len(text))
    started = await generation.send_message(user_id, None, "a lot please")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.content == text[:cap]
    assert final.status == MessageStatus.STOPPED
    assert final.error_detail == "The reply reached the length limit (100,000 characters)."
    await assert_conversation_usable(fake, user_id, started.conversation.id)


@pytest.mark.parametrize("chunk_chars", [1, 3, 7, 10, 11, 64])
async def test_the_cap_cuts_exactly_whatever_the_chunking(fake, user_id, monkeypatch, chunk_chars):
    monkeypatch.setenv("MAX_REPLY_CHARS", "10")
    get_settings.cache_clear()
    text = "0123456789é😀abcdef"
    fake.configure(reply_text=text, chunk_chars=chunk_chars)
    started = await generation.send_message(user_id, None, "count")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.content == "0123456789"
    assert final.status == MessageStatus.STOPPED
    assert final.error_detail == "The reply reached the length limit (10 characters)."


@pytest.mark.parametrize("chunk_chars", [1, 4, 10])
async def test_a_reply_exactly_at_the_cap_is_complete(fake, user_id, monkeypatch, chunk_chars):
    monkeypatch.setenv("MAX_REPLY_CHARS", "10")
    get_settings.cache_clear()
    fake.configure(reply_text="0123456789", chunk_chars=chunk_chars)
    started = await generation.send_message(user_id, None, "count")
    final = await finished_reply(user_id, started.conversation.id)
    assert (final.content, final.status) == ("0123456789", MessageStatus.COMPLETE)


async def test_the_cap_counts_replacement_characters(fake, user_id, monkeypatch):
    """The cap applies to the text as stored, after hostile characters were replaced."""
    monkeypatch.setenv("MAX_REPLY_CHARS", "4")
    get_settings.cache_clear()
    fake.configure(reply_text="\ud800\x00ab\ud800cd", chunk_chars=3)
    started = await generation.send_message(user_id, None, "odd")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.content == f"{REPLACEMENT}{REPLACEMENT}ab"
    assert final.status == MessageStatus.STOPPED


async def test_a_held_back_surrogate_past_the_cap_still_stops_the_reply(fake, user_id, monkeypatch):
    """The last character (a lone high surrogate, held back for its partner) is the one that
    does not fit: the reply is cut there and says so, like any other."""
    monkeypatch.setenv("MAX_REPLY_CHARS", "3")
    get_settings.cache_clear()
    fake.configure(reply_text="abc\ud800", chunk_chars=2)
    started = await generation.send_message(user_id, None, "odd")
    final = await finished_reply(user_id, started.conversation.id)
    assert (final.content, final.status) == ("abc", MessageStatus.STOPPED)
    assert final.error_detail == "The reply reached the length limit (3 characters)."


# ---- final writes that fail --------------------------------------------------------------------


def _db_error() -> OperationalError:
    return OperationalError("UPDATE messages", {}, Exception("disk I/O error"))


@pytest.fixture
def broken_writes(monkeypatch):
    """Switchable failures of the writes that end a reply (the database, not the provider)."""
    state = {"progress": False, "final": False, "ending": False}
    real_save, real_end = messages_repo.save_progress, messages_repo.end_streaming_reply
    real_save_many = messages_repo.save_progress_of_streaming

    async def save_progress(session, owner_id, message_id, **values):
        final = values.get("status") is not None
        if state["final" if final else "progress"]:
            raise _db_error()
        return await real_save(session, owner_id, message_id, **values)

    async def end_streaming_reply(session, owner_id, message_id, **values):
        if state["ending"]:
            raise _db_error()
        return await real_end(session, owner_id, message_id, **values)

    async def save_progress_of_streaming(session, items):
        if state["progress"]:
            raise _db_error()
        return await real_save_many(session, items)

    monkeypatch.setattr(messages_repo, "save_progress", save_progress)
    monkeypatch.setattr(messages_repo, "save_progress_of_streaming", save_progress_of_streaming)
    monkeypatch.setattr(messages_repo, "end_streaming_reply", end_streaming_reply)
    return state


async def test_failed_progress_saves_do_not_end_the_reply(fake, user_id, broken_writes):
    broken_writes["progress"] = True
    fake.configure(reply_tokens=40, tokens_per_second=100)
    started = await generation.send_message(user_id, None, "hello")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.status == MessageStatus.COMPLETE
    assert final.content == "".join(f"tok{i} " for i in range(40))


async def test_a_failed_final_write_falls_back_to_a_status_only_write(fake, user_id, broken_writes):
    broken_writes["final"] = True
    fake.configure(reply_tokens=40, tokens_per_second=100)  # ~0.4 s: a progress save happens
    started = await generation.send_message(user_id, None, "hello")
    cid = started.conversation.id
    reply = replies.live_reply(user_id, cid)
    final = await finished_reply(user_id, cid)

    assert final.status == MessageStatus.INTERRUPTED
    assert final.error_detail == generation.FINAL_WRITE_FAILED
    assert final.content and reply.text().startswith(final.content)  # the last saved text
    assert reply.status == MessageStatus.INTERRUPTED  # followers were told the same
    # ... down to the row itself: what they commit is the text the database kept.
    ends = [e async for e in reply.follow(0) if isinstance(e, Finished)]
    assert [e.message for e in ends] == [final]
    broken_writes["final"] = False
    await assert_conversation_usable(fake, user_id, cid)


async def test_when_no_write_works_the_conversation_is_not_blocked_here(
    fake, user_id, broken_writes
):
    broken_writes.update(final=True, ending=True)
    fake.configure(reply_text="lost ending")
    started = await generation.send_message(user_id, None, "hello")
    cid = started.conversation.id
    dead = await finished_reply(user_id, cid)
    assert dead.status == MessageStatus.STREAMING  # the database really holds it so

    # Still failing: the next send goes through all the same, and gets its answer.
    fake.configure(reply_text="second")
    broken_writes["final"] = False
    await generation.send_message(user_id, cid, "still there?")
    assert (await finished_reply(user_id, cid)).content == "second"

    # Once the write works again, the next send ends the dead row for good.
    broken_writes["ending"] = False
    fake.configure(reply_text="third")
    await generation.send_message(user_id, cid, "and now?")
    assert (await finished_reply(user_id, cid)).content == "third"
    messages = await chat.list_messages(user_id, cid)
    assert [m.status for m in messages if m.role == "assistant"] == [
        MessageStatus.INTERRUPTED,
        MessageStatus.COMPLETE,
        MessageStatus.COMPLETE,
    ]
    assert (messages[1].id, messages[1].error_detail) == (dead.id, generation.FINAL_WRITE_FAILED)
    await assert_conversation_usable(fake, user_id, cid)
    assert not replies.get_replies().unsaved_endings


# ---- Stop with nothing writing the reply here ------------------------------------------------


async def _dead_streaming_row(user_id, text="half a rep") -> tuple[uuid.UUID, uuid.UUID]:
    conversation = await chat.create_conversation(user_id, title="Stuck")
    async with session_scope() as session:
        await messages_repo.add(session, user_id, conversation.id, role="user", content="hi")
        message = await messages_repo.add(
            session,
            user_id,
            conversation.id,
            role="assistant",
            content=text,
            status=MessageStatus.STREAMING,
        )
    return conversation.id, message.id


async def test_stop_ends_a_row_left_streaming_with_no_task_here(fake, user_id):
    cid, _ = await _dead_streaming_row(user_id)
    with pytest.raises(Conflict):
        await generation.send_message(user_id, cid, "hello?")

    assert await replies.stop_reply(user_id, cid)
    final = (await chat.list_messages(user_id, cid))[-1]
    assert (final.content, final.status) == ("half a rep", MessageStatus.STOPPED)
    assert not await replies.stop_reply(user_id, cid)  # nothing left to stop
    await assert_conversation_usable(fake, user_id, cid)


async def test_stop_of_a_dead_row_is_owner_scoped(fake, user_id, other_user_id):
    cid, _ = await _dead_streaming_row(user_id)
    assert not await replies.stop_reply(other_user_id, cid)
    assert (await chat.list_messages(user_id, cid))[-1].status == MessageStatus.STREAMING
    for garbage in ("not-a-uuid", "", None, 12):
        assert not await replies.stop_reply(user_id, garbage)


async def test_unstorable_model_ids_are_not_offered(fake, user_id):
    """Model ids are provider text too; one that cannot be stored names no usable model."""
    fake.configure(models=["fake-small", "bad\ud800", "nul\x00", "ok-é"])
    assert [m.id for m in await chat.available_models()] == ["fake-small", "ok-é"]
