"""Pick the provider the settings call for, and share one instance per process.

Sharing matters: each ``OpenAIProvider`` owns an HTTP connection pool, and creating one per
request would defeat keep-alive and leak sockets.
"""

from __future__ import annotations

import threading

from chat_app.core.settings import Settings, get_settings

from .base import ChatProvider
from .demo_provider import DemoProvider
from .openai_provider import OpenAIProvider

_lock = threading.Lock()
_openai_providers: dict[tuple[object, ...], OpenAIProvider] = {}
_demo_provider: DemoProvider | None = None


def get_provider(settings: Settings | None = None) -> ChatProvider:
    """The demo model when nothing is configured, else the (cached) OpenAI adapter."""
    global _demo_provider
    settings = settings or get_settings()
    with _lock:
        if settings.uses_demo_model:
            if _demo_provider is None:
                _demo_provider = DemoProvider()
            return _demo_provider
        # Keyed on everything the adapter is built from, so changed settings (tests, reloads)
        # never get a stale client; the same settings always get the same one.
        key = (
            settings.openai_api_key,
            settings.openai_base_url,
            settings.provider_timeout_seconds,
            settings.provider_connect_timeout_seconds,
            settings.provider_max_retries,
            settings.provider_read_interval_seconds,
            settings.default_model,
            tuple(settings.fallback_models),
        )
        provider = _openai_providers.get(key)
        if provider is None:
            provider = OpenAIProvider.from_settings(settings)
            _openai_providers[key] = provider
        return provider


def reset_provider_cache() -> None:
    """Forget cached providers (tests). Their clients are not closed: that needs their loop."""
    global _demo_provider
    with _lock:
        _openai_providers.clear()
        _demo_provider = None
