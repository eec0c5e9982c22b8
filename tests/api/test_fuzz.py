"""Property-based fuzzing of every API operation from its OpenAPI schema (schemathesis).

The API runs in its own uvicorn process on 127.0.0.1 with a SQLite database and the fake OpenAI
server, exactly as deployed minus Reflex. Whatever schemathesis generates, with a valid bearer
token and without, the server must never answer 5xx.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import PROJECT_ROOT, TEST_SECRET, unique_email
from tests.support.fake_openai import FakeOpenAI, start_fake_openai
from tests.support.served_app import free_port


@pytest.fixture(scope="module")
def api_server(tmp_path_factory) -> Iterator[str]:
    fake: FakeOpenAI = start_fake_openai(reply_tokens=3)
    data_dir = tmp_path_factory.mktemp("fuzz")
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": "",
        "SECRET_KEY": TEST_SECRET,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test",
        "BCRYPT_ROUNDS": "4",
        "SEND_RATE_PER_MINUTE": "0",
    }
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=PROJECT_ROOT, env=env, check=True
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "chat_app.api.app:create_api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/api/openapi.json", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        fake.stop()


@pytest.fixture(scope="module")
def auth_headers(api_server: str) -> dict[str, str]:
    response = httpx.post(
        api_server + "/api/v1/auth/register",
        json={"email": unique_email("fuzz"), "display_name": "Fuzz", "password": "password123"},
    )
    token = response.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    # Something for generated ids and requests to hit.
    httpx.post(api_server + "/api/v1/conversations", json={"title": "seed"}, headers=headers)
    return headers


SKIPPED_PATHS = {
    # Destructive for the fuzzer's own session: they would log it out half-way.
    "/api/v1/auth/revoke",
    "/api/v1/auth/revoke-all",
}


def test_no_input_makes_the_server_fail(api_server, auth_headers):
    """Every operation, ~25 generated requests each, with and without a valid token."""
    schema = schemathesis.openapi.from_url(api_server + "/api/openapi.json")
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED_PATHS:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def exercise(case):  # type: ignore[no-untyped-def]
            nonlocal calls
            for headers in (auth_headers, {}):
                response = case.call(base_url=api_server, headers=headers, timeout=30)
                calls += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:200]}"
                    )

        exercise()
    print(f"fuzz: {calls} requests, {len(failures)} server errors")
    assert calls > 200
    assert failures == []
