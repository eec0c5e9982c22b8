"""Tables that make login safe across processes: failure counters and redeemed tickets.

Both live in the database (not in one process's memory) so that every worker sees the same
counts, an administrator's ``clear-throttle`` reaches the running server, and a login ticket
redeemed by one worker cannot be redeemed again by another.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chat_app.models.common import UTCDateTime

EMAIL_KEY_MAX = 254
ADDRESS_KEY_MAX = 64  # the longest IPv6 text form is 45 characters; "" when not applicable


class LoginThrottleEntry(SQLModel, table=True):
    """One counter of failed logins: per (account, address), per address or per account.

    ``kind = 'known'`` rows record instead that this account logged in successfully from this
    address, which exempts the pair from the account-wide bound.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('pair', 'address', 'account', 'known')", name="ck_login_throttle_kind"
        ),
        sa.Index("ix_login_throttle_expires", "expires_at"),
        sa.Index("ix_login_throttle_address", "address"),
    )

    kind: str = Field(max_length=16, primary_key=True)
    account: str = Field(max_length=EMAIL_KEY_MAX, primary_key=True)
    address: str = Field(max_length=ADDRESS_KEY_MAX, primary_key=True)
    failures: int = Field(default=0)
    last_failure_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class RedeemedLoginTicket(SQLModel, table=True):
    """A login ticket already traded for a session cookie: it cannot be traded again."""

    __tablename__ = "redeemed_login_tickets"
    __table_args__ = (sa.Index("ix_redeemed_login_tickets_expires", "expires_at"),)

    jti: str = Field(max_length=64, primary_key=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
