"""Data access for redeemed login tickets (``redeemed_login_tickets``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from chat_app.models.login_records import RedeemedLoginTicket


async def record_redemption(session: AsyncSession, ticket_id: str, expires_at: datetime) -> None:
    """Insert the ticket's id. The primary key is the single-use check: a second redemption,
    in this process or any other, fails here with IntegrityError (PostgreSQL makes a concurrent
    second insert wait for the first to commit, then fail)."""
    session.add(RedeemedLoginTicket(jti=ticket_id, expires_at=expires_at))
    await session.flush()


async def purge_expired(session: AsyncSession, now: datetime) -> None:
    # An expired ticket is refused by its signature's exp already: its row is no longer needed.
    await session.execute(
        delete(RedeemedLoginTicket).where(col(RedeemedLoginTicket.expires_at) <= now)
    )
