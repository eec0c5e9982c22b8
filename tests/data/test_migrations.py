"""Alembic migrations on empty PostgreSQL and SQLite databases: up, down, up, and no drift."""

from __future__ import annotations

import importlib.util
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from chat_app.models import Conversation, Message, User
from chat_app.models.user import normalize_email
from tests.conftest import PROJECT_ROOT, alembic_config

# Every table the models declare (more may be added by later revisions).
APP_TABLES = set(SQLModel.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return make()


def _engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    if url.startswith("sqlite"):

        @sa.event.listens_for(engine, "connect")
        def _fk_on(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


@pytest.fixture
def engine_for() -> Iterator[Callable[[str], sa.Engine]]:
    engines: list[sa.Engine] = []

    def make(url: str) -> sa.Engine:
        engine = _engine(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_upgrade_downgrade_upgrade_then_no_drift(
    empty_database_url: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    config = alembic_config(empty_database_url)
    engine = engine_for(empty_database_url)
    assert _tables(engine) == set()

    command.upgrade(config, "head")
    assert _tables(engine) == APP_TABLES | {"alembic_version"}
    assert _revision(engine) == ScriptDirectory.from_config(config).get_current_head()

    command.downgrade(config, "base")
    assert _tables(engine) == {"alembic_version"}
    assert _revision(engine) is None

    command.upgrade(config, "head")
    assert _tables(engine) == APP_TABLES | {"alembic_version"}

    # Autogenerate against head finds nothing: the migrations and the models agree.
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_named_constraints_and_indexes_exist(
    empty_database_url: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    command.upgrade(alembic_config(empty_database_url), "head")
    inspector = sa.inspect(engine_for(empty_database_url))
    assert {i["name"] for i in inspector.get_indexes("conversations")} >= {
        "ix_conversations_owner_updated"
    }
    assert {i["name"] for i in inspector.get_indexes("messages")} >= {
        "ix_messages_conversation_created"
    }
    assert {c["name"] for c in inspector.get_unique_constraints("users")} == {"uq_users_email"}
    assert {c["name"] for c in inspector.get_check_constraints("users")} == {
        "ck_users_email_lowercase"
    }
    assert {c["name"] for c in inspector.get_check_constraints("messages")} == {
        "ck_messages_role",
        "ck_messages_status",
    }
    for table, column, target in [
        ("conversations", "owner_id", "users"),
        ("messages", "conversation_id", "conversations"),
    ]:
        (fk,) = inspector.get_foreign_keys(table)
        assert fk["constrained_columns"] == [column]
        assert fk["referred_table"] == target
        assert fk["options"].get("ondelete", "").upper() == "CASCADE"


def test_deleting_a_user_removes_their_conversations_and_messages(
    empty_database_url: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    command.upgrade(alembic_config(empty_database_url), "head")
    engine = engine_for(empty_database_url)  # SQLite: PRAGMA foreign_keys=ON on every connection

    def seed(name: str) -> uuid.UUID:
        with Session(engine) as session, session.begin():
            user = User(email=f"{name}@example.com", display_name=name, password_hash="x")
            session.add(user)
            session.flush()
            for c in range(2):
                conversation = Conversation(owner_id=user.id, title=f"{name} {c}")
                session.add(conversation)
                session.flush()
                session.add_all(
                    Message(conversation_id=conversation.id, role="user", content=f"m{m}")
                    for m in range(3)
                )
            return user.id

    doomed = seed("doomed")
    survivor = seed("survivor")

    def counts() -> tuple[int, int, int]:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("users", "conversations", "messages")
            )

    assert counts() == (2, 4, 12)
    with engine.begin() as conn:
        # Raw SQL, as an operator would: the cascade is the database's, not the ORM's.
        id_param = sa.bindparam("id", type_=sa.Uuid())
        conn.execute(
            sa.text("DELETE FROM users WHERE id = :id").bindparams(id_param), {"id": doomed}
        )
    assert counts() == (1, 2, 6)
    with Session(engine) as session:
        owners = set(session.scalars(sa.select(Conversation.owner_id)))
        assert owners == {survivor}
        remaining_conversations = set(session.scalars(sa.select(Conversation.id)))
        message_parents = set(session.scalars(sa.select(Message.conversation_id)))
        assert message_parents == remaining_conversations


def test_check_constraints_are_enforced(
    empty_database_url: str, engine_for: Callable[[str], sa.Engine]
) -> None:
    command.upgrade(alembic_config(empty_database_url), "head")
    engine = engine_for(empty_database_url)
    with pytest.raises(sa.exc.IntegrityError), Session(engine) as session, session.begin():
        session.add(User(email="Upper@Example.com", display_name="x", password_hash="x"))
    with Session(engine) as session, session.begin():
        user = User(email="ann@example.com", display_name="Ann", password_hash="x")
        session.add(user)
        session.flush()
        conversation = Conversation(owner_id=user.id)
        session.add(conversation)
        session.flush()
        conversation_id = conversation.id
    for bad in (
        {"role": "root", "status": "complete"},
        {"role": "user", "status": "bogus"},
    ):
        with pytest.raises(sa.exc.IntegrityError), Session(engine) as session, session.begin():
            session.add(Message(conversation_id=conversation_id, content="x", **bad))
    # A second account with the same email is refused by uq_users_email.
    with pytest.raises(sa.exc.IntegrityError), Session(engine) as session, session.begin():
        session.add(User(email="ann@example.com", display_name="Twin", password_hash="x"))


def test_email_normalization_migration_rewrites_rows_and_reports_collisions(
    empty_database_url: str,
    engine_for: Callable[[str], sa.Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """0004: look-alike spellings stored by older versions become the normalized email, unless
    two accounts would end up with the same one: those are left as they are and reported."""
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0003")
    engine = engine_for(empty_database_url)
    full_width_ann = "".join(chr(ord(c) + 0xFEE0) for c in "ann") + "@example.com"
    # What the old rule (trim + lower) stored; all of it satisfies ck_users_email_lowercase.
    before = {
        "solo": "bob@bücher.de",  # → bob@xn--bcher-kva.de
        "solo2": "straße@example.de",  # → strasse@example.de
        "fine": "carol@example.com",  # already normalized
        "twin-a": "ann@example.com",  # the normalized form of the next one: kept
        "twin-b": full_width_ann,  # would collide with twin-a: left, reported
        "pair-a": "\ufb01ona@example.com",  # the "fi" ligature (lower() keeps it)
        "pair-b": "fiona@example.com",
    }
    ids = {key: uuid.uuid4() for key in before}
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("display_name", sa.String()),
        sa.column("password_hash", sa.String()),
        sa.column("is_active", sa.Boolean()),
        sa.column("is_admin", sa.Boolean()),
        sa.column("session_version", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            users.insert(),
            [
                {
                    "id": ids[key],
                    "email": email,
                    "display_name": key,
                    "password_hash": "x",
                    "is_active": True,
                    "is_admin": False,
                    "session_version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for key, email in before.items()
            ],
        )

    with caplog.at_level(logging.WARNING):
        command.upgrade(config, "head")

    with engine.connect() as conn:
        after = {row.id: row.email for row in conn.execute(sa.select(users.c.id, users.c.email))}
    assert len(after) == len(before)  # nothing merged, nothing deleted
    assert after[ids["solo"]] == "bob@xn--bcher-kva.de"
    assert after[ids["solo2"]] == "strasse@example.de"
    assert after[ids["fine"]] == "carol@example.com"
    for key in ("twin-a", "twin-b"):
        assert after[ids[key]] == before[key]  # untouched
    assert after[ids["pair-a"]] == before["pair-a"]
    assert after[ids["pair-b"]] == "fiona@example.com"  # was already the normalized form
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    (twins,) = [w for w in warnings if "'ann@example.com'" in w]
    assert str(ids["twin-b"]) in twins and full_width_ann in twins and "left unchanged" in twins
    (fionas,) = [w for w in warnings if "'fiona@example.com'" in w]
    assert str(ids["pair-a"]) in fionas
    # Every row is now either normalized or one of the reported collisions.
    for user_id, email in after.items():
        reported = any(str(user_id) in w for w in warnings)
        assert normalize_email(email) == email or reported


def test_the_migrations_copy_of_the_rule_matches_the_app() -> None:
    path = PROJECT_ROOT / "alembic" / "versions" / "20261201_0004_normalize_user_emails.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    samples = [
        " Ann@Example.COM ",
        "straße@bücher.de",
        "\ufb01ona@xn--bcher-kva.de",
        "\u13a0\uab70@example.com",  # Cherokee, which case-folds to capitals
        "no-at-sign",
        "a@b@c",
        "x@-bad-.com",
        "ann\x00@x.com",
        "",
    ] + [f"u{chr(cp)}@d{chr(cp)}.com" for cp in range(0x80, 0x3000, 7)]
    for sample in samples:
        assert module._normalize(sample) == normalize_email(sample), repr(sample)
