"""read_scope() and session_scope(): readers never wait for SQLite's write lock, writes in a read
scope are refused, and many concurrent read-then-write transactions all succeed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import pytest
from sqlalchemy import select, update

from chat_app.core.db import ReadOnlyTransaction, get_engine, read_scope, session_scope
from chat_app.models import ConversationCreate, Message
from chat_app.models.user import User
from chat_app.repositories import conversations as conv_repo
from chat_app.repositories import messages as msg_repo
from chat_app.repositories import users as users_repo
from tests.conftest import unique_email


async def _user() -> uuid.UUID:
    async with session_scope() as session:
        user = await users_repo.create(
            session, email=unique_email("scope"), display_name="s", password_hash="not-a-hash"
        )
        return user.id


async def test_read_scope_reads_what_was_committed(db: str) -> None:
    user_id = await _user()
    async with read_scope() as session:
        user = await users_repo.get_by_id(session, user_id)
    assert user is not None and user.id == user_id


async def test_read_scope_refuses_an_update_statement(db: str) -> None:
    user_id = await _user()
    with pytest.raises(ReadOnlyTransaction):
        async with read_scope() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(display_name="changed")
            )
    async with read_scope() as session:
        user = await users_repo.get_by_id(session, user_id)
    assert user is not None and user.display_name == "s"


async def test_read_scope_refuses_new_and_changed_rows(db: str) -> None:
    user_id = await _user()
    with pytest.raises(ReadOnlyTransaction):
        async with read_scope() as session:
            await conv_repo.create(session, user_id, ConversationCreate(title="no"))
    with pytest.raises(ReadOnlyTransaction):
        async with read_scope() as session:
            user = await users_repo.get_by_id(session, user_id)
            assert user is not None
            user.display_name = "changed"
            await session.flush()
    async with read_scope() as session:
        assert await conv_repo.list_page(session, user_id, limit=10) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's write lock
async def test_sqlite_reader_does_not_wait_for_a_writer_of_another_process(
    db: str, database_url: str
) -> None:
    user_id = await _user()
    path = get_engine().url.database
    assert path
    # Another process's writer (a plain sqlite3 connection) holds the write lock meanwhile.
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE users SET display_name = 'other' WHERE 1 = 0")
        started = time.perf_counter()
        async with read_scope() as session:
            user = await users_repo.get_by_id(session, user_id)
        waited = time.perf_counter() - started
        assert user is not None
        # Not a timing assertion on speed: a reader that took the write lock would wait here
        # for the whole busy timeout (30 s) and then fail.
        assert waited < 10
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_many_concurrent_read_then_write_transactions_all_succeed(db: str) -> None:
    """The pattern of a send (read ownership, then insert) from 60 tasks at once; on SQLite each
    also holds its transaction across an event-loop turn, as a busy server does."""
    user_id = await _user()
    async with session_scope() as session:
        conversation = await conv_repo.create(session, user_id, ConversationCreate(title="c"))

    async def send(i: int) -> None:
        async with session_scope() as session:
            assert await conv_repo.get(session, user_id, conversation.id) is not None
            await asyncio.sleep(0.01)
            added = await msg_repo.add(
                session, user_id, conversation.id, role="user", content=f"m{i}"
            )
            assert added is not None

    async def read() -> int:
        async with read_scope() as session:
            rows = await session.execute(
                select(Message).where(Message.conversation_id == conversation.id)
            )
            return len(rows.all())

    results = await asyncio.gather(
        *(send(i) for i in range(60)), *(read() for _ in range(60)), return_exceptions=True
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert await read() == 60
