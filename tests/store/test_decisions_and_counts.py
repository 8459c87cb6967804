"""Link counts kept with the links (migration 0003 backfills them), and the per-field
decision log: bulk writes, reads by record, bounded purges by time."""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text

from crmsync.store import LinkRow, open_store
from crmsync.store._schema import field_decisions, links

from .test_store import T0, integration


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.dispose()


def _link(platform_id: str, crm_object: str = "Lead") -> LinkRow:
    return LinkRow(
        None, "prospect", platform_id, crm_object, f"X{platform_id}", {}, T0, T0
    )


def _counted(store, tx, iid: int) -> dict[tuple[str, str], int]:
    """What the kept counts say, and (checked) what counting the links says."""
    kept = {
        (row[0], row[1]): row[2]
        for row in tx.execute(
            text(
                "SELECT platform_object, crm_object, links FROM link_counts "
                "WHERE integration_id = :iid AND links != 0"
            ),
            {"iid": iid},
        )
    }
    scanned = {
        (row[0], row[1]): row[2]
        for row in tx.execute(
            select(links.c.platform_object, links.c.crm_object, func.count())
            .where(links.c.integration_id == iid)
            .group_by(links.c.platform_object, links.c.crm_object)
        )
    }
    assert kept == scanned
    assert store.links.count(tx, iid) == sum(scanned.values())
    return kept


def test_link_counts_move_with_every_insert_relink_and_delete(store):
    iid = store.config.create_integration(integration()).id
    other = store.config.create_integration(integration(name="other")).id
    with store.database.transaction() as tx:
        store.links.upsert(tx, iid, [_link(f"P{n}") for n in range(5)])
        store.links.upsert(tx, other, [_link("P1", "Contact")])
        assert _counted(store, tx, iid) == {("prospect", "Lead"): 5}
        # A lead converted to a contact moves from Lead's count to Contact's.
        found = store.links.find(
            tx, iid, "platform", [("prospect", "P0"), ("prospect", "P1")]
        )
        for link in found.values():
            link.crm_object, link.crm_id = "Contact", "C" + link.platform_id
        store.links.upsert(tx, iid, list(found.values()))
        assert _counted(store, tx, iid) == {
            ("prospect", "Lead"): 3,
            ("prospect", "Contact"): 2,
        }
        # A link never read from the store (no stored identity) moves too.
        (lead,) = store.links.find(tx, iid, "platform", [("prospect", "P2")]).values()
        lead.stored_identity = None
        lead.crm_object, lead.crm_id = "Contact", "C2"
        store.links.upsert(tx, iid, [lead])
        # Updates that keep the pair change no count.
        (kept,) = store.links.find(tx, iid, "platform", [("prospect", "P3")]).values()
        kept.baseline = {"email>Email": ["a", "a"]}
        store.links.upsert(tx, iid, [kept])
        assert _counted(store, tx, iid) == {
            ("prospect", "Lead"): 2,
            ("prospect", "Contact"): 3,
        }
        store.links.delete(tx, [lead.id, kept.id])
        assert _counted(store, tx, iid) == {
            ("prospect", "Lead"): 1,
            ("prospect", "Contact"): 2,
        }
        assert store.links.count_by_integration(tx) == {iid: 3, other: 1}
    store.config.remove_object_pair("acme", "prospect", "Contact")
    with store.database.transaction() as tx:
        assert _counted(store, tx, iid) == {("prospect", "Lead"): 1}
    store.config.delete_integration("other")
    with store.database.transaction() as tx:
        assert store.links.count_by_integration(tx) == {iid: 1}


def test_migration_0003_counts_the_links_already_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    old = open_store(url, migrate=False)
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("crmsync.store") / "migrations")
    )
    with old.database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    with old.database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO integrations (id, name, platform_connector, "
                "crm_connector, platform_settings, crm_settings, source_of_truth, "
                "active, interval_seconds, create_in_crm, create_in_platform, "
                "created_at, updated_at) VALUES (7, 'acme', 'local', 'memory', '{}', "
                "'{}', 'crm', 0, 300, '{}', '{}', '2026-12-01', '2026-12-01')"
            )
        )
        for n, crm_object in enumerate(["Lead", "Lead", "Lead", "Contact"]):
            connection.execute(
                text(
                    "INSERT INTO links (integration_id, platform_object, platform_id, "
                    "crm_object, crm_id, baseline, created_at, updated_at) VALUES "
                    "(7, 'prospect', :p, :o, :c, '{}', '2026-12-01', '2026-12-01')"
                ),
                {"p": f"P{n}", "o": crm_object, "c": f"C{n}"},
            )
    old.dispose()
    store = open_store(url)
    try:
        with store.database.transaction() as tx:
            assert _counted(store, tx, 7) == {
                ("prospect", "Lead"): 3,
                ("prospect", "Contact"): 1,
            }
    finally:
        store.dispose()


def _writes(record: str, count: int) -> list[tuple[str, str, str, str, str, str]]:
    return [
        ("crm", "Lead", record, f"F{n}", f'"v{n}"', "only_platform_changed")
        for n in range(count)
    ]


def test_decisions_are_read_by_record_newest_first(store):
    iid = store.config.create_integration(integration()).id
    run = store.history.start_run(iid, dry_run=False)
    with store.database.transaction() as tx:
        store.decisions.record(tx, iid, run, T0, _writes("L1", 2) + _writes("L2", 1))
        store.decisions.record(
            tx,
            iid,
            run,
            T0 + dt.timedelta(minutes=1),
            [("platform", "prospect", "P1", "email", '"a@b.c"', "crm_wins")],
        )
    found = store.decisions.for_records(
        iid, [("crm", "Lead", "L1"), ("platform", "prospect", "P1")]
    )
    assert [(d.side, d.field, d.value, d.rule) for d in found] == [
        ("platform", "email", "a@b.c", "crm_wins"),
        ("crm", "F1", "v1", "only_platform_changed"),
        ("crm", "F0", "v0", "only_platform_changed"),
    ]
    assert {d.run_id for d in found} == {run}
    assert found[0].decided_at == T0 + dt.timedelta(minutes=1)
    assert store.decisions.for_records(iid, [("crm", "Lead", "L9")]) == []


def test_a_purge_drops_only_what_is_older_and_at_most_its_limit(store):
    iid = store.config.create_integration(integration()).id
    with store.database.transaction() as tx:
        for day in range(4):
            store.decisions.record(
                tx, iid, None, T0 + dt.timedelta(days=day), _writes(f"L{day}", 3)
            )
    cutoff = T0 + dt.timedelta(days=2)
    with store.database.transaction() as tx:
        assert store.decisions.purge(tx, cutoff, limit=4) == 4  # bounded
    with store.database.transaction() as tx:
        assert store.decisions.purge(tx, cutoff, limit=100) == 2  # the rest
        assert store.decisions.purge(tx, cutoff, limit=100) == 0
        left = tx.execute(select(func.min(field_decisions.c.decided_at))).scalar()
    assert left is not None
    assert (
        store.decisions.for_records(iid, [("crm", "Lead", "L2")])[0].decided_at
        == cutoff
    )
    assert len(store.decisions.for_records(iid, [("crm", "Lead", "L3")])) == 3
