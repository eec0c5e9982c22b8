"""The input rule for the websocket: every event payload is made storable before any handler.

A browser can put a lone surrogate in a string (a broken paste, a script), and JSON carries it
as ``"\\ud800"``. Once such a string sits in a state var, every update of that state fails to
encode and the tab can never hydrate again, not even after a reload with the same tab token.
Handling it here, where Reflex hands each decoded event to the app's middleware, covers every
handler (background ones included, ``setvar`` too) instead of relying on each to remember:
no state var can receive an unencodable string from the browser. The services apply the same
rule (``text_rules.user_text``) for the HTTP API and for anything a handler builds itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reflex.middleware import Middleware

from chat_app.services.text_rules import storable

if TYPE_CHECKING:
    from reflex.app import App
    from reflex.state import BaseState, StateUpdate
    from reflex_base.event import Event


def make_storable(payload: dict[str, Any]) -> None:
    """Replace NUL and lone surrogates (U+FFFD) in every string of ``payload``, keys included.

    In place (``Event`` is frozen; its payload dict is not) and iterative: the JSON decoder
    allows nesting close to the interpreter's recursion limit.
    """
    stack: list[Any] = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if isinstance(key, str) and (clean_key := storable(key)) != key:
                    del node[key]
                    key = clean_key
                node[key] = storable(value) if isinstance(value, str) else value
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str):
                    node[index] = storable(value)
                elif isinstance(value, dict | list):
                    stack.append(value)


class StorablePayloads(Middleware):
    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        make_storable(event.payload)
        return None


# JSON.stringify writes a control character or a lone surrogate as a 6-byte escape (\u001f);
# everything else takes at most 4 bytes of UTF-8 per code point.
WORST_BYTES_PER_CHAR = 6
# The rest of an event's frame: its name, the page's router data, socket.io framing.
FRAME_OVERHEAD_BYTES = 64 * 1024


def websocket_frame_limit(max_message_chars: int, current: int) -> int:
    """The largest websocket frame the server must accept: any message within the limit, in
    the worst JSON escaping, fits, so the service (not a closed socket) answers an over-long
    one with its message. Never below what Reflex was configured with."""
    return max(current, max_message_chars * WORST_BYTES_PER_CHAR + FRAME_OVERHEAD_BYTES)
