"""The Markdown export: verbatim content, and no block a message leaves open."""

from __future__ import annotations

import pytest

from chat_app.core.db import session_scope
from chat_app.repositories import messages as messages_repo
from chat_app.services import chat, transfer
from chat_app.services.transfer import markdown_export
from tests.services.transfer.samples import (
    HOSTILE_TEXT,
    HOSTILE_TITLE,
)


async def test_markdown_export(user_id, seeded):
    first_id, _ = seeded
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
