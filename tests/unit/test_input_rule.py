"""The input rule (text_rules.user_text) and the websocket frame limit sized from it."""

from __future__ import annotations

import json

import pytest

from chat_app.services.errors import InvalidInput
from chat_app.services.text_rules import storable, user_text
from chat_app.state.event_payloads import FRAME_OVERHEAD_BYTES, make_storable, websocket_frame_limit

# Every kind of code point a text can hold, by how the browser's JSON.stringify writes it.
CHARACTER_CLASSES = {
    "ascii": "a",
    "quote": '"',
    "backslash": "\\",
    "control": "\x01",
    "nul": "\x00",
    "line separator": "\u2028",
    "two-byte": "é",
    "three-byte": "€",
    "astral (one code point, four bytes)": "\U0001f600",
    "lone high surrogate": "\ud800",
    "lone low surrogate": "\udfff",
    "replacement character": "\ufffd",
}


def js_json_bytes(text: str) -> int:
    """The UTF-8 size of JSON.stringify(text) inside its quotes (escapes for controls and
    lone surrogates); the quotes belong to the frame's overhead, like the event's name."""
    size = 0
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF or ord(ch) < 0x20:
            size += len(json.dumps(ch)) - 2  # \u00XX / \udXXX (6), or \n-style (2)
        else:
            size += len(json.dumps(ch, ensure_ascii=False).encode()) - 2
    return size


@pytest.mark.parametrize("name", CHARACTER_CLASSES)
def test_the_longest_allowed_message_of_any_character_fits_one_frame(name):
    max_chars = 250_000
    limit = websocket_frame_limit(max_chars, current=0)
    message = CHARACTER_CLASSES[name] * max_chars
    assert js_json_bytes(message) <= limit - FRAME_OVERHEAD_BYTES, name


def test_the_frame_limit_never_shrinks_what_reflex_was_given():
    assert websocket_frame_limit(10, current=1_000_000) == 1_000_000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain é € \U0001f600", "plain é € \U0001f600"),
        ("a\x00b", "a\ufffdb"),
        ("a\ud800b", "a\ufffdb"),
        ("\udfff", "\ufffd"),
        ("\ude00\ud83d", "\ufffd\ufffd"),  # a pair in the wrong order is two lone halves
        ("\ud83d\ude00", "\U0001f600"),  # a pair as a UTF-16 decoder can leave it: joined
        ("x\ud83d", "x\ufffd"),  # a cut emoji
        ("\x01\x1f\x7f\u2028", "\x01\x1f\x7f\u2028"),  # storable controls are kept as typed
    ],
)
def test_free_text_is_replaced_and_nothing_else_changes(raw, expected):
    assert storable(raw) == expected
    assert user_text(raw, "title") == expected
    storable(expected).encode("utf-8")  # what comes out is always encodable


@pytest.mark.parametrize("raw", ["a\x00b", "a\ud800", "\udfffz"])
def test_identifiers_are_refused_with_a_message_naming_the_field(raw):
    with pytest.raises(InvalidInput) as refused:
        user_text(raw, "display_name", refuse=True)
    assert refused.value.message.startswith("Display name contains a character")
    assert set(refused.value.fields) == {"display_name"}
    assert user_text("fine", "display_name", refuse=True) == "fine"


@pytest.mark.parametrize("value", [None, 3, ["a"], {"a": 1}])
def test_a_field_that_is_not_text_is_refused(value):
    with pytest.raises(InvalidInput) as refused:
        user_text(value, "name")
    assert refused.value.message == "Name must be text."


def test_event_payloads_are_made_storable_everywhere_keys_included():
    deep: dict = {"v": "\ud800"}
    for _ in range(5_000):  # deeper than any recursive walk could go
        deep = {"d": [deep]}
    payload = {
        "form": {"message": "a\x00", "t\udc00": ["\ud800", 1, None, {"x": "ok"}]},
        "deep": deep,
    }
    make_storable(payload)
    assert payload["form"] == {"message": "a\ufffd", "t\ufffd": ["\ufffd", 1, None, {"x": "ok"}]}
    node = payload["deep"]
    while "d" in node:
        node = node["d"][0]
    assert node == {"v": "\ufffd"}
