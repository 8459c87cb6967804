"""The store as named collaborators: each one works alone on a database, and the store
itself keeps only its lifecycle (no facade that would regrow the aggregate)."""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.contract import ChangedRecord, Cursor
from crmsync.models import Direction, Integration, Mapping, ObjectPair
from crmsync.store import (
    Configuration,
    Cursors,
    Database,
    History,
    Inbox,
    Leases,
    LinkRow,
    Links,
    PendingCreates,
    Schedule,
    StateStore,
    open_store,
)

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

COLLABORATORS = {
    "config": Configuration,
    "cursors": Cursors,
    "leases": Leases,
    "inbox": Inbox,
    "links": Links,
    "pending": PendingCreates,
    "history": History,
    "schedule": Schedule,
}


@pytest.fixture
def database(database_url):
    database = Database(database_url)
    database.ensure_schema()
    yield database
    database.dispose()


def _integration() -> Integration:
    return Integration(
        name="acme",
        platform_connector="local",
        crm_connector="salesforce",
        object_pairs=(
            ObjectPair(
                platform_object="prospect",
                crm_object="Lead",
                mappings=(
                    Mapping(
                        platform_field="email",
                        crm_field="Email",
                        direction=Direction.SYNC,
                    ),
                ),
            ),
        ),
    )


def test_the_store_keeps_only_its_lifecycle_and_its_collaborators(tmp_path):
    public = {name for name in dir(StateStore) if not name.startswith("_")}
    assert public == {"ensure_schema", "dispose"}
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        for name, kind in COLLABORATORS.items():
            collaborator = getattr(store, name)
            assert isinstance(collaborator, kind), name
            assert collaborator.database is store.database, name
    finally:
        store.dispose()


def test_each_collaborator_works_alone_on_one_database(database):
    """What a reader holds is one class and a database: no store around them."""
    iid = Configuration(database).create_integration(_integration()).id
    assert iid is not None
    cursors, inbox, links = Cursors(database), Inbox(database), Links(database)
    record = ChangedRecord(record_id="L1", modified_at=T0, values={"Email": "a@x.io"})
    with database.transaction() as tx:
        inbox.stage(tx, iid, "crm", "Lead", [record], [], None)
        cursors.save(tx, iid, "crm", "Lead", Cursor(modified_at=T0, record_id="L1"))
        links.upsert(
            tx,
            iid,
            [LinkRow(None, "prospect", "p1", "Lead", "L1", {}, T0, T0)],
        )
    with database.transaction() as tx:
        (row,) = inbox.chunk(tx, iid, "crm", "Lead", 0, 10)
        saved, _ = cursors.get(tx, iid, "crm", "Lead")
        found = links.find(tx, iid, "crm", [("Lead", "L1")])
    assert (row.record_id, row.values, row.modified_at) == ("L1", record.values, T0)
    assert saved == Cursor(modified_at=T0, record_id="L1")
    assert found[("Lead", "L1")].platform_id == "p1"
    assert found[("Lead", "L1")].crm_modified_at == T0


def test_configuration_changes_restart_cursors_and_baselines_in_one_transaction(
    database,
):
    """A rebaseline clears every baseline and restarts every feed: the configuration
    writes them through the cursors' and links' own collaborators."""
    config = Configuration(database)
    iid = config.create_integration(_integration()).id
    assert iid is not None
    cursors, links = Cursors(database), Links(database)
    with database.transaction() as tx:
        cursors.save(tx, iid, "crm", "Lead", Cursor(modified_at=T0, record_id="L1"))
        links.upsert(
            tx,
            iid,
            [LinkRow(None, "prospect", "p1", "Lead", "L1", {"email": ["a"]}, T0, T0)],
        )
    config.rebaseline("acme", config.get_integration("acme").source_of_truth)
    with database.transaction() as tx:
        assert cursors.get(tx, iid, "crm", "Lead") == (None, None)
        assert (
            links.find(tx, iid, "crm", [("Lead", "L1")])[("Lead", "L1")].baseline == {}
        )
