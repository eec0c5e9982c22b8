"""A streaming reply whose websocket cost does not grow with the reply's length.

Reflex sends a dirty state var whole on every update, so streaming a reply through a
``draft: str`` var costs O(length²) bytes. Here the text so far lives in the browser, in a small
store (``window.__chatLive``), and the server only sends what is new:

* :func:`live_append` — ``rx.call_script`` that appends ``text`` at ``offset``;
* :func:`live_reset` — sets the whole text (a viewer that opens the conversation mid-reply, a
  reload, a reconnect, or an answer to ``on_gap``);
* :func:`live_clear` — forgets a reply (once it is saved and rendered from the history);
* :func:`live_markdown` — the component that shows a reply id's text, rendered with exactly the
  rules of :func:`chat_app.components.markdown.safe_markdown` (same component).

Offsets count Unicode code points, i.e. Python's ``len()`` of the text sent so far.
A chunk whose offset is below the length the browser holds is a duplicate and is ignored; one
whose offset is past it is a gap: the chunk is dropped, the entry is marked stale and, if
``live_markdown`` was given ``on_gap``, that event is called once with the reply id so the server
can answer with ``live_reset``. ``live_reset`` clears the stale mark.

Every value in the generated script is JSON-encoded (plus ``<``, U+2028/U+2029 and lone
surrogates escaped), so no text can leave its string literal.

The store and the hook are defined as module code of the component (no asset file, no npm
package): it exists once a page containing ``live_markdown`` has loaded. ``live_*`` scripts use
``window.__chatLive?.``, so on a page without the component they do nothing; a component that
mounts late sees the next append as a gap and asks for a reset through ``on_gap``.

``on_gap`` receives a reply id from the browser: its handler must check that this user may
read that reply before answering with its text.

Usage from a state (docs/notes/live-streaming.md has the full snippet)::

    class StreamState(rx.State):
        reply_id: str = ""

        @rx.event(background=True)
        async def follow(self):
            async with self:
                reply_id = self.reply_id
            first = True
            async for update in hub.follow(reply_id, offset=0):   # coalesced, ~12 updates/s
                if first:   # everything so far: reload, second tab, late join
                    yield live_reset(reply_id, update.text)
                    first = False
                elif update.text:
                    yield live_append(reply_id, update.offset, update.text)

    live_markdown(StreamState.reply_id, on_gap=StreamState.resync_live)
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.components.component import Component, field
from reflex_base.event import EventHandler, passthrough_event_spec
from reflex_base.utils.imports import ImportDict, ImportVar
from reflex_base.vars.base import Var, VarData

from chat_app.components.markdown import MARKDOWN_CSS, safe_markdown_root
from chat_app.state.live_events import (
    js_string,
    live_append,
    live_append_js,
    live_clear,
    live_clear_js,
    live_reset,
    live_reset_js,
)

# --------------------------------------------------------------------------------------------
# Browser side
# --------------------------------------------------------------------------------------------

# The store. Plain JS with no imports, so tests can run it under node. Notifications are
# coalesced to one per animation frame (a burst of appends renders once; a hidden tab renders
# when it is shown again).
STORE_JS = r"""
if (typeof window !== "undefined" && !window.__chatLive) {
  window.__chatLive = (() => {
    const entries = new Map();
    const subs = new Map();
    const pending = new Set();
    let scheduled = false;
    const EMPTY = Object.freeze({ text: "", len: 0, stale: false });
    const cpLen = (s) => { let n = 0; for (const _ of s) n++; return n; };
    const flush = () => {
      scheduled = false;
      const ids = [...pending];
      pending.clear();
      for (const id of ids) {
        const s = subs.get(id);
        if (s) for (const f of [...s]) f();
      }
    };
    const notify = (id) => {
      pending.add(id);
      if (!scheduled) {
        scheduled = true;
        const raf = typeof window.requestAnimationFrame === "function"
          && typeof document !== "undefined" && document.visibilityState !== "hidden";
        if (raf) window.requestAnimationFrame(flush); else setTimeout(flush, 0);
      }
    };
    const num = (x) => (typeof x === "number" && Number.isFinite(x) ? x : NaN);
    return {
      // Returns 1 appended, 0 duplicate (ignored), -1 gap (dropped, entry marked stale).
      append(id, offset, text) {
        id = String(id); text = String(text); offset = num(offset);
        const e = entries.get(id) || EMPTY;
        if (!(offset >= e.len)) return 0;
        if (offset > e.len) {
          if (!e.stale) { entries.set(id, { ...e, stale: true }); notify(id); }
          return -1;
        }
        if (!text) return 1;
        entries.set(id, { text: e.text + text, len: e.len + cpLen(text), stale: e.stale });
        notify(id);
        return 1;
      },
      reset(id, text) {
        id = String(id); text = String(text);
        entries.set(id, { text, len: cpLen(text), stale: false });
        notify(id);
      },
      clear(id) { id = String(id); entries.delete(id); notify(id); },
      get(id) { return entries.get(String(id)) || EMPTY; },
      subscribe(id, f) {
        id = String(id);
        let s = subs.get(id);
        if (!s) subs.set(id, (s = new Set()));
        s.add(f);
        return () => { s.delete(f); if (!s.size) subs.delete(id); };
      },
    };
  })();
}
"""

# React glue (module code of the compiled component; needs the react imports below).
HOOK_JS = r"""
const __chatLiveNoop = () => () => {};
function useChatLive(id) {
  const store = typeof window === "undefined" ? null : window.__chatLive;
  const key = String(id ?? "");
  const subscribe = useCallback(
    (f) => (store ? store.subscribe(key, f) : __chatLiveNoop()), [store, key]);
  const text = useSyncExternalStore(
    subscribe, () => (store ? store.get(key).text : ""), () => "");
  const stale = useSyncExternalStore(
    subscribe, () => (store ? store.get(key).stale : false), () => false);
  return [text, stale];
}
function ChatLiveGap({ replyId, onGap }) {
  const [, stale] = useChatLive(replyId);
  useEffect(() => {
    if (stale && typeof onGap === "function") onGap(String(replyId ?? ""));
  }, [stale, replyId]);
  return null;
}
"""

_REACT_IMPORTS: ImportDict = {
    "react": [
        ImportVar(tag="useCallback"),
        ImportVar(tag="useEffect"),
        ImportVar(tag="useSyncExternalStore"),
    ]
}


class _LiveRuntime(rx.Fragment):
    """Renders nothing; carries the store and the hook into the compiled module."""

    def add_custom_code(self) -> list[str]:
        return [STORE_JS, HOOK_JS]

    def add_imports(self) -> ImportDict:
        return _REACT_IMPORTS


class _LiveGap(Component):
    """Calls ``on_gap(reply_id)`` once each time the reply's entry becomes stale."""

    tag = "ChatLiveGap"

    reply_id: Var[str] = field(doc="The reply id to watch.")

    on_gap: EventHandler[passthrough_event_spec(str)] = field(  # type: ignore[valid-type,type-arg]
        doc="Called with the reply id when a chunk arrived past the end (a gap)."
    )

    def add_custom_code(self) -> list[str]:
        return [STORE_JS, HOOK_JS]

    def add_imports(self) -> ImportDict:
        return _REACT_IMPORTS


