"""Add login_throttle (failed-login counters) and redeemed_login_tickets (single-use tickets).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('pair', 'address', 'account', 'known')", name="ck_login_throttle_kind"
        ),
        sa.PrimaryKeyConstraint("kind", "account", "address"),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index("ix_login_throttle_address", ["address"], unique=False)
        batch_op.create_index("ix_login_throttle_expires", ["expires_at"], unique=False)

    op.create_table(
        "redeemed_login_tickets",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    with op.batch_alter_table("redeemed_login_tickets", schema=None) as batch_op:
        batch_op.create_index("ix_redeemed_login_tickets_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("redeemed_login_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_redeemed_login_tickets_expires")
    op.drop_table("redeemed_login_tickets")

    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index("ix_login_throttle_expires")
        batch_op.drop_index("ix_login_throttle_address")
    op.drop_table("login_throttle")
