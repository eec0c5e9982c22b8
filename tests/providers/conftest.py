"""One fake OpenAI server for the whole session; each test starts from its defaults."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from chat_app.providers import OpenAIProvider
from tests.support.fake_openai import FakeOpenAI, start_fake_openai

ProviderFactory = Callable[..., OpenAIProvider]


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    fake = start_fake_openai()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()


@pytest.fixture
async def make_provider(fake: FakeOpenAI) -> AsyncIterator[ProviderFactory]:
    """Build providers pointed at the fake with test-sized timeouts; closed after the test.

    Built per test because an AsyncOpenAI client's connection pool belongs to one event loop.
    """
    made: list[OpenAIProvider] = []

    def make(**overrides: Any) -> OpenAIProvider:
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "api_key": "test-key",
            "timeout_seconds": 5.0,
            "connect_timeout_seconds": 2.0,
            "max_retries": 2,
            "retry_base_delay": 0.01,
            "default_model": "fake-small",
        }
        options.update(overrides)
        provider = OpenAIProvider(**options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
def unreachable_base_url() -> str:
    """A local port nobody listens on: connections are refused straight away."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
