"""The state store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Changes to these tables go with a new Alembic revision in ``store/migrations/versions``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend (SQLite drops
    zones).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Any
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Any
    ) -> dt.datetime | None:
        if value is None:
            return None
        return (
            value.replace(tzinfo=dt.UTC)
            if value.tzinfo is None
            else value.astimezone(dt.UTC)
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the state store")


def dumps(value: Any) -> str:
    """JSON for the state store: dates as ISO strings (values are compared after
    normalizing).

    Every staged record and every stored baseline passes here, so it is orjson (several
    times the standard library's speed); the standard library takes what orjson refuses
    (integers beyond 64 bits, non-string keys).
    """
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=_json_default, separators=(",", ":"))


def loads(raw: str | bytes) -> Any:
    """The inverse of :func:`dumps` (the standard library reads what only it wrote)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


integrations = Table(
    "integrations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("platform_connector", String(64), nullable=False),
    Column("crm_connector", String(64), nullable=False),
    Column("platform_settings", JSON, nullable=False, default=dict),
    Column("crm_settings", JSON, nullable=False, default=dict),
    Column("source_of_truth", String(16), nullable=False),
    Column("source_of_truth_locked_at", UtcDateTime, nullable=True),
    Column("active", Boolean, nullable=False, default=False),
    Column("interval_seconds", Integer, nullable=False),
    Column("create_in_crm", JSON, nullable=False),
    Column("create_in_platform", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("updated_at", UtcDateTime, nullable=False, default=_now, onupdate=_now),
)

object_pairs = Table(
    "object_pairs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("platform_object", String(128), nullable=False),
    Column("crm_object", String(128), nullable=False),
    Column("match_order", Integer, nullable=False, default=0),
    Column("platform_match_field", String(128), nullable=False),
    Column("crm_match_field", String(128), nullable=False),
    UniqueConstraint("integration_id", "platform_object", "crm_object"),
)

mappings = Table(
    "mappings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "object_pair_id",
        ForeignKey("object_pairs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("platform_field", String(128), nullable=False),
    Column("crm_field", String(128), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("platform_type", String(32), nullable=False),
    Column("crm_type", String(32), nullable=False),
    Column("default_value", JSON, nullable=True),
    Column("conflict_rule", String(16), nullable=True),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("updated_at", UtcDateTime, nullable=False, default=_now, onupdate=_now),
    UniqueConstraint("object_pair_id", "platform_field", "crm_field"),
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("platform_object", String(128), nullable=False),
    Column("platform_id", String(255), nullable=False),
    Column("crm_object", String(128), nullable=False),
    Column("crm_id", String(255), nullable=False),
    # {mapping key: [platform value, crm value]} when the pair last finished a cycle.
    Column("baseline", JSON, nullable=False, default=dict),
    Column("platform_modified_at", UtcDateTime, nullable=True),
    Column("crm_modified_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("updated_at", UtcDateTime, nullable=False, default=_now),
    UniqueConstraint("integration_id", "platform_object", "platform_id"),
    UniqueConstraint("integration_id", "crm_object", "crm_id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("side", String(16), primary_key=True),
    Column("object_name", String(128), primary_key=True),
    Column("cursor", JSON, nullable=True),
    # When the read that produced the cursor started: records modified within the
    # overlap window before it may still have been committing, so the next read looks
    # again there.
    Column("read_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False, default=_now),
)

# Changes read from a feed but not yet settled. Staged in the same transaction that
# moves the cursor, so a cursor never passes a change that is not durably kept.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("side", String(16), nullable=False),
    Column("object_name", String(128), nullable=False),
    Column("record_id", String(255), nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # record | tombstone
    Column("record_values", JSON, nullable=True),
    Column("match_key", String(320), nullable=True),
    Column("converted_object", String(128), nullable=True),
    Column("converted_id", String(255), nullable=True),
    Column("merged_into", String(255), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("parked", Boolean, nullable=False, default=False),
    # Settled this cycle; kept (not deleted) until the cycle ends so that later rows
    # still see, by match key, the records it linked (and create no duplicate of them).
    Column("settled", Boolean, nullable=False, default=False),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("integration_id", "side", "object_name", "record_id"),
    Index("ix_inbox_match", "integration_id", "side", "match_key"),
)

# Creates pushed (or about to be) whose results are not yet recorded: after a crash the
# engine finds the created record by its match key instead of creating it twice.
pending_creates = Table(
    "pending_creates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("ref", String(255), nullable=False, unique=True),
    Column("target_side", String(16), nullable=False),
    Column("target_object", String(128), nullable=False),
    Column("source_object", String(128), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("match_key", String(320), nullable=True),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
)

# Updates about to be pushed, one row per chunk of the engine's, recorded before they
# leave and dropped once every answer's baseline is stored: after a crash in between,
# the next cycle knows a record holding these values holds crmsync's own write, not an
# edit (issue 12).
write_intents = Table(
    "write_intents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # [[side written, object, record id, {mapping key: [before, after]}], ...]: for
    # each field a write sets, the pair's baseline ([platform, crm value]) when the
    # write was decided and the one it leads to.
    Column("intents", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Index("ix_write_intents_integration", "integration_id", "created_at"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("counts", JSON, nullable=False, default=dict),
    Column("message", Text, nullable=True),
    Index("ix_runs_integration_started", "integration_id", "started_at"),
)

record_errors = Table(
    "record_errors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("run_id", ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("side", String(16), nullable=False),
    Column("object_name", String(128), nullable=False),
    Column("record_id", String(255), nullable=False),
    Column("code", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("field", String(128), nullable=True),
    Column("retryable", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    UniqueConstraint("integration_id", "side", "object_name", "record_id"),
)

# One cycle per integration at a time, across processes and machines: a cycle holds the
# lease until it ends or the lease expires (a crashed holder never blocks the
# integration for good).
leases = Table(
    "leases",
    metadata,
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("owner", String(128), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", UtcDateTime, nullable=False, default=_now),
    Column("kind", String(64), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
)

# How many links each object pair of an integration holds, kept in the transaction of
# every link insert and delete: the pages read a count, not an index scan of links.
link_counts = Table(
    "link_counts",
    metadata,
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("platform_object", String(128), primary_key=True),
    Column("crm_object", String(128), primary_key=True),
    Column("links", Integer, nullable=False, default=0),
)

# Which rule wrote which value to which side's record in which run: one row per field
# a cycle really wrote (the vendor said yes), kept for the retention the operator sets
# (``CRMSYNC_DECISION_LOG_DAYS``) and purged by ``decided_at`` at the end of a cycle.
field_decisions = Table(
    "field_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "integration_id",
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("run_id", Integer, nullable=True),  # runs may go before their log does
    Column("decided_at", UtcDateTime, nullable=False),
    Column("side", String(16), nullable=False),  # the side written
    Column("object_name", String(128), nullable=False),
    Column("record_id", String(255), nullable=False),
    Column("field", String(128), nullable=False),
    Column("value", Text, nullable=True),  # JSON text, as written
    Column("rule", String(64), nullable=False),
    Index(
        "ix_field_decisions_record", "integration_id", "object_name", "record_id"
    ),
    Index("ix_field_decisions_decided_at", "decided_at"),
)
