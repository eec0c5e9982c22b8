"""What an import did, and the wording both importers use for the people reading it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

# How many problems (or skipped conversations) a message lists; the rest are counted.
MAX_PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class ImportedItem:
    title: str
    message_count: int
    conversation_id: uuid.UUID
    omitted_messages: int = 0  # ChatGPT: tool, hidden, empty or unsupported messages left out


@dataclass(frozen=True)
class SkippedItem:
    index: int  # position in the file's list of conversations, counting from 0
    title: str | None
    reason: str


@dataclass
class ImportReport:
    imported: list[ImportedItem] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    # Why messages were left out of imported conversations, and how many: {"tool": 3, ...}.
    omitted_messages: dict[str, int] = field(default_factory=dict)

    @property
    def message_count(self) -> int:
        return sum(item.message_count for item in self.imported)

    def summary(self) -> str:
        if not self.imported and not self.skipped:
            return "Nothing to import: the file has no conversations."
        parts = [
            f"Imported {plural(len(self.imported), 'conversation')} "
            f"({plural(self.message_count, 'message')})."
        ]
        if self.omitted_messages:
            reasons = ", ".join(
                f"{count} {reason}" for reason, count in sorted(self.omitted_messages.items())
            )
            total = sum(self.omitted_messages.values())
            parts.append(f"Left out {plural(total, 'message')} ({reasons}).")
        if self.skipped:
            lines = [
                f"- #{item.index + 1}"
                + (f" “{shorten(item.title)}”" if item.title else "")
                + f": {item.reason}"
                for item in self.skipped
            ]
            parts.append(
                f"Skipped {plural(len(self.skipped), 'conversation')}:\n"
                + "\n".join(bounded(lines))
            )
        return "\n".join(parts)


def bounded(lines: list[str]) -> list[str]:
    """The first ``MAX_PROBLEMS_SHOWN`` lines, then one that counts the rest."""
    shown = lines[:MAX_PROBLEMS_SHOWN]
    if len(lines) > MAX_PROBLEMS_SHOWN:
        shown.append(f"- … and {len(lines) - MAX_PROBLEMS_SHOWN:,} more")
    return shown


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def shorten(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters: fit for a message about a file."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
