"""Importing ChatGPT's ``conversations.json``: each conversation planned on its own, so a
malformed one is skipped with its reason while the others are imported."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat_app.models.conversation import DEFAULT_TITLE, MODEL_MAX, clean_title
from chat_app.models.message import Role
from chat_app.repositories.imports import NewConversation, NewMessage
from chat_app.services.errors import InvalidInput
from chat_app.services.text_rules import storable, title_from_text
from chat_app.services.transfer.chatgpt_messages import (
    Omitted,
    Skip,
    message_from_node,
    unix_time,
)
from chat_app.services.transfer.import_rules import strictly_increasing
from chat_app.services.transfer.json_export import EXPORT_FORMAT
from chat_app.services.transfer.report import ImportedItem, ImportReport, SkippedItem, shorten
from chat_app.services.transfer.store import write
from chat_app.services.transfer.untrusted_json import check_counts, load_json


@dataclass
class _Planned:
    conversation: NewConversation
    omitted: Counter[str]


async def import_chatgpt(user_id: uuid.UUID, raw: bytes | str) -> ImportReport:
    """Import ChatGPT's ``conversations.json`` (from its data export) as new conversations.

    Each conversation keeps its title, timestamps and the messages of its current branch (the
    one last shown in ChatGPT; regenerated alternatives are dropped). Tool messages, the
    model's tool calls, hidden or empty system messages, hidden messages (custom instructions)
    and content this app cannot show (e.g. "thoughts") are left out and counted in the report.
    String parts are joined with blank lines; images and other attachments become placeholders
    such as "[image omitted]"; visible "code" content is kept inside a code fence. Non-empty
    visible system messages are kept as system messages. Over-long titles are shortened to fit
    (ChatGPT's limits are not ours); an over-long message skips its conversation.

    A malformed conversation is skipped with its reason; the others are written together in
    one transaction. A file that is not a list of conversations is refused whole.
    """
    planned, skipped = await asyncio.to_thread(_plan_chatgpt_import, raw)
    ids = await write(user_id, [p.conversation for p in planned])
    report = ImportReport(skipped=skipped)
    omitted_total: Counter[str] = Counter()
    for plan, cid in zip(planned, ids, strict=True):
        omitted_total.update(plan.omitted)
        report.imported.append(
            ImportedItem(
                plan.conversation.title,
                len(plan.conversation.messages),
                cid,
                sum(plan.omitted.values()),
            )
        )
    report.omitted_messages = dict(omitted_total)
    return report


def _plan_chatgpt_import(raw: object) -> tuple[list[_Planned], list[SkippedItem]]:
    """Parse the file and convert each conversation (CPU-bound: runs in a worker thread)."""
    data = load_json(raw)
    if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
        raise InvalidInput("This is a chat-app export: import it with the chat-app JSON import.")
    if not isinstance(data, list) or (data and not any(_looks_like_chatgpt(c) for c in data)):
        raise InvalidInput(
            "This is not a ChatGPT conversations.json (expected a list of conversations, "
            'each with a "mapping" of messages).'
        )
    nodes = sum(
        len(c["mapping"])
        for c in data
        if isinstance(c, dict) and isinstance(c.get("mapping"), dict)
    )
    check_counts(len(data), nodes)

    planned: list[_Planned] = []
    skipped: list[SkippedItem] = []
    for index, item in enumerate(data):
        try:
            planned.append(_from_chatgpt(item))
        except Skip as skip:
            title = item.get("title") if isinstance(item, dict) else None
            title = clean_title(storable(title)) if isinstance(title, str) else None
            skipped.append(SkippedItem(index, title or None, skip.reason))
    return planned, skipped


def _looks_like_chatgpt(item: object) -> bool:
    return isinstance(item, dict) and ("mapping" in item or "current_node" in item)


def _from_chatgpt(item: object) -> _Planned:
    """One conversation of the file, or ``Skip`` with the reason it cannot be imported."""
    if not isinstance(item, dict):
        raise Skip("it is not a conversation object")
    raw_title = item.get("title")
    if raw_title is not None and not isinstance(raw_title, str):
        raise Skip("its title is not text")
    branch = _branch(item)
    conversation_time = _conversation_time(item, branch)
    omitted: Counter[str] = Counter()
    messages: list[NewMessage] = []
    # Messages without a time take their predecessor's (then nudged 1 µs later).
    previous_time = conversation_time
    for node in branch:
        found = message_from_node(node, number=len(messages) + 1, fallback_time=previous_time)
        if isinstance(found, Omitted):
            omitted[found.reason] += 1
        elif found is not None:
            messages.append(found)
            previous_time = found.created_at
    if not messages:
        raise Skip("it has no visible messages on its current branch")
    return _Planned(
        _conversation(item, raw_title or "", strictly_increasing(messages), conversation_time),
        omitted,
    )


def _branch(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes from the root to ``current_node``: the branch the user last looked at."""
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise Skip("it has no message mapping")
    current = item.get("current_node")
    if not isinstance(current, str) or current not in mapping:
        raise Skip(f"current_node {shorten(repr(current), 50)} is not a node of its mapping")
    path: list[dict[str, Any]] = []
    seen: set[str] = set()
    node_id: str = current
    while True:
        if node_id in seen:
            raise Skip("its mapping has a cycle")
        seen.add(node_id)
        node = mapping[node_id]
        if not isinstance(node, dict):
            raise Skip(f"node {shorten(node_id, 50)!r} is not an object")
        path.append(node)
        parent = node.get("parent")
        if parent is None:
            break
        if not isinstance(parent, str) or parent not in mapping:
            raise Skip(f"node {shorten(node_id, 50)!r} has a parent that is not in the mapping")
        node_id = parent
    path.reverse()
    return path


def _conversation_time(item: dict[str, Any], branch: list[dict[str, Any]]) -> datetime | None:
    """The conversation's own time, else the first time found on the branch."""
    return unix_time(item.get("create_time")) or next(
        (
            stamp
            for node in branch
            if isinstance(node.get("message"), dict)
            and (stamp := unix_time(node["message"].get("create_time")))
        ),
        None,
    )


def _conversation(
    item: dict[str, Any],
    raw_title: str,
    messages: list[NewMessage],
    conversation_time: datetime | None,
) -> NewConversation:
    """The conversation row around its (non-empty, ordered) messages."""
    created_at = conversation_time or messages[0].created_at
    updated_at = unix_time(item.get("update_time")) or max(created_at, messages[-1].created_at)
    default_model = item.get("default_model_slug")
    if not isinstance(default_model, str):
        default_model = next((m.model for m in reversed(messages) if m.model), "")
    first_user = next((m.content for m in messages if m.role == Role.USER), "")
    title = clean_title(storable(raw_title)) or title_from_text(first_user) or DEFAULT_TITLE
    return NewConversation(
        title=clean_title(title) or DEFAULT_TITLE,
        model=storable(default_model)[:MODEL_MAX],
        system_prompt="",
        created_at=created_at,
        updated_at=updated_at,
        messages=messages,
    )
