"""The generation service: streaming into the database and to followers, with the fake
OpenAI server behind the real SDK."""

from __future__ import annotations

import asyncio

import pytest

from chat_app.core.db import session_scope
from chat_app.core.settings import get_settings
from chat_app.models.message import MessageStatus
from chat_app.repositories import messages as messages_repo
from chat_app.services import chat, generation, replies
from chat_app.services.errors import Conflict, InvalidInput, NotFound
from chat_app.services.live import Delta, Finished
from chat_app.services.maintenance import recover_interrupted_replies
from tests.services.conftest import wait_until

pytestmark = pytest.mark.usefixtures("settle")


async def finished_reply(user_id, conversation_id):
    reply = replies.live_reply(user_id, conversation_id)
    if reply is not None:
        async for _ in reply.follow(0):
            pass
    messages = await chat.list_messages(user_id, conversation_id)
    return messages[-1]


async def stored_reply(user_id, conversation_id):
    return (await chat.list_messages(user_id, conversation_id))[-1]


async def test_reply_streams_saves_and_completes(fake, user_id):
    fake.configure(reply_tokens=12, tokens_per_second=200)
    started = await generation.send_message(user_id, None, "Hello there")
    assert started.assistant_message.status == MessageStatus.STREAMING
    assert started.conversation.title == "Hello there"

    seen = ""
    ends = []
    cid, mid = started.conversation.id, started.assistant_message.id
    async for event in replies.follow(user_id, cid, mid):
        if isinstance(event, Delta):
            assert not ends and event.offset == len(seen)  # no gap, no duplicate
            seen += event.text
        elif isinstance(event, Finished):
            ends.append(event.message)
    final = await stored_reply(user_id, started.conversation.id)
    assert ends == [final]  # followers get the final row without reading it
    assert final.content == seen == "".join(f"tok{i} " for i in range(12))
    assert final.status == MessageStatus.COMPLETE
    assert final.completion_tokens == 12 and final.prompt_tokens is not None
    assert final.ttft_ms is not None and final.ttft_ms >= 0
    assert final.model == "fake-small"
    sent = fake.requests[0]
    assert sent["messages"][-1] == {"role": "user", "content": "Hello there"}


async def test_text_is_saved_progressively_while_streaming(fake, user_id):
    fake.configure(reply_tokens=40, tokens_per_second=40)  # ~1 s of streaming
    started = await generation.send_message(user_id, None, "Tell me a story")
    cid = started.conversation.id

    async def partially_saved():
        message = await stored_reply(user_id, cid)
        return message.status == MessageStatus.STREAMING and len(message.content) > 0

    await wait_until(partially_saved, timeout=5)
    final = await finished_reply(user_id, cid)
    assert final.status == MessageStatus.COMPLETE
    assert final.content.count("tok") == 40


async def test_stop_keeps_the_partial_text(fake, user_id):
    fake.configure(reply_tokens=200, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "Long answer please")
    cid = started.conversation.id
    reply = replies.live_reply(user_id, cid)
    await wait_until(lambda: reply.length > 10)
    assert await replies.stop_reply(user_id, cid)
    final = await finished_reply(user_id, cid)
    assert final.status == MessageStatus.STOPPED
    assert 0 < final.content.count("tok") < 200
    assert not await replies.stop_reply(user_id, cid)  # nothing left to stop


async def test_one_reply_at_a_time_per_conversation(fake, user_id):
    fake.configure(reply_tokens=50, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "first")
    cid = started.conversation.id
    with pytest.raises(Conflict):
        await generation.send_message(user_id, cid, "second")
    with pytest.raises(Conflict):
        await generation.regenerate_last(user_id, cid)
    # Nothing half-written: only the first exchange exists.
    assert [m.role for m in await chat.list_messages(user_id, cid)] == ["user", "assistant"]
    # Other conversations are not blocked.
    other = await generation.send_message(user_id, None, "elsewhere")
    assert other.conversation.id != cid
    await replies.stop_reply(user_id, cid)


async def test_interrupted_replies_are_recovered_with_their_text(fake, user_id):
    conversation = await chat.create_conversation(user_id, title="Crashed")
    async with session_scope() as session:
        await messages_repo.add(session, user_id, conversation.id, role="user", content="hi")
        await messages_repo.add(
            session,
            user_id,
            conversation.id,
            role="assistant",
            content="half a rep",
            status=MessageStatus.STREAMING,
        )
    assert await recover_interrupted_replies() == 1
    final = await stored_reply(user_id, conversation.id)
    assert (final.status, final.content) == (MessageStatus.INTERRUPTED, "half a rep")
    # The conversation is usable again: a regenerate is accepted.
    fake.configure(reply_tokens=3)
    await generation.regenerate_last(user_id, conversation.id)
    assert (await finished_reply(user_id, conversation.id)).status == MessageStatus.COMPLETE


