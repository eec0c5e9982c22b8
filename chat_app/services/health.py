"""Is this process able to serve? The database, and Redis when it is configured, each probed.

For load balancers and operators (GET /api/v1/health). Each probe is bounded by
``PROBE_TIMEOUT_SECONDS`` and the two run side by side, so a health check answers within about
that time whatever is down. What a probe reports is a fixed word ("unreachable", "timeout"),
never the driver's message: those carry URLs, host names and sometimes passwords.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_app.core import metrics
from chat_app.core.db import get_engine
from chat_app.core.redis import get_redis, redis_configured

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0

Reason = Literal["unreachable", "timeout"]


@dataclass(frozen=True)
class Probe:
    ok: bool
    latency_ms: float
    reason: Reason | None = None


@dataclass(frozen=True)
class Health:
    database: Probe
    redis: Probe | None  # None: Redis is not configured (one process, nothing shared)

    @property
    def ok(self) -> bool:
        return self.database.ok and (self.redis is None or self.redis.ok)


async def check_health() -> Health:
    if not redis_configured():
        return Health(database=await _probe(_select_one, "database"), redis=None)
    database, redis = await asyncio.gather(
        _probe(_select_one, "database"), _probe(_ping_redis, "redis")
    )
    return Health(database=database, redis=redis)


async def _probe(check: Callable[[], Awaitable[None]], name: str) -> Probe:
    started = time.perf_counter()
    reason: Reason | None = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await check()
    except TimeoutError:
        reason = "timeout"
    except Exception:  # whatever the driver raised: the detail goes to the log, not the body
        log.warning("health probe of the %s failed", name, exc_info=True)
        reason = "unreachable"
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return Probe(ok=reason is None, latency_ms=latency_ms, reason=reason)


def _dbapi_select_one(sync_connection: Any) -> None:
    # At the driver's level, below SQLAlchemy's "begin" event: on SQLite that event takes the
    # write lock (BEGIN IMMEDIATE), and a health check must not queue behind writers.
    cursor = sync_connection.connection.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        cursor.close()


async def _select_one() -> None:
    async with get_engine().connect() as connection:
        await connection.run_sync(_dbapi_select_one)


async def _ping_redis() -> None:
    try:
        await get_redis().ping()  # type: ignore[misc]  # redis-py types both clients as one
    except (RedisConnectionError, RedisTimeoutError):
        metrics.count_redis_reconnect()
        raise
