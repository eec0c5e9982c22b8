"""The ``messages`` table and its public shapes."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chat_app.models.common import UTCDateTime, new_id, utcnow


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class MessageStatus(enum.StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    STOPPED = "stopped"
    ERROR = "error"
    INTERRUPTED = "interrupted"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class MessageBase(SQLModel):
    role: str = Field(max_length=16)
    content: str = Field(default="", sa_type=sa.Text)


class Message(MessageBase, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.CheckConstraint(_in("role", Role), name="ck_messages_role"),
        sa.CheckConstraint(_in("status", MessageStatus), name="ck_messages_status"),
        # "This conversation in order".
        sa.Index("ix_messages_conversation_created", "conversation_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    conversation_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        )
    )
    status: str = Field(default=MessageStatus.COMPLETE.value, max_length=16)
    error_detail: str | None = Field(default=None, sa_type=sa.Text)
    model: str | None = Field(default=None, max_length=200)
    prompt_tokens: int | None = Field(default=None)
    completion_tokens: int | None = Field(default=None)
    # Milliseconds from send to the first token; shown discreetly under each reply.
    ttft_ms: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class MessagePublic(SQLModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    content: str
    status: str
    error_detail: str | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_ms: int | None
    created_at: datetime