async def test_a_reply_left_streaming_by_a_failed_write_does_not_block_forever(
    fake, user_id, monkeypatch
):
    """A row still "streaming" that is older than the time cap is dead: it becomes interrupted
    (text kept) at the next send instead of blocking the conversation until a restart."""
    monkeypatch.setenv("MAX_REPLY_SECONDS", "1")
    monkeypatch.setattr(generation, "STALE_MARGIN_SECONDS", 0)
    get_settings.cache_clear()
    conversation = await chat.create_conversation(user_id, title="Stuck")
    async with session_scope() as session:
        await messages_repo.add(session, user_id, conversation.id, role="user", content="hi")
        await messages_repo.add(
            session,
            user_id,
            conversation.id,
            role="assistant",
            content="partial",
            status=MessageStatus.STREAMING,
        )
    with pytest.raises(Conflict):  # young: it could still be alive somewhere
        await generation.send_message(user_id, conversation.id, "again")
    await asyncio.sleep(1.1)
    fake.configure(reply_text="fresh")
    await generation.send_message(user_id, conversation.id, "again")
    final = await finished_reply(user_id, conversation.id)
    messages = await chat.list_messages(user_id, conversation.id)
    assert [(m.content, m.status) for m in messages] == [
        ("hi", "complete"),
        ("partial", "interrupted"),
        ("again", "complete"),
        ("fresh", "complete"),
    ]
    assert final.content == "fresh"


async def test_reply_token_cap(fake, user_id, monkeypatch):
    monkeypatch.setenv("MAX_REPLY_TOKENS", "5")
    get_settings.cache_clear()
    fake.configure(reply_tokens=50)
    started = await generation.send_message(user_id, None, "cap me")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.status == MessageStatus.STOPPED
    assert "length limit" in final.error_detail
    assert final.content.count("tok") == 5


async def test_reply_time_cap(fake, user_id, monkeypatch):
    monkeypatch.setenv("MAX_REPLY_SECONDS", "0.5")
    get_settings.cache_clear()
    fake.configure(reply_tokens=100, tokens_per_second=20)
    started = await generation.send_message(user_id, None, "slow")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.status == MessageStatus.STOPPED
    assert "time limit" in final.error_detail
    assert 0 < final.content.count("tok") < 100


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [("401", "API key"), ("429", "rate-limiting"), ("context_too_long", "too long")],
)
async def test_provider_errors_are_stored_with_a_clear_message(fake, user_id, fault, fragment):
    fake.configure(fault=fault)
    started = await generation.send_message(user_id, None, "hello")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.status == MessageStatus.ERROR
    assert fragment in final.error_detail


async def test_stream_cut_mid_reply_keeps_the_text(fake, user_id):
    fake.configure(reply_tokens=30, fault="drop", drop_after_tokens=7)
    started = await generation.send_message(user_id, None, "hello")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.status == MessageStatus.ERROR
    assert "cut off" in final.error_detail
    assert final.content == "".join(f"tok{i} " for i in range(7))


async def test_regenerate_replaces_the_last_reply(fake, user_id):
    fake.configure(reply_text="first answer")
    started = await generation.send_message(user_id, None, "question")
    cid = started.conversation.id
    await finished_reply(user_id, cid)
    fake.configure(reply_text="second answer")
    await generation.regenerate_last(user_id, cid)
    await finished_reply(user_id, cid)
    messages = await chat.list_messages(user_id, cid)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "question"),
        ("assistant", "second answer"),
    ]


async def test_edit_last_user_message_reruns_from_there(fake, user_id):
    fake.configure(reply_text="answer one")
    started = await generation.send_message(user_id, None, "first question")
    cid = started.conversation.id
    await finished_reply(user_id, cid)
    fake.configure(reply_text="answer two")
    await generation.edit_last_user_message(user_id, cid, "better question")
    await finished_reply(user_id, cid)
    messages = await chat.list_messages(user_id, cid)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "better question"),
        ("assistant", "answer two"),
    ]
    assert fake.requests[-1]["messages"][-1]["content"] == "better question"


