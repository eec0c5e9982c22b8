"""The launch (scripts/start.sh → chat_app.launch): what it refuses, the server it execs, and
when it reuses a frontend build. The served app itself is exercised by tests/cluster and the
browser suite, which start it through the same script."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from chat_app.launch import frontend, server
from tests.conftest import PROJECT_ROOT

START_SH = PROJECT_ROOT / "scripts" / "start.sh"


def run_start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": "1",  # never reached: the start must stop before serving
        "DATA_DIR": str(tmp_path),
        "APP_ENV": "development",
        "REDIS_URL": "",
        **env,
    }
    return subprocess.run(
        [str(START_SH)], env=full, capture_output=True, text=True, timeout=120, check=False
    )


def test_several_workers_without_redis_are_refused_with_the_reason(tmp_path: Path) -> None:
    result = run_start(tmp_path, WORKERS="2")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "WORKERS=2 needs REDIS_URL" in result.stderr
    assert "Stop button would not reach it" in result.stderr
    # Refused before anything ran: no migration created the SQLite file.
    assert not (tmp_path / "chat.db").exists()
    assert "Traceback" not in result.stderr


def test_a_bad_worker_count_is_a_clear_configuration_error(tmp_path: Path) -> None:
    result = run_start(tmp_path, WORKERS="many")
    assert result.returncode == 2
    assert "the configuration is not valid" in result.stderr
    assert "valid integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_problem_only_for_several_workers_without_redis() -> None:
    assert server.workers_problem(1, uses_redis=False) is None
    assert server.workers_problem(4, uses_redis=True) is None
    assert "WORKERS=3 needs REDIS_URL" in (server.workers_problem(3, uses_redis=False) or "")


def test_the_server_is_uvicorn_with_the_app_factory_and_no_client_chosen_headers() -> None:
    command = server.uvicorn_command(
        "/py", host="127.0.0.1", port=3000, workers=3, trusted_proxies=""
    )
    assert command[:5] == ["/py", "-m", "uvicorn", "--factory", "chat_app.chat_app:app"]
    assert command[command.index("--workers") + 1] == "3"
    assert "--no-proxy-headers" in command
    assert "--forwarded-allow-ips" not in command
    proxied = server.uvicorn_command(
        "/py", host="0.0.0.0", port=3000, workers=1, trusted_proxies="10.0.0.5, 10.1.0.0/16"
    )
    assert proxied[proxied.index("--forwarded-allow-ips") + 1] == "10.0.0.5,10.1.0.0/16"
    assert "--no-proxy-headers" not in proxied


def test_shutdown_waits_longer_than_the_reply_grace() -> None:
    command = server.uvicorn_command("/py", host="h", port=1, workers=1, trusted_proxies="")
    open_requests = float(command[command.index("--timeout-graceful-shutdown") + 1])
    assert server.stop_timeout_seconds(20) >= open_requests + 20 + 5
    compose = (PROJECT_ROOT / "compose.yaml").read_text()
    # compose.yaml's stop_grace_period covers the default SHUTDOWN_GRACE_SECONDS (20 s).
    assert f"stop_grace_period: {int(server.stop_timeout_seconds(20))}s" in compose


def test_several_workers_get_a_fresh_metrics_directory_each_start() -> None:
    assert "PROMETHEUS_MULTIPROC_DIR" not in server.server_environment(1)
    first = Path(server.server_environment(2)["PROMETHEUS_MULTIPROC_DIR"])
    second = Path(server.server_environment(2)["PROMETHEUS_MULTIPROC_DIR"])
    try:
        assert first != second
        assert first.is_dir() and not any(first.iterdir())
    finally:
        first.rmdir()
        second.rmdir()


@pytest.mark.parametrize(
    ("app_url", "port", "baked"),
    [
        ("", 3000, "http://localhost:3000"),
        ("http://chat.internal:8080", 3000, "http://localhost:8080"),
        ("http://chat.internal", 3000, "http://localhost:80"),
        # Over https the browser drops the baked port; the server's own keeps direct access.
        ("https://chat.example.com", 41234, "http://localhost:41234"),
    ],
)
def test_the_frontend_is_built_for_the_port_browsers_reach(
    app_url: str, port: int, baked: str
) -> None:
    assert frontend.baked_backend_url(app_url, port) == baked


def _fake_project(root: Path) -> None:
    (root / "chat_app").mkdir(parents=True)
    (root / "chat_app" / "page.py").write_text("x = 1\n")
    (root / "rxconfig.py").write_text("config = 1\n")


def test_a_build_is_current_only_for_the_same_sources_url_and_output(tmp_path: Path) -> None:
    _fake_project(tmp_path)
    web = tmp_path / "web"
    (web / frontend.BUILT_PAGE).parent.mkdir(parents=True)
    (web / frontend.BUILT_PAGE).write_text("<html></html>")
    stamp = frontend.fingerprint(tmp_path, "http://localhost:3000")
    (web / frontend.STAMP_NAME).write_text(json.dumps({"fingerprint": stamp}))
    assert frontend.is_current(web, stamp)

    assert frontend.fingerprint(tmp_path, "http://localhost:8080") != stamp
    (tmp_path / "chat_app" / "__pycache__").mkdir()
    (tmp_path / "chat_app" / "__pycache__" / "page.cpython-311.pyc").write_bytes(b"\0")
    assert frontend.fingerprint(tmp_path, "http://localhost:3000") == stamp
    (tmp_path / "chat_app" / "page.py").write_text("x = 2\n")
    assert frontend.fingerprint(tmp_path, "http://localhost:3000") != stamp

    # A copy of the web dir without its build output (bench/servers.py) must rebuild.
    (web / frontend.BUILT_PAGE).unlink()
    assert not frontend.is_current(web, stamp)
    (web / frontend.STAMP_NAME).write_text("not json")
    assert not frontend.is_current(web, stamp)


@pytest.mark.postgres
def test_app_servers_starting_together_migrate_one_at_a_time(make_postgres_database) -> None:
    """Several app servers start on one empty database (compose.yaml): every upgrade succeeds.

    Without the advisory lock in alembic/env.py, 4 at once failed with UniqueViolation here."""
    url = make_postgres_database()
    env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "development"}
    upgrades = [
        subprocess.Popen(
            [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "alembic", "upgrade", "head"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in upgrades]
    assert [p.returncode for p in upgrades] == [0] * 4, "\n".join(outputs)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert len(versions) == 1
