"""Data access for users. Plain functions; the caller owns the session (unit of work)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from chat_app.models.common import utcnow
from chat_app.models.user import User, normalize_email


async def get_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_many(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not user_ids:
        return {}
    result = await session.execute(select(User).where(col(User.id).in_(user_ids)))
    return {user.id: user for user in result.scalars()}


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(col(User.email) == normalize_email(email)))
    return result.scalar_one_or_none()


async def get_by_stored_email(session: AsyncSession, email: str) -> User | None:
    """Exact match on the stored spelling, for the admin CLI (see auth._admin_find_user)."""
    result = await session.execute(select(User).where(col(User.email) == email))
    return result.scalar_one_or_none()


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def list_all(session: AsyncSession) -> list[User]:
    return list((await session.execute(select(User).order_by(col(User.created_at)))).scalars())


async def create(
    session: AsyncSession,
    *,
    email: str,
    display_name: str,
    password_hash: str,
    is_admin: bool = False,
) -> User:
    user = User(
        email=normalize_email(email),
        display_name=display_name,
        password_hash=password_hash,
        is_admin=is_admin,
    )
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    # A new password ends every existing session.
    user.session_version += 1
    user.updated_at = utcnow()
    await session.flush()


async def set_active(session: AsyncSession, user: User, active: bool) -> None:
    user.is_active = active
    user.session_version += 1
    user.updated_at = utcnow()
    await session.flush()


async def bump_session_version(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(
            session_version=col(User.session_version) + 1, revoked_tokens=[], updated_at=utcnow()
        )
    )


async def revoke_token(
    session: AsyncSession, user_id: uuid.UUID, token_id: str, expires_at: datetime
) -> None:
    """Remember one logged-out token until it would have expired anyway."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        return
    now = utcnow().timestamp()
    kept: list[dict[str, Any]] = [t for t in user.revoked_tokens if t.get("exp", 0) > now]
    kept.append({"jti": token_id, "exp": expires_at.timestamp()})
    user.revoked_tokens = kept
    await session.flush()


async def delete(session: AsyncSession, user: User) -> None:
    await session.delete(user)
    await session.flush()
