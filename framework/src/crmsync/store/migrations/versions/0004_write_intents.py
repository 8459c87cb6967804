"""write intents: a chunk's updates recorded before they are pushed, dropped with their
baselines

Revision ID: 0004 Revises: 0003 Create Date: 2026-12-08 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("intents", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_write_intents_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_intents")),
    )
    with op.batch_alter_table("write_intents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_write_intents_integration",
            ["integration_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("write_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_write_intents_integration")
    op.drop_table("write_intents")
