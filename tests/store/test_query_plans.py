"""The engine's lookups stay index lookups on SQLite: no step reads every link or row.

A cycle's cost must follow the changed records, not the number of links. SQLite's
planner, without statistics, picked indexes that turned three of these lookups into
scans of the whole inbox or of every link (quadratic in an initial sync); these tests
pin the plans.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from crmsync.contract import ChangedRecord
from crmsync.models import Integration, ObjectPair
from crmsync.policy import match_key_of
from crmsync.store import LinkRow, open_store

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/plans.db")
    store.config.create_integration(
        Integration(
            name="plans",
            platform_connector="local",
            crm_connector="memory",
            object_pairs=(ObjectPair(platform_object="prospect", crm_object="Lead"),),
        )
    )
    yield store
    store.dispose()


def plans_of(store, call):
    """Run ``call`` and return the query plan of every SELECT it issued."""
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and not executemany:
            statements.append((statement, parameters))

    event.listen(store.database.engine, "before_cursor_execute", capture)
    try:
        with store.database.transaction() as tx:
            call(tx)
    finally:
        event.remove(store.database.engine, "before_cursor_execute", capture)
    plans = []
    with store.database.engine.connect() as connection:
        for statement, parameters in statements:
            rows = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            ).fetchall()
            plans.append(" | ".join(row[3] for row in rows))
    assert plans, "the call issued no SELECT"
    return plans


def test_feed_lookups_search_an_index_and_never_scan(store):
    with store.database.transaction() as tx:
        records = [
            ChangedRecord(
                record_id=f"L{n}", modified_at=T0, values={"Email": f"p{n}@x.io"}
            )
            for n in range(50)
        ]
        store.inbox.stage(tx, 1, "crm", "Lead", records, [], match_key_of("Email"))
        store.links.upsert(
            tx, 1, [LinkRow(None, "prospect", "P1", "Lead", "L1", {}, T0, T0)]
        )
    lookups = {
        "Inbox.chunk": lambda tx: store.inbox.chunk(tx, 1, "crm", "Lead", 0, 10),
        "Inbox.by_match_keys": lambda tx: store.inbox.by_match_keys(
            tx, 1, "crm", ["Lead"], ["p1@x.io", "p2@x.io"]
        ),
        "Inbox.for_records": lambda tx: store.inbox.for_records(
            tx, 1, "crm", [("Lead", "L1"), ("Lead", "L2")]
        ),
        "Links.find": lambda tx: store.links.find(tx, 1, "crm", [("Lead", "L1")]),
    }
    expected = {
        "Inbox.chunk": "INTEGER PRIMARY KEY",
        "Inbox.by_match_keys": "ix_inbox_match",
        "Inbox.for_records": "sqlite_autoindex_inbox",
        "Links.find": "sqlite_autoindex_links",
    }
    for name, call in lookups.items():
        for plan in plans_of(store, call):
            assert "SCAN" not in plan, f"{name} scans: {plan}"
            assert expected[name] in plan, f"{name} uses an unexpected plan: {plan}"
