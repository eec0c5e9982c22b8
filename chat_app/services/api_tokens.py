"""Personal API tokens: created by a user, shown once, stored as a digest, revocable."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError

from chat_app.core.db import read_scope, session_scope
from chat_app.models.api_token import ApiTokenCreate, ApiTokenPublic
from chat_app.models.common import utcnow
from chat_app.models.user import UserPublic
from chat_app.repositories import api_tokens as tokens_repo
from chat_app.repositories import users as users_repo
from chat_app.services.errors import InvalidInput, NotFound
from chat_app.services.ids import parse_id
from chat_app.services.text_rules import user_text

TOKEN_PREFIX = "cat_"  # noqa: S105  (a label, not a secret)
MAX_TOKENS_PER_USER = 50
# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedToken:
    token: ApiTokenPublic
    plaintext: str  # shown to the user once, never stored


def is_personal_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX)


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


async def create_token(user_id: uuid.UUID, name: object) -> CreatedToken:
    try:
        data = ApiTokenCreate(name=user_text(name if isinstance(name, str) else "", "name"))
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"Token name: {message}", {"name": message}) from None
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with session_scope() as session:
        if len(await tokens_repo.list_for_owner(session, user_id)) >= MAX_TOKENS_PER_USER:
            raise InvalidInput(f"You can have at most {MAX_TOKENS_PER_USER} tokens.")
        row = await tokens_repo.create(
            session,
            user_id,
            name=data.name,
            token_hash=_digest(plaintext),
            prefix=plaintext[: len(TOKEN_PREFIX) + 6],
        )
        public = ApiTokenPublic.model_validate(row, from_attributes=True)
    return CreatedToken(token=public, plaintext=plaintext)


async def list_tokens(user_id: uuid.UUID) -> list[ApiTokenPublic]:
    async with read_scope() as session:
        rows = await tokens_repo.list_for_owner(session, user_id)
        return [ApiTokenPublic.model_validate(r, from_attributes=True) for r in rows]


async def revoke_token(user_id: uuid.UUID, token_id: object) -> None:
    async with session_scope() as session:
        if not await tokens_repo.delete(session, user_id, parse_id(token_id, "Token")):
            raise NotFound("Token")


async def authenticate(plaintext: str) -> UserPublic | None:
    if not is_personal_token(plaintext) or len(plaintext) > 200:
        return None
    async with session_scope() as session:
        row = await tokens_repo.get_by_hash(session, _digest(plaintext))
        if row is None:
            return None
        user = await users_repo.get_by_id(session, row.owner_id)
        if user is None or not user.is_active:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            await tokens_repo.mark_used(session, row.id)
        return UserPublic.model_validate(user, from_attributes=True)
