"""Login throttling: guessing gets slow, the real user from their own address stays in.

Three counters are kept for every failed login, each with its own schedule (``Backoff``):

- per (account, address): 5 free failures (typos), then a wait of 5 s that doubles with every
  further failure, up to 15 minutes. This is the one a guesser at one address hits first; the
  owner elsewhere never sees it. A successful login resets it.
- per address, whatever the account: 20 free failures (a shared office or NAT mistypes too),
  then 5 s doubling up to 15 minutes. This slows one address spraying many accounts.
- per account, from every address: 100 free failures, then 1 s doubling up to only 60 s. This
  slows a guesser spread over many addresses to about one guess a minute for that account,
  yet it can never lock the owner out for long: it is capped at a minute, and it does not apply
  at all from an address the account has logged in from before (a ``known`` row, kept 30 days).

A counter is forgotten 24 hours after its last failure. An administrator clears the counters
of an account or an address with ``python -m chat_app clear-throttle <email or address>``.

The counters live in the database, so every worker shares them and the CLI reaches the running
server. ``LoginThrottle`` is the whole interface the auth service uses; a Redis implementation
can replace ``DatabaseLoginThrottle`` without touching the callers.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import DBAPIError

from chat_app.core.client_address import parse_address
from chat_app.core.db import read_scope, session_scope
from chat_app.models.common import utcnow
from chat_app.models.login_records import ADDRESS_KEY_MAX, EMAIL_KEY_MAX
from chat_app.repositories import login_throttle as throttle_repo
from chat_app.repositories.login_throttle import EntryKey

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    free_failures: int
    first_delay: float  # seconds, after the last free failure
    max_delay: float

    def delay(self, failures: int) -> float:
        """Seconds to wait after the last of ``failures`` failures before the next attempt."""
        if failures < self.free_failures:
            return 0.0
        doublings = min(failures - self.free_failures, 64)  # 2**64 s is far past any cap
        return min(self.max_delay, self.first_delay * 2.0**doublings)


PER_PAIR = Backoff(free_failures=5, first_delay=5.0, max_delay=15 * 60.0)
PER_ADDRESS = Backoff(free_failures=20, first_delay=5.0, max_delay=15 * 60.0)
PER_ACCOUNT = Backoff(free_failures=100, first_delay=1.0, max_delay=60.0)
SCHEDULES = {"pair": PER_PAIR, "address": PER_ADDRESS, "account": PER_ACCOUNT}
FORGET_AFTER = timedelta(hours=24)
KNOWN_FOR = timedelta(days=30)


class LoginThrottle(Protocol):
    async def retry_after(self, account: str, address: str) -> float | None:
        """Seconds until this account may try again from this address; None: now."""

    async def record_failure(self, account: str, address: str) -> None: ...

    async def record_success(self, account: str, address: str) -> None: ...

    async def clear(self, subject: str) -> int:
        """Forget the failures of an account (email) or an address; how many counters went."""


def _account_key(email: str) -> str:
    # The column holds any normalized email; anything else (too long, NUL, a lone surrogate,
    # all of which login refuses anyway) is still counted, under a digest.
    if len(email) <= EMAIL_KEY_MAX and email.isprintable():
        return email
    return "sha256:" + hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()


def _address_key(address: str) -> str:
    parsed = parse_address(address)
    if parsed is None:
        return ""
    if parsed.version == 6:
        # One IPv6 subscriber gets a whole /64: counting single addresses would let a guesser
        # rotate through 2**64 of them.
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))[:ADDRESS_KEY_MAX]
    return str(parsed)


class DatabaseLoginThrottle:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    @staticmethod
    def _counters(account: str, address: str) -> list[EntryKey]:
        account, address = _account_key(account), _address_key(address)
        keys: list[EntryKey] = [("pair", account, address), ("account", account, "")]
        if address:  # no address known (e.g. a unix socket): only the account counters apply
            keys.append(("address", "", address))
        return keys

    async def retry_after(self, account: str, address: str) -> float | None:
        now = self._clock()
        counters = self._counters(account, address)
        known: EntryKey = ("known", counters[0][1], counters[0][2])
        async with read_scope() as session:
            entries = await throttle_repo.live_entries(session, [*counters, known], now)
        kinds = {entry.kind for entry in entries}
        waits = []
        for entry in entries:
            if entry.kind == "known" or (entry.kind == "account" and "known" in kinds):
                continue
            ready_at = entry.last_failure_at + timedelta(
                seconds=SCHEDULES[entry.kind].delay(entry.failures)
            )
            waits.append((ready_at - now).total_seconds())
        wait = max(waits, default=0.0)
        return wait if wait > 0 else None

    async def record_failure(self, account: str, address: str) -> None:
        now = self._clock()
        async with session_scope() as session:
            # Always in the same order, so concurrent failures never deadlock on PostgreSQL.
            for key in self._counters(account, address):
                await throttle_repo.add_failure(
                    session, key, now=now, expires_at=now + FORGET_AFTER
                )
        await self._purge(now)

    async def _purge(self, now: datetime) -> None:
        # A spray of random emails leaves rows behind; they go on the write path, in their own
        # transaction: a purge that collides with another worker's is retried next time.
        try:
            async with session_scope() as session:
                await throttle_repo.purge_expired(session, now)
        except DBAPIError as exc:
            logger.warning("purging expired login throttle rows failed: %s", exc)

    async def record_success(self, account: str, address: str) -> None:
        now = self._clock()
        pair = self._counters(account, address)[0]
        async with session_scope() as session:
            await throttle_repo.delete_entry(session, pair)
            if pair[2]:
                await throttle_repo.remember(
                    session, ("known", pair[1], pair[2]), now=now, expires_at=now + KNOWN_FOR
                )

    async def clear(self, subject: str) -> int:
        subject = subject.strip()
        if not subject:
            return 0
        async with session_scope() as session:
            return await throttle_repo.delete_counters_of(
                session, _account_key(subject), _address_key(subject)
            )
