"""The offline demo model: what a fresh install talks to before any model is configured.

It makes the app usable (and its streaming, markdown and code highlighting visible) with no
key and no network, and tells the user how to connect a real model. Deterministic on purpose:
the same question always streams the same reply at the same pace.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence

from .base import ChatTurn, ModelInfo, StreamEnd, TextDelta

DEMO_MODEL = ModelInfo(id="demo", label="Offline demo model", is_demo=True)

QUOTE_CHARS = 200
TITLE_WORDS = 6
TITLE_CHARS = 60
# Per-chunk delays cycle through these multiples of ``chunk_delay``: 20/30/40 ms by default,
# uneven enough to look typed rather than mechanical.
_PACE = (1.0, 0.67, 1.33)
_CHUNK_RE = re.compile(r"\s*\S+")

_REPLY = """\
**Offline demo model** — this reply was written by the app itself, not by a language model.

You asked:

{quote}

To chat with a real model, set one of these before starting the app:

- `OPENAI_API_KEY` — use OpenAI's models.
- `OPENAI_BASE_URL` — use any OpenAI-compatible server, such as Ollama \
(`http://localhost:11434/v1`), vLLM, LM Studio or llama.cpp.

Replies stream in as they are generated, and code is highlighted:

```python
def greet(name: str) -> str:
    return f"Hello, {{name}}!"


print(greet("world"))
```
"""


class DemoProvider:
    name = "demo"

    def __init__(self, *, chunk_delay: float = 0.03) -> None:
        """``chunk_delay`` is the average pause between chunks; tests pass 0."""
        self._chunk_delay = chunk_delay

    async def list_models(self) -> list[ModelInfo]:
        return [DEMO_MODEL]

    async def stream_chat(
        self, *, model: str, messages: Sequence[ChatTurn], max_tokens: int
    ) -> AsyncGenerator[TextDelta | StreamEnd, None]:
        chunks = _CHUNK_RE.findall(demo_reply(messages))
        # One chunk stands in for one token so the max_tokens cap behaves like a real model's.
        finish_reason = "stop"
        if len(chunks) > max_tokens:
            chunks, finish_reason = chunks[: max(0, max_tokens)], "length"
        for index, chunk in enumerate(chunks):
            if self._chunk_delay > 0:
                await asyncio.sleep(self._chunk_delay * _PACE[index % len(_PACE)])
            yield TextDelta(chunk)
        yield StreamEnd(
            finish_reason=finish_reason, prompt_tokens=None, completion_tokens=len(chunks)
        )

    async def complete(self, *, model: str, messages: Sequence[ChatTurn], max_tokens: int) -> str:
        """A title from the first words the user wrote; there is no model to summarise with."""
        first = next((t.content for t in messages if t.role == "user"), "")
        words = re.sub(r"[#*_`>\[\]]", " ", first).split()
        title = " ".join(words[:TITLE_WORDS])
        if len(title) > TITLE_CHARS:
            title = title[: TITLE_CHARS - 1].rstrip() + "…"
        return title or "New chat"


def demo_reply(messages: Sequence[ChatTurn]) -> str:
    """The full markdown reply for ``messages`` (exposed for tests and previews)."""
    last = next((t.content for t in reversed(messages) if t.role == "user"), "").strip()
    if not last:
        quote = "> *(an empty message)*"
    else:
        excerpt = last if len(last) <= QUOTE_CHARS else last[:QUOTE_CHARS].rstrip() + "…"
        quote = "\n".join(f"> {line}" if line.strip() else ">" for line in excerpt.splitlines())
    return _REPLY.format(quote=quote)
