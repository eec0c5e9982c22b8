"""The HTTP API in-process (httpx over ASGI), with a real database and the fake OpenAI server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chat_app.api.app import create_api
from tests.conftest import unique_email
from tests.services.conftest import fake, fake_openai_server, settle  # noqa: F401  (fixtures)


@pytest.fixture
async def client(db, fake) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    transport = httpx.ASGITransport(app=create_api(), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def register(client: httpx.AsyncClient, name: str = "user") -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": unique_email(name), "display_name": name, "password": "password123"},
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def alice(client) -> dict[str, str]:
    return await register(client, "alice")


@pytest.fixture
async def bob(client) -> dict[str, str]:
    return await register(client, "bob")


def parse_sse(body: str) -> list[tuple[str, dict, str | None]]:
    import json

    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
    return events
