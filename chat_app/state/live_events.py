"""Events that drive the browser's live-reply store (see components/live_markdown.py).

They live on the state side because states send them: each is an ``rx.call_script`` that
appends new text at an offset, resets the whole text, or forgets a reply. Every value is encoded
by :func:`js_string`, so no text can leave its string literal.
"""

from __future__ import annotations

import json
import re

import reflex as rx
from reflex_base.event import EventSpec
from reflex_base.vars.base import Var

_JS_ESCAPES = {0x2028: "\\u2028", 0x2029: "\\u2029", ord("<"): "\\u003c"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def js_string(value: str) -> str:
    """``value`` as a JS string literal that nothing can break out of.

    JSON string syntax (quotes, backslashes, control characters escaped) with, in addition,
    U+2028/U+2029 (line terminators in older JS engines), ``<`` (no ``</script>``, ``<!--`` or
    ``<reflex.Var>`` tag can appear) and lone surrogates (not encodable as UTF-8) escaped.
    Other non-ASCII characters stay as they are (a ``\\uXXXX`` escape costs 6-7 bytes each).

    Args:
        value: Any string.

    Returns:
        The JS source of a string literal equal to ``value``.
    """
    if not isinstance(value, str):
        msg = f"expected str, got {type(value).__name__}"
        raise TypeError(msg)
    out = json.dumps(value, ensure_ascii=False).translate(_JS_ESCAPES)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", out)


def _offset(offset: int) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        msg = f"offset must be a non-negative int, got {offset!r}"
        raise ValueError(msg)
    return offset


def live_append_js(reply_id: str, offset: int, text: str) -> str:
    """The script sent by :func:`live_append` (exposed for tests).

    Returns:
        The JS source.
    """
    return f"window.__chatLive?.append({js_string(reply_id)},{_offset(offset)},{js_string(text)})"


def live_reset_js(reply_id: str, text: str) -> str:
    """The script sent by :func:`live_reset` (exposed for tests).

    Returns:
        The JS source.
    """
    return f"window.__chatLive?.reset({js_string(reply_id)},{js_string(text)})"


def live_clear_js(reply_id: str) -> str:
    """The script sent by :func:`live_clear` (exposed for tests).

    Returns:
        The JS source.
    """
    return f"window.__chatLive?.clear({js_string(reply_id)})"


def _script(code: str) -> EventSpec:
    # A Var (not a str) so rx.call_script sends the code as-is; js_string() already made sure
    # no "<reflex.Var>" tag can appear in it.
    return rx.call_script(Var(_js_expr=code, _var_type=str))


def live_append(reply_id: str, offset: int, text: str) -> EventSpec:
    """Append ``text`` at code-point ``offset`` to the reply's text in the browser.

    Args:
        reply_id: The reply id shown by ``live_markdown``.
        offset: ``len()`` of the text sent before this chunk (Python code points).
        text: The new text.

    Returns:
        An event to ``yield`` (or return) from a handler.
    """
    return _script(live_append_js(reply_id, offset, text))


def live_reset(reply_id: str, text: str) -> EventSpec:
    """Set the reply's whole text in the browser (and clear its stale mark).

    Args:
        reply_id: The reply id.
        text: The full text so far.

    Returns:
        An event to ``yield`` (or return) from a handler.
    """
    return _script(live_reset_js(reply_id, text))


def live_clear(reply_id: str) -> EventSpec:
    """Forget the reply's text in the browser.

    Args:
        reply_id: The reply id.

    Returns:
        An event to ``yield`` (or return) from a handler.
    """
    return _script(live_clear_js(reply_id))
