"""One ChatGPT node into one message: every reason a message is left out, every reason it
skips its conversation, and what a kept message carries (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chat_app.repositories.imports import NewMessage
from chat_app.services.transfer.chatgpt_messages import Omitted, Skip, message_from_node
from tests.services.transfer.samples import utc

EARLIER = utc(2024, 5, 1, 9, 0, 0)


def node(role: object = "user", parts: object = ("Hello",), **message: Any) -> dict[str, Any]:
    """A mapping node as ChatGPT writes it; ``message`` overrides or adds message fields."""
    fields: dict[str, Any] = {
        "author": {"role": role},
        "content": {"content_type": "text", "parts": list(parts)}
        if isinstance(parts, tuple)
        else parts,
        "create_time": 1714557601.25,
        **message,
    }
    return {"id": "n", "parent": None, "children": [], "message": fields}


def convert(item: dict[str, Any], number: int = 1) -> NewMessage | Omitted | None:
    return message_from_node(item, number=number, fallback_time=EARLIER)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (node("tool"), "tool"),
        (node("critic"), "unknown role"),
        (node("assistant", recipient="python"), "tool call"),
        (node("user", metadata={"is_visually_hidden_from_conversation": True}), "hidden"),
        (
            node("system", metadata={"is_visually_hidden_from_conversation": True}),
            "empty or hidden system",
        ),
        (node("system", parts=("  ",)), "empty or hidden system"),
        (
            node("system", parts={"content_type": "thoughts", "thoughts": []}),
            "empty or hidden system",
        ),
        (
            node("assistant", parts={"content_type": "thoughts", "thoughts": []}),
            "unsupported content",
        ),
        (node("user", parts=("", " \n ")), "empty"),
        (node("user", parts=(None,)), "empty"),
    ],
)
def test_left_out_messages_are_counted_under_their_reason(item, reason):
    assert convert(item) == Omitted(reason)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"message": "text?"}, "a message is not an object"),
        ({"message": {"content": {"parts": ["x"]}}}, "a message has no author role"),
        (node(role=7), "a message has no author role"),
        (node(parts="just text"), "a message has no content object"),
        (node(parts=("x" * 200_001,)), "message 3 has 200,001 characters (the limit is 200,000)"),
    ],
)
def test_malformed_messages_skip_their_conversation(item, reason):
    with pytest.raises(Skip) as skipped:
        convert(item, number=3)
    assert skipped.value.reason == reason


def test_a_node_without_a_message_is_neither_kept_nor_counted():
    assert convert({"id": "root", "message": None, "parent": None}) is None
    assert convert({"id": "root"}) is None


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ({"content_type": "text", "parts": ["one", "", "two"]}, "one\n\ntwo"),
        (
            {"content_type": "multimodal_text", "parts": [{"content_type": "image_asset_pointer"}]},
            "[image omitted]",
        ),
        ({"parts": [{"content_type": "audio_transcription", "text": "said"}]}, "said"),
        (
            {"parts": [{"content_type": "real_time_video"}, 42]},
            "[video omitted]\n\n[attachment omitted]",
        ),
        (
            {"content_type": "code", "language": "python", "text": "a = '```'"},
            "````python\na = '```'\n````",
        ),
        ({"content_type": "code", "language": "unknown", "text": "x"}, "```\nx\n```"),
        ({"content_type": "code", "language": "not a word", "text": "x"}, "```\nx\n```"),
        ({"content_type": "tether_quote", "text": "quoted"}, "quoted"),
        ({"content_type": "text", "parts": ["nul\x00here"]}, "nul\ufffdhere"),
    ],
)
def test_kept_text_of_each_content_kind(content, text):
    kept = convert(node("user", parts=content))
    assert isinstance(kept, NewMessage)
    assert kept.content == text


def test_a_kept_message_carries_status_model_and_its_own_time():
    kept = convert(
        node("assistant", status="in_progress", metadata={"model_slug": "m" * 250}, recipient="all")
    )
    assert kept == NewMessage(
        role="assistant",
        content="Hello",
        status="interrupted",
        model="m" * 200,  # messages.model is VARCHAR(200)
        created_at=datetime(2024, 5, 1, 10, 0, 1, 250000, tzinfo=UTC),
    )
    user = convert(node("user", status="finished_successfully", metadata={"model_slug": "gpt-4o"}))
    assert isinstance(user, NewMessage)
    assert (user.status, user.model) == ("complete", None)  # only replies name a model


@pytest.mark.parametrize("stamp", [None, "yesterday", True, float("nan"), 1e20, -1e20])
def test_a_message_without_a_usable_time_takes_the_fallback(stamp):
    kept = convert(node(create_time=stamp))
    assert isinstance(kept, NewMessage) and kept.created_at == EARLIER


def test_without_any_time_a_message_is_dated_now():
    before = datetime.now(UTC)
    kept = message_from_node(node(create_time=None), number=1, fallback_time=None)
    assert isinstance(kept, NewMessage)
    assert before <= kept.created_at <= datetime.now(UTC) + timedelta(seconds=1)
