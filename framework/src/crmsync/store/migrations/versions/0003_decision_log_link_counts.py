"""the per-field decision log, and link counts kept per integration and object pair

Revision ID: 0003 Revises: 0002 Create Date: 2026-12-08 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_counts",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("platform_object", sa.String(length=128), nullable=False),
        sa.Column("crm_object", sa.String(length=128), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_link_counts_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "integration_id",
            "platform_object",
            "crm_object",
            name=op.f("pk_link_counts"),
        ),
    )
    # The links already kept, counted once (one pass over the links' unique index).
    op.execute(
        "INSERT INTO link_counts (integration_id, platform_object, crm_object, links) "
        "SELECT integration_id, platform_object, crm_object, COUNT(*) FROM links "
        "GROUP BY integration_id, platform_object, crm_object"
    )
    op.create_table(
        "field_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("object_name", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_field_decisions_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_decisions")),
    )
    with op.batch_alter_table("field_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_field_decisions_record",
            ["integration_id", "object_name", "record_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_field_decisions_decided_at", ["decided_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("field_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_field_decisions_decided_at")
        batch_op.drop_index("ix_field_decisions_record")
    op.drop_table("field_decisions")
    op.drop_table("link_counts")
