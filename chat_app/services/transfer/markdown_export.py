"""A readable Markdown export, with the CommonMark rules that keep one message from
swallowing the rest of the document."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime

from chat_app.models.message import Message, MessageStatus, Role
from chat_app.repositories.imports import ConversationWithMessages
from chat_app.services.transfer.store import load_for_export

_RULE = "\n\n---\n\n"
_ROLE_HEADINGS = {Role.USER: "User", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
# CommonMark HTML blocks that run until an end marker rather than a blank line (kinds 1-5).
_HTML_BLOCKS: tuple[tuple[re.Pattern[str], re.Pattern[str], str | None], ...] = (
    (
        re.compile(r"^ {0,3}<(script|pre|style|textarea)(?=[\s>]|$)", re.IGNORECASE),
        re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
        None,  # closed with the opening tag's own end tag
    ),
    (re.compile(r"^ {0,3}<!--"), re.compile(r"-->"), "-->"),
    (re.compile(r"^ {0,3}<\?"), re.compile(r"\?>"), "?>"),
    (re.compile(r"^ {0,3}<!\[CDATA\["), re.compile(r"\]\]>"), "]]>"),
    (re.compile(r"^ {0,3}<![A-Za-z]"), re.compile(r">"), ">"),
)


async def export_markdown(user_id: uuid.UUID, conversation_id: object | None = None) -> str:
    """A readable document; not meant for re-import (use the JSON export for that).

    Layout: each conversation is a ``#`` heading (its title) with a metadata list, then the
    system prompt and every message under ``##`` headings ("System prompt", "User",
    "Assistant", "System"), separated by horizontal rules. Content is the user's and the
    model's own Markdown, copied verbatim; the one change is that a code fence or raw-HTML block
    a message leaves open (``` or <!-- or <script> ...) is closed at the end of that message, so
    it cannot swallow the rest of the document.
    """
    found = await load_for_export(user_id, conversation_id)
    return await asyncio.to_thread(_markdown_document, found)


def _markdown_document(found: list[ConversationWithMessages]) -> str:
    if not found:
        return "# Chat export\n\n*(no conversations)*\n"
    return _RULE.join(_conversation_markdown(item) for item in found) + "\n"


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _conversation_markdown(item: ConversationWithMessages) -> str:
    conversation = item.conversation
    header = [f"# {conversation.title}", ""]
    if conversation.model:
        header.append(f"- Model: {conversation.model}")
    header.append(f"- Created: {_when(conversation.created_at)}")
    header.append(f"- Updated: {_when(conversation.updated_at)}")
    sections = ["\n".join(header)]
    if conversation.system_prompt.strip():
        sections.append("## System prompt\n\n" + close_open_blocks(conversation.system_prompt))
    for message in item.messages:
        sections.append(_message_markdown(message))
    if not item.messages:
        sections.append("*(no messages)*")
    return _RULE.join(sections)


def _message_markdown(message: Message) -> str:
    heading = _ROLE_HEADINGS.get(message.role, message.role.capitalize())  # type: ignore[call-overload]
    details = [_when(message.created_at)]
    if message.model:
        details.append(message.model)
    if message.status != MessageStatus.COMPLETE:
        details.append(message.status)
    lines = [f"## {heading}", "", "*" + " · ".join(details) + "*", ""]
    lines.append(close_open_blocks(message.content) if message.content else "*(empty)*")
    if message.error_detail:
        lines.append("")
        lines.extend("> " + line for line in f"Error: {message.error_detail}".splitlines())
    return "\n".join(lines)


def close_open_blocks(text: str) -> str:
    """``text`` plus closers for a fenced code block or raw-HTML block it leaves open."""
    fence: tuple[str, int] | None = None
    html_end: re.Pattern[str] | None = None
    html_closer = ""
    for raw_line in text.split("\n"):
        line = raw_line.rstrip("\r")
        if fence is not None:
            close = _FENCE_CLOSE.match(line)
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= fence[1]:
                fence = None
            continue
        if html_end is not None:
            if html_end.search(line):
                html_end = None
            continue
        opening = _FENCE_OPEN.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = (opening.group(1)[0], len(opening.group(1)))
            continue
        for start, end, closer in _HTML_BLOCKS:
            started = start.match(line)
            if started:
                if not end.search(line, started.end()):
                    html_end = end
                    html_closer = closer or f"</{started.group(1).lower()}>"
                break
    if fence is not None:
        return f"{text}\n{fence[0] * fence[1]}"
    if html_end is not None:
        return f"{text}\n{html_closer}"
    return text
