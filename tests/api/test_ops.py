"""GET /api/v1/health and GET /metrics through the real API (httpx over ASGI).

Health: SQLite and PostgreSQL (the ``client`` fixture runs each test on both), with and without
Redis, Redis refusing connections or never answering, the database unreachable; the body never
names a host, a URL or a password. Metrics: off without METRICS_TOKEN, a bearer token otherwise,
values that move after a real reply from the fake OpenAI server over real HTTP.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chat_app.api.app import create_api
from chat_app.api.trusted_origin import trusted_origin_guard
from chat_app.core import db as db_module
from chat_app.core.redis import close_redis
from chat_app.core.session_cookie import SESSION_COOKIE
from chat_app.core.settings import get_settings
from chat_app.services.health import PROBE_TIMEOUT_SECONDS
from chat_app.services.send_rate import send_rate
from tests.api.conftest import parse_sse
from tests.services.conftest import wait_until
from tests.support.sockets import closed_port, silent_listener

pytestmark = pytest.mark.usefixtures("settle")

TOKEN = "metrics-token-" + "m" * 24
FORBIDDEN_IN_HEALTH = ("redis://", "postgresql", "sqlite", "127.0.0.1", "localhost", "password")


def assert_no_secrets(body: str, *extra: str) -> None:
    lowered = body.lower()
    for word in (*FORBIDDEN_IN_HEALTH, *extra):
        assert word.lower() not in lowered, f"{word!r} in {body}"


@pytest.fixture
async def no_redis_clients() -> AsyncIterator[None]:
    yield
    await close_redis()


def point_redis_at(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    get_settings.cache_clear()


# ---- health -----------------------------------------------------------------------------------


async def test_health_without_redis_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["database"]["reason"] is None
    assert isinstance(body["database"]["latency_ms"], float)
    assert body["database"]["latency_ms"] >= 0
    assert body["redis"] == {"configured": False, "ok": None, "latency_ms": None, "reason": None}
    assert_no_secrets(response.text)


async def test_health_with_redis_is_ok(
    client: httpx.AsyncClient, redis_url: str, no_redis_clients: None
) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] is True
    assert body["redis"]["configured"] is True and body["redis"]["ok"] is True
    assert body["redis"]["latency_ms"] >= 0 and body["redis"]["reason"] is None
    assert_no_secrets(response.text, get_settings().redis_key_prefix)


async def test_redis_refusing_connections_is_503_with_the_database_still_ok(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, no_redis_clients: None
) -> None:
    port = closed_port()
    point_redis_at(monkeypatch, port)
    response = await client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is True
    assert body["redis"] == {
        "configured": True,
        "ok": False,
        "latency_ms": body["redis"]["latency_ms"],
        "reason": "unreachable",
    }
    assert_no_secrets(response.text, str(port), "refused", "error")


async def test_redis_that_never_answers_times_out_within_the_probe_bound(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, no_redis_clients: None
) -> None:
    with silent_listener() as port:
        point_redis_at(monkeypatch, port)
        started = time.monotonic()
        response = await client.get("/api/v1/health")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["redis"]["reason"] == "timeout"
    assert response.json()["database"]["ok"] is True
    # The probe's own bound, not a performance figure: without it this waits for the client's
    # socket timeout and retries (over 10 s).
    assert elapsed < PROBE_TIMEOUT_SECONDS + 2.0
    assert_no_secrets(response.text, str(port))


async def test_database_unreachable_is_503_and_names_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = closed_port()
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+psycopg://dbadmin:hunter2-secret@127.0.0.1:{port}/chat"
    )
    get_settings.cache_clear()
    db_module.get_engine.cache_clear()
    transport = httpx.ASGITransport(app=create_api())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get("/api/v1/health")
    finally:
        await db_module.dispose_engine()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is False and body["database"]["reason"] == "unreachable"
    assert body["redis"]["configured"] is False
    assert_no_secrets(response.text, "hunter2", "dbadmin", str(port), "chat")


async def test_the_origin_guard_still_applies(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No cookie: anyone may probe. A cookie sent by a foreign page: refused like any route."""
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    get_settings.cache_clear()
    transport = httpx.ASGITransport(app=trusted_origin_guard(create_api()))
    foreign = {"origin": "http://127.0.0.1:3001", "cookie": f"{SESSION_COOKIE}=anything"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:3000") as c:
        assert (await c.get("/api/v1/health")).status_code == 200
        for path in ("/api/v1/health", "/metrics"):
            refused = await c.get(path, headers={**foreign, "authorization": f"Bearer {TOKEN}"})
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "foreign_origin"


# ---- metrics ----------------------------------------------------------------------------------


def scrape_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return scrape_values(response.text)


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    get_settings.cache_clear()
    return TOKEN


async def test_metrics_answer_404_when_no_token_is_configured(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.json() == (await client.get("/no-such-route")).json()


async def test_metrics_need_the_bearer_token(client: httpx.AsyncClient, metrics_on: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "chat_" not in response.text and TOKEN not in response.text
    ok = await client.get("/metrics", headers={"Authorization": f"bearer  {TOKEN} "})
    assert ok.status_code == 200 and "chat_live_replies" in ok.text


async def test_metrics_move_after_a_real_reply_and_name_no_secret(
    client: httpx.AsyncClient, alice: dict[str, str], fake, metrics_on: str
) -> None:
    fake.configure(reply_text="A reply to count", ttft_ms=30)
    before = await scrape(client)
    conversation = (await client.post("/api/v1/conversations", json={}, headers=alice)).json()
    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "count me"},
        headers=alice,
    )
    assert response.status_code == 200
    assert parse_sse(response.text)[-1][1]["status"] == "complete"
    complete = ("chat_replies_finished_total", (("status", "complete"),))

    async def counted() -> bool:
        return (await scrape(client)).get(complete, 0) == before.get(complete, 0) + 1

    await wait_until(counted)
    after = await scrape(client)

    def moved(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert moved("chat_reply_time_to_first_token_seconds_count") == 1
    assert moved("chat_reply_duration_seconds_count") == 1
    ttft_sum = moved("chat_reply_time_to_first_token_seconds_sum")
    duration_sum = moved("chat_reply_duration_seconds_sum")
    assert 0.03 <= ttft_sum <= duration_sum
    assert after[("chat_live_replies", ())] == before[("chat_live_replies", ())]
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    settings = get_settings()
    for secret in (
        TOKEN,
        settings.openai_api_key,
        settings.openai_base_url,
        alice["Authorization"],
    ):
        assert secret.split()[-1] not in text
    assert settings.secret_key not in text and "127.0.0.1" not in text


async def test_provider_errors_are_counted_by_kind(
    client: httpx.AsyncClient, alice: dict[str, str], fake, metrics_on: str
) -> None:
    fake.configure(fault="401")
    before = await scrape(client)
    conversation = (await client.post("/api/v1/conversations", json={}, headers=alice)).json()
    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "fail me"},
        headers=alice,
    )
    assert response.status_code == 200
    assert parse_sse(response.text)[-1][1]["status"] == "error"
    auth = ("chat_provider_errors_total", (("kind", "auth"),))
    errors = ("chat_replies_finished_total", (("status", "error"),))

    async def counted() -> bool:
        now = await scrape(client)
        return (
            now.get(auth, 0) == before.get(auth, 0) + 1
            and now.get(errors, 0) == before.get(errors, 0) + 1
        )

    await wait_until(counted)


