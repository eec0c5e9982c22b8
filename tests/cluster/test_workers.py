"""WORKERS=2 with REDIS_URL: the launch runs two backend processes behind one port.

Started through scripts/start.sh like production, reusing the session's frontend build. The
supervisor does not import the app; SIGTERM to it reaches both workers, each runs the app's
lifespan shutdown, and all exit.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from alembic import command

from bench.reflex_client import FrontendBuild, ReflexTab
from bench.users import create_user
from tests.conftest import alembic_config, delete_keys
from tests.support.cluster import AppProcess, cluster_env
from tests.support.fake_openai import FakeOpenAI
from tests.support.served_app import free_port

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def two_workers(
    cluster_web_dir: Path,
    cluster_public_port: int,
    cluster_fake: FakeOpenAI,
    make_postgres_database,
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AppProcess]:
    database_url = make_postgres_database()
    command.upgrade(alembic_config(database_url), "head")
    port = free_port()
    prefix = f"workers-{os.getpid()}-{port}:"
    data_dir = tmp_path_factory.mktemp("two-workers")
    env = cluster_env(
        database_url=database_url,
        redis_url=redis_server_url,
        redis_prefix=prefix,
        openai_base_url=cluster_fake.base_url,
        public_port=cluster_public_port,  # the session's build, reused as it is
        app_ports=[port],
    )
    app = AppProcess(
        "workers",
        port,
        {**env, "PORT": str(port), "DATA_DIR": str(data_dir), "WORKERS": "2"},
        data_dir / "server.log",
    )
    app.start()
    try:
        app.wait_ready()
        yield app
    finally:
        app.stop()
        delete_keys(redis_server_url, prefix)


def _workers(app: AppProcess) -> list[psutil.Process]:
    # uvicorn spawns its workers (multiprocessing "spawn"), next to multiprocessing's own
    # resource tracker, which serves nothing.
    children = psutil.Process(app.pid).children()
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


def test_two_workers_serve_pages_the_api_and_tabs_on_one_port(two_workers: AppProcess) -> None:
    app = two_workers
    assert len(_workers(app)) == 2
    assert "built the frontend" not in app.log_tail(200)  # the session's build was reused
    with httpx.Client(base_url=app.url, timeout=30) as client:
        assert client.get("/login/").status_code == 200

    async def tabs() -> list[int]:
        async with httpx.AsyncClient(base_url=app.url, timeout=30) as client:
            user = await create_user(client, f"workers-{app.port}@example.com")
            me = await client.get("/api/v1/me", headers=user.auth_headers)
            assert me.status_code == 200 and me.json()["email"] == user.email
        build = FrontendBuild.read(Path(app.env["REFLEX_WEB_WORKDIR"]))
        tabs = [ReflexTab(app.url, build, cookie=user.cookie) for _ in range(8)]
        await asyncio.gather(*(tab.open("/", timeout=60) for tab in tabs))
        try:
            for tab in tabs:
                assert tab.var("authenticated") is True and not tab.errors
            return [_sockets_on(worker, app.port, psutil.CONN_ESTABLISHED) for worker in workers]
        finally:
            await asyncio.gather(*(tab.close() for tab in tabs))

    # Both workers accept on the one listening socket. Which one takes a connection is the
    # kernel's choice (whichever wakes first), so it can be all of them on one worker.
    workers = _workers(app)
    assert [_sockets_on(w, app.port, psutil.CONN_LISTEN) for w in workers] == [1, 1]
    assert sum(asyncio.run(tabs())) == 8


def _sockets_on(worker: psutil.Process, port: int, status: str) -> int:
    return sum(
        1
        for c in worker.net_connections(kind="tcp")
        if c.status == status and c.laddr and c.laddr.port == port
    )


def test_sigterm_reaches_every_worker_and_each_shuts_the_app_down(
    two_workers: AppProcess,
) -> None:
    app = two_workers
    worker_pids = {p.pid for p in _workers(app)}
    app.terminate()
    assert app.wait_exit(60) == 0, app.log_tail()
    log = app.log_tail(400)
    finished = {int(pid) for pid in re.findall(r"Finished server process \[(\d+)\]", log)}
    assert worker_pids <= finished, log
    assert log.count("Application shutdown complete.") >= 2, log
    assert not any(psutil.pid_exists(pid) for pid in worker_pids)
