"""Data access for personal API tokens, scoped to their owner (lookup by digest excepted)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete as sa_delete
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from chat_app.models.api_token import ApiToken
from chat_app.models.common import utcnow
from chat_app.repositories._sql import affected_rows


async def create(
    session: AsyncSession, owner_id: uuid.UUID, *, name: str, token_hash: str, prefix: str
) -> ApiToken:
    token = ApiToken(owner_id=owner_id, name=name, token_hash=token_hash, prefix=prefix)
    session.add(token)
    await session.flush()
    return token


async def list_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> list[ApiToken]:
    result = await session.execute(
        select(ApiToken)
        .where(col(ApiToken.owner_id) == owner_id)
        .order_by(col(ApiToken.created_at).desc())
    )
    return list(result.scalars())


async def get_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    """Authentication lookup: the digest itself is the secret, so no owner is known yet."""
    result = await session.execute(select(ApiToken).where(col(ApiToken.token_hash) == token_hash))
    return result.scalar_one_or_none()


async def mark_used(session: AsyncSession, token_id: uuid.UUID) -> None:
    await session.execute(
        update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=utcnow())
    )


async def delete(session: AsyncSession, owner_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    result = await session.execute(
        sa_delete(ApiToken).where(
            col(ApiToken.id) == token_id,
            col(ApiToken.owner_id) == owner_id,
        )
    )
    return bool(affected_rows(result))


async def delete_all_for_owner(session: AsyncSession, owner_id: uuid.UUID) -> int:
    result = await session.execute(sa_delete(ApiToken).where(col(ApiToken.owner_id) == owner_id))
    return affected_rows(result)