# ---- the send rate through the API -------------------------------------------------------------


@pytest.fixture
def two_sends_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "2")
    get_settings.cache_clear()
    send_rate.cache_clear()


async def test_the_shared_send_rate_answers_429_with_retry_after(
    client: httpx.AsyncClient,
    alice: dict[str, str],
    fake,
    redis_url: str,
    two_sends_a_minute: None,
    no_redis_clients: None,
) -> None:
    fake.configure(reply_text="ok")
    conversation = (await client.post("/api/v1/conversations", json={}, headers=alice)).json()
    url = f"/api/v1/conversations/{conversation['id']}"
    first = await client.post(f"{url}/messages", json={"content": "1"}, headers=alice)
    assert first.status_code == 200
    assert (await client.post(f"{url}/regenerate", headers=alice)).status_code == 200
    limited = await client.post(f"{url}/messages", json={"content": "3"}, headers=alice)
    assert limited.status_code == 429, limited.text
    assert 55 <= int(limited.headers["retry-after"]) <= 60
    assert "too quickly" in limited.json()["error"]["message"]


async def test_redis_down_makes_a_send_503_and_stores_nothing(
    client: httpx.AsyncClient,
    alice: dict[str, str],
    fake,
    monkeypatch: pytest.MonkeyPatch,
    two_sends_a_minute: None,
    no_redis_clients: None,
) -> None:
    conversation = (await client.post("/api/v1/conversations", json={}, headers=alice)).json()
    url = f"/api/v1/conversations/{conversation['id']}"
    port = closed_port()
    point_redis_at(monkeypatch, port)
    refused = await client.post(f"{url}/messages", json={"content": "lost?"}, headers=alice)
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "unavailable" and "temporarily unavailable" in error["message"]
    assert_no_secrets(refused.text, str(port))
    monkeypatch.delenv("REDIS_URL")
    get_settings.cache_clear()
    messages = (await client.get(f"{url}/messages", headers=alice)).json()["items"]
    assert messages == [] and fake.requests == []
