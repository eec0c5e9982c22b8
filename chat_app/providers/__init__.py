"""Language-model providers: the interface, the OpenAI-compatible adapter and the demo model.

Plain Python on purpose (no Reflex), so services, scripts and tests can use it directly.
"""

from .base import (
    ChatProvider,
    ChatTurn,
    ErrorKind,
    ModelInfo,
    ProviderError,
    Role,
    StreamEnd,
    TextDelta,
)
from .demo_provider import DEMO_MODEL, DemoProvider
from .factory import get_provider, reset_provider_cache
from .openai_provider import OpenAIProvider

__all__ = [
    "DEMO_MODEL",
    "ChatProvider",
    "ChatTurn",
    "DemoProvider",
    "ErrorKind",
    "ModelInfo",
    "OpenAIProvider",
    "ProviderError",
    "Role",
    "StreamEnd",
    "TextDelta",
    "get_provider",
    "reset_provider_cache",
]
