"""The import report's summary: counts in words, left-out messages by reason, and a bounded
list of skipped conversations (pure: no database)."""

from __future__ import annotations

import uuid

from chat_app.services.transfer import ImportedItem, ImportReport, SkippedItem
from chat_app.services.transfer.report import MAX_PROBLEMS_SHOWN, bounded


def test_summary_counts_in_words():
    one = ImportReport(imported=[ImportedItem("A", 1, uuid.uuid4())])
    assert one.summary() == "Imported 1 conversation (1 message)."
    many = ImportReport(
        imported=[ImportedItem("A", 1_000, uuid.uuid4()), ImportedItem("B", 234, uuid.uuid4())],
        omitted_messages={"tool": 3, "hidden": 1},
    )
    assert many.message_count == 1_234
    assert many.summary() == (
        "Imported 2 conversations (1,234 messages).\nLeft out 4 messages (1 hidden, 3 tool)."
    )


def test_summary_lists_a_bounded_number_of_skipped_conversations():
    skipped = [SkippedItem(i, f"Title {i}", "it has no message mapping") for i in range(12)]
    skipped[0] = SkippedItem(0, "  Very\nlong " + "x" * 100, "its mapping has a cycle")
    skipped[1] = SkippedItem(1, None, "it is not a conversation object")
    lines = ImportReport(skipped=skipped).summary().split("\n")
    assert lines[:4] == [
        "Imported 0 conversations (0 messages).",
        "Skipped 12 conversations:",
        "- #1 “Very long " + "x" * 49 + "…”: its mapping has a cycle",
        "- #2: it is not a conversation object",
    ]
    assert len(lines) == 2 + MAX_PROBLEMS_SHOWN + 1
    assert lines[-2] == "- #10 “Title 9”: it has no message mapping"
    assert lines[-1] == "- … and 2 more"


def test_bounded_counts_only_what_it_leaves_out():
    assert bounded([]) == []
    exactly = [f"- {i}" for i in range(MAX_PROBLEMS_SHOWN)]
    assert bounded(exactly) == exactly
    assert bounded([*exactly, "- x"]) == [*exactly, "- … and 1 more"]
    assert bounded([f"- {i}" for i in range(1_010)])[-1] == "- … and 1,000 more"
