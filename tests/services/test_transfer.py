"""Export and import: lossless JSON round trips, Markdown, ChatGPT's conversations.json, and
hostile files refused with the database unchanged (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from chat_app.core.db import session_scope
from chat_app.models import Conversation, Message
from chat_app.models.conversation import SYSTEM_PROMPT_MAX, TITLE_MAX
from chat_app.repositories import messages as messages_repo
from chat_app.services import chat, transfer
from chat_app.services.transfer import markdown_export, untrusted_json
from chat_app.services.errors import InvalidInput, NotFound

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOSTILE_TITLE = "<script>alert('t')</script> Ünïcødé 🚀 & \"quotes\""
HOSTILE_TEXT = "<img src=x onerror=alert(1)>\n```js\nalert('x')\n```\n— 日本語 ✓ 🐱"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def seed(user_id: uuid.UUID) -> list[uuid.UUID]:
    """Two conversations: one with every message field set, one plain with a stopped reply."""
    first = await chat.create_conversation(
        user_id, title=HOSTILE_TITLE, model="gpt-4o", system_prompt="Be <b>terse</b>.\nAlways."
    )
    second = await chat.create_conversation(user_id, title="Plain chat")
    async with session_scope() as session:
        await messages_repo.add(session, user_id, first.id, role="user", content=HOSTILE_TEXT)
        reply = await messages_repo.add(
            session, user_id, first.id, role="assistant", content="", model="gpt-4o"
        )
        assert reply is not None
        await messages_repo.save_progress(
            session,
            user_id,
            reply.id,
            content="Sure: <script>document.cookie</script>\n\n| a | b |\n|---|---|",
            status="complete",
            prompt_tokens=12,
            completion_tokens=34,
            ttft_ms=567,
        )
        await messages_repo.add(session, user_id, first.id, role="user", content="Again?")
        failed = await messages_repo.add(
            session, user_id, first.id, role="assistant", content="Half", model="gpt-4o"
        )
        assert failed is not None
        await messages_repo.save_progress(
            session,
            user_id,
            failed.id,
            content="Half a repl",
            status="error",
            error_detail="Provider said: <b>rate limited</b>",
        )
        await messages_repo.add(session, user_id, second.id, role="user", content="Hi")
        await messages_repo.add(
            session, user_id, second.id, role="assistant", content="Hel", status="stopped"
        )
    # The second conversation was touched last: it comes first in exports (newest first).
    await chat.update_conversation(user_id, second.id, title="Plain chat, renamed")
    return [first.id, second.id]


async def row_counts() -> tuple[int, int]:
    async with session_scope() as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
        messages = await session.scalar(select(func.count()).select_from(Message))
    return int(conversations or 0), int(messages or 0)


def dump(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def valid_export(**conversation_overrides: object) -> dict:
    conversation = {
        "title": "Imported",
        "model": "m",
        "system_prompt": "",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00Z",
        "messages": [
            {"role": "user", "content": "hello", "created_at": "2024-01-01T00:00:01Z"},
            {"role": "assistant", "content": "hi", "created_at": "2024-01-01T00:00:02Z"},
        ],
    }
    conversation.update(conversation_overrides)
    return {"format": "chat-app-export", "version": 1, "conversations": [conversation]}


def load_fixture() -> bytes:
    return (FIXTURES / "chatgpt_conversations.json").read_bytes()


# ---- export -------------------------------------------------------------------------------


async def test_export_json_shape(user_id):
    first_id, _ = await seed(user_id)
    data = await transfer.export_json(user_id)
    assert data["format"] == "chat-app-export" and data["version"] == 1
    assert datetime.fromisoformat(data["exported_at"]).tzinfo is not None
    assert [c["title"] for c in data["conversations"]] == ["Plain chat, renamed", HOSTILE_TITLE]
    first = data["conversations"][1]
    assert first["model"] == "gpt-4o" and first["system_prompt"] == "Be <b>terse</b>.\nAlways."
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user", "assistant"]
    assert first["messages"][0]["content"] == HOSTILE_TEXT
    assert first["messages"][1] == {
        "role": "assistant",
        "content": "Sure: <script>document.cookie</script>\n\n| a | b |\n|---|---|",
        "status": "complete",
        "error_detail": None,
        "model": "gpt-4o",
        "prompt_tokens": 12,
        "completion_tokens": 34,
        "ttft_ms": 567,
        "created_at": first["messages"][1]["created_at"],
    }
    assert first["messages"][3]["status"] == "error"
    assert first["messages"][3]["error_detail"] == "Provider said: <b>rate limited</b>"
    for stamp in (first["created_at"], first["updated_at"], first["messages"][0]["created_at"]):
        assert stamp.endswith("Z") and datetime.fromisoformat(stamp).utcoffset() == timedelta(0)
    json.dumps(data)  # plain JSON types only

    one = await transfer.export_json(user_id, str(first_id))
    assert one["conversations"] == [first]


async def test_export_of_missing_or_foreign_conversation_is_not_found(user_id, other_user_id):
    await seed(user_id)
    foreign = await chat.create_conversation(other_user_id, title="Theirs")
    for conversation_id in (foreign.id, str(foreign.id), uuid.uuid4(), "not-an-id"):
        with pytest.raises(NotFound):
            await transfer.export_json(user_id, conversation_id)
        with pytest.raises(NotFound):
            await transfer.export_markdown(user_id, conversation_id)
    everything = await transfer.export_json(user_id)
    assert "Theirs" not in [c["title"] for c in everything["conversations"]]


async def test_export_of_a_user_without_conversations(user_id):
    assert (await transfer.export_json(user_id))["conversations"] == []
    assert "no conversations" in await transfer.export_markdown(user_id)


async def test_markdown_export(user_id):
    first_id, _ = await seed(user_id)
    text = await transfer.export_markdown(user_id, first_id)
    assert text.startswith(f"# {HOSTILE_TITLE}\n")
    assert "- Model: gpt-4o" in text
    assert "## System prompt\n\nBe <b>terse</b>.\nAlways." in text
    assert text.count("## User") == 2 and text.count("## Assistant") == 2
    assert HOSTILE_TEXT in text  # verbatim
    assert "Sure: <script>document.cookie</script>\n\n| a | b |\n|---|---|" in text
    assert "> Error: Provider said: <b>rate limited</b>" in text
    assert "Plain chat" not in text
    # Messages in order, separated by rules.
    assert text.index(HOSTILE_TEXT) < text.index("document.cookie") < text.index("Again?")
    assert text.count("\n\n---\n\n") == 5  # before the system prompt and each message

    everything = await transfer.export_markdown(user_id)
    assert everything.index("# Plain chat, renamed") < everything.index(f"# {HOSTILE_TITLE}")
    assert "*" in everything and "stopped" in everything


async def test_markdown_closes_what_a_message_leaves_open(user_id):
    conversation = await chat.create_conversation(user_id, title="Open blocks")
    async with session_scope() as session:
        for content in ("```python\nprint('never closed')", "<!-- unclosed comment", "After"):
            await messages_repo.add(session, user_id, conversation.id, role="user", content=content)
    text = await transfer.export_markdown(user_id, conversation.id)
    assert "```python\nprint('never closed')\n```\n\n---\n\n## User" in text
    assert "<!-- unclosed comment\n-->\n\n---\n\n## User" in text
    assert text.rstrip().endswith("After")


@pytest.mark.parametrize(
    ("content", "closed"),
    [
        ("plain", "plain"),
        ("```\ncode\n```", "```\ncode\n```"),
        ("````md\n```\ninner\n```", "````md\n```\ninner\n```\n````"),
        ("~~~\ntilde", "~~~\ntilde\n~~~"),
        ("<script>\nalert(1)", "<script>\nalert(1)\n</script>"),
        ("<pre>x</pre>", "<pre>x</pre>"),
        ("<!-- a -->\nok", "<!-- a -->\nok"),
        ("text ``` inline", "text ``` inline"),
    ],
)
def test_close_open_blocks(content, closed):
    assert markdown_export.close_open_blocks(content) == closed


# ---- JSON round trips ---------------------------------------------------------------------


async def test_round_trip_of_everything_is_lossless_and_owned_by_the_importer(
    user_id, other_user_id
):
    await seed(user_id)
    exported = await transfer.export_json(user_id)

    report = await transfer.import_json(other_user_id, json.dumps(exported))
    assert [(i.title, i.message_count) for i in report.imported] == [
        ("Plain chat, renamed", 2),
        (HOSTILE_TITLE, 4),
    ]
    assert report.skipped == [] and "Imported 2 conversations (6 messages)" in report.summary()

    reimported = await transfer.export_json(other_user_id)
    assert reimported["conversations"] == exported["conversations"]

    # New ids, owned by the importer only; the exporter's conversations are untouched.
    original_ids = {c.id for c in (await chat.list_conversations(user_id)).items}
    imported_ids = {c.id for c in (await chat.list_conversations(other_user_id)).items}
    assert imported_ids == {i.conversation_id for i in report.imported}
    assert not imported_ids & original_ids
    assert len(original_ids) == 2
    for conversation_id in imported_ids:
        with pytest.raises(NotFound):
            await chat.get_conversation(user_id, conversation_id)
    assert await row_counts() == (4, 12)


async def test_round_trip_of_one_conversation(user_id):
    first_id, _ = await seed(user_id)
    exported = await transfer.export_json(user_id, first_id)
    report = await transfer.import_json(user_id, dump(exported))
    (item,) = report.imported
    assert item.conversation_id != first_id
    assert (await transfer.export_json(user_id, item.conversation_id))["conversations"] == (
        exported["conversations"]
    )
    original = await chat.list_messages(user_id, first_id)
    copy = await chat.list_messages(user_id, item.conversation_id)
    assert {m.id for m in original}.isdisjoint({m.id for m in copy})
    assert [m.model_dump(exclude={"id", "conversation_id"}) for m in copy] == [
        m.model_dump(exclude={"id", "conversation_id"}) for m in original
    ]
    assert len((await chat.list_conversations(user_id)).items) == 3


async def test_import_keeps_timestamps_and_normalizes_what_it_must(user_id):
    data = valid_export(
        title="Line\none\t<b>two</b>",
        created_at="2023-06-01T12:00:00.123456+02:00",
        updated_at="2023-06-02T00:00:00Z",
        messages=[
            {"role": "user", "content": "nul\x00here \ud800", "created_at": "2023-06-01T10:00:01Z"},
            {
                "role": "assistant",
                "content": "cut off",
                "status": "streaming",
                "created_at": "2023-06-01T10:00:05.5Z",
            },
            # Out of order: nudged to 1 µs after its predecessor, so the order is kept.
            {"role": "user", "content": "late", "created_at": "2023-06-01T09:00:00Z"},
        ],
    )
    report = await transfer.import_json(user_id, json.dumps(data))
    (item,) = report.imported
    conversation = await chat.get_conversation(user_id, item.conversation_id)
    assert conversation.title == "Line one <b>two</b>"
    assert conversation.created_at == utc(2023, 6, 1, 10, 0, 0, 123456)
    assert conversation.updated_at == utc(2023, 6, 2)
    messages = await chat.list_messages(user_id, item.conversation_id)
    assert [(m.role, m.content, m.status, m.created_at) for m in messages] == [
        ("user", "nul\ufffdhere \ufffd", "complete", utc(2023, 6, 1, 10, 0, 1)),
        ("assistant", "cut off", "interrupted", utc(2023, 6, 1, 10, 0, 5, 500000)),
        ("user", "late", "complete", utc(2023, 6, 1, 10, 0, 5, 500001)),
    ]


async def test_extreme_timestamps_are_stored_exactly(user_id):
    data = valid_export(
        created_at="0001-01-01T00:00:00Z",
        updated_at="9998-12-31T23:59:59.999999Z",
        messages=[
            _message(created_at="1900-01-01T00:00:00.000001Z"),
            _message(created_at="9998-12-31T23:59:59.999999Z"),
        ],
    )
    (item,) = (await transfer.import_json(user_id, dump(data))).imported
    conversation = await chat.get_conversation(user_id, item.conversation_id)
    assert conversation.created_at == utc(1, 1, 1)
    assert conversation.updated_at == utc(9998, 12, 31, 23, 59, 59, 999999)
    messages = await chat.list_messages(user_id, item.conversation_id)
    assert [m.created_at for m in messages] == [
        utc(1900, 1, 1, 0, 0, 0, 1),
        utc(9998, 12, 31, 23, 59, 59, 999999),
    ]


async def test_import_accepts_a_bom_and_str_input(user_id):
    raw = dump(valid_export())
    await transfer.import_json(user_id, b"\xef\xbb\xbf" + raw)
    await transfer.import_json(user_id, raw.decode())
    assert await row_counts() == (2, 4)


# ---- ChatGPT ------------------------------------------------------------------------------


async def test_chatgpt_import_of_the_fixture(user_id, other_user_id):
    report = await transfer.import_chatgpt(user_id, load_fixture())

    assert [(s.index, s.title) for s in report.skipped] == [
        (2, "Broken <i>mapping</i>"),
        (3, "Orphaned branch"),
    ]
    assert "current_node" in report.skipped[0].reason
    assert "parent" in report.skipped[1].reason
    assert [(i.title, i.message_count, i.omitted_messages) for i in report.imported] == [
        ('Cat haiku 🐱 — <script>alert("t")</script> ünïcødé', 4, 4),
        ("Hello <img src=x onerror=alert(1)> there, how…", 3, 2),
    ]
    assert report.omitted_messages == {
        "empty or hidden system": 2,
        "hidden": 1,
        "tool call": 1,
        "tool": 1,
        "empty": 1,
    }
    summary = report.summary()
    assert "Imported 2 conversations (7 messages)" in summary
    assert "Left out 6 messages" in summary
    assert "#3 “Broken <i>mapping</i>”" in summary and "#4 “Orphaned branch”" in summary

    haiku_id, hello_id = (i.conversation_id for i in report.imported)
    haiku = await chat.get_conversation(user_id, haiku_id)
    assert haiku.title == 'Cat haiku 🐱 — <script>alert("t")</script> ünïcødé'
    assert haiku.model == "gpt-4o" and haiku.system_prompt == ""
    assert haiku.created_at == utc(2024, 5, 1, 10, 0, 0)
    assert haiku.updated_at == utc(2024, 5, 1, 10, 6, 40, 500000)
    messages = await chat.list_messages(user_id, haiku_id)
    assert [(m.role, m.content, m.created_at, m.model, m.status) for m in messages] == [
        (
            "user",
            "Write a haiku about <script>alert('x')</script> cats",
            utc(2024, 5, 1, 10, 0, 1, 250000),
            None,
            "complete",
        ),
        (
            "assistant",
            'Soft paws on the sill,\n<b>bold</b> cat dreams of fish —\n`code` & "quotes"',
            utc(2024, 5, 1, 10, 0, 20, 750000),
            "gpt-4o",
            "complete",
        ),
        (
            "user",
            "[image omitted]\n\nWhat is in this picture? 日本語の質問",
            utc(2024, 5, 1, 10, 1, 40, 500000),
            None,
            "complete",
        ),
        (
            "assistant",
            "The picture shows a cat (1024×768). 🐱 Ünïcödé ✓",  # noqa: RUF001
            utc(2024, 5, 1, 10, 1, 45, 250000),
            "gpt-4o",
            "complete",
        ),
    ]
    everything = json.dumps(await transfer.export_json(user_id), ensure_ascii=False)
    for not_imported in ("FIRST-BRANCH", "BROKEN", "ORPHAN", "You are ChatGPT", "I like cats"):
        assert not_imported not in everything
    assert "(1024, 768)" not in everything and "PIL" not in everything

    hello = await chat.get_conversation(user_id, hello_id)
    assert hello.created_at == utc(2024, 5, 2, 10, 0, 0)
    assert hello.updated_at == utc(2024, 5, 2, 10, 1, 0)  # no update_time: the last message
    assert hello.model == "text-davinci-002-render-sha"
    messages = await chat.list_messages(user_id, hello_id)
    assert [(m.role, m.content, m.created_at) for m in messages] == [
        # No create_time: the conversation's, nudged so the order survives.
        (
            "user",
            "Hello <img src=x onerror=alert(1)> there, how are you doing today?",
            utc(2024, 5, 2, 10, 0, 0),
        ),
        (
            "assistant",
            "Doing well, thanks! Ελληνικά, العربية, עברית.",
            utc(2024, 5, 2, 10, 0, 0, 1),
        ),
        ("user", "line one\n\nline two", utc(2024, 5, 2, 10, 1, 0)),
    ]

    assert await row_counts() == (2, 7)
    assert (await chat.list_conversations(other_user_id)).items == []


async def test_chatgpt_cycles_and_odd_items_are_skipped_not_fatal(user_id):
    good = json.loads(load_fixture())[0]
    cycle = {
        "title": "Loop",
        "current_node": "a",
        "mapping": {
            "a": {"id": "a", "message": None, "parent": "b", "children": []},
            "b": {"id": "b", "message": None, "parent": "a", "children": ["a"]},
        },
    }
    no_messages = {
        "title": "Empty",
        "current_node": "r",
        "mapping": {"r": {"id": "r", "message": None, "parent": None, "children": []}},
    }
    bad_message = {
        "title": "Bad message",
        "current_node": "r",
        "mapping": {"r": {"id": "r", "message": "text?", "parent": None, "children": []}},
    }
    too_long = json.loads(json.dumps(good))
    too_long["title"] = "Huge"
    too_long["mapping"]["u-1"]["message"]["content"]["parts"] = ["x" * 200_001]
    items = [cycle, 42, {"title": 7, "mapping": {}}, no_messages, bad_message, too_long, good]
    report = await transfer.import_chatgpt(user_id, json.dumps(items))
    assert [i.title for i in report.imported] == [good["title"]]
    reasons = {s.index: s.reason for s in report.skipped}
    assert set(reasons) == {0, 1, 2, 3, 4, 5}
    assert "cycle" in reasons[0]
    assert "not a conversation" in reasons[1]
    assert "title" in reasons[2]
    assert "no visible messages" in reasons[3]
    assert "not an object" in reasons[4]
    assert "200,001 characters" in reasons[5]
    assert await row_counts() == (1, 4)


async def test_chatgpt_long_titles_are_shortened_and_missing_times_filled(user_id):
    item = json.loads(load_fixture())[1]
    item["title"] = "T" * (TITLE_MAX + 50)
    item["create_time"] = None
    item["update_time"] = "yesterday"
    report = await transfer.import_chatgpt(user_id, json.dumps([item]))
    (imported,) = report.imported
    conversation = await chat.get_conversation(user_id, imported.conversation_id)
    assert conversation.title == "T" * TITLE_MAX
    messages = await chat.list_messages(user_id, imported.conversation_id)
    # No conversation time: the first time on the branch; then strictly increasing.
    assert conversation.created_at == utc(2024, 5, 2, 10, 1, 0)
    assert [m.created_at for m in messages] == [
        utc(2024, 5, 2, 10, 1, 0),
        utc(2024, 5, 2, 10, 1, 0, 1),
        utc(2024, 5, 2, 10, 1, 0, 2),
    ]
    assert conversation.updated_at == utc(2024, 5, 2, 10, 1, 0, 2)


async def test_chatgpt_empty_list_imports_nothing(user_id):
    report = await transfer.import_chatgpt(user_id, b"[]")
    assert report.imported == [] and report.skipped == []
    assert report.summary() == "Nothing to import: the file has no conversations."


# ---- hostile and malformed files ----------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("importer", "raw", "expected"),
    [
        ("json", b"this is not json", "not valid JSON"),
        ("chatgpt", b'{"mapping": ', "not valid JSON"),
        ("json", b'{"format": "chat-app-export\xff"}', "not UTF-8"),
        ("chatgpt", b"[\xc3\x28]", "not UTF-8"),
        ("json", b"", "empty"),
        ("json", b"NaN", "not valid JSON"),
        ("json", b"[" + b"1" * 5000 + b"]", "not valid JSON"),
        ("json", DEEP, "nested too deeply"),
        ("chatgpt", DEEP, "nested too deeply"),
        ("json", b"[" * 65 + b"]" * 65, "nested too deeply"),
        ("chatgpt", b'[{"mapping": ' + b"[" * 70 + b"]" * 70 + b"}]", "nested too deeply"),
        ("json", b"[]", "not a chat-app export"),
        ("json", b'{"hello": "world"}', "not a chat-app export"),
        ("json", b'{"format": "chat-app-export", "version": 2}', "version 2"),
        ("json", b'{"format": "chat-app-export", "version": 1}', "conversations"),
        ("chatgpt", b'{"hello": "world"}', "not a ChatGPT"),
        ("chatgpt", b'"just a string"', "not a ChatGPT"),
        ("chatgpt", b"[1, 2, 3]", "not a ChatGPT"),
        ("chatgpt", b'{"format": "chat-app-export"}', "chat-app export"),
        ("json", 12345, "file"),
        ("chatgpt", None, "file"),
    ],
)
async def test_malformed_files_are_refused(user_id, importer, raw, expected):
    await seed(user_id)
    before = await row_counts()
    run = transfer.import_json if importer == "json" else transfer.import_chatgpt
    with pytest.raises(InvalidInput) as caught:
        await run(user_id, raw)
    assert expected in caught.value.message
    assert await row_counts() == before


def _message(**changes: object) -> dict:
    return {"role": "user", "content": "ok", "created_at": "2024-01-01T00:00:01Z", **changes}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"messages": [_message(role="tool")]}, "message 1, “role”: Input should be 'system'"),
        ({"messages": [_message(status="done")]}, "“status”: Input should be 'complete'"),
        ({"title": "x" * (TITLE_MAX + 1)}, f"“title”: String should have at most {TITLE_MAX}"),
        ({"system_prompt": "x" * (SYSTEM_PROMPT_MAX + 1)}, "“system_prompt”: String should"),
        ({"model": "m" * 201}, "“model”: String should have at most 200"),
        ({"messages": [_message(content="x" * 200_001)]}, "at most 200000 characters"),
        ({"messages": [_message(error_detail="x" * 200_001)]}, "“error_detail”"),
        ({"messages": [_message(content=None)]}, "“content”: Input should be a valid string"),
        ({"messages": [_message(prompt_tokens=-1)]}, "greater than or equal to 0"),
        ({"messages": [_message(ttft_ms=2**31)]}, "less than or equal to 2147483647"),
        ({"messages": [_message(completion_tokens="3")]}, "valid integer"),
        ({"messages": [_message(created_at="2024-01-01")]}, "no time zone"),
        ({"messages": [_message(created_at="yesterday")]}, "not an ISO 8601 timestamp"),
        ({"messages": [_message(created_at=1700000000)]}, "ISO 8601 timestamp string"),
        ({"created_at": "9999-12-31T23:00:00-05:00"}, "out of range"),
        ({"messages": [_message(id=str(uuid.uuid4()))]}, "“id”: Extra inputs are not permitted"),
        ({"owner_id": str(uuid.uuid4())}, "“owner_id”: Extra inputs are not permitted"),
        ({"messages": "nope"}, "“messages”: Input should be a valid list"),
        ({"title": None}, "“title”: Input should be a valid string"),
    ],
)
async def test_invalid_exports_are_refused_whole(user_id, overrides, expected):
    await seed(user_id)
    before = await row_counts()
    data = valid_export()
    # A valid conversation before the bad one: all or nothing, so it is not written either.
    data["conversations"].insert(0, valid_export()["conversations"][0])
    data["conversations"][1].update(overrides)
    with pytest.raises(InvalidInput) as caught:
        await transfer.import_json(user_id, dump(data))
    assert expected in caught.value.message
    assert caught.value.message.startswith("Nothing was imported")
    assert "conversation 2" in caught.value.message
    assert caught.value.fields
    assert await row_counts() == before


async def test_refusal_lists_a_bounded_number_of_problems(user_id):
    data = valid_export(messages=[_message(role="robot") for _ in range(25)])
    with pytest.raises(InvalidInput) as caught:
        await transfer.import_json(user_id, dump(data))
    assert "25 problems" in caught.value.message
    assert "… and 15 more" in caught.value.message
    assert await row_counts() == (0, 0)


async def test_size_and_count_limits(user_id, monkeypatch):
    await seed(user_id)
    before = await row_counts()
    raw = dump(valid_export())

    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_BYTES", len(raw) - 1)
    for run, payload in (
        (transfer.import_json, raw),
        (transfer.import_json, raw.decode()),
        (transfer.import_chatgpt, load_fixture()),
    ):
        with pytest.raises(InvalidInput, match="too large"):
            await run(user_id, payload)
    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_BYTES", 50 * 1024 * 1024)

    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_CONVERSATIONS", 1)
    two = valid_export()
    two["conversations"] *= 2
    with pytest.raises(InvalidInput, match="2 conversations; at most 1"):
        await transfer.import_json(user_id, dump(two))
    with pytest.raises(InvalidInput, match="4 conversations; at most 1"):
        await transfer.import_chatgpt(user_id, load_fixture())
    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_CONVERSATIONS", 10_000)

    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_MESSAGES", 3)
    with pytest.raises(InvalidInput, match="4 messages; at most 3"):
        await transfer.import_json(user_id, dump(two))
    with pytest.raises(InvalidInput, match="messages; at most 3"):
        await transfer.import_chatgpt(user_id, load_fixture())

    assert await row_counts() == before


def test_default_limits():
    assert transfer.MAX_IMPORT_BYTES == 50 * 1024 * 1024
    assert transfer.MAX_IMPORT_CONVERSATIONS == 10_000
    assert transfer.MAX_IMPORT_MESSAGES == 100_000
    assert transfer.MAX_JSON_DEPTH == 64
    assert transfer.MAX_MESSAGE_CHARS == 200_000


# ---- mutated files: a report or InvalidInput, never a crash -------------------------------

ODD_VALUES = [
    None, True, -1, 2**31, 2**70, 1e308, "", "x" * 300, "\x00", "\ud800", "streaming", "tool",
    "python", [], {}, [[1]], "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z",
    -62135596800.0, 253402300799.0, {"content_type": "image_asset_pointer"}, "a-3", "u-1",
]  # fmt: skip


def _mutated(document: object, rng: random.Random) -> object:
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 4)):
        paths: list[tuple] = []
        stack: list[tuple[tuple, object]] = [((), document)]
        while stack:
            path, node = stack.pop()
            paths.append(path)
            if isinstance(node, dict):
                stack.extend(((*path, key), child) for key, child in node.items())
            elif isinstance(node, list):
                stack.extend(((*path, index), child) for index, child in enumerate(node))
        path = rng.choice(paths[1:])
        parent = document
        for key in path[:-1]:
            parent = parent[key]  # type: ignore[index]
        if isinstance(parent, dict) and rng.random() < 0.15:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))  # type: ignore[index]
    return document


async def test_mutated_files_never_crash(user_id):
    rng = random.Random(20240501)
    chatgpt_file = json.loads(load_fixture())
    export_file = await transfer.export_json(user_id, (await seed(user_id))[0])
    for _ in range(40):
        for importer, document in (
            (transfer.import_chatgpt, chatgpt_file),
            (transfer.import_json, export_file),
        ):
            before = await row_counts()
            try:
                report = await importer(user_id, json.dumps(_mutated(document, rng)))
            except InvalidInput as refused:
                assert await row_counts() == before
                refused.message.encode()  # displayable: no unpaired surrogates
                continue
            conversations, messages = await row_counts()
            assert conversations == before[0] + len(report.imported)
            assert messages == before[1] + report.message_count
            report.summary().encode()
    # Everything that was imported reads back and exports.
    json.dumps(await transfer.export_json(user_id))
    await transfer.export_markdown(user_id)
