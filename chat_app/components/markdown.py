"""Inert markdown rendering for user and model text.

``rx.markdown`` turns on ``rehype-raw`` by default, so markdown containing ``<iframe srcdoc>``,
``<svg><script>`` or ``<style>`` is parsed as live HTML. ``safe_markdown`` renders the same
react-markdown pipeline with these rules, all enforced in the browser:

* no raw HTML: ``rehype-raw`` is never added. react-markdown then turns every raw HTML node
  into a text node, so ``<script>alert(1)</script>`` is shown to the reader as text;
* one URL policy (:data:`SAFE_URL_JS`) applied by react-markdown's ``urlTransform`` to every URL
  attribute and again by the link renderer: ``http:``, ``https:``, ``mailto:`` and scheme-less
  (relative) URLs pass; any other scheme (``javascript:``, ``data:``, ``vbscript:``, ``file:``,
  …, including entity-, case- and whitespace-obfuscated forms) becomes an empty string;
* links open with ``target="_blank" rel="noopener noreferrer nofollow"`` (in-page ``#`` links
  such as footnotes stay in the page); a refused link is an <a> without href, styled as text;
* images never load: ``![alt](url)`` renders as the inert text ``🖼 alt`` (``🖼 image`` when
  the alt text is empty) with the URL only in a ``title`` tooltip, so nothing is fetched;
* fenced code renders with ``rx.code_block`` (syntax highlighting + copy button), the fence's
  language (```` ```python ````) is passed through; inline code stays ``rx.code``;
* GitHub-flavoured markdown (tables, task lists, strikethrough, autolinks) stays on;
* math renders with KaTeX, ``trust`` off, and the commands that trust would unlock shown as inert
  text (:data:`KATEX_OPTIONS_JS`): ``\\href{url}{text}`` shows ``text``, ``\\url{url}`` the URL
  as monospace text, ``\\htmlClass/Id/Style/Data{…}{text}`` the text, ``\\includegraphics``
  ``[image: alt]``: never a link, an attribute or a fetch, and never a red error;
* nesting deeper than :data:`MAX_MARKDOWN_DEPTH` (quotes, lists, emphasis…) is flattened to plain
  text (:data:`FLATTEN_DEEP_JS`), so a few KB of ``>>>>…`` cannot crash the page; anything
  that still throws while rendering shows that one text as plain text (an error boundary).

The same pieces are reused by :mod:`chat_app.components.live_markdown`.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.components.component import Component, field
from reflex_base.vars.base import Var
from reflex_components_code.code import CodeBlock
from reflex_components_core.base.error_boundary import ErrorBoundary
from reflex_components_markdown.markdown import Markdown, Plugin

# The one URL policy, as a JS function expression. It runs in the browser for every URL that
# react-markdown emits (href, src, cite, …) and again for each link's href.
#
# The URL that reaches it is already entity-decoded by the markdown parser and is assigned to the
# DOM as a property (not parsed as HTML again). A browser only treats "xxx:" as a scheme when
# everything before the first ":" is scheme characters, so a URL with no ":" or with a "/", "?"
# or "#" before the first ":" is relative and harmless. Anything else must be exactly http, https
# or mailto (case-insensitive); whitespace or control characters in the scheme fail that test, so
# "java\tscript:", " javascript:", "\x01javascript:" are refused rather than normalised.
SAFE_URL_JS = (
    "((u) => {"
    ' const s = String(u == null ? "" : u).trim();'
    ' const c = s.indexOf(":");'
    " if (c === -1) return s;"
    " const p = s.search(/[/?#]/);"
    " if (p !== -1 && p < c) return s;"
    ' return /^(https?|mailto)$/i.test(s.slice(0, c)) ? s : "";'
    " })"
)

_SAFE_URL_FN = "__chatSafeUrl"
_SAFE_URL_CODE = f"const {_SAFE_URL_FN} = {SAFE_URL_JS};"
# react-markdown's urlTransform prop: the module-level function defined by add_custom_code.
_URL_TRANSFORM: Var[Any] = Var(_js_expr=_SAFE_URL_FN)

# Deeply nested markdown parses, but the stages after the parse (mdast -> hast, hast -> JSX,
# React's commit) recurse once per level: 5,000 ">" or 1,000 "- " on one line (a few KB a model
# can be talked into writing) overflowed the JS stack and took the whole conversation page down,
# on every reload. This remark plugin runs right after the parse and, without recursing itself,
# replaces whatever sits deeper than MAX_MARKDOWN_DEPTH with its text, as one plain paragraph
# (a list item, a table cell or bare text where the parent needs one).
MAX_MARKDOWN_DEPTH = 64
_FLATTEN_DEEP_FN = "__chatFlattenDeep"
FLATTEN_DEEP_JS = (
    f"const {_FLATTEN_DEEP_FN} = () => (tree) => {{"
    f" const MAX = {MAX_MARKDOWN_DEPTH};"
    ' const INLINE = new Set(["paragraph", "heading", "emphasis", "strong", "delete", "link",'
    ' "linkReference", "tableCell"]);'
    " const textOf = (root) => {"
    "  const out = []; const todo = [root];"
    "  while (todo.length) {"
    "   const n = todo.pop();"
    '   if (typeof n === "string") { out.push(n); continue; }'
    '   if (typeof n.value === "string") out.push(n.value);'
    '   else if (typeof n.alt === "string") out.push(n.alt);'
    "   const kids = Array.isArray(n.children) ? n.children : [];"
    '   for (let i = kids.length - 1; i >= 0; i--) { todo.push(kids[i]); todo.push(" "); }'
    "  }"
    '  return out.join("").replace(/\\s+/g, " ").trim();'
    " };"
    " const flat = (node) => {"
    '  const text = { type: "text", value: textOf(node) };'
    "  if (INLINE.has(node.type)) return [text];"
    '  const para = { type: "paragraph", children: [text] };'
    '  if (node.type === "list") return [{ type: "listItem", spread: false, children: [para] }];'
    '  if (node.type === "table" || node.type === "tableRow") {'
    '   const cell = { type: "tableCell", children: [text] };'
    '   return node.type === "table" ? [{ type: "tableRow", children: [cell] }] : [cell];'
    "  }"
    "  return [para];"
    " };"
    " const todo = [[tree, 0]];"
    " while (todo.length) {"
    "  const [node, depth] = todo.pop();"
    "  if (!Array.isArray(node.children) || !node.children.length) continue;"
    "  if (depth >= MAX) { node.children = flat(node); continue; }"
    "  for (const child of node.children) todo.push([child, depth + 1]);"
    " }"
    " };"
)
_FLATTEN_DEEP: Var[Any] = Var(_js_expr=_FLATTEN_DEEP_FN)

# rehype-katex's options. KaTeX's `trust` stays false, so it never makes a link, an image or an
# HTML attribute; but with trust off it renders \href{url}{text} (and \url, \htmlClass, \htmlId,
# \htmlStyle, \htmlData, \includegraphics) as the command name in red and drops the text. Macros
# are expanded before KaTeX looks a command up, so these ones replace the trust-gated commands
# with their readable part: \href and \html* keep their text argument, \url shows the URL as
# monospace text, \includegraphics shows "[image]" or "[image: alt]".
# * A URL argument is read the way KaTeX reads one (% and ~ are plain characters there), so
#   "\href{https://x/%20}{t}" does not turn the rest of the line into a TeX comment.
# * \url's text is escaped character by character, so nothing in a URL is read as TeX.
# * KaTeX writes \gdef / \global definitions into the `macros` object it is given, and
#   rehype-katex passes the same options to every formula: a getter hands each formula a fresh
#   copy, so one message's \gdef\href cannot change how any other formula renders.
KATEX_OPTIONS_FN = "__chatKatexOptions"
KATEX_OPTIONS_JS = rf"""const {KATEX_OPTIONS_FN} = (() => {{
 const rawArg = (g) => {{
  g.lexer.setCatcode("%", 13); g.lexer.setCatcode("~", 12);
  try {{ return g.consumeArg().tokens.reverse().map((t) => t.text).join(""); }}
  finally {{ g.lexer.setCatcode("%", 14); g.lexer.setCatcode("~", 13); }}
 }};
 const ESCAPES = {{ "\\": "\\textbackslash{{}}", "{{": "\\{{", "}}": "\\}}", "#": "\\#", "$": "\\$",
  "%": "\\%", "&": "\\&", "_": "\\_", "^": "\\textasciicircum{{}}", "~": "\\textasciitilde{{}}" }};
 const asText = (s) => s.replace(/\\([#$%&~_^{{}}])/g, "$1")
  .replace(/[\\{{}}#$%&_^~]/g, (c) => ESCAPES[c]);
 const textOnly = (g) => {{ rawArg(g); return "{{#1}}"; }};
 const image = (g) => {{
  g.consumeSpaces();
  let alt = "";
  if (g.future().text === "[") {{
   g.popToken();
   const opts = g.consumeArg(["]"]).tokens.reverse().map((t) => t.text).join("");
   const m = /(?:^|,)\s*alt\s*=([^,]*)/.exec(opts);
   if (m) alt = m[1].trim();
  }}
  rawArg(g);
  return "\\text{{[" + (alt ? "image: " + asText(alt) : "image") + "]}}";
 }};
 const macros = {{
  "\\href": textOnly,
  "\\url": (g) => "\\texttt{{" + asText(rawArg(g)) + "}}",
  "\\htmlClass": textOnly, "\\htmlId": textOnly, "\\htmlStyle": textOnly, "\\htmlData": textOnly,
  "\\includegraphics": image,
 }};
 return {{ trust: false, get macros() {{ return {{ ...macros }}; }} }};
}})();"""
_KATEX_OPTIONS: Var[Any] = Var(_js_expr=KATEX_OPTIONS_FN)

# Link rel/target. Kept as constants so tests and docs can refer to them.
LINK_REL = "noopener noreferrer nofollow"
LINK_TARGET = "_blank"

# Inside a react-markdown component-map function the element's props are in `props` (the map
# function is `({node, children, ...props}) => …`), see reflex_components_markdown.
# href: the vetted URL, or undefined (an <a> without href is not a link) when refused.
_HREF: Var[Any] = Var(
    _js_expr=f"({_SAFE_URL_FN}(props.href) || undefined)",
    _var_type=str,
)
# In-page links (footnotes) stay in the page; everything else opens a new tab.
_TARGET: Var[Any] = Var(
    _js_expr=f"({_SAFE_URL_FN}(props.href).startsWith('#') ? undefined : {LINK_TARGET!r})",
    _var_type=str,
)
# The props react-markdown gives a link, minus the ones this module decides itself.
_A_REST_SPREAD: Var[Any] = Var(_js_expr="(({href, target, rel, ...rest}) => rest)(props)")
_IMG_LABEL: Var[Any] = Var(
    _js_expr="('\U0001f5bc ' + ((props.alt || '').trim() || 'image'))",
    _var_type=str,
)
_IMG_TITLE: Var[Any] = Var(_js_expr="String(props.src || '')", _var_type=str)


def _safe_link(children: Any, **_props: Any) -> Component:
    """A link whose href passed the URL policy (a refused URL leaves an href-less <a>)."""
    # Radix Themes' Link renders the <a> itself. as_child=False keeps rx.link from wrapping a
    # React Router <Link> (which would resolve the URL against the router and rewrite it).
    return rx.link(children, href=_HREF, target=_TARGET, rel=LINK_REL, as_child=False)


def _inert_image(*_children: Any, **_props: Any) -> Component:
    """An image as text: never an <img>, so nothing is fetched."""
    return rx.el.span(
        _IMG_LABEL,
        title=_IMG_TITLE,
        class_name="chat-md-image",
    )


def _code_block(code: Any, **props: Any) -> Component:
    """Fenced code: highlighted, copy button, language from the fence (``language-xxx``)."""
    copy_button = rx.icon_button(
        rx.icon("copy", size=14),
        aria_label="Copy code",
        title="Copy code",
        type="button",
        variant="ghost",
        color_scheme="gray",
        size="1",
        on_click=rx.set_clipboard(code),
        position="absolute",
        top="0.6em",
        right="0.6em",
    )
    return CodeBlock.create(
        code,
        margin_y="1em",
        wrap_long_lines=True,
        can_copy=True,
        copy_button=copy_button,
        **props,
    )


def safe_component_map() -> dict[str, Any]:
    """The component map used for every safe markdown render (a fresh dict)."""
    return {"a": _safe_link, "img": _inert_image, "pre": _code_block}


class SafeMarkdown(Markdown):
    """react-markdown with a URL policy; raw HTML is never enabled on it."""

    url_transform: Var[Any] = field(
        doc="react-markdown urlTransform: (url, key, node) => safe url or ''."
    )

    @classmethod
    def create(cls, *children: Any, **props: Any) -> Component:
        """Create it; refuses any raw-HTML plugin.

        Args:
            *children: The markdown source (one str or Var).
            **props: Markdown props.

        Returns:
            The component.

        Raises:
            ValueError: If a rehype-raw plugin is passed.
        """
        if "rehypeRaw" in str(props.get("rehype_plugins", "")):
            msg = "SafeMarkdown never renders raw HTML (rehype-raw)"
            raise ValueError(msg)
        props["url_transform"] = _URL_TRANSFORM
        # Links, images and code blocks always use the vetted renderers.
        props["component_map"] = {**(props.get("component_map") or {}), **safe_component_map()}
        return super().create(*children, **props)

    def add_custom_code(self) -> list[str]:
        """Define the URL policy, the depth limit and the KaTeX options once per module.

        Returns:
            The custom code.
        """
        return [_SAFE_URL_CODE, FLATTEN_DEEP_JS, KATEX_OPTIONS_JS]

    def get_component(self, tag: str, **props: Any) -> Component:
        """Like Markdown.get_component, but links and images get only vetted props.

        Args:
            tag: The markdown tag.
            **props: Extra props.

        Returns:
            The component for that tag.
        """
        comp = super().get_component(tag, **props)
        if tag == "a":
            # Markdown spreads `...props` LAST, which would override href/target/rel.
            _set_spread(comp, [_A_REST_SPREAD])
        elif tag == "img":
            _set_spread(comp, [])
        return comp


def _set_spread(comp: Component, spread: list[Var]) -> None:
    """Replace the `...props` spread that Markdown.get_component put on a map component."""
    comp.special_props = list(spread)


def _plugins(use_math: bool) -> tuple[Var, Var]:
    """The remark and rehype plugin lists (never rehype-raw).

    Returns:
        (remark plugins, rehype plugins) as array Vars.
    """
    remark: list[Var] = [_FLATTEN_DEEP, Plugin.gfm]
    rehype: list[Var | tuple[Var, Var]] = []
    if use_math:
        remark.insert(1, Plugin.math)
        rehype.append((Plugin.katex, _KATEX_OPTIONS))  # trust off; see KATEX_OPTIONS_JS
    return Var.create(remark), Var.create(rehype)


# Light styling for what react-markdown emits without a renderer of its own.
MARKDOWN_CSS: dict[str, Any] = {
    "overflowWrap": "anywhere",
    "& table": {
        "borderCollapse": "collapse",
        "margin": "0.75em 0",
        "display": "block",
        "overflowX": "auto",
    },
    "& th, & td": {"border": "1px solid var(--gray-6)", "padding": "0.25em 0.6em"},
    "& th": {"background": "var(--gray-3)"},
    "& blockquote": {
        "borderLeft": "3px solid var(--gray-6)",
        "margin": "0.75em 0",
        "paddingLeft": "0.9em",
        "color": "var(--gray-11)",
    },
    "& .chat-md-image": {"opacity": "0.8", "fontStyle": "italic"},
    "& a:not([href])": {"color": "inherit", "textDecoration": "none", "cursor": "text"},
}


def safe_markdown_root(
    source: Var | str, *, use_math: bool = True, component_map: dict | None = None
) -> Component:
    """The SafeMarkdown component (no wrapping div), inside its own error boundary.

    Args:
        source: The markdown text (a string or a string Var).
        use_math: Render ``$…$`` math with KaTeX (KaTeX's ``trust`` stays off).
        component_map: Extra tag renderers; ``a``, ``img`` and ``pre`` cannot be replaced.

    Returns:
        The component.
    """
    remark, rehype = _plugins(use_math)
    markdown = SafeMarkdown.create(
        source,
        component_map=component_map or {},
        remark_plugins=remark,
        rehype_plugins=rehype,
    )
    # The parser itself recurses too (e.g. 10,000 ">" overflow the stack inside remark-gfm's
    # transform, before any plugin of ours runs). Whatever throws, only this text falls back to
    # plain text (a React text node, so still inert); the page and the other messages stay up.
    return ErrorBoundary.create(
        markdown,
        fallback_render=rx.el.div(source, white_space="pre-wrap", class_name="chat-md-fallback"),
    )


def safe_markdown(text: Var | str, *, use_math: bool = True, **props: Any) -> Component:
    """Render markdown inertly (see the module docstring for the exact rules).

    Args:
        text: The markdown source, a ``str`` or a string ``rx.Var``.
        use_math: Render ``$…$`` / ``$$…$$`` math with KaTeX.
        **props: Style props for the wrapping ``div`` (e.g. ``class_name``, ``width``).
            ``component_map`` may add renderers for other tags.

    Returns:
        A ``div`` holding the markdown.
    """
    component_map = props.pop("component_map", None)
    for forbidden in ("use_raw", "rehype_plugins", "remark_plugins"):
        if forbidden in props:
            msg = f"safe_markdown does not accept {forbidden!r}"
            raise TypeError(msg)
    css = {**MARKDOWN_CSS, **props.pop("style", {})}
    return rx.el.div(
        safe_markdown_root(text, use_math=use_math, component_map=component_map),
        style=css,
        **props,
    )


__all__ = [
    "FLATTEN_DEEP_JS",
    "KATEX_OPTIONS_JS",
    "LINK_REL",
    "LINK_TARGET",
    "MARKDOWN_CSS",
    "MAX_MARKDOWN_DEPTH",
    "SAFE_URL_JS",
    "SafeMarkdown",
    "safe_component_map",
    "safe_markdown",
    "safe_markdown_root",
]
