"""Shared fixtures: settings isolated per test, real databases (SQLite and PostgreSQL).

PostgreSQL: TEST_DATABASE_URL names a server and a base database; each test session creates
its own throwaway database next to it (so parallel runs never collide), migrates it with
Alembic once, and empties every table before each test. When PostgreSQL is unreachable the
PostgreSQL tests are skipped locally and fail under CI (CI=true): never a silent green.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-secret-key-" + "x" * 40

# Settings are read from the environment; pin the ones tests rely on before anything imports them.
os.environ.update(
    {
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET,
        "BCRYPT_ROUNDS": "4",  # the default (12) is asserted in test_settings; tests stay fast
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
    }
)
os.environ.pop("DATABASE_URL", None)

from sqlmodel import SQLModel  # noqa: E402

import chat_app.models  # noqa: E402, F401  (registers every table)
from chat_app.core import db as db_module  # noqa: E402
from chat_app.core.settings import get_settings  # noqa: E402
from tests.support.redis_keys import delete_keys  # noqa: E402  (others import it from here)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    return config


def sync_url(url: str) -> str:
    return (
        url.replace("postgresql://", "postgresql+psycopg://", 1)
        if url.startswith("postgresql://")
        else url
    )


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the base database on the PostgreSQL server (used to create throwaway ones)."""
    url = sync_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        message = (
            f"PostgreSQL unreachable at {make_url(url).render_as_string(hide_password=True)}: {exc}"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def make_postgres_database(postgres_server_url: str) -> Iterator:
    """Factory: a fresh, empty PostgreSQL database; all are dropped at the end of the session."""
    created: list[str] = []
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")

    def make() -> str:
        name = f"chat_test_{os.getpid()}_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return (
            make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        )

    yield make
    with admin.connect() as conn:
        for name in created:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_postgres_url(make_postgres_database) -> str:
    url = make_postgres_database()
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
def migrated_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "test.db"
    url = f"sqlite:///{path}"
    command.upgrade(alembic_config(url), "head")
    return url


def _empty_all_tables(url: str) -> None:
    # SQLite: wait for a write lock a previous test's last reply save may still hold (on a busy
    # machine that can take longer than sqlite3's 5 s default).
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    engine = sa.create_engine(url, connect_args=connect_args)
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


def _reset_caches() -> None:
    get_settings.cache_clear()
    db_module.get_engine.cache_clear()
    db_module._session_factory.cache_clear()
    db_module._read_session_factory.cache_clear()
    from chat_app.services import auth as auth_service

    auth_service.login_throttle.cache_clear()
    from chat_app.services import session_cache

    session_cache.sessions.clear()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data folder and freshly read settings."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    _reset_caches()
    yield
    _reset_caches()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated, empty database of each kind; the app's settings point at it."""
    if request.param == "sqlite":
        url = request.getfixturevalue("migrated_sqlite_url")
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    _empty_all_tables(url)
    monkeypatch.setenv("DATABASE_URL", url)
    _reset_caches()
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """Async tests: the database is ready, and the engine is disposed in this test's loop."""
    yield database_url
    await db_module.dispose_engine()


@pytest.fixture
def run(database_url: str) -> Iterator:
    """Sync tests that need to call async services once or twice."""
    loop = asyncio.new_event_loop()

    def runner(coro):  # type: ignore[no-untyped-def]
        return loop.run_until_complete(coro)

    yield runner
    loop.run_until_complete(db_module.dispose_engine())
    loop.close()


DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """TEST_REDIS_URL (default the local server, database 0); skipped locally, failed under CI
    when unreachable. Tests never flush a database: each one writes under its own key prefix."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis unreachable at {url}: {exc}")
        pytest.skip(f"Redis unreachable at {url}: {exc}")
    finally:
        client.close()
    return url


@pytest.fixture
def redis_url(redis_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app uses Redis for this test, under a key prefix of its own, deleted afterwards."""
    prefix = f"test-{os.getpid()}-{secrets.token_hex(4)}:"
    monkeypatch.setenv("REDIS_URL", redis_server_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    _reset_caches()
    yield redis_server_url
    delete_keys(redis_server_url, prefix)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last, together: Playwright's sync API keeps an event loop running on
    the main thread for as long as the browser is open, which async tests cannot share."""
    # Tests marked `after_build` need the frontend the browser suite builds: they go after it
    # (they are synchronous, so Playwright's loop does not bother them).
    items.sort(
        key=lambda item: (
            item.get_closest_marker("after_build") is not None,
            "tests/browser/" in item.nodeid.replace("\\", "/"),
        )
    )
