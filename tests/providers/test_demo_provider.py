"""The offline demo model: clearly labelled, helpful, streamed at a human pace, deterministic."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from chat_app.core.settings import Settings
from chat_app.providers import (
    DEMO_MODEL,
    ChatTurn,
    DemoProvider,
    StreamEnd,
    TextDelta,
    get_provider,
    reset_provider_cache,
)
from chat_app.providers import demo_provider as demo_module


async def run(
    provider: DemoProvider, text: str, max_tokens: int = 4096
) -> tuple[str, StreamEnd, int]:
    events = [
        e
        async for e in provider.stream_chat(
            model="demo", messages=[ChatTurn("user", text)], max_tokens=max_tokens
        )
    ]
    *deltas, end = events
    assert isinstance(end, StreamEnd)
    assert all(isinstance(d, TextDelta) for d in deltas)
    return "".join(d.text for d in deltas), end, len(deltas)  # type: ignore[union-attr]


async def test_streams_a_labelled_helpful_reply_quickly_when_fast() -> None:
    started = time.monotonic()
    text, end, chunks = await asyncio.wait_for(
        run(DemoProvider(chunk_delay=0.001), "How do I sort a list?"), timeout=5
    )

    assert time.monotonic() - started < 2
    assert chunks > 20
    assert text.startswith("**Offline demo model**")
    assert "> How do I sort a list?" in text
    assert "OPENAI_API_KEY" in text and "OPENAI_BASE_URL" in text
    assert "Ollama" in text
    assert "```python" in text
    assert end.finish_reason == "stop"
    assert end.completion_tokens == chunks


async def test_default_pace_is_human_and_takes_a_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Record the pauses instead of sleeping through them."""
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    # Swap the module's reference only; the real asyncio.sleep stays untouched for the loop.
    monkeypatch.setattr(demo_module, "asyncio", SimpleNamespace(sleep=record))
    _, _, chunks = await run(DemoProvider(), "Tell me about the weather")

    assert len(pauses) == chunks
    assert all(0.019 <= p <= 0.041 for p in pauses)
    assert 1.5 <= sum(pauses) <= 6


async def test_is_deterministic() -> None:
    provider = DemoProvider(chunk_delay=0)
    assert await run(provider, "same question") == await run(provider, "same question")


async def test_quotes_only_the_start_of_long_multiline_messages() -> None:
    message = "first line\n\nsecond line " + "x" * 500
    text, _, _ = await run(DemoProvider(chunk_delay=0), message)

    assert "> first line\n>\n> second line" in text
    assert "x" * 170 in text and "x" * 200 not in text
    assert "…" in text


async def test_max_tokens_cuts_with_length() -> None:
    text, end, chunks = await run(DemoProvider(chunk_delay=0), "hi", max_tokens=5)

    assert chunks == 5
    assert end.finish_reason == "length"
    assert text.startswith("**Offline demo model**")


async def test_models_and_titles() -> None:
    provider = DemoProvider(chunk_delay=0)
    assert await provider.list_models() == [DEMO_MODEL]
    assert DEMO_MODEL.id == "demo" and DEMO_MODEL.is_demo
    assert DEMO_MODEL.label == "Offline demo model"

    title = await provider.complete(
        model="demo",
        messages=[
            ChatTurn("system", "Write a title"),
            ChatTurn("user", "## How do I *really* bake sourdough bread at home?"),
        ],
        max_tokens=20,
    )
    assert title == "How do I really bake sourdough"
    assert await provider.complete(model="demo", messages=[], max_tokens=20) == "New chat"


def test_factory_uses_demo_when_nothing_is_configured() -> None:
    reset_provider_cache()
    try:
        settings = Settings(app_env="test", openai_api_key="", openai_base_url="")
        provider = get_provider(settings)
        assert isinstance(provider, DemoProvider)
        assert get_provider(settings) is provider
    finally:
        reset_provider_cache()
