"""Normalize stored emails (NFKC, case-folded, ASCII IDNA domain); report would-be collisions.

Before this revision emails were only trimmed and lower-cased, so look-alike spellings of one
address (full-width letters, ``ß``/``ss``, a punycode domain...) could be separate accounts.
Rows whose normalized email is free are rewritten. Rows that would collide with another are
left exactly as they are — never merged or deleted — and listed in a warning here; run
``python -m chat_app check-emails`` to list them again and decide what to do with them.

The normalization is copied here on purpose (migrations do not import the app, whose rule may
change later); it matches ``chat_app.models.user.normalize_email`` at this revision.

Downgrade keeps the normalized emails: the old spellings are not recoverable and every
normalized email also satisfied the old rule.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:15:00
"""

import logging
import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import idna
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration.0004")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).lower()


def _normalize(value: str) -> str:
    local, at, domain = _fold(value.strip()).rpartition("@")
    if not at:
        return domain
    try:
        domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    return f"{local}@{domain}"


def upgrade() -> None:
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("email", sa.String()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.email)).all()
    by_normalized: dict[str, list[tuple[object, str]]] = defaultdict(list)
    for row in rows:
        by_normalized[_normalize(row.email)].append((row.id, row.email))
    for normalized, group in sorted(by_normalized.items()):
        if len(group) > 1:
            listed = ", ".join(f"{email!r} (id {user_id})" for user_id, email in group)
            logger.warning(
                "emails that normalize to %r belong to %d accounts, left unchanged: %s",
                normalized,
                len(group),
                listed,
            )
            continue
        ((user_id, email),) = group
        if email != normalized:
            bind.execute(
                users.update().where(users.c.id == user_id).values(email=normalized)
            )


def downgrade() -> None:
    pass
