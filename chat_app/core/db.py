"""Engines and sessions. Async for the app; Alembic builds its own sync engine from settings.

Two kinds of unit of work:

* ``session_scope()`` may write. On SQLite it starts with ``BEGIN IMMEDIATE`` (the write lock up
  front) and, within this process, waits its turn in a FIFO queue before asking SQLite at all.
* ``read_scope()`` only reads. On SQLite it starts a plain (deferred) transaction, which in WAL
  mode never waits for writers nor makes them wait. A write attempted through it is refused
  before it reaches the database (ORM events, both databases).

Why the write lock up front: a deferred transaction that reads and then writes fails at once with
"database is locked" when another writer got there first (SQLite's busy handler does not apply to
that upgrade, since waiting could deadlock). So writers take the lock first; readers never need it.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from chat_app.core.settings import get_settings

# How long a writer from another process may wait for SQLite's write lock. Writers of this
# process queue in _WriteGate first, so this is only ever spent on another process's writes.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Readers in WAL mode run side by side: let more of them hold a connection than the default 5+10.
SQLITE_POOL_SIZE = 20
SQLITE_MAX_OVERFLOW = 20
# How long a unit of work may wait for a pooled connection before it fails. When one process is
# CPU-bound, every transaction holds its connection longer (each statement waits for the event
# loop): PostgreSQL showed 20 of 30 connections "idle in transaction" at 200 users, and
# SQLAlchemy's 30 s default then failed sends that would only have been slow.
POOL_TIMEOUT_SECONDS = 120
_READ_ONLY = "chat_read_only"


class ReadOnlyTransaction(RuntimeError):
    """A write inside ``read_scope()``: a programming error, refused before any SQL is sent."""


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores ON DELETE CASCADE unless asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL: readers see the last commit while a writer works, and never block it.
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash or power loss
    # may lose the last commits (never corrupts). FULL would fsync at every commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
    # Let SQLAlchemy's "begin" event below issue BEGIN itself (the driver's own is DEFERRED).
    dbapi_connection.isolation_level = None


def _begin(connection: Any) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def build_async_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_MAX_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_SECONDS,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        event.listen(engine.sync_engine, "begin", _begin)
        return engine
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=POOL_TIMEOUT_SECONDS,
    )


def _read_only_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, with connections marked for the deferred BEGIN of ``_begin``.

    Not ``postgresql_readonly``: SQLAlchemy sets and resets that characteristic on every
    checkout, extra round trips that made 600 concurrent reads 30 % slower here; the ORM guard
    below refuses writes on both databases alike.
    """
    return engine.execution_options(**{_READ_ONLY: True})


class _ReadOnlySession(Session):
    """A session whose every statement and flush is checked to be no write."""


def _refuse_write_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlyTransaction("a write inside read_scope(); use session_scope()")


def _refuse_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyTransaction("changed rows inside read_scope(); use session_scope()")


event.listen(_ReadOnlySession, "do_orm_execute", _refuse_write_statement)
event.listen(_ReadOnlySession, "before_flush", _refuse_flush)


class _WriteGate:
    """This process's SQLite writers, one at a time, first come first served.

    Without it, every writer waits inside SQLite's busy handler, which polls with growing sleeps:
    unfair (a newcomer can overtake one that waited seconds) and bounded by the busy timeout,
    after which the write fails. Waiting here costs no connection and no thread, and never fails.
    One lock per event loop (asyncio locks belong to one loop; tests run several).
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        # Set while this task (or one it started) is inside a write: a nested write must not
        # wait for the lock its own caller holds; it falls back to SQLite's busy wait.
        self._inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
            "inside_sqlite_write", default=False
        )

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._inside.get():
            yield
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            marker = self._inside.set(True)
            try:
                yield
            finally:
                self._inside.reset(marker)


_write_gate = _WriteGate()


@lru_cache
def get_engine() -> AsyncEngine:
    settings = get_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return build_async_engine(settings.async_database_url)


@lru_cache
def _session_factory() -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(get_engine(), expire_on_commit=False)


@lru_cache
def _read_session_factory() -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        _read_only_engine(get_engine()),
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=_ReadOnlySession,
    )


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """One unit of work that may write: commits on success, rolls back on any error."""
    if get_engine().dialect.name == "sqlite":
        async with _write_gate.turn(), _unit_of_work(_session_factory()) as session:
            yield session
    else:
        async with _unit_of_work(_session_factory()) as session:
            yield session


@asynccontextmanager
async def read_scope() -> AsyncIterator[AsyncSession]:
    """One unit of work that only reads: takes no write lock, waits for no writer."""
    async with _unit_of_work(_read_session_factory()) as session:
        yield session


@asynccontextmanager
async def _unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def dispose_engine() -> None:
    if get_engine.cache_info().currsize:
        await get_engine().dispose()
    get_engine.cache_clear()
    _session_factory.cache_clear()
    _read_session_factory.cache_clear()
