"""Events that drive the browser's store of this visit's messages (components/visit_store.py).

Reflex re-sends a changed list var whole, so a ``recent: list`` var cost the whole list again at
every send and every commit: after 50 exchanges in one visit, most of a reply's bytes. Instead the
messages written during a visit are *appended* in the browser, one ``rx.call_script`` each, at an
index (a duplicate is ignored, a gap is asked back through ``on_gap``): a message crosses the socket
once, whatever the number before it.

``visit`` is the key of one opening of a conversation in one tab (``ConversationState.visit_key``);
the store forgets everything held for another key. Every value is JSON inside a JS string literal
built by :func:`js_string`, so no text can leave it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from reflex_base.event import EventSpec

from chat_app.state.live_events import _script, js_string


def _json(value: Any) -> str:
    return js_string(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _index(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"index must be a non-negative int, got {value!r}"
        raise ValueError(msg)
    return value


def visit_add_js(visit: str, index: int, message: Any) -> str:
    """The script sent by :func:`visit_add` (exposed for tests)."""
    payload = _json(dataclasses.asdict(message))
    return f"window.__chatVisit?.add({js_string(visit)},{_index(index)},{payload})"


def visit_truncate_js(visit: str, count: int) -> str:
    return f"window.__chatVisit?.truncate({js_string(visit)},{_index(count)})"


def visit_reset_js(visit: str, messages: list[Any]) -> str:
    payload = _json([dataclasses.asdict(m) for m in messages])
    return f"window.__chatVisit?.reset({js_string(visit)},{payload})"


def visit_add(visit: str, index: int, message: Any) -> EventSpec:
    """Show ``message`` (a MessageView) as the visit's message number ``index``."""
    return _script(visit_add_js(visit, index, message))


def visit_truncate(visit: str, count: int) -> EventSpec:
    """Keep only the visit's first ``count`` messages (regenerate and edit cut the tail)."""
    return _script(visit_truncate_js(visit, count))


def visit_reset(visit: str, messages: list[Any]) -> EventSpec:
    """All of the visit's messages at once (the answer to a gap)."""
    return _script(visit_reset_js(visit, messages))
