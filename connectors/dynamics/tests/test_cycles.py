"""Whole sync cycles through crmsync's engine between ``local`` prospects and the
emulated Dataverse.

The platform is the ``local`` connector over a SQLite file; the CRM is this connector
over the in-process emulator; the state store is SQLite. One clock drives all three,
and connections live as long as a world (as in the runtime), so a token and the
tables' metadata survive from one cycle to the next.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmsync.contract import FieldType
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Mapping,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.testing.cycles import CYCLE_START, CycleWorld, Worlds, two_way
from crmsync_dynamics.emulator import DEFAULT_ORG, DEFAULT_TENANT, DataverseEmulator

CLIENT_ID = "5a1e0c9b-7f3d-4c2a-9e8b-1d2c3b4a5f60"
CLIENT_SECRET = "cycles~dynamics-s3cret-value-42"
NOT_PROVIDED = "[not provided]"
WRITES = ("POST", "PATCH", "DELETE")


def _pairs() -> tuple[ObjectPair, ...]:
    """prospect<->contact first, then prospect<->lead (DESIGN.md's match order)."""
    common = (
        two_way("email", "emailaddress1", FieldType.EMAIL),
        two_way("first_name", "firstname"),
        two_way("last_name", "lastname", default=NOT_PROVIDED),
        two_way("phone", "telephone1", FieldType.PHONE),
        Mapping(platform_field="title", crm_field="jobtitle", direction=Direction.TO_CRM),
    )
    lead_only = (
        Mapping(
            platform_field="company",
            crm_field="companyname",
            direction=Direction.TO_CRM,
            default=NOT_PROVIDED,
        ),
        Mapping(
            platform_field="lead_source",
            crm_field="leadsourcecode",
            direction=Direction.TO_PLATFORM,
            platform_type=FieldType.PICKLIST,
            crm_type=FieldType.PICKLIST,
        ),
    )
    return (
        ObjectPair(
            platform_object="prospect",
            crm_object="contact",
            match_order=0,
            crm_match_field="emailaddress1",
            mappings=common,
        ),
        ObjectPair(
            platform_object="prospect",
            crm_object="lead",
            match_order=1,
            crm_match_field="emailaddress1",
            mappings=(*common, *lead_only),
        ),
    )


class World(CycleWorld[DataverseEmulator]):
    """A platform file, an emulated org, a state store and one clock for all three."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        tracking: bool = True,
        crm_settings: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        emulator = DataverseEmulator()
        emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
        emulator.clock.freeze(CYCLE_START)
        for table in ("lead", "contact"):
            emulator.set_change_tracking(table, tracking)
        super().__init__(
            tmp_path,
            emulator=emulator,
            crm_connector="dynamics",
            crm_settings={
                "environment_url": DEFAULT_ORG,
                "tenant_id": DEFAULT_TENANT,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                **(crm_settings or {}),
            },
            object_pairs=_pairs(),
            create_in_crm=CreationRule(mode=CreationMode.ALL, target_object="lead"),
            **options,
        )

    def mark(self) -> int:
        return len(self.emulator.log)

    def data_calls_since(self, mark: int) -> list[Any]:
        return [r for r in list(self.emulator.log)[mark:] if r.path.startswith("/api/data/")]

    def writes_since(self, mark: int) -> list[Any]:
        """Write calls: a $batch that holds a changeset, or a plain write."""
        found = []
        for r in self.data_calls_since(mark):
            if r.path.endswith("$batch"):
                if b"changeset_" in r.body:
                    found.append(r)
            elif r.method in WRITES:
                found.append(r)
        return found

    def lead(self, **values: Any) -> str:
        (record_id,) = self.emulator.seed("lead", [{"companyname": "Initech", **values}])
        return record_id


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Worlds[World]]:
    with Worlds(tmp_path, World) as make:
        yield make


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"p{n}@example.com", "first_name": "Pat", "last_name": f"P{n}", **extra}


def linked_pair(world: World, n: int = 1, first_name: str = "Pat") -> tuple[str, str]:
    """A prospect and a lead that one cycle linked, agreeing on every mapped field."""
    pid = world.prospect(**person(n, company="Initech", first_name=first_name))
    lid = world.lead(emailaddress1=f"p{n}@example.com", firstname=first_name, lastname=f"P{n}")
    report = world.cycle()
    assert report.linked >= 1, report.counts()
    world.advance()
    return pid, lid


# -- DESIGN.md's worked examples ---------------------------------------------------------


def test_example_1_both_changed_the_later_change_wins(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = linked_pair(world, first_name="John")
    world.advance(3600)
    world.local.update(pid, {"first_name": "Johnathan"})  # 15:37
    world.advance(180)
    world.emulator.edit("lead", lid, {"firstname": "Jon"})  # 15:40
    world.cycle()
    assert world.local.get(pid)["first_name"] == "Jon"
    assert world.emulator.get("lead", lid)["firstname"] == "Jon"


@pytest.mark.parametrize(
    ("truth", "expected"), [(SourceOfTruth.CRM, "Josh"), (SourceOfTruth.PLATFORM, "Steve")]
)
def test_examples_2_and_3_a_source_of_truth_wins(make_world, truth, expected):
    world = make_world(source_of_truth=truth)
    pid = world.prospect(**person(1, first_name="Steve", company="Initech"))
    lid = world.lead(emailaddress1="p1@example.com", firstname="Josh", lastname="P1")
    world.cycle()
    assert world.local.get(pid)["first_name"] == expected
    assert world.emulator.get("lead", lid)["firstname"] == expected


def test_example_4_both_the_recent_change_wins(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    lid = world.lead(emailaddress1="p1@example.com", firstname="Josh", lastname="P1")
    world.advance(7 * 86400)
    pid = world.prospect(**person(1, first_name="Steve", company="Initech"))
    world.cycle()
    assert world.local.get(pid)["first_name"] == "Steve"
    assert world.emulator.get("lead", lid)["firstname"] == "Steve"


def test_example_5_crm_blank_is_filled_from_the_platform(make_world):
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    world.prospect(**person(1, first_name="Steve", company="Initech"))
    lid = world.lead(emailaddress1="p1@example.com", lastname="P1")
    world.cycle()
    assert world.emulator.get("lead", lid)["firstname"] == "Steve"


def test_example_6_and_7_no_lost_update_and_no_echo(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = linked_pair(world)
    world.local.update(pid, {"phone": "+1 555 0100"})  # 10:00
    world.advance(300)
    world.emulator.edit("lead", lid, {"firstname": "Patricia"})  # 10:05
    report = world.cycle()
    assert report.crm.updated == 1 and report.platform.updated == 1, report.counts()
    lead = world.emulator.get("lead", lid)
    assert (lead["firstname"], lead["telephone1"]) == ("Patricia", "+1 555 0100")
    assert world.local.get(pid)["first_name"] == "Patricia"
    world.advance()
    mark = world.mark()
    again = world.cycle()
    assert again.writes == 0, again.counts()
    assert world.writes_since(mark) == []  # no echo: no write reached the org
    # Idle: at most one request per object (a delta read each), no metadata re-read.
    assert len(world.data_calls_since(mark)) <= 2


def test_example_8_to_crm_blank_never_set_keeps_the_crm_value(make_world):
    world = make_world()
    pid = world.prospect(**person(1, company="Initech"))
    lid = world.lead(emailaddress1="p1@example.com", firstname="Pat", lastname="P1")
    world.emulator.edit("lead", lid, {"jobtitle": "CTO"})
    world.cycle()
    assert world.emulator.get("lead", lid)["jobtitle"] == "CTO"
    world.advance()
    world.local.update(pid, {"title": "CEO"})
    world.cycle()
    assert world.emulator.get("lead", lid)["jobtitle"] == "CEO"
    world.advance()
    world.local.update(pid, {"title": None})
    world.cycle()
    assert world.emulator.get("lead", lid)["jobtitle"] is None


# -- matching, creation, call counts ---------------------------------------------------------


def test_initial_sync_both_ways_creates_in_batches_of_1000(make_world):
    world = make_world()
    world.local.insert([person(n) for n in range(1250)])
    leads = world.emulator.seed(
        "lead",
        [{"lastname": f"L{n}", "emailaddress1": f"l{n}@example.com"} for n in range(30)],
    )
    world.emulator.seed(
        "contact", [{"lastname": f"C{n}", "emailaddress1": f"c{n}@example.com"} for n in range(20)]
    )
    mark = world.mark()
    report = world.cycle()
    assert report.status == "succeeded", report.message
    assert report.crm.created == 1250 and report.platform.created == 50, report.counts()
    writes = world.writes_since(mark)
    assert len(writes) == math.ceil(1250 / 1000)
    changesets = [r.body.count(b'boundary="changeset_') for r in writes]
    assert sorted(changesets) == [250, 1000]
    rows = world.emulator.rows("lead")
    assert len(rows) == 30 + 1250
    created = [r for r in rows if r["leadid"] not in leads]
    assert {r["companyname"] for r in created} == {NOT_PROVIDED}
    # One metadata batch per table, then reads: the initial tracked id read and the
    # watermark read of each table.
    reads = [r for r in world.data_calls_since(mark) if r not in writes]
    assert len(reads) <= 2 + 2 * 2 + 2


def test_matching_is_by_email_and_prefers_a_contact(make_world):
    world = make_world()
    mixed = world.prospect(**person(1, email="Mixed.Case@Example.COM"))
    both = world.prospect(**person(2, email="both@example.com"))
    lead = world.lead(lastname="P1", firstname="Pat", emailaddress1="mixed.case@example.com")
    other = world.lead(lastname="P2", firstname="Pat", emailaddress1="BOTH@example.com")
    (contact,) = world.emulator.seed(
        "contact", [{"lastname": "P2", "firstname": "Pat", "emailaddress1": "Both@Example.com"}]
    )
    mark = world.mark()
    report = world.cycle()
    assert report.crm.created == 0, report.counts()
    assert world.crm_link("lead", lead).platform_id == mixed
    assert world.crm_link("contact", contact).platform_id == both
    link = world.crm_link("lead", other)
    assert link is None or link.platform_id != both
    # Matched on equal values: nothing is created in the org, and nothing written.
    assert world.writes_since(mark) == []


def test_a_refused_record_is_an_open_error_among_successes(make_world):
    world = make_world()
    world.prospect(**person(1))
    too_long = "x" * 95 + "@example.com"  # 107 > emailaddress1's 100
    bad = world.prospect(**person(2, email=too_long))
    world.prospect(**person(3))
    report = world.cycle()
    assert report.crm.created == 2 and report.crm.failed == 1, report.counts()
    (error,) = world.store.history.open_errors(world.integration.id)
    assert (error.record_id, error.code, error.field) == (bad, "0x80044331", "emailaddress1")


# -- conversions, merges, deletions ----------------------------------------------------------


def test_a_qualified_lead_moves_its_link_to_the_contact(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    contact = world.emulator.qualify(lid)
    assert contact is not None
    report = world.cycle()
    assert report.relinked == 1 and report.platform.created == 0, report.counts()
    assert world.crm_link("contact", contact).platform_id == pid
    world.advance()
    world.local.update(pid, {"first_name": "Converted"})
    world.cycle()
    assert world.emulator.get("contact", contact)["firstname"] == "Converted"
    assert world.local.count() == 1


def test_a_merge_relinks_to_the_master_and_a_deletion_unlinks(make_world):
    world = make_world(create_in_platform=CreationMode.NEVER)
    pid, loser = linked_pair(world)
    survivor = world.lead(lastname="S", emailaddress1="survivor@example.com")
    world.advance()
    world.emulator.merge("lead", survivor, loser)
    report = world.cycle()
    assert report.relinked == 1, report.counts()
    assert world.crm_link("lead", survivor).platform_id == pid
    world.advance()
    world.emulator.delete("lead", survivor)
    report = world.cycle()
    assert report.unlinked == 1, report.counts()
    assert world.crm_link("lead", survivor) is None
    assert world.local.get(pid) is not None  # a deletion in the CRM unlinks, never deletes


# -- failures ----------------------------------------------------------------------------------


def test_a_token_expiring_mid_cycle_is_renewed_once(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    issued = world.emulator.entra.issued
    world.local.update(pid, {"first_name": "Renewed"})
    world.emulator.faults.inject("expired", path_contains="/$batch")
    report = world.cycle()
    assert report.crm.updated == 1
    assert world.emulator.get("lead", lid)["firstname"] == "Renewed"
    assert world.emulator.entra.issued == issued + 1
    assert world.sleeps == []


@pytest.mark.parametrize("code", ["0x80072322", "0x80072321", "0x80072326"])
def test_service_protection_waits_retry_after(make_world, code):
    world = make_world()
    world.cycle()  # metadata read (itself a $batch of GETs) before the fault is armed
    world.advance()
    world.prospect(**person(1))
    world.emulator.faults.inject("rate_limit", path_contains="/$batch", code=code, retry_after=7)
    report = world.cycle()
    assert report.crm.created == 1 and len(world.emulator.rows("lead")) == 1
    assert world.sleeps == [7.0]  # the vendor's Retry-After, for the write batch
    assert [r.status for r in world.emulator.calls("POST", "/$batch")][-2:] == [429, 200]


def test_a_create_whose_answer_is_lost_is_repeated_without_a_duplicate(make_world):
    """Creates carry GUIDs derived from the engine's key with If-None-Match: *, so the
    repeat of a create Dataverse carried out meets 412 for it and links it."""
    world = make_world()
    world.cycle()  # metadata read (itself a $batch of GETs) before the fault is armed
    world.advance()
    prospects = world.local.insert([person(n) for n in range(3)])
    world.emulator.faults.inject("dropped_connection", path_contains="/$batch", after_commit=True)
    report = world.cycle()
    assert report.status == "succeeded", report.message
    assert report.crm.created == 3, report.counts()
    assert report.retry_waits == {"crm:transient": 1}  # the lost answer, repeated once
    assert len(world.emulator.rows("lead")) == 3  # no duplicates
    assert all(world.crm_link("lead", r["leadid"]) for r in world.emulator.rows("lead"))
    assert len(prospects) == 3


def test_without_derived_ids_a_lost_create_answer_is_outcome_unknown(make_world):
    """Plain POST creates (DETERMINISTIC_IDS=false) cannot be repeated safely: the call
    is not repeated, and the next cycle finds the rows by email and links them."""
    world = make_world(crm_settings={"deterministic_ids": False})
    world.cycle()  # metadata read (itself a $batch of GETs) before the fault is armed
    world.advance()
    prospects = world.local.insert([person(n) for n in range(3)])
    world.emulator.faults.inject("dropped_connection", path_contains="/$batch", after_commit=True)
    first = world.cycle()
    assert first.crm.failed == 3, first.counts()
    assert len(world.emulator.rows("lead")) == 3  # carried out, answer lost
    errors = world.store.history.open_errors(world.integration.id)
    assert {(e.record_id, e.code) for e in errors} == {(p, "OUTCOME_UNKNOWN") for p in prospects}
    world.advance()
    second = world.cycle()
    assert second.linked == 3 and second.crm.created == 0, second.counts()
    assert len(world.emulator.rows("lead")) == 3  # no duplicates
    assert world.store.history.open_errors(world.integration.id) == []


# -- the two feeds -------------------------------------------------------------------------------


def test_watermark_feed_reads_same_second_bursts_and_late_commits(make_world):
    world = make_world(tracking=False, page_size=5)
    first = world.emulator.seed(
        "lead", [{"lastname": f"T{n}", "emailaddress1": f"t{n}@example.com"} for n in range(23)]
    )
    report = world.cycle()
    assert report.platform.created == 23 and world.local.count() == 23, report.counts()
    world.advance()
    burst = world.emulator.seed(
        "lead", [{"lastname": f"U{n}", "emailaddress1": f"u{n}@example.com"} for n in range(12)]
    )
    # A transaction that committed after the last read, stamped before it.
    late = world.emulator.seed(
        "lead",
        [{"lastname": "Late", "emailaddress1": "late@example.com"}],
        modified_at=world.at - dt.timedelta(seconds=90),
    )
    report = world.cycle()
    assert report.platform.created == 13 and world.local.count() == 36, report.counts()
    assert all(world.crm_link("lead", i) is not None for i in first + burst + late)
    world.advance(600)
    # Still re-reads the 5 minutes before the last read began (the engine's window).
    assert world.cycle().writes == 0
    world.advance()
    mark = world.mark()
    assert world.cycle().writes == 0
    # Idle once the window has passed: one watermark query per table, except that the
    # feed's last second holds 12 rows, more than a page of 5, so it is read whole once
    # (one more call) and the read then ends past it (one more).
    reads = world.data_calls_since(mark)
    filters = sorted(r.query.get("$filter", "") for r in reads if r.path.endswith("/leads"))
    assert [r.path for r in reads].count("/api/data/v9.2/contacts") == 1
    assert [f.split()[1] for f in filters] == ["eq", "ge", "gt"], filters


def test_an_expired_delta_token_reads_everything_again(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    world.advance(8 * 86400)  # past the 7-day retention
    world.emulator.edit("lead", lid, {"firstname": "AfterExpiry"})
    report = world.cycle()
    assert world.emulator.delta_token_refusals == 2  # the lead and the contact feed
    assert world.local.get(pid)["first_name"] == "AfterExpiry"
    world.advance()
    mark = world.mark()
    assert world.cycle().writes == 0
    assert world.emulator.delta_token_refusals == 2  # the new tokens are kept
    assert len(world.data_calls_since(mark)) <= 2
    assert report.status == "succeeded"


def test_a_first_read_ending_on_an_empty_page_keeps_its_delta_token(make_world):
    """The last page of a read can be empty (a second read whole, then nothing after
    it): it still ends at the position the earlier pages reached, so the engine keeps
    the delta token it carries, and the next cycle is a delta read."""
    world = make_world(page_size=5)
    world.emulator.seed(
        "lead", [{"lastname": f"S{n}", "emailaddress1": f"s{n}@example.com"} for n in range(12)]
    )
    report = world.cycle()
    assert report.platform.created == 12, report.counts()
    with world.store.database.transaction() as tx:
        saved, _ = world.store.cursors.get(tx, world.integration.id, "crm", "lead")
    assert saved is not None and saved.token is not None and saved.token.startswith("delta:")
    world.advance()
    world.cycle()  # the rows crmsync wrote come back once
    world.advance()
    mark = world.mark()
    assert world.cycle().writes == 0
    reads = world.data_calls_since(mark)
    assert len(reads) == 2 and all("$deltatoken" in r.query for r in reads)


def test_a_vendor_clock_90_s_behind_is_measured_and_reported(make_world):
    world = make_world(vendor_clock_offset=-90.0)
    world.prospect(**person(1))

    report = world.cycle()

    offset = report.clock_offsets["crm"]
    assert abs(offset["offset_seconds"] - -90.0) <= offset["uncertainty_seconds"] <= 0.5
