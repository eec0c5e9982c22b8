"""This visit's messages, kept in the browser and appended one at a time.

The server side is state/visit_events.py (why: a list var is re-sent whole at every change). Here:
the store (``window.__chatVisit``), a hook, and :func:`visit_messages`, a list Var whose items
have MessageView's fields, for ``rx.foreach``. The store holds one visit at a time: an event for
another visit key starts it afresh. An ``add`` past the end marks the visit stale; ``visit_gap``
then calls its ``on_gap`` with the key once, and the server answers with ``visit_reset``.
"""

from __future__ import annotations

from typing import Any

from reflex_base.components.component import Component, field
from reflex_base.event import EventHandler, passthrough_event_spec
from reflex_base.utils.imports import ImportDict, ImportVar
from reflex_base.vars.base import Var, VarData

# Plain JS with no imports (tests run it under node). Messages arrive as JSON text.
STORE_JS = r"""
if (typeof window !== "undefined" && !window.__chatVisit) {
  window.__chatVisit = (() => {
    const EMPTY = Object.freeze([]);
    let key = "";
    let items = EMPTY;
    let stale = false;
    const subs = new Set();
    const notify = () => { for (const f of [...subs]) f(); };
    const parse = (x) => {
      try { return typeof x === "string" ? JSON.parse(x) : x; } catch (e) { return null; }
    };
    const use = (k) => { k = String(k); if (k !== key) { key = k; items = EMPTY; stale = false; } };
    const num = (x) => (typeof x === "number" && Number.isFinite(x) ? x : NaN);
    return {
      // Returns 1 added, 0 duplicate (ignored), -1 gap (dropped, visit marked stale).
      add(k, index, message) {
        use(k); index = num(index);
        if (!(index >= items.length)) return 0;
        if (index > items.length) { if (!stale) { stale = true; notify(); } return -1; }
        const m = parse(message);
        if (!m || typeof m !== "object") return 0;
        items = [...items, m];
        notify();
        return 1;
      },
      truncate(k, count) {
        use(k); count = num(count);
        if (count >= 0 && count < items.length) { items = items.slice(0, count); notify(); }
      },
      reset(k, list) {
        use(k);
        const parsed = parse(list);
        items = Array.isArray(parsed) ? parsed.filter((m) => m && typeof m === "object") : EMPTY;
        stale = false;
        notify();
      },
      get(k) { return String(k) === key ? items : EMPTY; },
      stale(k) { return String(k) === key && stale; },
      subscribe(f) { subs.add(f); return () => { subs.delete(f); }; },
    };
  })();
}
"""

HOOK_JS = r"""
const __chatVisitEmpty = Object.freeze([]);
const __chatVisitNoop = () => () => {};
function useChatVisit(key) {
  const store = typeof window === "undefined" ? null : window.__chatVisit;
  const k = String(key ?? "");
  const subscribe = useCallback((f) => (store ? store.subscribe(f) : __chatVisitNoop()), [store]);
  const items = useSyncExternalStore(
    subscribe, () => (store ? store.get(k) : __chatVisitEmpty), () => __chatVisitEmpty);
  const stale = useSyncExternalStore(
    subscribe, () => (store ? store.stale(k) : false), () => false);
  return [items, stale];
}
function ChatVisitGap({ visitKey, onGap }) {
  const [, stale] = useChatVisit(visitKey);
  useEffect(() => {
    if (stale && typeof onGap === "function") onGap(String(visitKey ?? ""));
  }, [stale, visitKey]);
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


class _VisitGap(Component):
    """Calls ``on_gap(visit_key)`` once each time the visit becomes stale; carries the store."""

    tag = "ChatVisitGap"

    visit_key: Var[str] = field(doc="The visit to watch.")

    on_gap: EventHandler[passthrough_event_spec(str)] = field(  # type: ignore[valid-type,type-arg]
        doc="Called with the visit key when a message arrived past the end (a gap)."
    )

    def add_custom_code(self) -> list[str]:
        return [STORE_JS, HOOK_JS]

    def add_imports(self) -> ImportDict:
        return _REACT_IMPORTS


def visit_messages(visit_key: Var[str] | str, item_type: Any) -> Var:
    """The visit's messages as a list Var of ``item_type`` (read from the store by a hook)."""
    key: Var[str] = visit_key if isinstance(visit_key, Var) else Var.create(visit_key)
    return Var(
        _js_expr="chatVisitMessages",
        _var_type=list[item_type],  # type: ignore[valid-type]
        _var_data=VarData(
            hooks={
                f"const [chatVisitMessages] = useChatVisit({key!s});": (key._get_all_var_data()),
            },
            imports=_REACT_IMPORTS,
        ),
    )


def visit_gap(visit_key: Var[str] | str, on_gap: Any) -> Component:
    return _VisitGap.create(visit_key=visit_key, on_gap=on_gap)
