"""Hostile files (not UTF-8, not JSON, too deep, too big, too many rows) refused by both
importers with the database unchanged."""

from __future__ import annotations

import pytest

from chat_app.services import transfer
from chat_app.services.errors import InvalidInput
from chat_app.services.transfer import untrusted_json
from tests.services.transfer.samples import (
    chatgpt_sample,
    dump,
    row_counts,
    valid_export,
)

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
async def test_malformed_files_are_refused(user_id, seeded, importer, raw, expected):
    before = await row_counts()
    run = transfer.import_json if importer == "json" else transfer.import_chatgpt
    with pytest.raises(InvalidInput) as caught:
        await run(user_id, raw)
    assert expected in caught.value.message
    assert await row_counts() == before


async def test_size_and_count_limits(user_id, seeded, monkeypatch):
    before = await row_counts()
    raw = dump(valid_export())

    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_BYTES", len(raw) - 1)
    for run, payload in (
        (transfer.import_json, raw),
        (transfer.import_json, raw.decode()),
        (transfer.import_chatgpt, chatgpt_sample()),
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
        await transfer.import_chatgpt(user_id, chatgpt_sample())
    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_CONVERSATIONS", 10_000)

    monkeypatch.setattr(untrusted_json, "MAX_IMPORT_MESSAGES", 3)
    with pytest.raises(InvalidInput, match="4 messages; at most 3"):
        await transfer.import_json(user_id, dump(two))
    with pytest.raises(InvalidInput, match="messages; at most 3"):
        await transfer.import_chatgpt(user_id, chatgpt_sample())

    assert await row_counts() == before


def test_default_limits():
    assert transfer.MAX_IMPORT_BYTES == 50 * 1024 * 1024
    assert transfer.MAX_IMPORT_CONVERSATIONS == 10_000
    assert transfer.MAX_IMPORT_MESSAGES == 100_000
    assert transfer.MAX_JSON_DEPTH == 64
    assert transfer.MAX_MESSAGE_CHARS == 200_000
