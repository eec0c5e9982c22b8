"""Replies shared by two processes through Redis: one writes (tests/support/reply_writer.py, a
real second process), this test process follows, stops and sweeps through its own bus.

Real PostgreSQL, real Redis (the shared server under a key prefix of this test; a private
redis-server where the test restarts Redis), the fake OpenAI server over real HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest

from chat_app.api.app import create_api
from chat_app.core.redis import close_redis, get_redis
from chat_app.models.message import MessageStatus
from chat_app.services import chat, replies
from chat_app.services.live import Delta, Finished
from chat_app.services.redis_bus import LEASE_SECONDS, stream_key
from tests.api.conftest import parse_sse
from tests.services.conftest import wait_until
from tests.support.reply_writer import WriterProcess
from tests.support.served_app import free_port

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def here(db, redis_url, fake) -> AsyncIterator[replies.ReplyRegistry]:
    """This process's registry on the Redis bus, its loops running (reader, sweeper)."""
    registry = replies.get_replies()
    registry.bus.start()
    yield registry
    await registry.bus.close()
    await close_redis()


@pytest.fixture
def writers(tmp_path: Path) -> Iterator[list[WriterProcess]]:
    started: list[WriterProcess] = []
    yield started
    for writer in started:
        writer.stop()
        print(f"--- {writer.log_path.name} ---\n{writer.log_tail()}")  # shown when a test fails


def start_writer(
    writers: list[WriterProcess], user_id: uuid.UUID, tmp_path: Path, **env: str
) -> WriterProcess:
    writer = WriterProcess(user_id, tmp_path, **env)
    writers.append(writer)
    return writer


async def follow_all(
    user_id: uuid.UUID, cid: uuid.UUID, mid: uuid.UUID, offset: int = 0
) -> tuple[list[Delta], Finished]:
    deltas: list[Delta] = []
    events = replies.follow(user_id, cid, mid, offset=offset)
    async with aclosing(events):
        async for event in events:
            if isinstance(event, Delta):
                deltas.append(event)
            elif isinstance(event, Finished):
                return deltas, event
    raise AssertionError("the reply never finished")


def joined(deltas: list[Delta], start: int = 0) -> str:
    """The deltas' text, checking by offset that each one starts where the last one ended."""
    offset = start
    for delta in deltas:
        assert delta.offset == offset, f"gap or duplicate at {offset}: delta at {delta.offset}"
        offset += len(delta.text)
    return "".join(delta.text for delta in deltas)


async def text_seen(user_id: uuid.UUID, cid: uuid.UUID, at_least: int) -> str:
    """Follow until at least ``at_least`` characters arrived; the text so far."""
    reply = await replies.find_reply(user_id, cid)
    assert reply is not None, "the reply is not visible from this process"
    await wait_until(lambda: reply.length >= at_least, timeout=30)
    return reply.text()


async def test_a_reply_written_elsewhere_streams_here_with_no_gap_and_no_duplicate(
    here, fake, user_id, writers, tmp_path
):
    fake.configure(reply_tokens=120, tokens_per_second=30)
    writer = start_writer(writers, user_id, tmp_path)
    cid, mid = await writer.started()

    first = asyncio.create_task(follow_all(user_id, cid, mid))
    seen = await text_seen(user_id, cid, 40)
    late = await follow_all(user_id, cid, mid, offset=len(seen))  # joins mid-reply
    deltas, finished = await first

    text = joined(deltas)
    stored = await chat.get_message(user_id, mid)
    assert stored.status == MessageStatus.COMPLETE
    assert text == stored.content == finished.message.content
    assert len(deltas) > 3  # live batches, not one read at the end
    assert seen + joined(late[0], start=len(seen)) == stored.content
    # The conversation is free the moment a follower anywhere sees the reply end.
    from chat_app.services import generation

    await generation.send_message(user_id, cid, "And the next one")


