"""Data access for login failure counters (``login_throttle``). Plain functions; the caller owns
the session. Counters are upserts, so concurrent failures from several workers all count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from chat_app.models.login_records import LoginThrottleEntry
from chat_app.repositories._sql import affected_rows

# (kind, account, address): the primary key of a counter.
EntryKey = tuple[str, str, str]


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(LoginThrottleEntry)


async def live_entries(
    session: AsyncSession, keys: Sequence[EntryKey], now: datetime
) -> list[LoginThrottleEntry]:
    if not keys:
        return []
    result = await session.execute(
        select(LoginThrottleEntry).where(
            tuple_(
                col(LoginThrottleEntry.kind),
                col(LoginThrottleEntry.account),
                col(LoginThrottleEntry.address),
            ).in_(list(keys)),
            col(LoginThrottleEntry.expires_at) > now,
        )
    )
    return list(result.scalars())


async def _upsert(
    session: AsyncSession,
    key: EntryKey,
    *,
    failures: int,
    now: datetime,
    expires_at: datetime,
    on_conflict: dict[str, Any],
) -> None:
    kind, account, address = key
    statement = _insert(session).values(
        kind=kind,
        account=account,
        address=address,
        failures=failures,
        last_failure_at=now,
        expires_at=expires_at,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "account", "address"], set_=on_conflict
    )
    await session.execute(statement)


async def add_failure(
    session: AsyncSession, key: EntryKey, *, now: datetime, expires_at: datetime
) -> None:
    """One more failure; a counter that had expired starts again at one."""
    table = LoginThrottleEntry.__table__  # type: ignore[attr-defined]
    await _upsert(
        session,
        key,
        failures=1,
        now=now,
        expires_at=expires_at,
        on_conflict={
            "failures": case((table.c.expires_at <= now, 1), else_=table.c.failures + 1),
            "last_failure_at": now,
            "expires_at": expires_at,
        },
    )


async def remember(
    session: AsyncSession, key: EntryKey, *, now: datetime, expires_at: datetime
) -> None:
    """Create or refresh a marker row (``known``: this account logged in from this address)."""
    await _upsert(
        session,
        key,
        failures=0,
        now=now,
        expires_at=expires_at,
        on_conflict={"expires_at": expires_at},
    )


async def delete_entry(session: AsyncSession, key: EntryKey) -> None:
    kind, account, address = key
    await session.execute(
        delete(LoginThrottleEntry).where(
            col(LoginThrottleEntry.kind) == kind,
            col(LoginThrottleEntry.account) == account,
            col(LoginThrottleEntry.address) == address,
        )
    )


async def delete_counters_of(session: AsyncSession, account: str, address: str) -> int:
    """Every failure counter of this account or of this address (``known`` markers are kept).

    An empty ``address`` matches nothing: "" stands for "no address" in the account rows.
    """
    names = col(LoginThrottleEntry.account) == account
    if address:
        names = or_(names, col(LoginThrottleEntry.address) == address)
    result = await session.execute(
        delete(LoginThrottleEntry).where(col(LoginThrottleEntry.kind) != "known", names)
    )
    return affected_rows(result)


async def purge_expired(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        delete(LoginThrottleEntry).where(col(LoginThrottleEntry.expires_at) <= now)
    )
