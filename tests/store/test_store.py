"""The state store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.contract import ChangedRecord, Cursor, Tombstone
from crmsync.errors import ConfigurationError, Conflict, MappingError
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Integration,
    Mapping,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.policy import match_key_of
from crmsync.store import LinkRow, open_store

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.dispose()


def integration(**overrides) -> Integration:
    return Integration(
        **{
            "name": "acme",
            "platform_connector": "local",
            "crm_connector": "salesforce",
            "crm_settings": {"login_url": "https://test.salesforce.com"},
            "create_in_crm": CreationRule(mode=CreationMode.ALL, target_object="Lead"),
            "object_pairs": (
                ObjectPair(
                    platform_object="prospect",
                    crm_object="Contact",
                    mappings=(
                        Mapping(
                            platform_field="email",
                            crm_field="Email",
                            direction=Direction.SYNC,
                        ),
                    ),
                ),
                ObjectPair(
                    platform_object="prospect", crm_object="Lead", match_order=1
                ),
            ),
            **overrides,
        }
    )


def test_an_integration_round_trips(store):
    created = store.config.create_integration(integration())
    again = store.config.get_integration("acme")
    assert again == created
    assert [p.crm_object for p in again.pairs_in_match_order()] == ["Contact", "Lead"]
    assert again.create_in_crm.target_object == "Lead"
    assert store.database.is_current()


def test_secrets_are_never_stored(store):
    with pytest.raises(ConfigurationError, match="never stored"):
        store.config.create_integration(
            integration(crm_settings={"client_secret": "s3cr3t"})
        )


def test_unknown_and_duplicate_integrations_are_clear_errors(store):
    with pytest.raises(ConfigurationError, match="unknown integration 'nope'"):
        store.config.get_integration("nope")
    store.config.create_integration(integration())
    with pytest.raises(Conflict, match="already exists") as taken:
        store.config.create_integration(integration())
    assert taken.value.field == "name"


def test_an_object_pair_the_integration_has_is_a_conflict(store):
    store.config.create_integration(integration())
    with pytest.raises(Conflict, match="already has object pair prospect:Lead") as has:
        store.config.add_object_pair(
            "acme", ObjectPair(platform_object="prospect", crm_object="Lead")
        )
    assert has.value.field == "pairs"
    assert len(store.config.get_integration("acme").object_pairs) == 2


def test_mapping_changes_need_a_paused_integration_and_restart_cursors(store):
    created = store.config.create_integration(integration())
    with store.database.transaction() as tx:
        store.cursors.save(tx, created.id, "crm", "Lead", Cursor(modified_at=T0))
    store.config.set_active("acme", True)
    phone = Mapping(
        platform_field="phone", crm_field="Phone", direction=Direction.TO_CRM
    )
    with pytest.raises(MappingError, match="crmsync integration pause acme"):
        store.config.put_mapping("acme", "prospect", "Lead", phone)
    store.config.set_active("acme", False)
    updated = store.config.put_mapping("acme", "prospect", "Lead", phone)
    assert updated.object_pairs[1].mappings == (phone,)
    with store.database.transaction() as tx:
        assert store.cursors.get(tx, created.id, "crm", "Lead") == (None, None)
    edited = phone.model_copy(update={"direction": Direction.SYNC})
    assert store.config.put_mapping("acme", "prospect", "Lead", edited).object_pairs[
        1
    ].mappings == (edited,)
    store.config.delete_mapping("acme", "prospect", "Lead", "phone", "Phone")
    with pytest.raises(MappingError, match="no mapping"):
        store.config.delete_mapping("acme", "prospect", "Lead", "phone", "Phone")


def test_staging_keeps_the_newest_version_and_unparks_only_on_real_change(store):
    iid = store.config.create_integration(integration()).id
    record = ChangedRecord(record_id="L1", modified_at=T0, values={"Email": " A@X.io "})
    with store.database.transaction() as tx:
        store.inbox.stage(tx, iid, "crm", "Lead", [record], [], match_key_of("Email"))
        (row,) = store.inbox.chunk(tx, iid, "crm", "Lead", 0, 10)
        assert row.match_key == "a@x.io"
        store.inbox.fail(tx, [row.id], "bad", park=True, max_attempts=5)
        email = match_key_of("Email")
        store.inbox.stage(tx, iid, "crm", "Lead", [record], [], email)  # a re-read
        assert store.inbox.chunk(tx, iid, "crm", "Lead", 0, 10) == []
        newer = record.model_copy(update={"modified_at": T0 + dt.timedelta(seconds=1)})
        store.inbox.stage(
            tx,
            iid,
            "crm",
            "Lead",
            [newer],
            [Tombstone(record_id="L2", deleted_at=T0)],
            match_key_of("Email"),
        )
        rows = store.inbox.chunk(tx, iid, "crm", "Lead", 0, 10)
        assert [(r.record_id, r.kind, r.attempts) for r in rows] == [
            ("L1", "record", 0),
            ("L2", "tombstone", 0),
        ]
        assert (
            store.inbox.by_match_keys(tx, iid, "crm", ["Lead"], ["a@x.io"])[0].id
            == rows[0].id
        )


def test_settled_rows_stay_visible_to_matching_until_purged_deleted_ones_do_not(store):
    iid = store.config.create_integration(integration()).id
    records = [
        ChangedRecord(record_id=f"L{n}", modified_at=T0, values={"Email": f"{n}@x.io"})
        for n in (1, 2, 3)
    ]
    with store.database.transaction() as tx:
        store.inbox.stage(tx, iid, "crm", "Lead", records, [], match_key_of("Email"))
        one, two, three = store.inbox.chunk(tx, iid, "crm", "Lead", 0, 10)
        store.inbox.settle(tx, [one.id])
        store.inbox.delete(tx, [two.id])
        assert [r.id for r in store.inbox.chunk(tx, iid, "crm", "Lead", 0, 10)] == [
            three.id
        ]
        keys = ["1@x.io", "2@x.io", "3@x.io"]
        found = store.inbox.by_match_keys(tx, iid, "crm", ["Lead"], keys)
        assert sorted(r.record_id for r in found) == ["L1", "L3"]
        assert store.inbox.purge_settled(tx, iid) == 1
        found = store.inbox.by_match_keys(tx, iid, "crm", ["Lead"], keys)
        assert [r.record_id for r in found] == ["L3"]


def test_links_are_found_by_key_from_either_side(store):
    iid = store.config.create_integration(integration()).id
    with store.database.transaction() as tx:
        store.links.upsert(
            tx,
            iid,
            [
                LinkRow(
                    None,
                    "prospect",
                    "P1",
                    "Lead",
                    "L1",
                    {"email>Email": ["a", "a"]},
                    T0,
                    T0,
                )
            ],
        )
        by_crm = store.links.find(tx, iid, "crm", [("Lead", "L1")])
        link = by_crm[("Lead", "L1")]
        link.crm_object, link.crm_id = "Contact", "C1"
        store.links.upsert(tx, iid, [link])
        assert (
            store.links.find(tx, iid, "platform", [("prospect", "P1")])[
                ("prospect", "P1")
            ].crm_id
            == "C1"
        )
        assert store.links.count(tx, iid) == 1
        # An update that keeps the link's records writes only its baseline and times.
        (link,) = store.links.find(tx, iid, "crm", [("Contact", "C1")]).values()
        assert link.stored_identity == link.identity
        link.baseline = {"email>Email": ["b", "b"]}
        link.crm_modified_at = T0 + dt.timedelta(hours=1)
        store.links.upsert(tx, iid, [link])
        (again,) = store.links.find(tx, iid, "platform", [("prospect", "P1")]).values()
        assert again.baseline == {"email>Email": ["b", "b"]}
        assert again.crm_modified_at == T0 + dt.timedelta(hours=1)
        assert again.identity == ("prospect", "P1", "Contact", "C1")
        store.links.delete(tx, [link.id])
        assert store.links.count(tx, iid) == 0


def test_failures_accumulate_and_resolve(store):
    iid = store.config.create_integration(integration()).id
    run = store.history.start_run(iid, dry_run=False)
    failure = {
        "side": "crm",
        "object_name": "Lead",
        "record_id": "L1",
        "code": "X",
        "message": "boom",
    }
    with store.database.transaction() as tx:
        store.history.record_failures(tx, iid, run, [failure])
        store.history.record_failures(tx, iid, run, [failure])
    (error,) = store.history.open_errors(iid)
    assert error.attempts == 2
    with store.database.transaction() as tx:
        store.history.resolve_failures(tx, iid, [("crm", "Lead", "L1")])
    assert store.history.open_errors(iid) == []
    store.history.finish_run(run, status="succeeded", counts={"crm": {"read": 1}})
    assert store.history.list_runs(iid)[0].counts == {"crm": {"read": 1}}


def test_the_cycle_lease_is_exclusive_until_released_or_expired(store):
    iid = store.config.create_integration(integration()).id
    assert store.leases.acquire(iid, "a", seconds=60)
    assert not store.leases.acquire(iid, "b", seconds=60)
    store.leases.release(iid, "a")
    assert store.leases.acquire(iid, "b", seconds=-1)  # already expired
    assert store.leases.acquire(iid, "c", seconds=60)


def test_rebaseline_clears_baselines_and_is_logged(store):
    iid = store.config.create_integration(
        integration(source_of_truth=SourceOfTruth.CRM)
    ).id
    with store.database.transaction() as tx:
        store.links.upsert(
            tx,
            iid,
            [LinkRow(None, "prospect", "P1", "Lead", "L1", {"k": [1, 1]}, T0, T0)],
        )
        store.cursors.save(tx, iid, "crm", "Lead", Cursor(modified_at=T0))
        store.config.lock_source_of_truth(tx, iid, T0)
    store.config.rebaseline("acme", SourceOfTruth.BOTH)
    with store.database.transaction() as tx:
        link = store.links.find(tx, iid, "crm", [("Lead", "L1")])[("Lead", "L1")]
    assert link.baseline == {}
    assert store.history.list_events(iid)[0].kind == "rebaselined"
    # Both sides are read again from the start, to decide every link afresh.
    with store.database.transaction() as tx:
        assert store.cursors.get(tx, iid, "crm", "Lead") == (None, None)


def test_pending_creates(store):
    iid = store.config.create_integration(integration()).id
    with store.database.transaction() as tx:
        store.pending.add(
            tx,
            iid,
            [
                {
                    "ref": "r1",
                    "target_side": "crm",
                    "target_object": "Lead",
                    "source_object": "prospect",
                    "source_id": "P1",
                    "match_key": "a@x.io",
                }
            ],
        )
        assert store.pending.any(tx, iid)
        store.pending.remove(tx, ["r1"])
        assert not store.pending.any(tx, iid)


def test_pending_creates_older_than_a_moment_are_cleared(store):
    iid = store.config.create_integration(integration()).id
    row = {
        "target_side": "crm",
        "target_object": "Lead",
        "source_object": "prospect",
        "match_key": None,
    }
    with store.database.transaction() as tx:
        store.pending.add(tx, iid, [{**row, "ref": "old", "source_id": "P1"}])
    between = dt.datetime.now(dt.UTC)
    with store.database.transaction() as tx:
        store.pending.add(tx, iid, [{**row, "ref": "new", "source_id": "P2"}])
        assert store.pending.clear(tx, iid, before=between) == 1
        assert store.pending.any(tx, iid)
        store.pending.remove(tx, ["new"])
        assert not store.pending.any(tx, iid)


def test_a_create_recorded_again_is_pending_from_its_latest_attempt(store):
    # A create tried again (its last answer was lost) must survive the end-of-cycle
    # clear of older pending creates.
    iid = store.config.create_integration(integration()).id
    row = {
        "ref": "r1",
        "target_side": "crm",
        "target_object": "Lead",
        "source_object": "prospect",
        "source_id": "P1",
        "match_key": "a@x.io",
    }
    with store.database.transaction() as tx:
        store.pending.add(tx, iid, [row])
    between = dt.datetime.now(dt.UTC)
    with store.database.transaction() as tx:
        store.pending.add(tx, iid, [row])
        assert store.pending.clear(tx, iid, before=between) == 0
        assert store.pending.any(tx, iid)


def test_mapping_changes_apply_whole_or_not_at_all(store):
    store.config.create_integration(integration())
    phone = Mapping(
        platform_field="phone", crm_field="Phone", direction=Direction.TO_CRM
    )
    with pytest.raises(MappingError, match="no mapping"):
        store.config.change_mappings(
            "acme",
            puts=[("prospect", "Lead", phone)],
            deletes=[("prospect", "Lead", "nope", "Nope")],
        )
    assert store.config.get_integration("acme").object_pairs[1].mappings == ()
    store.config.change_mappings(
        "acme",
        puts=[("prospect", "Lead", phone)],
        deletes=[("prospect", "Contact", "email", "Email")],
    )
    pairs = store.config.get_integration("acme").object_pairs
    assert pairs[0].mappings == () and pairs[1].mappings == (phone,)


def test_object_pairs_and_integrations_can_be_removed_while_paused(store):
    created = store.config.create_integration(integration())
    with store.database.transaction() as tx:
        store.links.upsert(
            tx, created.id, [LinkRow(None, "prospect", "P1", "Lead", "L1", {}, T0, T0)]
        )
    after = store.config.remove_object_pair("acme", "prospect", "Lead")
    assert [p.crm_object for p in after.object_pairs] == ["Contact"]
    with store.database.transaction() as tx:
        assert store.links.count(tx, created.id) == 0
    store.config.set_active("acme", True)
    with pytest.raises(MappingError, match="pause"):
        store.config.delete_integration("acme")
    store.config.set_active("acme", False)
    store.config.delete_integration("acme")
    assert store.config.list_integrations() == []


def test_sqlite_connections_get_the_page_cache_asked_for(tmp_path):
    sized = open_store(f"sqlite:///{tmp_path}/sized.db", sqlite_cache_mb=8)
    default = open_store(f"sqlite:///{tmp_path}/default.db")
    try:
        with sized.database.transaction() as tx:
            assert tx.exec_driver_sql("PRAGMA cache_size").scalar() == -8 * 1024
        with default.database.transaction() as tx:
            assert tx.exec_driver_sql("PRAGMA cache_size").scalar() == -64 * 1024
    finally:
        sized.dispose()
        default.dispose()


def test_the_cache_setting_reaches_the_cli_store(tmp_path, monkeypatch):
    from crmsync.cli._state import CliState
    from crmsync.settings import CrmsyncSettings

    monkeypatch.setenv("CRMSYNC_SQLITE_CACHE_MB", "3")
    settings = CrmsyncSettings(database_url=f"sqlite:///{tmp_path}/cli.db")
    store = CliState(settings=settings).get_store()
    try:
        with store.database.transaction() as tx:
            assert tx.exec_driver_sql("PRAGMA cache_size").scalar() == -3 * 1024
    finally:
        store.dispose()