async def test_stop_from_this_process_before_the_first_token(
    here, fake, user_id, writers, tmp_path
):
    fake.configure(ttft_ms=8000, reply_tokens=40)
    writer = start_writer(writers, user_id, tmp_path)
    cid, mid = await writer.started()

    asked = time.monotonic()
    assert await replies.stop_reply(user_id, cid)
    await wait_until(
        lambda: _status_is(user_id, mid, MessageStatus.STOPPED), timeout=5, interval=0.01
    )
    elapsed = time.monotonic() - asked
    print(f"stop before the first token, across processes: {elapsed * 1000:.0f} ms")
    stored = await chat.get_message(user_id, mid)
    assert stored.content == ""
    assert elapsed < 3.0  # 0.25 s polling; generous for a loaded machine (the bench measures)


async def test_stop_from_this_process_after_the_first_token_keeps_the_text(
    here, fake, user_id, writers, tmp_path
):
    fake.configure(reply_tokens=400, tokens_per_second=20)
    writer = start_writer(writers, user_id, tmp_path)
    cid, mid = await writer.started()
    seen = await text_seen(user_id, cid, 20)

    assert await replies.stop_reply(user_id, cid)
    deltas, finished = await follow_all(user_id, cid, mid)
    assert finished.message.status == MessageStatus.STOPPED
    stored = await chat.get_message(user_id, mid)
    assert stored.status == MessageStatus.STOPPED
    assert stored.content.startswith(seen) and stored.content == joined(deltas)
    assert len(stored.content) < 400 * 4  # it really stopped early


async def test_another_users_stop_does_not_reach_the_reply(
    here, fake, user_id, other_user_id, writers, tmp_path
):
    fake.configure(reply_tokens=60, tokens_per_second=30)
    writer = start_writer(writers, user_id, tmp_path)
    cid, mid = await writer.started()
    assert not await replies.stop_reply(other_user_id, cid)
    assert await replies.find_reply(other_user_id, cid) is None
    _deltas, finished = await follow_all(user_id, cid, mid)
    assert finished.message.status == MessageStatus.COMPLETE


async def test_sigkill_of_the_writer_leaves_the_text_viewers_saw_marked_interrupted(
    here, fake, user_id, writers, tmp_path
):
    fake.configure(reply_tokens=600, tokens_per_second=20)
    writer = start_writer(writers, user_id, tmp_path)
    cid, mid = await writer.started()
    following = asyncio.create_task(follow_all(user_id, cid, mid))
    seen = await text_seen(user_id, cid, 30)

    writer.send(signal.SIGKILL)
    killed = time.monotonic()
    deltas, finished = await asyncio.wait_for(following, 30)
    elapsed = time.monotonic() - killed
    print(f"SIGKILL -> interrupted, seen from the other process: {elapsed:.1f} s")

    stored = await chat.get_message(user_id, mid)
    assert stored.status == finished.message.status == MessageStatus.INTERRUPTED
    assert stored.content.startswith(seen)
    assert stored.content == joined(deltas) == finished.message.content  # what viewers saw
    assert elapsed < 15.0  # lease 5 s + grace 2 s + sweep 1 s; slack for a loaded machine


async def test_a_writer_frozen_past_its_lease_cannot_write_when_it_wakes(
    here, fake, user_id, writers, tmp_path
):
    fake.configure(reply_tokens=600, tokens_per_second=20)
    writer = start_writer(writers, user_id, tmp_path)
    cid, mid = await writer.started()
    await text_seen(user_id, cid, 30)

    writer.send(signal.SIGSTOP)
    await wait_until(
        lambda: _status_is(user_id, mid, MessageStatus.INTERRUPTED),
        timeout=LEASE_SECONDS + 15,
        interval=0.1,
    )
    ended = await chat.get_message(user_id, mid)
    entries = await get_redis().xlen(stream_key(mid))

    writer.send(signal.SIGCONT)
    await asyncio.sleep(LEASE_SECONDS / 2 + 1)  # its renewals, saves and appends run now
    after = await chat.get_message(user_id, mid)
    assert (after.status, after.content) == (ended.status, ended.content)
    assert await get_redis().xlen(stream_key(mid)) == entries  # no late appends either
    assert "lease lost" in writer.log_tail()


async def test_sigterm_lets_a_running_reply_finish(here, fake, user_id, writers, tmp_path):
    fake.configure(reply_tokens=60, tokens_per_second=30)
    writer = start_writer(writers, user_id, tmp_path, SHUTDOWN_GRACE_SECONDS="30")
    cid, mid = await writer.started()
    await text_seen(user_id, cid, 4)

    writer.send(signal.SIGTERM)
    assert await writer.exit_code() == 0
    assert "drained" in writer.output()
    stored = await chat.get_message(user_id, mid)
    assert stored.status == MessageStatus.COMPLETE
    assert len(stored.content) > 60  # the whole reply (60 tokens of several characters)


