"""Export and import over HTTP: downloads, round trip, ChatGPT import, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("settle")
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "chatgpt_conversations.json"


async def chat_with_reply(client, headers, fake, title, text):
    fake.configure(reply_text=f"reply to {text}")
    conversation = (
        await client.post("/api/v1/conversations", json={"title": title}, headers=headers)
    ).json()
    await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": text},
        headers=headers,
    )
    return conversation


async def test_export_import_round_trip_between_users(client, alice, bob, fake):
    await chat_with_reply(client, alice, fake, "First <script>x</script>", "hello")
    await chat_with_reply(client, alice, fake, "Second", "again")
    exported = await client.get("/api/v1/export", headers=alice)
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    body = exported.json()
    assert len(body["conversations"]) == 2

    imported = await client.post("/api/v1/import", content=json.dumps(body).encode(), headers=bob)
    assert imported.status_code == 200, imported.text
    assert len(imported.json()["imported"]) == 2 and imported.json()["skipped"] == []
    again = (await client.get("/api/v1/export", headers=bob)).json()

    assert again["conversations"] == body["conversations"]  # lossless; ids are never exported
    # Alice still has exactly her two.
    assert len((await client.get("/api/v1/conversations", headers=alice)).json()["items"]) == 2


async def test_markdown_export_of_one_conversation(client, alice, fake):
    conversation = await chat_with_reply(client, alice, fake, "Notes", "what is 2+2")
    response = await client.get(
        f"/api/v1/conversations/{conversation['id']}/export?format=markdown", headers=alice
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert "# Notes" in response.text and "what is 2+2" in response.text
    assert "reply to what is 2+2" in response.text


async def test_export_of_someone_elses_conversation_is_404(client, alice, bob, fake):
    conversation = await chat_with_reply(client, alice, fake, "Private", "secret")
    for fmt in ("json", "markdown"):
        response = await client.get(
            f"/api/v1/conversations/{conversation['id']}/export?format={fmt}", headers=bob
        )
        assert response.status_code == 404
        assert "secret" not in response.text
    assert (await client.get("/api/v1/export", headers=bob)).json()["conversations"] == []


async def test_chatgpt_import_reports_per_conversation(client, alice):
    response = await client.post(
        "/api/v1/import?source=chatgpt", content=FIXTURE.read_bytes(), headers=alice
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert len(report["imported"]) >= 1 and len(report["skipped"]) >= 1
    assert all(item["reason"] for item in report["skipped"])
    listed = (await client.get("/api/v1/conversations", headers=alice)).json()["items"]
    assert len(listed) == len(report["imported"])


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "JSON"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"[" * 100_000, "nested"),
        (b'{"format": "chat-app-export", "version": 1, "conversations": "nope"}', "conversations"),
    ],
)
async def test_hostile_imports_are_refused_and_change_nothing(client, alice, payload, fragment):
    response = await client.post("/api/v1/import", content=payload, headers=alice)
    assert response.status_code == 422, response.text
    assert fragment.lower() in response.json()["error"]["message"].lower()
    assert (await client.get("/api/v1/conversations", headers=alice)).json()["items"] == []


async def test_oversized_import_is_413(client, alice, monkeypatch):
    from chat_app.services import transfer

    monkeypatch.setattr(transfer, "MAX_IMPORT_BYTES", 1000)
    response = await client.post("/api/v1/import", content=b" " * 5000, headers=alice)
    assert response.status_code == 413
