"""The ``api_tokens`` table: personal tokens for scripts and other clients.

Only a SHA-256 digest of each token is stored (tokens are 256-bit random, so a fast hash is
enough: there is nothing to brute-force). The plaintext is shown once, at creation.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from chat_app.models.common import UTCDateTime, new_id, utcnow

TOKEN_NAME_MAX = 100


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.Index("ix_api_tokens_owner", "owner_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(max_length=TOKEN_NAME_MAX)
    token_hash: str = Field(max_length=64)
    # The first characters of the token, so a user can tell tokens apart in the list.
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiTokenCreate(SQLModel):
    name: str = Field(min_length=1, max_length=TOKEN_NAME_MAX)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        value = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
        if not value:
            raise ValueError("Token name cannot be blank")
        return value


class ApiTokenPublic(SQLModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
