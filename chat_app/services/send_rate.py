"""The per-user send rate: messages, regenerations and edits per minute, UI and API together.

Two implementations of one sliding window, chosen by the settings:

* REDIS_URL unset: ``InProcessSendRate``, a window in this process (one process serves the app).
* REDIS_URL set: ``RedisSendRate``, a sorted set per user in Redis, so every process (WORKERS,
  several hosts) counts against the same budget. One Lua script trims, counts and adds
  atomically, with Redis's own clock, so processes on hosts whose clocks differ agree.

Both answer the same question the same way: ``None`` when the send may go ahead (and it is
counted), else the seconds until it may. When Redis does not answer, the send is refused with
``Unavailable`` (HTTP 503, "temporarily unavailable") rather than let through uncounted: the
limit protects the model provider's budget, and a Redis outage that silently lifted it would
go unnoticed. The login throttle is not here: it is database-backed (services/login_throttle.py).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from functools import lru_cache
from typing import Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_app.core import metrics
from chat_app.core.redis import get_redis, key
from chat_app.core.settings import get_settings
from chat_app.services.errors import Refused, Unavailable
from chat_app.services.throttle import FailureThrottle

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
SEND_UNAVAILABLE = (
    "Sending is temporarily unavailable (a shared service is not answering). "
    "Nothing was sent; try again in a moment."
)


class SendRate(Protocol):
    async def hit(self, user_id: str) -> float | None:
        """Count one send for ``user_id``; the wait in seconds when the budget is spent."""
        ...


class InProcessSendRate:
    def __init__(self, limit: int, window_seconds: float = WINDOW_SECONDS) -> None:
        self._throttle = FailureThrottle(limit, window_seconds)

    async def hit(self, user_id: str) -> float | None:
        return self._throttle.hit(user_id)


# KEYS[1]: the user's window. ARGV: limit, window in ms, a member unique to this send.
# Scores are Redis's clock in ms. The same rules as FailureThrottle: an entry leaves the window
# once it is `window` old; a refused send is not counted; the wait runs to the moment the
# `limit`-th most recent entry leaves it.
_SLIDING_WINDOW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local entry = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return tostring(tonumber(entry[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return false
"""


class RedisSendRate:
    def __init__(self, limit: int, window_seconds: float = WINDOW_SECONDS) -> None:
        self._limit = limit
        self._window_ms = max(1, round(window_seconds * 1000))

    async def hit(self, user_id: str) -> float | None:
        client = get_redis()
        script = client.register_script(_SLIDING_WINDOW)  # no round trip: EVALSHA, then EVAL
        try:
            wait_ms = await script(
                keys=[key("send", user_id)],
                args=[self._limit, self._window_ms, secrets.token_hex(8)],
            )
        except (RedisConnectionError, RedisTimeoutError):
            metrics.count_redis_reconnect()
            log.warning("send rate: Redis is not answering", exc_info=True)
            raise Unavailable(SEND_UNAVAILABLE) from None
        except RedisError:
            log.warning("send rate: Redis refused the script", exc_info=True)
            raise Unavailable(SEND_UNAVAILABLE) from None
        return None if wait_ms is None else max(0.0, float(wait_ms) / 1000)


@lru_cache
def send_rate(limit: int, shared: bool) -> SendRate:
    """The process's send budget (one per setting value: a changed setting starts afresh)."""
    return RedisSendRate(limit) if shared else InProcessSendRate(limit)


async def check_send_rate(user_id: uuid.UUID) -> None:
    """One budget per user for everything that asks the model; ``Refused`` when it is spent."""
    settings = get_settings()
    if settings.send_rate_per_minute == 0:
        return
    wait = await send_rate(settings.send_rate_per_minute, settings.uses_redis).hit(str(user_id))
    if wait is not None:
        raise Refused(
            f"You are sending messages too quickly. Try again in {max(1, round(wait))} s.",
            retry_after=wait,
        )
