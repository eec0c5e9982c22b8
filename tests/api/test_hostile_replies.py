"""Hostile model output over the HTTP API: the SSE stream stays valid UTF-8, the reply ends,
and the conversation takes the next message (never a 409 left behind)."""

from __future__ import annotations

import uuid

import pytest

from chat_app.core.db import session_scope
from chat_app.core.settings import get_settings
from chat_app.models.message import MessageStatus
from chat_app.repositories import messages as messages_repo
from tests.api.conftest import parse_sse

pytestmark = pytest.mark.usefixtures("settle")

HOSTILE = [
    ("lone-surrogates", {"reply_text": "a\ud800b\udfffc", "chunk_chars": 2}, "a\ufffdb\ufffdc"),
    ("nul", {"reply_text": "a\x00b", "chunk_chars": 1}, "a\ufffdb"),
    ("invalid-json", {"reply_tokens": 2, "inject": ["invalid_json", "not_json"]}, "tok0 tok1 "),
    ("non-utf8", {"reply_tokens": 2, "inject": ["non_utf8_text"]}, "tok0 caf\ufffd tok1 "),
]


@pytest.mark.parametrize(
    ("config", "stored"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
async def test_hostile_reply_streams_as_valid_utf8_and_frees_the_conversation(
    client, alice, fake, config, stored
):
    fake.configure(**config)
    created = await client.post("/api/v1/conversations", json={}, headers=alice)
    url = f"/api/v1/conversations/{created.json()['id']}"
    response = await client.post(f"{url}/messages", json={"content": "hi"}, headers=alice)
    assert response.status_code == 200
    events = parse_sse(response.content.decode("utf-8"))  # strict: raises on bad bytes
    assert "".join(data["text"] for name, data, _ in events if name == "delta") == stored
    assert events[-1][0] == "done" and events[-1][1]["status"] == "complete"

    fake.configure(reply_text="fine", inject=[])
    again = await client.post(f"{url}/messages", json={"content": "again"}, headers=alice)
    assert again.status_code == 200, again.text
    messages = (await client.get(f"{url}/messages", headers=alice)).json()["items"]
    assert [m["content"] for m in messages] == ["hi", stored, "again", "fine"]


async def test_a_huge_chunk_is_cut_at_the_cap_with_its_reason(client, alice, fake, monkeypatch):
    monkeypatch.setenv("MAX_REPLY_CHARS", "1000")
    get_settings.cache_clear()
    fake.configure(reply_text="y" * 200_000, chunk_chars=200_000)
    created = await client.post("/api/v1/conversations", json={}, headers=alice)
    url = f"/api/v1/conversations/{created.json()['id']}"
    events = parse_sse(
        (await client.post(f"{url}/messages", json={"content": "hi"}, headers=alice)).text
    )
    assert "".join(data["text"] for name, data, _ in events if name == "delta") == "y" * 1000
    assert events[-1][1]["status"] == "stopped"
    assert events[-1][1]["error_detail"] == "The reply reached the length limit (1,000 characters)."


async def test_stop_ends_a_reply_row_nothing_is_writing(client, alice, fake):
    """A row left "streaming" (a dead process, a failed write): Stop over the API ends it."""
    owner = uuid.UUID((await client.get("/api/v1/me", headers=alice)).json()["id"])
    created = await client.post("/api/v1/conversations", json={}, headers=alice)
    cid = uuid.UUID(created.json()["id"])
    url = f"/api/v1/conversations/{cid}"
    async with session_scope() as session:
        await messages_repo.add(session, owner, cid, role="user", content="hi")
        await messages_repo.add(
            session, owner, cid, role="assistant", content="half", status=MessageStatus.STREAMING
        )
    busy = await client.post(f"{url}/messages", json={"content": "b"}, headers=alice)
    assert busy.status_code == 409

    assert (await client.post(f"{url}/stop", headers=alice)).json() == {"stopped": True}
    assert (await client.post(f"{url}/stop", headers=alice)).json() == {"stopped": False}
    fake.configure(reply_text="back")
    again = await client.post(f"{url}/messages", json={"content": "again"}, headers=alice)
    assert again.status_code == 200, again.text
    messages = (await client.get(f"{url}/messages", headers=alice)).json()["items"]
    assert [(m["content"], m["status"]) for m in messages] == [
        ("hi", "complete"),
        ("half", "stopped"),
        ("again", "complete"),
        ("back", "complete"),
    ]
