"""The visit store (components/visit_store.py) and the scripts that feed it
(state/visit_events.py): each message of a visit crosses the socket once, hostile text cannot
leave its string literal, duplicates are ignored, a gap asks for a reset, another visit starts
afresh. The store runs under node with exactly the scripts the server sends."""

from __future__ import annotations

import json
import re

import pytest

from chat_app.components import visit_store
from chat_app.state.conversation import MessageView
from chat_app.state.visit_events import visit_add_js, visit_reset_js, visit_truncate_js
from tests.unit.test_markdown_components import HOSTILE_TEXTS, _node, needs_node


def view(i: int, content: str = "", role: str = "assistant") -> MessageView:
    return MessageView(id=f"m{i}", role=role, content=content or f"text {i}", meta="model · 5 ms")


def _run(calls: list[str], result: str) -> object:
    script = (
        "globalThis.window = globalThis;\n"
        + visit_store.STORE_JS
        + "\nconst S = window.__chatVisit;\nconst out = [];\n"
        + "\n".join(f"out.push({c});" for c in calls)
        + f"\nconsole.log(JSON.stringify({result}));"
    )
    return _node(script)


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_scripts_keep_every_value_inside_its_literal(text: str) -> None:
    code = visit_add_js(text, 3, view(1, text))
    for raw in ("\u2028", "\u2029", "<", "\n", "\r", "\x00"):
        assert raw not in code
    assert not re.search("[\ud800-\udfff]", code)
    code.encode("utf-8")


@needs_node
def test_hostile_messages_round_trip_exactly() -> None:
    messages = [view(i, text or "x") for i, text in enumerate(HOSTILE_TEXTS)]
    calls = [visit_add_js("v1", i, m) for i, m in enumerate(messages)]
    got = _run(calls, "{out, items: S.get('v1')}")
    assert got["out"] == [1] * len(messages)  # type: ignore[index]
    expected = [json.loads(json.dumps(m.__dict__)) for m in messages]
    assert got["items"] == expected  # type: ignore[index]


@needs_node
def test_duplicates_gaps_truncate_reset_and_another_visit() -> None:
    a, b, c = view(0), view(1), view(2)
    got = _run(
        [
            visit_add_js("v1", 0, a),
            visit_add_js("v1", 0, a),  # the same message twice (two watchers): ignored
            visit_add_js("v1", 1, b),
            visit_add_js("v1", 3, c),  # one missed: dropped, the visit is stale
            "S.stale('v1')",
            visit_reset_js("v1", [a, b, c]),  # the server's answer to the gap
            "S.stale('v1')",
            "S.get('v1').map((m) => m.id).join()",
            visit_truncate_js("v1", 1),  # regenerate / edit cut the tail
            "S.get('v1').map((m) => m.id).join()",
            visit_add_js("v2", 0, c),  # another opening: the old visit is gone
            "S.get('v1').length",
            "S.get('v2').map((m) => m.id).join()",
        ],
        "out",
    )
    assert got == [1, 0, 1, -1, True, None, False, "m0,m1,m2", None, "m0", 1, 0, "m2"]


def test_the_list_var_reads_the_store_through_its_hook() -> None:
    var = visit_store.visit_messages("visit-1", MessageView)
    hooks = var._get_all_var_data().hooks  # type: ignore[union-attr]
    assert any('useChatVisit("visit-1")' in h for h in hooks)
    code = str(visit_store.visit_gap("visit-1", on_gap=None))
    assert "ChatVisitGap" in code
