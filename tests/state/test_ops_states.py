"""What the UI layer adds for operations: the connected-tabs gauge, and "temporarily
unavailable" in the composer when the shared send rate cannot be checked."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest
import socketio
from prometheus_client.parser import text_string_to_metric_families

from chat_app.core import metrics
from chat_app.core.redis import close_redis
from chat_app.core.settings import get_settings
from chat_app.services import chat as chat_service
from chat_app.state.tab_session import TabSessionBinding
from tests.state.test_chat_states import new_chat_tab, user_token
from tests.support.fake_openai import FakeOpenAI
from tests.support.sockets import closed_port


def connected_tabs() -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        if family.name == "chat_connected_tabs":
            return family.samples[0].value
    raise AssertionError("no chat_connected_tabs in the exposition")


async def test_the_watchdog_samples_this_processes_sockets(db: str) -> None:
    """A real Socket.IO server (Reflex's is one): engine.io handshakes open sockets, a close
    packet ends one; the watchdog's pass reports how many are open."""
    server = socketio.AsyncServer(async_mode="asgi")
    app = SimpleNamespace(sio=server, event_namespace=None)  # what check_once reads of rx.App
    binding = TabSessionBinding()
    transport = httpx.ASGITransport(app=socketio.ASGIApp(server))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        sids = []
        for _ in range(3):
            opened = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            assert opened.status_code == 200 and opened.text.startswith("0")
            sids.append(json.loads(opened.text[1:])["sid"])
        await binding.check_once(app)  # type: ignore[arg-type]
        assert connected_tabs() == 3
        closed = await client.post(
            "/socket.io/",
            params={"EIO": "4", "transport": "polling", "sid": sids[0]},
            content=b"1",  # engine.io "close"
        )
        assert closed.status_code == 200
        await binding.check_once(app)  # type: ignore[arg-type]
        assert connected_tabs() == 2
    metrics.set_connected_tabs(0)


async def test_send_with_redis_down_says_temporarily_unavailable(
    model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await user_token()
    tab = await new_chat_tab(token)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    get_settings.cache_clear()
    try:
        assert await tab.composer.send({"message": "hello?"}) is None
    finally:
        await close_redis()
    assert "temporarily unavailable" in tab.composer.error
    assert "Traceback" not in tab.composer.error and "127.0.0.1" not in tab.composer.error
    assert tab.conversation.cid == "" and not tab.stream.active
    assert (await chat_service.list_conversations(user_id)).items == []
    assert model.requests == []
