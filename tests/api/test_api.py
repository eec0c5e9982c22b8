"""Every route: happy paths, errors, and another user's ids (404, never a hint)."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from chat_app.services import generation
from chat_app.services.send_rate import send_rate
from tests.api.conftest import parse_sse, register
from tests.conftest import unique_email

pytestmark = pytest.mark.usefixtures("settle")


async def new_conversation(client, headers, **body):
    response = await client.post("/api/v1/conversations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_login_me_and_revoke(client):
    email = unique_email()
    await client.post(
        "/api/v1/auth/register",
        json={"email": email, "display_name": "Me", "password": "password123"},
    )
    response = await client.post(
        "/api/v1/auth/login", json={"email": email.upper(), "password": "password123"}
    )
    assert response.status_code == 200
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    me = await client.get("/api/v1/me", headers=headers)
    assert me.json()["email"] == email and "password_hash" not in me.text
    assert (await client.post("/api/v1/auth/revoke", headers=headers)).status_code == 204
    gone = await client.get("/api/v1/me", headers=headers)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "invalid_token"


async def test_login_failures_and_cookie_option(client):
    email = unique_email()
    await client.post(
        "/api/v1/auth/register",
        json={"email": email, "display_name": "Me", "password": "password123"},
    )
    bad = await client.post("/api/v1/auth/login", json={"email": email, "password": "nope-nope"})
    assert (
        bad.status_code == 403 and bad.json()["error"]["message"] == "Incorrect email or password."
    )
    ok = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "password123", "set_cookie": True}
    )
    cookie = ok.headers["set-cookie"]
    assert "chat_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()


async def test_login_throttle_is_429_with_retry_after(client):
    email = unique_email()
    for _ in range(5):
        await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong-pass"})
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": "x" * 9})
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0


async def test_registration_closed(client, monkeypatch):
    from chat_app.core.settings import get_settings

    monkeypatch.setenv("ALLOW_REGISTRATION", "false")
    get_settings.cache_clear()
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": unique_email(), "display_name": "x", "password": "password123"},
    )
    assert response.status_code == 403 and "closed" in response.json()["error"]["message"]


async def test_missing_and_bad_tokens_are_401(client):
    assert (await client.get("/api/v1/conversations")).status_code == 401
    for value in ("Bearer nonsense", "Bearer cat_nonsense", "Basic abc", "Bearer " + "a" * 5000):
        response = await client.get("/api/v1/conversations", headers={"Authorization": value})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_personal_tokens_shown_once_listed_and_revocable(client, alice):
    created = await client.post("/api/v1/tokens", json={"name": "my script"}, headers=alice)
    assert created.status_code == 201
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    token_headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/me", headers=token_headers)).status_code == 200
    listed = (await client.get("/api/v1/tokens", headers=alice)).json()
    assert listed[0]["name"] == "my script" and listed[0]["last_used_at"] is not None
    assert secret not in str(listed)
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=alice)).status_code == 204
    assert (await client.get("/api/v1/me", headers=token_headers)).status_code == 401
    blank = await client.post("/api/v1/tokens", json={"name": "  "}, headers=alice)
    assert blank.status_code == 422


async def test_revoke_all_also_revokes_personal_tokens(client, alice, bob):
    mine = (await client.post("/api/v1/tokens", json={"name": "a"}, headers=alice)).json()
    theirs = (await client.post("/api/v1/tokens", json={"name": "b"}, headers=bob)).json()
    as_mine = {"Authorization": f"Bearer {mine['secret']}"}
    as_theirs = {"Authorization": f"Bearer {theirs['secret']}"}
    assert (await client.get("/api/v1/me", headers=as_mine)).status_code == 200
    # Even called with the personal token itself: every credential of the user ends.
    assert (await client.post("/api/v1/auth/revoke-all", headers=as_mine)).status_code == 204
    assert (await client.get("/api/v1/me", headers=as_mine)).status_code == 401
    assert (await client.get("/api/v1/me", headers=alice)).status_code == 401
    assert (await client.get("/api/v1/me", headers=as_theirs)).status_code == 200


async def test_conversation_crud_and_search(client, alice):
    first = await new_conversation(
        client, alice, title="Alpha <b>plans</b>", system_prompt="Be nice"
    )
    await new_conversation(client, alice, title="Beta")
    listed = (await client.get("/api/v1/conversations", headers=alice)).json()
    assert [c["title"] for c in listed["items"]] == ["Beta", "Alpha <b>plans</b>"]
    found = (await client.get("/api/v1/conversations?q=ALPHA", headers=alice)).json()
    assert [c["id"] for c in found["items"]] == [first["id"]]
    patched = await client.patch(
        f"/api/v1/conversations/{first['id']}", json={"title": "Renamed"}, headers=alice
    )
    assert patched.json()["title"] == "Renamed" and patched.json()["system_prompt"] == "Be nice"
    empty = await client.patch(
        f"/api/v1/conversations/{first['id']}", json={"title": "   "}, headers=alice
    )
    assert empty.status_code == 422
    assert (
        await client.delete(f"/api/v1/conversations/{first['id']}", headers=alice)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/conversations/{first['id']}", headers=alice)
    ).status_code == 404


async def test_conversation_pagination(client, alice):
    for i in range(7):
        await new_conversation(client, alice, title=f"c{i}")
    seen, cursor = [], None
    while True:
        url = "/api/v1/conversations?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=alice)).json()
        seen += [c["title"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"c{i}" for i in reversed(range(7))]
    bad = await client.get("/api/v1/conversations?cursor=!!!", headers=alice)
    assert bad.status_code == 422


async def test_send_streams_sse_and_stores_the_reply(client, alice, fake):
    fake.configure(reply_text="Hello from the model")
    conversation = await new_conversation(client, alice)
    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "hi"},
        headers=alice,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [e[0] for e in events]
    assert names[0] == "start" and names[-1] == "done" and "usage" in names
    text = "".join(data["text"] for name, data, _ in events if name == "delta")
    assert text == "Hello from the model"
    assert events[-1][1]["status"] == "complete"
    messages = (
        await client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=alice)
    ).json()
    assert [m["content"] for m in messages["items"]] == ["hi", "Hello from the model"]


async def test_resume_from_last_event_id_has_no_gap_and_no_duplicate(client, alice, fake):
    fake.configure(reply_tokens=60, tokens_per_second=100)
    conversation = await new_conversation(client, alice)
    started = await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "go", "stream": False},
        headers=alice,
    )
    assert (
        started.status_code == 200 and started.json()["assistant_message"]["status"] == "streaming"
    )
    await asyncio.sleep(0.2)  # let some text arrive, then "reconnect" from an offset
    offset = 25
    resumed = await client.get(
        f"/api/v1/conversations/{conversation['id']}/reply",
        headers={**alice, "Last-Event-ID": str(offset)},
    )
    events = parse_sse(resumed.text)
    deltas = [data for name, data, _ in events if name == "delta"]
    assert deltas[0]["offset"] == offset
    for earlier, later in pairwise(deltas):
        assert later["offset"] == earlier["offset"] + len(earlier["text"])
    full = "".join(f"tok{i} " for i in range(60))
    assert full[:offset] + "".join(d["text"] for d in deltas) == full
    assert events[-1][0] == "done"


async def test_second_send_while_streaming_is_409_and_stop_works(client, alice, fake):
    fake.configure(reply_tokens=500, tokens_per_second=50)
    conversation = await new_conversation(client, alice)
    url = f"/api/v1/conversations/{conversation['id']}"
    await client.post(f"{url}/messages", json={"content": "a", "stream": False}, headers=alice)
    busy = await client.post(f"{url}/messages", json={"content": "b"}, headers=alice)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "conflict"
    await asyncio.sleep(0.1)
    assert (await client.post(f"{url}/stop", headers=alice)).json() == {"stopped": True}
    follow = await client.get(f"{url}/reply", headers=alice)
    assert parse_sse(follow.text)[-1][1]["status"] == "stopped"


async def test_regenerate_and_edit(client, alice, fake):
    fake.configure(reply_text="one")
    conversation = await new_conversation(client, alice)
    url = f"/api/v1/conversations/{conversation['id']}"
    await client.post(f"{url}/messages", json={"content": "q"}, headers=alice)
    fake.configure(reply_text="two")
    regenerated = await client.post(f"{url}/regenerate", headers=alice)
    assert parse_sse(regenerated.text)[-1][1]["status"] == "complete"
    fake.configure(reply_text="three")
    edited = await client.put(f"{url}/last-user-message", json={"content": "q2"}, headers=alice)
    assert edited.status_code == 200
    items = (await client.get(f"{url}/messages", headers=alice)).json()["items"]
    assert [m["content"] for m in items] == ["q2", "three"]


async def test_bad_message_input(client, alice):
    conversation = await new_conversation(client, alice)
    url = f"/api/v1/conversations/{conversation['id']}/messages"
    empty = await client.post(url, json={"content": "  "}, headers=alice)
    assert empty.status_code == 422
    huge = await client.post(url, json={"content": "x" * 32_001}, headers=alice)
    assert huge.status_code == 413 and "too long" in huge.json()["error"]["message"]
    malformed = await client.post(
        url, content=b"{not json", headers={**alice, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
    extra = await client.post(url, json={"content": "hi", "role": "system"}, headers=alice)
    assert extra.status_code == 422
    items = (
        await client.get(f"/api/v1/conversations/{conversation['id']}/messages", headers=alice)
    ).json()["items"]
    assert items == []


async def test_send_rate_limit_is_shared_and_429(client, alice, fake, monkeypatch):
    from chat_app.core.settings import get_settings

    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "2")
    get_settings.cache_clear()
    send_rate.cache_clear()
    fake.configure(reply_text="ok")
    conversation = await new_conversation(client, alice)
    url = f"/api/v1/conversations/{conversation['id']}"
    assert (
        await client.post(f"{url}/messages", json={"content": "1"}, headers=alice)
    ).status_code == 200
    assert (await client.post(f"{url}/regenerate", headers=alice)).status_code == 200
    limited = await client.post(f"{url}/messages", json={"content": "3"}, headers=alice)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    send_rate.cache_clear()


async def test_another_users_ids_are_404_and_change_nothing(client, alice, bob, fake):
    fake.configure(reply_text="secret answer")
    conversation = await new_conversation(client, alice, title="Alice's secret")
    cid = conversation["id"]
    await client.post(f"/api/v1/conversations/{cid}/messages", json={"content": "q"}, headers=alice)
    token = (await client.post("/api/v1/tokens", json={"name": "t"}, headers=alice)).json()
    missing = "00000000-0000-4000-8000-000000000000"
    calls = [
        ("GET", "/api/v1/conversations/{}", None),
        ("PATCH", "/api/v1/conversations/{}", {"title": "pwned"}),
        ("GET", "/api/v1/conversations/{}/messages", None),
        ("POST", "/api/v1/conversations/{}/messages", {"content": "x"}),
        ("POST", "/api/v1/conversations/{}/regenerate", None),
        ("PUT", "/api/v1/conversations/{}/last-user-message", {"content": "x"}),
        ("GET", "/api/v1/conversations/{}/reply", None),
        ("POST", "/api/v1/conversations/{}/stop", None),
        ("DELETE", "/api/v1/conversations/{}", None),
    ]
    for method, template, body in calls:
        theirs = await client.request(method, template.format(cid), json=body, headers=bob)
        nothing = await client.request(method, template.format(missing), json=body, headers=bob)
        assert theirs.status_code == nothing.status_code == 404, (method, template)
        assert theirs.json() == nothing.json()
    revoke = await client.delete(f"/api/v1/tokens/{token['token']['id']}", headers=bob)
    assert revoke.status_code == 404
    assert "Alice" not in (await client.get("/api/v1/conversations", headers=bob)).text
    # Alice's data is untouched.
    mine = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()
    assert mine["title"] == "Alice's secret"
    items = (await client.get(f"/api/v1/conversations/{cid}/messages", headers=alice)).json()
    assert [m["content"] for m in items["items"]] == ["q", "secret answer"]
    assert (await client.get("/api/v1/tokens", headers=alice)).json()[0]["name"] == "t"


async def test_malformed_ids_are_404_not_500(client, alice):
    for bad in ("nope", "1", "%00", "..", "' OR 1=1 --", "😀"):
        response = await client.get(f"/api/v1/conversations/{bad}", headers=alice)
        assert response.status_code == 404, bad


async def test_reply_started_in_service_is_watchable_over_api(client, alice, fake):
    """A reply started elsewhere (the UI uses the same service) streams over the API."""
    fake.configure(reply_tokens=30, tokens_per_second=200)
    me = (await client.get("/api/v1/me", headers=alice)).json()
    import uuid

    started = await generation.send_message(uuid.UUID(me["id"]), None, "from the browser")
    response = await client.get(
        f"/api/v1/conversations/{started.conversation.id}/reply", headers=alice
    )
    text = "".join(d["text"] for n, d, _ in parse_sse(response.text) if n == "delta")
    assert text == "".join(f"tok{i} " for i in range(30))


async def test_models_list_and_unknown_route(client, alice):
    models = (await client.get("/api/v1/models", headers=alice)).json()
    assert {m["id"] for m in models} >= {"fake-small"}
    missing = await client.get("/api/v1/nothing-here", headers=alice)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    await register(client, "extra")
