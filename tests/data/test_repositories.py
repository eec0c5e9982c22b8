"""Conversation and message repositories on SQLite and PostgreSQL: ordering, search, ownership."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chat_app.core.db import session_scope
from chat_app.models import ConversationCreate, ConversationUpdate, Message, MessageStatus
from chat_app.repositories import conversations as conv_repo
from chat_app.repositories import messages as msg_repo
from chat_app.repositories import users as users_repo
from chat_app.repositories.conversations import PageCursor
from tests.conftest import unique_email


async def make_user(name: str = "user") -> uuid.UUID:
    async with session_scope() as session:
        user = await users_repo.create(
            session, email=unique_email(name), display_name=name, password_hash="not-a-hash"
        )
        return user.id


async def make_conversation(owner: uuid.UUID, title: str = "Chat") -> uuid.UUID:
    async with session_scope() as session:
        return (await conv_repo.create(session, owner, ConversationCreate(title=title))).id


async def add_message(
    owner: uuid.UUID,
    conversation: uuid.UUID,
    content: str,
    *,
    role: str = "user",
    status: str = MessageStatus.COMPLETE,
) -> Message:
    async with session_scope() as session:
        message = await msg_repo.add(
            session, owner, conversation, role=role, content=content, status=status
        )
    assert message is not None
    return message


async def titles(owner: uuid.UUID, search: str) -> list[str]:
    async with session_scope() as session:
        return [c.title for c in await conv_repo.list_page(session, owner, search=search)]


async def contents(owner: uuid.UUID, conversation: uuid.UUID) -> list[str]:
    async with session_scope() as session:
        return [
            m.content for m in await msg_repo.list_for_conversation(session, owner, conversation)
        ]


# ---- listing -----------------------------------------------------------------------------


async def test_create_and_get(db: str) -> None:
    owner = await make_user()
    async with session_scope() as session:
        created = await conv_repo.create(
            session,
            owner,
            ConversationCreate(title="  Trip\n\tplans  ", model="gpt-x", system_prompt="Be brief."),
        )
    async with session_scope() as session:
        fetched = await conv_repo.get(session, owner, created.id)
    assert fetched is not None
    assert (fetched.title, fetched.model, fetched.system_prompt) == (
        "Trip plans",
        "gpt-x",
        "Be brief.",
    )
    assert fetched.owner_id == owner
    async with session_scope() as session:
        assert await conv_repo.get(session, owner, uuid.uuid4()) is None


async def test_keyset_pagination_newest_updated_first(db: str) -> None:
    owner = await make_user()
    other = await make_user("other")
    await make_conversation(other, "not mine")
    ids = [await make_conversation(owner, f"chat {i:02d}") for i in range(25)]

    pages: list[list[uuid.UUID]] = []
    cursor: PageCursor | None = None
    while True:
        async with session_scope() as session:
            page = await conv_repo.list_page(session, owner, limit=10, after=cursor)
        if not page:
            break
        pages.append([c.id for c in page])
        cursor = PageCursor(updated_at=page[-1].updated_at, id=page[-1].id)
    assert [len(p) for p in pages] == [10, 10, 5]
    seen = [cid for page in pages for cid in page]
    assert len(set(seen)) == 25  # no duplicates
    assert seen == list(reversed(ids))  # no gaps, newest first

    # Updating an old conversation moves it to the top.
    async with session_scope() as session:
        await conv_repo.touch(session, owner, ids[0])
    async with session_scope() as session:
        first = await conv_repo.list_page(session, owner, limit=3)
    assert [c.id for c in first] == [ids[0], ids[24], ids[23]]


async def test_pagination_ties_on_updated_at_are_broken_by_id(db: str) -> None:
    owner = await make_user()
    ids = [await make_conversation(owner, f"c{i}") for i in range(7)]
    same = datetime(2030, 1, 1, tzinfo=UTC)
    async with session_scope() as session:
        for cid in ids:
            conversation = await conv_repo.get(session, owner, cid)
            assert conversation is not None
            conversation.updated_at = same
    seen: list[uuid.UUID] = []
    cursor = None
    for _ in range(10):
        async with session_scope() as session:
            page = await conv_repo.list_page(session, owner, limit=3, after=cursor)
        if not page:
            break
        seen += [c.id for c in page]
        cursor = PageCursor(updated_at=page[-1].updated_at, id=page[-1].id)
    assert seen == sorted(ids, reverse=True)


async def test_search_titles_and_messages_case_insensitively(db: str) -> None:
    owner = await make_user()
    other = await make_user("other")
    await make_conversation(owner, "Quarterly Report")
    holiday = await make_conversation(owner, "Holiday plans")
    await add_message(owner, holiday, "Remember the Mitochondria talk")
    await make_conversation(owner, "Unrelated")
    theirs = await make_conversation(other, "quarterly report of someone else")
    await add_message(other, theirs, "mitochondria")

    assert await titles(owner, "quarterly") == ["Quarterly Report"]
    assert await titles(owner, "QUARTERLY report") == ["Quarterly Report"]
    assert await titles(owner, "MITOCHONDRIA") == ["Holiday plans"]
    assert await titles(owner, "  mitochondria  ") == ["Holiday plans"]
    assert await titles(owner, "nothing like this") == []
    assert len(await titles(owner, "")) == 3  # blank search: everything
    assert len(await titles(owner, "   ")) == 3


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("100%", ["100% done"]),
        ("%", ["100% done"]),
        ("a_b", ["a_b"]),
        ("_", ["a_b"]),
        ("\\", ["back\\slash"]),
        ("k\\s", ["back\\slash"]),
        ("%%", []),
    ],
)
async def test_like_metacharacters_are_literal(db: str, search: str, expected: list[str]) -> None:
    owner = await make_user()
    for title in ["1000 done", "100% done", "a_b", "axb", "back\\slash", "backslash"]:
        await make_conversation(owner, title)
    assert await titles(owner, search) == expected


async def test_metacharacters_in_message_search_are_literal(db: str) -> None:
    owner = await make_user()
    hit = await make_conversation(owner, "one")
    await add_message(owner, hit, "discount: 50% off")
    miss = await make_conversation(owner, "two")
    await add_message(owner, miss, "discount: 500 off")
    assert await titles(owner, "50%") == ["one"]


# ---- ownership ---------------------------------------------------------------------------


async def test_another_user_cannot_see_or_touch_anything(db: str) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    conversation = await make_conversation(alice, "Alice's secrets")
    first = await add_message(alice, conversation, "hello")
    reply = await add_message(alice, conversation, "hi there", role="assistant")
    async with session_scope() as session:
        before = await conv_repo.get(session, alice, conversation)
    assert before is not None

    async with session_scope() as session:
        assert await conv_repo.get(session, bob, conversation) is None
        assert (
            await conv_repo.update(session, bob, conversation, ConversationUpdate(title="pwned"))
            is None
        )
        await conv_repo.touch(session, bob, conversation)
        assert await conv_repo.delete(session, bob, conversation) is False
        assert await conv_repo.list_page(session, bob) == []
        assert await conv_repo.list_page(session, bob, search="secrets") == []
        assert await conv_repo.list_page(session, bob, search="hello") == []
        assert await msg_repo.add(session, bob, conversation, role="user", content="inject") is None
        assert await msg_repo.get(session, bob, first.id) is None
        assert (
            await msg_repo.save_progress(
                session, bob, reply.id, content="pwned", status=MessageStatus.ERROR, ttft_ms=1
            )
            is False
        )
        assert await msg_repo.list_for_conversation(session, bob, conversation) == []
        assert await msg_repo.list_for_conversation(session, bob, conversation, limit=5) == []
        assert await msg_repo.delete_from(session, bob, conversation, first) == 0

    async with session_scope() as session:
        after = await conv_repo.get(session, alice, conversation)
        messages = await msg_repo.list_for_conversation(session, alice, conversation)
    assert after is not None
    assert after.title == "Alice's secrets"
    assert after.updated_at == before.updated_at
    assert [(m.content, m.status, m.ttft_ms) for m in messages] == [
        ("hello", "complete", None),
        ("hi there", "complete", None),
    ]


async def test_owner_update_and_delete(db: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner, "Old")
    await add_message(owner, conversation, "hello")
    async with session_scope() as session:
        before = await conv_repo.get(session, owner, conversation)
        assert before is not None
        old_updated = before.updated_at
    async with session_scope() as session:
        updated = await conv_repo.update(
            session, owner, conversation, ConversationUpdate(title=" New\x07title ")
        )
    assert updated is not None
    assert updated.title == "New title"
    assert updated.updated_at > old_updated
    async with session_scope() as session:
        assert await conv_repo.delete(session, owner, conversation) is True
    async with session_scope() as session:
        assert await conv_repo.get(session, owner, conversation) is None
        # The messages went with it (ON DELETE CASCADE).
        assert await msg_repo.list_for_conversation(session, owner, conversation) == []
        assert await conv_repo.delete(session, owner, conversation) is False


# ---- messages ----------------------------------------------------------------------------


async def test_messages_in_order_and_last_n(db: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner)
    for i in range(6):
        await add_message(owner, conversation, f"m{i}")
    assert await contents(owner, conversation) == [f"m{i}" for i in range(6)]
    async with session_scope() as session:
        last = await msg_repo.list_for_conversation(session, owner, conversation, limit=2)
    assert [m.content for m in last] == ["m4", "m5"]


async def test_delete_from_removes_that_message_and_later_ones(db: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner)
    other = await make_conversation(owner, "other")
    messages = [await add_message(owner, conversation, f"m{i}") for i in range(5)]
    kept_elsewhere = await add_message(owner, other, "elsewhere")
    async with session_scope() as session:
        removed = await msg_repo.delete_from(session, owner, conversation, messages[2])
    assert removed == 3
    assert await contents(owner, conversation) == ["m0", "m1"]
    assert await contents(owner, other) == [kept_elsewhere.content]


async def test_save_progress_updates_only_given_fields(db: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner)
    reply = await add_message(
        owner, conversation, "", role="assistant", status=MessageStatus.STREAMING
    )
    async with session_scope() as session:
        assert await msg_repo.save_progress(session, owner, reply.id, content="Hel")
    async with session_scope() as session:
        assert await msg_repo.save_progress(
            session,
            owner,
            reply.id,
            content="Hello",
            status=MessageStatus.COMPLETE,
            prompt_tokens=12,
            completion_tokens=3,
            ttft_ms=250,
        )
    async with session_scope() as session:
        saved = await msg_repo.get(session, owner, reply.id)
    assert saved is not None
    assert (saved.content, saved.status, saved.prompt_tokens, saved.completion_tokens) == (
        "Hello",
        "complete",
        12,
        3,
    )
    assert saved.ttft_ms == 250
    assert saved.error_detail is None
    assert saved.updated_at >= saved.created_at


async def test_mark_streaming_as_interrupted(db: str) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    a_conv = await make_conversation(alice)
    b_conv = await make_conversation(bob)
    half = await add_message(
        alice, a_conv, "half a repl", role="assistant", status=MessageStatus.STREAMING
    )
    other_half = await add_message(
        bob, b_conv, "", role="assistant", status=MessageStatus.STREAMING
    )
    done = await add_message(alice, a_conv, "done", role="assistant")
    stopped = await add_message(
        alice, a_conv, "stop", role="assistant", status=MessageStatus.STOPPED
    )
    async with session_scope() as session:
        assert await msg_repo.mark_streaming_as_interrupted(session) == 2
    async with session_scope() as session:
        for message, owner, status, content in [
            (half, alice, "interrupted", "half a repl"),
            (other_half, bob, "interrupted", ""),
            (done, alice, "complete", "done"),
            (stopped, alice, "stopped", "stop"),
        ]:
            fetched = await msg_repo.get(session, owner, message.id)
            assert fetched is not None
            assert (fetched.status, fetched.content) == (status, content)
    async with session_scope() as session:
        assert await msg_repo.mark_streaming_as_interrupted(session) == 0


TRICKY_TEXT = (
    "".join(chr(c) for c in range(1, 32))  # every C0 control but NUL
    + "\x7f\x80\x9b\x9f"  # DEL and C1 controls
    + "👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽"  # emoji with joiners, variation selectors, skin tone
    + " שלום עולם مرحبا بالعالم "  # right-to-left scripts
    + "\u202eevil\u202c \u200b\u200d\ufeff"  # bidi override, zero-width characters, BOM
    # Combining accent, precomposed and decomposed forms, astral letters, CJK, private use.
    + "e\u0301 Å Å \U0001d518\U0001d52b\U0001d526 中文 日本語 한국어 \U0010fffd"
    + "\r\n'; DROP TABLE messages;-- <script>alert(1)</script> %_\\"
)


async def test_arbitrary_text_round_trips_unchanged(db: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner)
    text = TRICKY_TEXT
    # NUL: PostgreSQL's text type cannot hold \x00 at all (the driver refuses it), so it is only
    # checked on SQLite. Anything that stores user text on PostgreSQL must keep NUL out.
    if db.startswith("sqlite"):
        text = "\x00" + text + "\x00"
    message = await add_message(owner, conversation, text)
    async with session_scope() as session:
        fetched = await msg_repo.get(session, owner, message.id)
    assert fetched is not None
    assert fetched.content == text
    assert len(fetched.content) == len(text)


async def test_timestamps_are_timezone_aware_utc(db: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner)
    message = await add_message(owner, conversation, "hi")
    now = datetime.now(UTC)
    async with session_scope() as session:
        conv = await conv_repo.get(session, owner, conversation)
        msg = await msg_repo.get(session, owner, message.id)
        user = await users_repo.get_by_id(session, owner)
    assert conv is not None and msg is not None and user is not None
    for value in (
        conv.created_at,
        conv.updated_at,
        msg.created_at,
        msg.updated_at,
        user.created_at,
        user.updated_at,
    ):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert abs(now - value) < timedelta(minutes=1)


async def test_non_utc_timestamps_are_stored_as_utc(db: str) -> None:
    owner = await make_user()
    conversation = await make_conversation(owner)
    plus_two = datetime(2030, 6, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    async with session_scope() as session:
        conv = await conv_repo.get(session, owner, conversation)
        assert conv is not None
        conv.updated_at = plus_two
    async with session_scope() as session:
        fetched = await conv_repo.get(session, owner, conversation)
    assert fetched is not None
    assert fetched.updated_at == datetime(2030, 6, 1, 14, 0, tzinfo=UTC)
    assert fetched.updated_at.utcoffset() == timedelta(0)
