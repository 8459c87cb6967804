"""initial schema

Revision ID: 0001 Revises: Create Date: 2026-12-01 06:31:52.002478
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("platform_connector", sa.String(length=64), nullable=False),
        sa.Column("crm_connector", sa.String(length=64), nullable=False),
        sa.Column("platform_settings", sa.JSON(), nullable=False),
        sa.Column("crm_settings", sa.JSON(), nullable=False),
        sa.Column("source_of_truth", sa.String(length=16), nullable=False),
        sa.Column(
            "source_of_truth_locked_at", sa.DateTime(timezone=True), nullable=True
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("create_in_crm", sa.JSON(), nullable=False),
        sa.Column("create_in_platform", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("name", name=op.f("uq_integrations_name")),
    )
    op.create_table(
        "cursors",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("object_name", sa.String(length=128), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_cursors_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "integration_id", "side", "object_name", name=op.f("pk_cursors")
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_events_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("object_name", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("record_values", sa.JSON(), nullable=True),
        sa.Column("match_key", sa.String(length=320), nullable=True),
        sa.Column("converted_object", sa.String(length=128), nullable=True),
        sa.Column("converted_id", sa.String(length=255), nullable=True),
        sa.Column("merged_into", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parked", sa.Boolean(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_inbox_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint(
            "integration_id",
            "side",
            "object_name",
            "record_id",
            name=op.f("uq_inbox_integration_id_side_object_name_record_id"),
        ),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_match", ["integration_id", "side", "match_key"], unique=False
        )

    op.create_table(
        "leases",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_leases_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("integration_id", name=op.f("pk_leases")),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("platform_object", sa.String(length=128), nullable=False),
        sa.Column("platform_id", sa.String(length=255), nullable=False),
        sa.Column("crm_object", sa.String(length=128), nullable=False),
        sa.Column("crm_id", sa.String(length=255), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
        sa.Column("platform_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crm_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_links_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_links")),
        sa.UniqueConstraint(
            "integration_id",
            "crm_object",
            "crm_id",
            name=op.f("uq_links_integration_id_crm_object_crm_id"),
        ),
        sa.UniqueConstraint(
            "integration_id",
            "platform_object",
            "platform_id",
            name=op.f("uq_links_integration_id_platform_object_platform_id"),
        ),
    )
    op.create_table(
        "object_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("platform_object", sa.String(length=128), nullable=False),
        sa.Column("crm_object", sa.String(length=128), nullable=False),
        sa.Column("match_order", sa.Integer(), nullable=False),
        sa.Column("platform_match_field", sa.String(length=128), nullable=False),
        sa.Column("crm_match_field", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_object_pairs_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_object_pairs")),
        sa.UniqueConstraint(
            "integration_id",
            "platform_object",
            "crm_object",
            name=op.f("uq_object_pairs_integration_id_platform_object_crm_object"),
        ),
    )
    op.create_table(
        "pending_creates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("target_side", sa.String(length=16), nullable=False),
        sa.Column("target_object", sa.String(length=128), nullable=False),
        sa.Column("source_object", sa.String(length=128), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("match_key", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_pending_creates_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_creates")),
        sa.UniqueConstraint("ref", name=op.f("uq_pending_creates_ref")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_runs_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_runs_integration_started",
            ["integration_id", "started_at"],
            unique=False,
        )

    op.create_table(
        "mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_pair_id", sa.Integer(), nullable=False),
        sa.Column("platform_field", sa.String(length=128), nullable=False),
        sa.Column("crm_field", sa.String(length=128), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("platform_type", sa.String(length=32), nullable=False),
        sa.Column("crm_type", sa.String(length=32), nullable=False),
        sa.Column("default_value", sa.JSON(), nullable=True),
        sa.Column("conflict_rule", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["object_pair_id"],
            ["object_pairs.id"],
            name=op.f("fk_mappings_object_pair_id_object_pairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mappings")),
        sa.UniqueConstraint(
            "object_pair_id",
            "platform_field",
            "crm_field",
            name=op.f("uq_mappings_object_pair_id_platform_field_crm_field"),
        ),
    )
    op.create_table(
        "record_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("object_name", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_record_errors_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_record_errors_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_errors")),
        sa.UniqueConstraint(
            "integration_id",
            "side",
            "object_name",
            "record_id",
            name=op.f("uq_record_errors_integration_id_side_object_name_record_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("record_errors")
    op.drop_table("mappings")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_integration_started")

    op.drop_table("runs")
    op.drop_table("pending_creates")
    op.drop_table("object_pairs")
    op.drop_table("links")
    op.drop_table("leases")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_match")

    op.drop_table("inbox")
    op.drop_table("events")
    op.drop_table("cursors")
    op.drop_table("integrations")
