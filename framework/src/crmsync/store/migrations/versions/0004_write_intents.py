"""write intents: updates recorded before they are pushed, cleared with their baseline

Revision ID: 0004 Revises: 0002 Create Date: 2026-12-08 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
# 0003 (the decision log) is another branch's; whichever merges second re-chains.
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("object_name", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_write_intents_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_intents")),
        sa.UniqueConstraint(
            "integration_id",
            "side",
            "object_name",
            "record_id",
            name=op.f("uq_write_intents_integration_id_side_object_name_record_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("write_intents")
