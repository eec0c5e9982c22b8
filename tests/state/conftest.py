"""Fixtures of the state tests: the fake OpenAI server the app talks to over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from chat_app.core.settings import get_settings
from chat_app.providers import OpenAIProvider, get_provider, reset_provider_cache
from chat_app.services.replies import get_replies
from tests.support.fake_openai import FakeOpenAI, start_fake_openai


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    server = start_fake_openai()
    yield server
    server.stop()


@pytest.fixture
async def model(
    db: str, fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeOpenAI]:
    """The app talks to the fake model (full speed unless a test slows it down)."""
    fake_server.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("DEFAULT_MODEL", "fake-small")
    monkeypatch.setenv("MAX_MESSAGE_CHARS", "500")
    get_settings.cache_clear()
    reset_provider_cache()
    yield fake_server
    await get_replies().cancel_all()
    provider = get_provider()
    if isinstance(provider, OpenAIProvider):
        await provider.aclose()  # its connection pool belongs to this test's loop
    reset_provider_cache()
