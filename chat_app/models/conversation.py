"""The ``conversations`` table and its public shapes."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from chat_app.models.common import UTCDateTime, new_id, utcnow

TITLE_MAX = 200
MODEL_MAX = 200
SYSTEM_PROMPT_MAX = 8_000
DEFAULT_TITLE = "New chat"


def clean_title(value: str) -> str:
    """One line, trimmed; control characters would break the sidebar layout."""
    value = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    return value[:TITLE_MAX]


class ConversationBase(SQLModel):
    title: str = Field(default=DEFAULT_TITLE, max_length=TITLE_MAX)
    model: str = Field(default="", max_length=MODEL_MAX)
    system_prompt: str = Field(default="", sa_type=sa.Text)


class Conversation(ConversationBase, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        # "My conversations, most recently updated first".
        sa.Index("ix_conversations_owner_updated", "owner_id", "updated_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ConversationCreate(SQLModel):
    title: str = Field(default=DEFAULT_TITLE, max_length=TITLE_MAX)
    model: str = Field(default="", max_length=MODEL_MAX)
    system_prompt: str = Field(default="", max_length=SYSTEM_PROMPT_MAX)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return clean_title(value) or DEFAULT_TITLE


class ConversationUpdate(SQLModel):
    title: str | None = Field(default=None, max_length=TITLE_MAX)
    model: str | None = Field(default=None, max_length=MODEL_MAX)
    system_prompt: str | None = Field(default=None, max_length=SYSTEM_PROMPT_MAX)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = clean_title(value)
        if not cleaned:
            raise ValueError("Title cannot be empty")
        return cleaned


class ConversationPublic(SQLModel):
    id: uuid.UUID
    title: str
    model: str
    system_prompt: str
    created_at: datetime
    updated_at: datetime