async def test_auto_title_after_first_exchange(fake, user_id):
    fake.configure(reply_text="Paris is the capital.")
    started = await generation.send_message(user_id, None, "what is the capital of france")
    await finished_reply(user_id, started.conversation.id)
    # The fake answers the title request with the same configured reply text.
    conversation = await chat.get_conversation(user_id, started.conversation.id)
    assert conversation.title == "Paris is the capital"


async def test_auto_title_falls_back_to_first_words(fake, user_id):
    fake.configure(reply_text="ok", fault="500", fault_times=None)
    started = await generation.send_message(user_id, None, "one two three four five six seven")
    await finished_reply(user_id, started.conversation.id)
    conversation = await chat.get_conversation(user_id, started.conversation.id)
    assert conversation.title == "one two three four five six…"


async def test_system_prompt_and_context_budget_reach_the_provider(fake, user_id, monkeypatch):
    monkeypatch.setenv("CONTEXT_BUDGET_TOKENS", "256")
    get_settings.cache_clear()
    fake.configure(reply_text="x" * 600)  # each reply costs ~154 estimated tokens: one fits
    conversation = await chat.create_conversation(user_id, system_prompt="Be terse.")
    for question in ("q1", "q2", "q3"):
        await generation.send_message(user_id, conversation.id, question)
        await finished_reply(user_id, conversation.id)
    sent = fake.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be terse."}
    assert [m["content"][:2] for m in sent[1:]] == ["q2", "xx", "q3"], sent  # oldest dropped


async def test_bad_messages_store_nothing(fake, user_id):
    conversation = await chat.create_conversation(user_id)
    for text in ("", "   \n\t", "x" * 32_001, None):
        with pytest.raises(InvalidInput):
            await generation.send_message(user_id, conversation.id, text)
    assert await chat.list_messages(user_id, conversation.id) == []
    assert fake.requests == []


async def test_unicode_and_control_characters_round_trip(fake, user_id):
    text = "ctrl:\x01\x07\x1b[31m tab:\t rtl:שלום emoji:👩🏽‍💻 zero-width:\u200b"
    fake.configure(reply_text=text)
    started = await generation.send_message(user_id, None, text)
    final = await finished_reply(user_id, started.conversation.id)
    messages = await chat.list_messages(user_id, started.conversation.id)
    assert messages[0].content == text
    assert final.content == text


async def test_another_users_conversation_is_not_found(fake, user_id, other_user_id):
    fake.configure(reply_tokens=50, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "mine")
    cid = started.conversation.id
    assert replies.live_reply(other_user_id, cid) is None
    assert not await replies.stop_reply(other_user_id, cid)
    for call in (
        generation.send_message(other_user_id, cid, "hijack"),
        generation.regenerate_last(other_user_id, cid),
        generation.edit_last_user_message(other_user_id, cid, "hijack"),
        chat.list_messages(other_user_id, cid),
        chat.get_conversation(other_user_id, cid),
        chat.delete_conversation(other_user_id, cid),
        chat.update_conversation(other_user_id, cid, title="pwned"),
    ):
        with pytest.raises(NotFound):
            await call
    for garbage in ("not-a-uuid", "", "../../etc", None, 12):
        with pytest.raises(NotFound):
            await chat.get_conversation(user_id, garbage)
    await replies.stop_reply(user_id, cid)
    final = await finished_reply(user_id, cid)
    assert final.status == MessageStatus.STOPPED
    assert (await chat.get_conversation(user_id, cid)).title == "mine"


async def test_delete_conversation_stops_its_reply(fake, user_id):
    fake.configure(reply_tokens=200, tokens_per_second=50)
    started = await generation.send_message(user_id, None, "doomed")
    cid = started.conversation.id
    await chat.delete_conversation(user_id, cid)
    await wait_until(lambda: replies.live_reply(user_id, cid) is None)
    with pytest.raises(NotFound):
        await chat.get_conversation(user_id, cid)


async def test_demo_model_works_without_configuration(db, user_id, monkeypatch):
    from chat_app.providers import DemoProvider, factory

    monkeypatch.setattr(factory, "_demo_provider", DemoProvider(chunk_delay=0))
    started = await generation.send_message(user_id, None, "hi demo")
    final = await finished_reply(user_id, started.conversation.id)
    assert final.status == MessageStatus.COMPLETE
    assert "Offline demo model" in final.content
    assert final.model == "demo"
    conversation = await chat.get_conversation(user_id, started.conversation.id)
    assert conversation.title == "hi demo"  # the demo titles from the user's own words
