"""worker schedule: which integrations run on Celery workers, and when each is due

Revision ID: 0002 Revises: 0001 Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_schedule",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_seen", sa.Integer(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("budget_group", sa.String(length=128), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_worker_schedule_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("integration_id", name=op.f("pk_worker_schedule")),
    )
    with op.batch_alter_table("worker_schedule", schema=None) as batch_op:
        batch_op.create_index("ix_worker_schedule_due", ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("worker_schedule", schema=None) as batch_op:
        batch_op.drop_index("ix_worker_schedule_due")
    op.drop_table("worker_schedule")
