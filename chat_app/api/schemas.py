"""Request and response bodies of the HTTP API (limits come from the models, declared once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chat_app.models.api_token import ApiTokenPublic
from chat_app.models.conversation import MODEL_MAX, SYSTEM_PROMPT_MAX, TITLE_MAX
from chat_app.models.message import MessagePublic
from chat_app.models.user import UserPublic
from chat_app.services.text_rules import storable


def _storable(value: object) -> object:
    return storable(value) if isinstance(value, str) else value


# Free text gets the services' input rule (text_rules.user_text) before its length is checked:
# pydantic cannot measure a string holding a lone surrogate and would refuse the whole text.
# Identifiers and secrets stay plain ``str``: refused (errors.UNSTORABLE_TEXT), like the UI.
FreeText = Annotated[str, BeforeValidator(_storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    set_cookie: bool = False


class RegisterRequest(Strict):
    email: str = Field(max_length=320)
    display_name: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (a label, not a secret)
    user: UserPublic


class ConversationCreateRequest(Strict):
    title: FreeText = Field(default="", max_length=TITLE_MAX)
    model: str = Field(default="", max_length=MODEL_MAX)
    system_prompt: FreeText = Field(default="", max_length=SYSTEM_PROMPT_MAX)


class ConversationUpdateRequest(Strict):
    title: FreeText | None = Field(default=None, max_length=TITLE_MAX)
    model: str | None = Field(default=None, max_length=MODEL_MAX)
    system_prompt: FreeText | None = Field(default=None, max_length=SYSTEM_PROMPT_MAX)


class ConversationOut(BaseModel):
    id: str
    title: str
    model: str
    system_prompt: str
    created_at: datetime
    updated_at: datetime


class ConversationList(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageList(BaseModel):
    items: list[MessagePublic]
    next_cursor: str | None


class SendMessageRequest(Strict):
    # The service enforces the configured length (413); this bound only stops absurd bodies.
    content: FreeText = Field(max_length=1_000_000)
    model: str | None = Field(default=None, max_length=MODEL_MAX)
    stream: bool = True


class EditMessageRequest(Strict):
    content: FreeText = Field(max_length=1_000_000)
    stream: bool = True


class ReplyStartedOut(BaseModel):
    conversation_id: str
    user_message: MessagePublic | None
    assistant_message: MessagePublic


class StopResult(BaseModel):
    stopped: bool


class TokenCreateRequest(Strict):
    name: FreeText = Field(max_length=200)


class TokenCreated(BaseModel):
    token: ApiTokenPublic
    secret: str = Field(description="The token itself. Shown once; store it now.")


class ModelOut(BaseModel):
    id: str
    label: str
    is_demo: bool


class DatabaseHealthOut(BaseModel):
    ok: bool
    latency_ms: float
    reason: str | None = Field(description='"unreachable" or "timeout" when not ok')


class RedisHealthOut(BaseModel):
    configured: bool = Field(description="REDIS_URL is set (several processes share Redis)")
    ok: bool | None = Field(description="null when Redis is not configured")
    latency_ms: float | None
    reason: str | None = Field(description='"unreachable" or "timeout" when not ok')


class HealthOut(BaseModel):
    status: str = Field(description='"ok", or "degraded" (HTTP 503) when a probe failed')
    database: DatabaseHealthOut
    redis: RedisHealthOut
