"""Alembic environment: the models' metadata and the app's own settings URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, event, pool
from sqlmodel import SQLModel

import chat_app.models  # noqa: F401  (registers every table on SQLModel.metadata)
from chat_app.core.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata
# Any fixed number; "chat" in ASCII. Only this app's migrations take it.
MIGRATION_LOCK_ID = 0x63686174


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our column types as plain SQLAlchemy ones, so migrations don't import the app."""
    from sqlmodel.sql.sqltypes import AutoString

    from chat_app.models.common import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _url() -> str:
    # Tests pass an explicit URL through the Alembic config; otherwise the app's settings decide.
    return config.attributes.get("database_url") or get_settings().sync_database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    if url.startswith("sqlite"):
        get_settings().data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, poolclass=pool.NullPool)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _fk_on(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_item=render_item,
            # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several app servers start together (compose.yaml, WORKERS on several hosts):
                # one migrates, the others wait here, then find the database at head. The lock
                # ends with the transaction, which on PostgreSQL holds the whole upgrade.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
