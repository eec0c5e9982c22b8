"""The per-user send rate: one behaviour, in-process and in Redis; shared across processes."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Awaitable, Callable

import pytest

from chat_app.core import metrics
from chat_app.core.redis import close_redis, get_redis, key
from chat_app.core.settings import get_settings
from chat_app.services.errors import Refused, Unavailable
from chat_app.services.send_rate import (
    InProcessSendRate,
    RedisSendRate,
    SendRate,
    check_send_rate,
    send_rate,
)
from tests.support.sockets import closed_port

MakeRate = Callable[[int, float], SendRate]


@pytest.fixture(params=["in_process", "redis"])
async def make_rate(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Each test below runs against both implementations (the Redis one on the real server)."""
    if request.param == "in_process":
        yield InProcessSendRate
        return
    request.getfixturevalue("redis_url")
    yield RedisSendRate
    await close_redis()


def user() -> str:
    return str(uuid.uuid4())


async def test_allows_the_limit_then_says_how_long_to_wait(make_rate: MakeRate) -> None:
    rate, someone = make_rate(3, 60.0), user()
    assert [await rate.hit(someone) for _ in range(3)] == [None, None, None]
    wait = await rate.hit(someone)
    assert wait is not None and 55.0 < wait <= 60.0


async def test_each_user_has_a_budget_of_their_own(make_rate: MakeRate) -> None:
    rate, first, second = make_rate(1, 60.0), user(), user()
    assert await rate.hit(first) is None
    assert await rate.hit(first) is not None
    assert await rate.hit(second) is None


async def test_the_window_slides_and_refusals_are_not_counted(make_rate: MakeRate) -> None:
    rate, someone = make_rate(2, 0.6), user()
    assert await rate.hit(someone) is None
    assert await rate.hit(someone) is None
    wait = await rate.hit(someone)
    assert wait is not None and 0.0 < wait <= 0.6
    assert await rate.hit(someone) is not None  # still refused, and not counted either
    await asyncio.sleep(wait + 0.1)
    # Both counted sends left the window (the refusals never entered it): two more fit.
    assert await rate.hit(someone) is None
    assert await rate.hit(someone) is None
    assert await rate.hit(someone) is not None


async def test_concurrent_sends_never_exceed_the_limit(make_rate: MakeRate) -> None:
    rate, someone = make_rate(5, 60.0), user()
    results = await asyncio.gather(*(rate.hit(someone) for _ in range(20)))
    assert sum(result is None for result in results) == 5


def _in_its_own_loop(work: Callable[[], Awaitable[list[float | None]]]) -> list[float | None]:
    async def run() -> list[float | None]:
        try:
            return await work()
        finally:
            await close_redis()

    return asyncio.run(run())


def test_two_processes_share_one_redis_budget(redis_url: str) -> None:
    """Two event loops on two threads, each with its own Redis client and its own limiter
    object (what two worker processes have): together they get the limit, not twice it."""
    someone, limit = user(), 7
    start = threading.Barrier(2)
    results: dict[str, list[float | None]] = {}

    def worker(name: str) -> None:
        rate = RedisSendRate(limit, 60.0)

        async def sends() -> list[float | None]:
            await get_redis().ping()  # connected before the race starts
            start.wait(timeout=10)
            return list(await asyncio.gather(*(rate.hit(someone) for _ in range(10))))

        results[name] = _in_its_own_loop(sends)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    allowed = {name: sum(r is None for r in found) for name, found in results.items()}
    assert sum(allowed.values()) == limit, allowed
    assert all(len(found) == 10 for found in results.values())


async def test_keys_are_prefixed_and_expire_with_the_window(redis_url: str) -> None:
    someone = user()
    await RedisSendRate(3, 30.0).hit(someone)
    client = get_redis()
    name = key("send", someone)
    assert name.startswith(get_settings().redis_key_prefix)
    assert await client.zcard(name) == 1
    assert 0 < await client.pttl(name) <= 30_000
    await close_redis()


async def test_redis_unreachable_refuses_the_send_as_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    get_settings.cache_clear()
    before = _reconnects()
    with pytest.raises(Unavailable) as caught:
        await RedisSendRate(3, 60.0).hit(user())
    assert "temporarily unavailable" in caught.value.message
    assert "127.0.0.1" not in caught.value.message and "redis" not in caught.value.message
    assert _reconnects() == before + 1
    await close_redis()


async def test_check_send_rate_uses_the_setting_and_says_when(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "2")
    get_settings.cache_clear()
    send_rate.cache_clear()
    someone = uuid.uuid4()
    assert isinstance(send_rate(2, True), RedisSendRate)
    await check_send_rate(someone)
    await check_send_rate(someone)
    with pytest.raises(Refused) as caught:
        await check_send_rate(someone)
    assert caught.value.retry_after is not None and caught.value.retry_after > 55
    assert re.search(r"too quickly\. Try again in (59|60) s\.", caught.value.message)
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "0")  # 0: no limit at all, Redis not asked
    get_settings.cache_clear()
    await check_send_rate(someone)
    send_rate.cache_clear()
    await close_redis()


def _reconnects() -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics.render().decode()):
        if family.name == "chat_redis_reconnects":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return 0.0
