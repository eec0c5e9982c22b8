"""ChatGPT's conversations.json: the sample file end to end, and malformed conversations
skipped with their reason while the others are imported."""

from __future__ import annotations

import json

from chat_app.models.conversation import TITLE_MAX
from chat_app.services import chat, transfer
from tests.services.transfer.samples import (
    chatgpt_sample,
    row_counts,
    utc,
)


async def test_chatgpt_import_of_the_fixture(user_id, other_user_id):
    report = await transfer.import_chatgpt(user_id, chatgpt_sample())

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
    good = json.loads(chatgpt_sample())[0]
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
    item = json.loads(chatgpt_sample())[1]
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
