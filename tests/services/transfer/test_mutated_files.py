"""Randomly mutated files: a report or InvalidInput, never a crash, and the row counts agree
with the report."""

from __future__ import annotations

import copy
import json
import random

from chat_app.services import transfer
from chat_app.services.errors import InvalidInput
from tests.services.transfer.samples import (
    chatgpt_sample,
    row_counts,
)

ODD_VALUES = [
    None, True, -1, 2**31, 2**70, 1e308, "", "x" * 300, "\x00", "\ud800", "streaming", "tool",
    "python", [], {}, [[1]], "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z",
    -62135596800.0, 253402300799.0, {"content_type": "image_asset_pointer"}, "a-3", "u-1",
]  # fmt: skip


def _mutated(document: object, rng: random.Random) -> object:
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 4)):
        paths: list[tuple] = []
        stack: list[tuple[tuple, object]] = [((), document)]
        while stack:
            path, node = stack.pop()
            paths.append(path)
            if isinstance(node, dict):
                stack.extend(((*path, key), child) for key, child in node.items())
            elif isinstance(node, list):
                stack.extend(((*path, index), child) for index, child in enumerate(node))
        path = rng.choice(paths[1:])
        parent = document
        for key in path[:-1]:
            parent = parent[key]  # type: ignore[index]
        if isinstance(parent, dict) and rng.random() < 0.15:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))  # type: ignore[index]
    return document


async def test_mutated_files_never_crash(user_id, seeded):
    rng = random.Random(20240501)
    chatgpt_file = json.loads(chatgpt_sample())
    export_file = await transfer.export_json(user_id, seeded[0])
    for _ in range(40):
        for importer, document in (
            (transfer.import_chatgpt, chatgpt_file),
            (transfer.import_json, export_file),
        ):
            before = await row_counts()
            try:
                report = await importer(user_id, json.dumps(_mutated(document, rng)))
            except InvalidInput as refused:
                assert await row_counts() == before
                refused.message.encode()  # displayable: no unpaired surrogates
                continue
            conversations, messages = await row_counts()
            assert conversations == before[0] + len(report.imported)
            assert messages == before[1] + report.message_count
            report.summary().encode()
    # Everything that was imported reads back and exports.
    json.dumps(await transfer.export_json(user_id))
    await transfer.export_markdown(user_id)
