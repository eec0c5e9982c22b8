"""The provider interface: what the chat service needs from any language-model backend.

Kept free of SDK and UI imports so services and tests can depend on it without pulling in
``openai`` or ``reflex``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]

ErrorKind = Literal[
    "auth",
    "rate_limited",
    "unreachable",
    "timeout",
    "context_too_long",
    "stream_cut",
    "bad_stream",
    "bad_request",
    "server",
]


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    content: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamEnd:
    """Always the last item of a stream. Token counts are ``None`` when the backend gave none."""

    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class ModelInfo:
    id: str
    label: str
    is_demo: bool = False


# Messages end users see. They name the setting an administrator has to look at, but never
# echo provider responses that could contain key fragments or internal hostnames.
_DEFAULT_MESSAGES: dict[ErrorKind, str] = {
    "auth": (
        "The model provider rejected the API key. An administrator needs to check "
        "OPENAI_API_KEY in the server configuration."
    ),
    "rate_limited": "The model provider is rate-limiting requests. Please try again in a moment.",
    "unreachable": (
        "Could not reach the model provider. Check that it is running and that "
        "OPENAI_BASE_URL is correct."
    ),
    "timeout": "The model provider took too long to respond. Please try again.",
    "context_too_long": (
        "This conversation is too long for the model. Start a new chat or shorten your message."
    ),
    "stream_cut": (
        "The reply was cut off because the connection to the model provider was lost. "
        "The part that arrived has been kept."
    ),
    "bad_stream": (
        "The reply was cut off because the model provider kept sending data that could not "
        "be read. The part that arrived has been kept."
    ),
    "bad_request": "The model provider rejected the request.",
    "server": "The model provider had an internal error. Please try again in a moment.",
}


class ProviderError(Exception):
    """Every provider failure, reduced to a kind the UI can act on and a message it can show.

    ``detail`` carries the technical cause for logs; it is never meant for end users.
    """

    def __init__(
        self,
        kind: ErrorKind,
        user_message: str | None = None,
        *,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        self.kind: ErrorKind = kind
        self.user_message: str = user_message or _DEFAULT_MESSAGES[kind]
        self.retry_after: float | None = retry_after
        self.detail: str | None = detail
        super().__init__(f"{kind}: {detail or self.user_message}")


@runtime_checkable
class ChatProvider(Protocol):
    name: str

    async def list_models(self) -> list[ModelInfo]:
        """Models to offer in the picker; never raises (falls back to a configured list)."""
        ...

    def stream_chat(
        self, *, model: str, messages: Sequence[ChatTurn], max_tokens: int
    ) -> AsyncGenerator[TextDelta | StreamEnd, None]:
        """Yield ``TextDelta`` chunks then exactly one ``StreamEnd``; raise ``ProviderError``.

        An async generator, so a caller that stops early (user pressed Stop) can ``aclose()``
        it and the HTTP response is released at once instead of at garbage collection.
        """
        ...

    async def complete(self, *, model: str, messages: Sequence[ChatTurn], max_tokens: int) -> str:
        """A short non-streamed reply (auto-titles); raises ``ProviderError``."""
        ...
