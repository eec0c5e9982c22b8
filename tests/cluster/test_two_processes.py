"""Two app processes behind the shipped nginx config, one PostgreSQL, one Redis.

What must hold before any reply crosses processes: pages and the API through nginx and on each
process, one login valid everywhere, a tab's state following its token to the other process
(or, when the token is still held by a dead process, the conversation coming from the URL),
and the Origin guard on every process.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.reflex_client import ReflexTab, conversation_path
from bench.users import User
from bench.websocket import WebSocket, WebSocketError
from tests.support.cluster import Cluster

pytestmark = pytest.mark.postgres
TAB_TIMEOUT = 60


async def _conversation_with_a_reply(cluster: Cluster, user: User, text: str) -> str:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=60) as client:
        created = await client.post(
            "/api/v1/conversations", json={"title": text}, headers=user.auth_headers
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        sent = await client.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"content": text, "stream": True},
            headers=user.auth_headers,
        )
        assert sent.status_code == 200, sent.text
        assert "event: done" in sent.text, sent.text[-500:]
    return str(cid)


def _history_text(tab: ReflexTab) -> str:
    return " ".join(str(m.get("content", "")) for m in tab.var("history") or [])


async def _open_conversation(tab: ReflexTab, cid: str) -> None:
    await tab.open(conversation_path(cid), {"conversation_id": cid}, timeout=TAB_TIMEOUT)
    await tab.wait_for(lambda t: t.var("cid") == cid and not t.var("loading"), TAB_TIMEOUT)


def test_pages_and_the_api_answer_through_nginx_and_on_each_process(cluster: Cluster) -> None:
    user = asyncio.run(cluster.login("pages"))
    for base in (cluster.url, *(app.url for app in cluster.apps)):
        with httpx.Client(base_url=base, timeout=30) as client:
            page = client.get("/login/")
            assert page.status_code == 200 and "<html" in page.text, base
            assert client.get("/c/does-not-matter").status_code == 200, base  # the SPA route
            me = client.get("/api/v1/me", headers=user.auth_headers)
            assert me.status_code == 200, (base, me.text)
            assert me.json()["email"] == user.email
    # nginx spread those requests over both processes.
    seen = set(cluster.nginx.upstreams_seen())
    assert {f"127.0.0.1:{app.port}" for app in cluster.apps} <= seen, seen


def test_a_login_through_nginx_is_the_same_session_on_every_process(cluster: Cluster) -> None:
    user = asyncio.run(cluster.login("session"))
    ids = set()
    for app in cluster.apps:
        # The browser's HttpOnly cookie, set through nginx, sent to each process directly.
        response = httpx.get(app.url + "/api/v1/me", headers={"cookie": user.cookie}, timeout=30)
        assert response.status_code == 200, (app.name, response.text)
        ids.add(response.json()["id"])
    assert ids == {str(user.user_id)}


def test_a_tab_that_moves_to_the_other_process_keeps_its_token_and_state(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        user = await cluster.login("mover")
        cid = await _conversation_with_a_reply(cluster, user, "Moving tabs")
        first = cluster.tab(0, user)
        await _open_conversation(first, cid)
        assert "Moving tabs" in _history_text(first)
        # Some tab state that no page load resets: the composer's refusal of a long message.
        await first.emit(f"{_composer()}.too_long", {"length": 10**7})
        await first.wait_for(lambda t: bool(_composer_error(t)), TAB_TIMEOUT)
        error = _composer_error(first)
        token = first.token
        await first.close()  # a reload: the socket closes cleanly, then the page reconnects

        second = cluster.tab(1, user, token=token)
        await _open_conversation(second, cid)
        try:
            assert second.token == token and not second.replaced_tokens
            assert "Moving tabs" in _history_text(second)
            # Process 2 never saw this tab before: the state came from Redis.
            assert _composer_error(second) == error
            assert not first.errors and not second.errors
        finally:
            await second.close()

    asyncio.run(scenario())


def test_a_tab_whose_process_died_gets_a_new_token_and_its_conversation_from_the_url(
    cluster: Cluster,
) -> None:
    async def scenario() -> None:
        user = await cluster.login("orphan")
        cid = await _conversation_with_a_reply(cluster, user, "Survives a crash")
        first = cluster.tab(0, user)
        await _open_conversation(first, cid)
        token = first.token
        cluster.apps[0].kill()  # its socket record stays in Redis (about an hour)
        await first.close()

        second = cluster.tab(1, user, token=token)
        await _open_conversation(second, cid)
        try:
            # What Reflex 0.10.1 does (issues #6345, #6252): the token looks taken, so the tab
            # is given a new one and starts with empty state; the page URL brings the
            # conversation back.
            assert second.replaced_tokens == [token] and second.token != token
            cluster.tab_tokens.add(second.token)
            assert "Survives a crash" in _history_text(second)
            assert not second.errors
        finally:
            await second.close()

    try:
        asyncio.run(scenario())
    finally:
        cluster.apps[0].start()
        cluster.apps[0].wait_ready()


def test_the_origin_guard_refuses_a_foreign_origin_on_every_process(cluster: Cluster) -> None:
    user = asyncio.run(cluster.login("guarded"))
    foreign = "http://evil.example.com"
    for base in (cluster.url, *(app.url for app in cluster.apps)):
        response = httpx.get(
            base + "/api/v1/me",
            headers={"cookie": user.cookie, "origin": foreign},
            timeout=30,
        )
        assert response.status_code == 403, (base, response.text)
        assert response.json()["error"]["code"] == "foreign_origin"
        own = httpx.get(
            base + "/api/v1/me", headers={"cookie": user.cookie, "origin": cluster.url}, timeout=30
        )
        assert own.status_code == 200, (base, own.text)

    async def handshake(base: str, origin: str) -> None:
        host = base.split("://", 1)[1]
        ws = await WebSocket.connect(
            f"ws://{host}/_event/?token=t&EIO=4&transport=websocket",
            [("Origin", origin), ("Cookie", user.cookie)],
        )
        await ws.close()

    for app in cluster.apps:
        with pytest.raises(WebSocketError, match=r"upgrade refused: HTTP/1\.1 403"):
            asyncio.run(handshake(app.url, foreign))
        asyncio.run(handshake(app.url, app.url))  # the process's own origin is let in


def _composer() -> str:
    from bench.reflex_client import STATES

    return STATES["composer"]


def _composer_error(tab: ReflexTab) -> str:
    return str(tab.var("composer_error") or "")


# ---- live replies across processes (the Redis reply bus) ----------------------------------

REPLY_TOKENS = 90


def _known_ids(tab: ReflexTab) -> set[str]:
    return {m["id"] for m in (tab.var("history") or []) + tab.visit_messages()}


def _new_reply(tab: ReflexTab, known: set[str]) -> dict | None:
    for message in tab.visit_messages():
        if message["role"] == "assistant" and message["id"] not in known:
            return message
    return None


def _saw_live_text(tab: ReflexTab) -> bool:
    return any(op != "clear" and length > 0 for u in tab.updates for op, _, length in u.live)


async def _stored(cluster: Cluster, user: User, cid: str, message_id: str) -> dict:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=60) as client:
        listed = await client.get(
            f"/api/v1/conversations/{cid}/messages", headers=user.auth_headers
        )
    assert listed.status_code == 200, listed.text
    found = [m for m in listed.json()["items"] if m["id"] == message_id]
    assert found, f"reply {message_id} is not in the conversation"
    return found[0]


def test_a_reply_streams_to_tabs_on_both_processes(cluster: Cluster, cluster_fake) -> None:
    async def scenario() -> None:
        user = await cluster.login("fanout")
        cid = await _conversation_with_a_reply(cluster, user, "Fan out")
        here, there = cluster.tab(0, user), cluster.tab(1, user)
        await _open_conversation(here, cid)
        cluster_fake.configure(
            tokens_per_second=30, reply_tokens=REPLY_TOKENS, reply_text=None, ttft_ms=0
        )
        known = _known_ids(here)
        try:
            await here.send_message("To both processes")
            await here.wait_for(lambda t: any(len(v) >= 10 for v in t.live.values()), TAB_TIMEOUT)
            # A second tab opens the conversation on the process that does not write the reply
            # (a tab learns of a reply when it opens the conversation, as in one process): it
            # gets the text so far and then the rest while it is written.
            await _open_conversation(there, cid)
            await there.wait_for(lambda t: any(len(v) >= 60 for v in t.live.values()), TAB_TIMEOUT)
            midway = max(len(v) for v in there.live.values())
            for tab in (here, there):
                await tab.wait_for(lambda t: _new_reply(t, known) is not None, TAB_TIMEOUT)
            reply = _new_reply(here, known)
            assert reply is not None
            stored = await _stored(cluster, user, cid, reply["id"])
            assert stored["status"] == "complete"
            assert f"tok{REPLY_TOKENS - 1}" in stored["content"]
            for tab in (here, there):
                assert (_new_reply(tab, known) or {}).get("content") == stored["content"]
                assert tab.live_gaps == 0 and not tab.errors
            assert midway < len(stored["content"])  # seen live, not only at the end
        finally:
            await here.close()
            await there.close()

    asyncio.run(scenario())


def test_a_tab_reconnecting_mid_reply_to_the_other_process_follows_it_to_the_end(
    cluster: Cluster, cluster_fake
) -> None:
    async def scenario() -> None:
        user = await cluster.login("reconnect")
        cid = await _conversation_with_a_reply(cluster, user, "Reconnect")
        first = cluster.tab(0, user)
        await _open_conversation(first, cid)
        cluster_fake.configure(
            tokens_per_second=30, reply_tokens=REPLY_TOKENS, reply_text=None, ttft_ms=0
        )
        known = _known_ids(first)
        await first.send_message("Keep going elsewhere")
        await first.wait_for(lambda t: any(len(v) >= 20 for v in t.live.values()), TAB_TIMEOUT)
        token = first.token
        await first.close()  # a reload; the new connection lands on the other process

        second = cluster.tab(1, user, token=token)
        try:
            await _open_conversation(second, cid)
            await second.wait_for(lambda t: _new_reply(t, known) is not None, TAB_TIMEOUT)
            reply = _new_reply(second, known)
            assert reply is not None
            stored = await _stored(cluster, user, cid, reply["id"])
            assert stored["status"] == "complete"
            assert f"tok{REPLY_TOKENS - 1}" in stored["content"]
            assert reply["content"] == stored["content"]
            assert _saw_live_text(second)  # it followed the reply live, mid-way
            # The old process's watcher of this tab may send one append before it sees the tab
            # moved; a chunk past the end is dropped and the page asks for the whole text
            # (resync_live), so what the tab shows is still exact (the content check above).
            assert not second.errors
        finally:
            await second.close()

    asyncio.run(scenario())