async def test_sigterm_past_the_grace_marks_the_reply_interrupted(
    here, fake, user_id, writers, tmp_path
):
    fake.configure(reply_tokens=600, tokens_per_second=20)
    writer = start_writer(writers, user_id, tmp_path, SHUTDOWN_GRACE_SECONDS="1")
    cid, mid = await writer.started()
    seen = await text_seen(user_id, cid, 10)

    writer.send(signal.SIGTERM)
    assert await writer.exit_code() == 0
    stored = await chat.get_message(user_id, mid)
    assert stored.status == MessageStatus.INTERRUPTED
    assert stored.content.startswith(seen)


async def test_the_api_resumes_a_reply_written_by_another_process(
    here, fake, user_id, writers, tmp_path
):
    from chat_app.services import api_tokens

    fake.configure(reply_tokens=120, tokens_per_second=30)
    writer = start_writer(writers, user_id, tmp_path)
    cid, mid = await writer.started()
    seen = await text_seen(user_id, cid, 20)
    token = (await api_tokens.create_token(user_id, "cross-process test")).plaintext

    transport = httpx.ASGITransport(app=create_api(), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(
            f"/api/v1/conversations/{cid}/reply",
            headers={"Authorization": f"Bearer {token}", "Last-Event-ID": str(len(seen))},
            timeout=60,
        )
    events = parse_sse(response.text)
    deltas = [Delta(data["offset"], data["text"]) for name, data, _id in events if name == "delta"]
    stored = await chat.get_message(user_id, mid)
    assert events[-1][0] == "done" and events[-1][1]["status"] == MessageStatus.COMPLETE
    assert seen + joined(deltas, start=len(seen)) == stored.content


@pytest.fixture
def private_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    monkeypatch.setenv("REDIS_URL", server.url)
    yield server
    server.stop()


class PrivateRedis:
    """A redis-server of this test alone (nothing on disk), so it can be restarted."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


async def test_a_redis_restart_mid_reply_loses_nothing(
    db, fake, user_id, writers, tmp_path, private_redis, monkeypatch
):
    from chat_app.core.settings import get_settings

    monkeypatch.setenv("REDIS_KEY_PREFIX", "restart-test:")
    get_settings.cache_clear()
    registry = replies.get_replies()
    registry.bus.start()
    try:
        fake.configure(reply_tokens=300, tokens_per_second=30)
        writer = start_writer(writers, user_id, tmp_path)
        cid, mid = await writer.started()
        following = asyncio.create_task(follow_all(user_id, cid, mid))
        await text_seen(user_id, cid, 30)

        private_redis.stop()  # everything in Redis is gone: leases, streams, the claim
        await asyncio.sleep(0.5)
        private_redis.start()

        deltas, finished = await asyncio.wait_for(following, 60)
        stored = await chat.get_message(user_id, mid)
        assert stored.status == finished.message.status == MessageStatus.COMPLETE
        assert joined(deltas) == stored.content
        assert registry.bus.reconnects >= 1  # type: ignore[attr-defined]
    finally:
        await registry.bus.close()
        await close_redis()


async def _status_is(user_id: uuid.UUID, mid: uuid.UUID, status: MessageStatus) -> bool:
    return (await chat.get_message(user_id, mid)).status == status


async def test_a_send_right_after_a_reply_ends_here_is_accepted(here, fake, user_id):
    """The reply's end reaches Redis on the bus's next tick; the next send must not wait."""
    from chat_app.services import generation

    fake.configure(reply_tokens=5)
    started = await generation.send_message(user_id, None, "one")
    cid = started.conversation.id
    reply = replies.live_reply(user_id, cid)
    assert reply is not None
    await wait_until(lambda: reply.finished, interval=0.001)
    again = await generation.send_message(user_id, cid, "two")
    _deltas, finished = await follow_all(user_id, cid, again.assistant_message.id)
    assert finished.message.status == MessageStatus.COMPLETE
