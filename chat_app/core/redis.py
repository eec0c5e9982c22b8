"""The Redis connection, when REDIS_URL is set (several processes share live replies through it).

One client per event loop: redis-py's asyncio connections belong to the loop that opened them
(tests run one loop per test; the server runs one). Commands time out after a few seconds and
are retried with backoff on a dropped connection, so a Redis restart costs the callers an error
they handle (services decide what "Redis is down" means for them), never a hung task.

A blocking read (XREAD BLOCK) must not share those timeouts: ``blocking_client`` gives a reader
its own client whose socket timeout is longer than the block time.
"""

from __future__ import annotations

import asyncio
import weakref

from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from chat_app.core.settings import get_settings

COMMAND_TIMEOUT_SECONDS = 3.0
CONNECT_TIMEOUT_SECONDS = 2.0
HEALTH_CHECK_SECONDS = 15

__all__ = ["RedisError", "blocking_client", "get_redis", "key", "redis_configured"]

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, Redis]] = (
    weakref.WeakKeyDictionary()
)


def redis_configured() -> bool:
    return get_settings().uses_redis


def key(*parts: object) -> str:
    """A key of this app's: the configured prefix, then the parts joined by ':'."""
    return get_settings().redis_key_prefix + ":".join(str(part) for part in parts)


def _new_client(url: str, *, socket_timeout: float) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def get_redis() -> Redis:
    """This event loop's client for REDIS_URL (call only when ``redis_configured()``)."""
    url = get_settings().redis_url
    if not url:
        raise RuntimeError("REDIS_URL is not set")
    loop = asyncio.get_running_loop()
    cached = _clients.get(loop)
    if cached is not None and cached[0] == url:
        return cached[1]
    client = _new_client(url, socket_timeout=COMMAND_TIMEOUT_SECONDS)
    _clients[loop] = (url, client)
    return client


def blocking_client(block_seconds: float) -> Redis:
    """A client of its own for one reader that blocks up to ``block_seconds`` per call."""
    return _new_client(get_settings().redis_url, socket_timeout=block_seconds + 5.0)


async def close_redis() -> None:
    """Close this loop's client (the end of a test, or of the server)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    cached = _clients.pop(loop, None)
    if cached is not None:
        await cached[1].aclose()