@rx.memo
def chat_live_markdown(reply_id: rx.Var[str]) -> rx.Component:
    """A React component (``ChatLiveMarkdown``): the store's text for ``reply_id``, rendered safe.

    Args:
        reply_id: The reply id (a prop of the compiled component).

    Returns:
        The component body.
    """
    text: Var[str] = Var(
        _js_expr="chatLiveText",
        _var_type=str,
        _var_data=VarData(
            hooks={
                f"const [chatLiveText] = useChatLive({reply_id!s});": (
                    reply_id._get_all_var_data()
                ),
            },
        ),
    )
    return rx.fragment(_LiveRuntime.create(), safe_markdown_root(text))


def live_markdown(
    reply_id: Var[str] | str,
    *,
    on_gap: Any = None,
    **props: Any,
) -> Component:
    """Show the streaming text of ``reply_id`` (kept in the browser), rendered like safe_markdown.

    Args:
        reply_id: The reply id, a ``str`` or a string ``rx.Var`` (e.g. a state var or a
            ``rx.foreach`` item field).
        on_gap: Optional event handler taking the reply id (``def resync(self, reply_id: str)``),
            called when a chunk arrived past the end of what this tab holds (missed chunks,
            e.g. after a reconnect); it should ``return live_reset(reply_id, full_text)``.
        **props: Style props for the wrapping ``div``.

    Returns:
        The component.
    """
    body = chat_live_markdown(reply_id=reply_id)
    children: list[Component] = [body]
    if on_gap is not None:
        children.append(_LiveGap.create(reply_id=reply_id, on_gap=on_gap))
    css = {**MARKDOWN_CSS, **props.pop("style", {})}
    return rx.el.div(*children, style=css, **props)


__all__ = [
    "HOOK_JS",
    "STORE_JS",
    "chat_live_markdown",
    "js_string",
    "live_append",
    "live_append_js",
    "live_clear",
    "live_clear_js",
    "live_markdown",
    "live_reset",
    "live_reset_js",
]
