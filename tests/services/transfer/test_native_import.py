"""Re-importing our own export: lossless round trips, the timestamp rules, and a file
with any problem refused whole (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid

import pytest

from chat_app.models.conversation import SYSTEM_PROMPT_MAX, TITLE_MAX
from chat_app.services import chat, transfer
from chat_app.services.errors import InvalidInput, NotFound
from tests.services.transfer.samples import (
    HOSTILE_TITLE,
    dump,
    message,
    row_counts,
    utc,
    valid_export,
)


async def test_round_trip_of_everything_is_lossless_and_owned_by_the_importer(
    user_id, seeded, other_user_id
):
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


async def test_round_trip_of_one_conversation(user_id, seeded):
    first_id, _ = seeded
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
            message(created_at="1900-01-01T00:00:00.000001Z"),
            message(created_at="9998-12-31T23:59:59.999999Z"),
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


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"messages": [message(role="tool")]}, "message 1, “role”: Input should be 'system'"),
        ({"messages": [message(status="done")]}, "“status”: Input should be 'complete'"),
        ({"title": "x" * (TITLE_MAX + 1)}, f"“title”: String should have at most {TITLE_MAX}"),
        ({"system_prompt": "x" * (SYSTEM_PROMPT_MAX + 1)}, "“system_prompt”: String should"),
        ({"model": "m" * 201}, "“model”: String should have at most 200"),
        ({"messages": [message(content="x" * 200_001)]}, "at most 200000 characters"),
        ({"messages": [message(error_detail="x" * 200_001)]}, "“error_detail”"),
        ({"messages": [message(content=None)]}, "“content”: Input should be a valid string"),
        ({"messages": [message(prompt_tokens=-1)]}, "greater than or equal to 0"),
        ({"messages": [message(ttft_ms=2**31)]}, "less than or equal to 2147483647"),
        ({"messages": [message(completion_tokens="3")]}, "valid integer"),
        ({"messages": [message(created_at="2024-01-01")]}, "no time zone"),
        ({"messages": [message(created_at="yesterday")]}, "not an ISO 8601 timestamp"),
        ({"messages": [message(created_at=1700000000)]}, "ISO 8601 timestamp string"),
        ({"created_at": "9999-12-31T23:00:00-05:00"}, "out of range"),
        ({"messages": [message(id=str(uuid.uuid4()))]}, "“id”: Extra inputs are not permitted"),
        ({"owner_id": str(uuid.uuid4())}, "“owner_id”: Extra inputs are not permitted"),
        ({"messages": "nope"}, "“messages”: Input should be a valid list"),
        ({"title": None}, "“title”: Input should be a valid string"),
    ],
)
async def test_invalid_exports_are_refused_whole(user_id, seeded, overrides, expected):
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
    data = valid_export(messages=[message(role="robot") for _ in range(25)])
    with pytest.raises(InvalidInput) as caught:
        await transfer.import_json(user_id, dump(data))
    assert "25 problems" in caught.value.message
    assert "… and 15 more" in caught.value.message
    assert await row_counts() == (0, 0)
