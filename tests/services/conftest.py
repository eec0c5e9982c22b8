"""Services against a real database and the fake OpenAI server over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from chat_app.core.settings import get_settings
from chat_app.providers import OpenAIProvider, get_provider, reset_provider_cache
from chat_app.services import auth
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI, start_fake_openai


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    fake = start_fake_openai()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
async def fake(
    fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeOpenAI]:
    """The app's provider points at the fake (fresh client per test: pools belong to a loop)."""
    fake_openai_server.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("DEFAULT_MODEL", "fake-small")
    monkeypatch.setenv("PROVIDER_MAX_RETRIES", "1")
    monkeypatch.setenv("SAVE_INTERVAL_SECONDS", "0.2")
    get_settings.cache_clear()
    reset_provider_cache()
    yield fake_openai_server
    await cancel_reply_tasks()
    fake_openai_server.reset()
    # Close the shared client in this test's loop, before the loop goes away.
    provider = get_provider()
    if isinstance(provider, OpenAIProvider):
        await provider.aclose()
    reset_provider_cache()


@pytest.fixture
async def user_id(db):  # type: ignore[no-untyped-def]
    return (await auth.register(unique_email(), "Tester", "password123")).user.id


@pytest.fixture
async def other_user_id(db):  # type: ignore[no-untyped-def]
    return (await auth.register(unique_email("other"), "Other", "password123")).user.id


async def wait_until(
    condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll an (async or sync) condition; fail with a clear message when it never holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


async def cancel_reply_tasks() -> None:
    """End every reply task a test left running, inside that test's event loop."""
    from chat_app.services.replies import get_replies

    await get_replies().cancel_all()


@pytest.fixture
async def settle() -> AsyncIterator[None]:
    yield
    await cancel_reply_tasks()
