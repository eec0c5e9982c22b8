"""The ``users`` table and its public shapes."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Any

import idna
import sqlalchemy as sa
from pydantic import EmailStr, field_validator
from sqlmodel import Field, SQLModel

from chat_app.models.common import UTCDateTime, new_id, utcnow

EMAIL_MAX = 254
DISPLAY_NAME_MAX = 80
PASSWORD_MIN = 8
# bcrypt only looks at the first 72 bytes (bcrypt 5 raises beyond that). We refuse longer
# passwords with a clear message instead of silently ignoring their tail.
PASSWORD_MAX_BYTES = 72


class UserBase(SQLModel):
    email: str = Field(max_length=EMAIL_MAX)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX)


class User(UserBase, table=True):
    __tablename__ = "users"
    __table_args__ = (
        sa.UniqueConstraint("email", name="uq_users_email"),
        # Emails are stored normalized (normalize_email: NFKC, case-folded, IDNA domain), which
        # makes the unique constraint hold for every look-alike spelling.
        sa.CheckConstraint("email = lower(email)", name="ck_users_email_lowercase"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    password_hash: str = Field(max_length=100)
    is_active: bool = Field(default=True)
    is_admin: bool = Field(default=False)
    # Bumped by "log out everywhere" and password resets; tokens carry the version they saw.
    session_version: int = Field(default=1)
    # Ids (and expiry) of individually logged-out tokens that have not expired yet.
    revoked_tokens: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default="[]")
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _fold(text: str) -> str:
    # NFKC, then case folding, then NFKC again (folding can undo normalization): full-width
    # letters, ligatures, the Kelvin sign and other compatibility forms become plain letters,
    # and case differences (including ß/ss) disappear. The final lower() matters for the few
    # scripts (Cherokee) that case-fold to capitals: the stored form must satisfy the database's
    # email = lower(email) check.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).lower()


def normalize_email(value: str) -> str:
    """The one spelling of an email, used for storage, lookup and uniqueness.

    Look-alike spellings of one address (case, full-width forms, ``bücher.de`` vs its
    punycode ``xn--bcher-kva.de``) all map to the same string. The domain is stored in its
    ASCII form (IDNA 2008 with UTS 46 mapping, then punycode): always lower-case, and a
    look-alike domain shows as the ``xn--`` name it really is. Never raises: input that is no
    email at all is still folded, and simply matches no account.
    """
    local, at, domain = _fold(value.strip()).rpartition("@")
    if not at:
        return domain  # no "@": rpartition put everything here
    try:
        domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass  # not a valid domain name: the folded text is as canonical as it gets
    return f"{local}@{domain}"


class UserCreate(SQLModel):
    """What registration accepts; rules are declared once here."""

    email: EmailStr = Field(max_length=EMAIL_MAX)
    display_name: str = Field(min_length=1, max_length=DISPLAY_NAME_MAX)
    password: str = Field(min_length=PASSWORD_MIN)

    @field_validator("email", mode="before")
    @classmethod
    def _normalize_email(cls, value: object) -> object:
        return normalize_email(value) if isinstance(value, str) else value

    @field_validator("email", mode="after")
    @classmethod
    def _store_normalized(cls, value: str) -> str:
        # EmailStr hands back the Unicode form of an IDNA domain; store our one spelling.
        return normalize_email(value)

    @field_validator("display_name")
    @classmethod
    def _clean_display_name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("Display name cannot be blank")
        # Category Cc: C0, DEL and C1 controls (\x9b is a terminal escape, too).
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValueError("Display name cannot contain control characters")
        return value

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        return validate_password(value)


def validate_password(value: str) -> str:
    if len(value) < PASSWORD_MIN:
        raise ValueError(f"Password must be at least {PASSWORD_MIN} characters")
    if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise ValueError(
            f"Password must be at most {PASSWORD_MAX_BYTES} bytes "
            "(about 72 plain letters; fewer with accents or emoji)"
        )
    return value


class UserPublic(SQLModel):
    """Safe to hand to the UI or the API: no hash, no revocation data."""

    id: uuid.UUID
    email: str
    display_name: str
    is_admin: bool
    is_active: bool
    created_at: datetime
