"""Whole sync cycles through crmsync's core between ``local`` prospects and Salesforce.

The platform is the ``local`` connector over a SQLite file; the CRM is this connector
over the in-process emulator (``transport=emulator.transport()``); the state store is
SQLite. One clock drives the platform, the emulated org and the engine, so "later" means
the same on both sides. Connections live as long as a world, as they do in the runtime,
so a session survives from one cycle to the next.
"""

from __future__ import annotations

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
from crmsync.testing.cycles import CycleWorld, Worlds, two_way
from crmsync_salesforce.emulator import SalesforceEmulator

LOGIN = "https://emulator.my.salesforce.com"
CLIENT_ID = "3MVG9crmsync.cycles.client"
CLIENT_SECRET = "cycles-client-s3cret-value"
NOT_PROVIDED = "[not provided]"
WRITES = ("POST", "PATCH", "DELETE")


def _pairs(
    extra: tuple[Mapping, ...] = (), lead_extra: tuple[Mapping, ...] = ()
) -> tuple[ObjectPair, ...]:
    """prospect<->Contact first, then prospect<->Lead; fields moving every way."""
    common = (
        *extra,
        two_way("email", "Email", FieldType.EMAIL),
        two_way("first_name", "FirstName"),
        two_way("last_name", "LastName", default=NOT_PROVIDED),
        two_way("phone", "Phone", FieldType.PHONE),
        Mapping(platform_field="title", crm_field="Title", direction=Direction.TO_CRM),
        Mapping(
            platform_field="lead_source",
            crm_field="LeadSource",
            direction=Direction.TO_PLATFORM,
            platform_type=FieldType.PICKLIST,
            crm_type=FieldType.PICKLIST,
        ),
    )
    company = Mapping(
        platform_field="company",
        crm_field="Company",
        direction=Direction.TO_CRM,
        default=NOT_PROVIDED,
    )
    return (
        ObjectPair(
            platform_object="prospect", crm_object="Contact", match_order=0, mappings=common
        ),
        ObjectPair(
            platform_object="prospect",
            crm_object="Lead",
            match_order=1,
            mappings=(*common, company, *lead_extra),
        ),
    )


class World(CycleWorld[SalesforceEmulator]):
    """A platform file, an emulated org, a state store and one clock for all three."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        crm_settings: dict[str, Any] | None = None,
        extra_mappings: tuple[Mapping, ...] = (),
        lead_mappings: tuple[Mapping, ...] = (),
        **options: Any,
    ) -> None:
        emulator = SalesforceEmulator()
        emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
        super().__init__(
            tmp_path,
            emulator=emulator,
            crm_connector="salesforce",
            crm_settings={
                "login_url": LOGIN,
                "auth_flow": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                **(crm_settings or {}),
            },
            object_pairs=_pairs(extra_mappings, lead_mappings),
            create_in_crm=CreationRule(mode=CreationMode.ALL, target_object="Lead"),
            **options,
        )

    def mark(self) -> int:
        """A position in the emulator's request log."""
        return len(self.emulator.requests)

    def writes_since(self, mark: int) -> list[Any]:
        return [
            r
            for r in self.emulator.requests[mark:]
            if r.method in WRITES and r.path.startswith("/services/data/")
        ]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Worlds[World]]:
    with Worlds(tmp_path, World) as make:
        yield make


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"p{n}@example.com", "first_name": "Pat", "last_name": f"P{n}", **extra}


def test_initial_sync_both_ways_creates_in_batches_of_200(make_world):
    world = make_world()
    prospects = world.local.insert([person(n) for n in range(450)])
    leads = world.emulator.seed(
        "Lead",
        [
            {"LastName": f"L{n}", "Company": "Initech", "Email": f"l{n}@example.com"}
            for n in range(230)
        ],
    )
    contacts = world.emulator.seed(
        "Contact", [{"LastName": f"C{n}", "Email": f"c{n}@example.com"} for n in range(20)]
    )
    report = world.cycle()
    assert report.status == "succeeded", report.message
    assert report.crm.created == 450 and report.platform.created == 250
    creates = world.emulator.calls("POST", "/composite/sobjects")
    assert len(creates) == math.ceil(450 / 200)
    # Batches go out concurrently (max_concurrency), so only their sizes are fixed.
    assert sorted(len(c.json_body()["records"]) for c in creates) == [50, 200, 200]
    assert len(world.emulator.records["Lead"]) == 230 + 450
    assert world.local.count() == 450 + 250
    created = [r for r in world.emulator.records["Lead"].values() if r["Id"] not in leads]
    assert {r["Company"] for r in created} == {NOT_PROVIDED}
    assert len(prospects) == 450 and len(contacts) == 20


def linked_pair(world: World, n: int = 1, **values: Any) -> tuple[str, str]:
    """A prospect and a lead that one cycle linked (agreeing on every mapped field)."""
    pid = world.prospect(**person(n, company="Initech", **values))
    (lid,) = world.emulator.seed(
        "Lead",
        [
            {
                "Email": f"p{n}@example.com",
                "FirstName": "Pat",
                "LastName": f"P{n}",
                "Company": "Initech",
                **{k.title().replace("_", ""): v for k, v in values.items()},
            }
        ],
    )
    report = world.cycle()
    assert report.linked >= 1, report.counts()
    world.advance()
    return pid, lid


def test_matching_is_by_email_case_insensitive_and_prefers_a_contact(make_world):
    world = make_world()
    mixed = world.prospect(**person(1, email="Mixed.Case@Example.COM"))
    both = world.prospect(**person(2, email="both@example.com"))
    (lead,) = world.emulator.seed(
        "Lead",
        [{"LastName": "P1", "FirstName": "Pat", "Company": "C", "Email": "mixed.case@example.com"}],
    )
    (other_lead,) = world.emulator.seed(
        "Lead",
        [{"LastName": "P2", "FirstName": "Pat", "Company": "C", "Email": "BOTH@example.com"}],
    )
    (contact,) = world.emulator.seed(
        "Contact", [{"LastName": "P2", "FirstName": "Pat", "Email": "Both@Example.com"}]
    )
    mark = world.mark()
    report = world.cycle()
    assert report.linked >= 2 and report.crm.created == 0, report.counts()
    assert world.writes_since(mark) == []  # matched, so nothing is created in the org
    assert world.crm_link("Lead", lead).platform_id == mixed
    assert world.crm_link("Contact", contact).platform_id == both  # the contact wins
    link = world.crm_link("Lead", other_lead)
    assert link is None or link.platform_id != both


def test_a_lead_sharing_a_linked_contacts_email_creates_no_duplicate_prospect(make_world):
    world = make_world()
    world.prospect(**person(1, email="Mixed.Case@Example.COM"))
    world.prospect(**person(2, email="both@example.com"))
    world.emulator.seed(
        "Lead",
        [
            {"LastName": "P1", "FirstName": "Pat", "Company": "C", "Email": "mixed@example.com"},
            {"LastName": "P2", "FirstName": "Pat", "Company": "C", "Email": "BOTH@example.com"},
        ],
    )
    world.emulator.seed(
        "Contact", [{"LastName": "P2", "FirstName": "Pat", "Email": "Both@Example.com"}]
    )
    world.cycle()
    rows = world.local.query("SELECT email FROM prospect WHERE deleted_at IS NULL")
    emails = sorted(row["email"].lower() for row in rows)
    assert emails == ["both@example.com", "mixed.case@example.com", "mixed@example.com"]


def test_edits_on_each_side_converge_and_a_second_cycle_writes_nothing(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    world.local.update(pid, {"first_name": "Patricia", "title": "CTO"})
    world.emulator.touch("Lead", lid, Phone="+1 555 0199", LeadSource="Web")
    report = world.cycle()
    assert report.crm.updated == 1 and report.platform.updated == 1, report.counts()
    lead = world.emulator.get("Lead", lid)
    assert (lead["FirstName"], lead["Title"]) == ("Patricia", "CTO")
    prospect = world.local.get(pid)
    assert (prospect["phone"], prospect["lead_source"]) == ("+1 555 0199", "Web")
    world.advance()
    mark = world.mark()
    again = world.cycle()
    assert again.writes == 0, again.counts()
    assert world.writes_since(mark) == []  # no echo: not one write call reached the org


def test_a_conflict_under_both_goes_to_the_latest_change(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, lid = linked_pair(world, 1)
    pid2, lid2 = linked_pair(world, 2)
    world.local.update(pid, {"first_name": "FromPlatform"})
    world.emulator.touch("Lead", lid2, FirstName="FromCrm-early")
    world.advance(30)
    world.emulator.touch("Lead", lid, FirstName="FromCrm")  # later: the CRM wins
    world.local.update(pid2, {"first_name": "FromPlatform-late"})  # later: the platform wins
    world.cycle()
    assert world.local.get(pid)["first_name"] == "FromCrm"
    assert world.emulator.get("Lead", lid)["FirstName"] == "FromCrm"
    assert world.local.get(pid2)["first_name"] == "FromPlatform-late"
    assert world.emulator.get("Lead", lid2)["FirstName"] == "FromPlatform-late"


def test_a_refused_record_is_an_open_error_among_successes(make_world):
    world = make_world()
    world.prospect(**person(1))
    too_long = "x" * 70 + "@example.com"  # 82 > Lead.Email's 80 characters
    bad = world.prospect(**person(2, email=too_long))
    world.prospect(**person(3))
    report = world.cycle()
    assert report.crm.created == 2 and report.crm.failed == 1, report.counts()
    assert report.status == "partial"
    (error,) = world.store.history.open_errors(world.integration.id)
    assert (error.record_id, error.code, error.field) == (bad, "STRING_TOO_LONG", "Email")


def test_rate_limits_are_honoured_through_the_engine_retry(make_world):
    world = make_world()
    world.prospect(**person(1))
    world.emulator.faults.inject(
        "rate_limit", status=429, retry_after=7, path_contains="/composite/sobjects"
    )
    world.emulator.faults.inject("rate_limit", status=403, path_contains="/queryAll")
    report = world.cycle()
    assert report.crm.created == 1 and len(world.emulator.records["Lead"]) == 1
    assert 7.0 in world.sleeps  # the vendor's Retry-After
    # 403 REQUEST_LIMIT_EXCEEDED names no delay: the framework's jittered, capped
    # backoff decides (issue 12; it was a fixed 60 s).
    others = [wait for wait in world.sleeps if wait != 7.0]
    assert len(others) == 1 and 0 < others[0] <= 30.0
    assert report.retry_waits == {"crm:rate_limited": 2}


@pytest.mark.parametrize("lost", ["slow", "dropped_connection"])
def test_a_create_whose_answer_is_lost_is_never_repeated_and_is_linked_later(make_world, lost):
    """Salesforce may carry out a create after the client gave up waiting: the call is
    not repeated (that would duplicate the leads); the next cycle finds them by email."""
    world = make_world()
    prospects = world.local.insert([person(n) for n in range(3)])
    world.emulator.faults.inject(
        lost, path_contains="/composite/sobjects", after_commit=True, timeout=True
    )
    first = world.cycle()
    assert first.status == "partial" and first.crm.failed == 3, first.counts()
    assert len(world.emulator.calls("POST", "/composite/sobjects")) == 1
    assert len(world.emulator.records["Lead"]) == 3  # carried out, answer lost
    errors = world.store.history.open_errors(world.integration.id)
    assert {(e.record_id, e.code) for e in errors} == {(p, "OUTCOME_UNKNOWN") for p in prospects}
    with world.store.database.transaction() as tx:
        assert world.store.pending.any(tx, world.integration.id)

    world.advance()
    second = world.cycle()
    assert second.status == "succeeded", second.message
    assert second.linked == 3 and second.crm.created == 0, second.counts()
    assert len(world.emulator.records["Lead"]) == 3  # no duplicates
    for lead_id in world.emulator.records["Lead"]:
        assert world.crm_link("Lead", lead_id) is not None
    assert world.store.history.open_errors(world.integration.id) == []
    with world.store.database.transaction() as tx:
        assert not world.store.pending.any(tx, world.integration.id)


def test_an_update_whose_answer_is_lost_is_repeated(make_world):
    """Repeating an update is harmless, so a lost answer is retried at once."""
    world = make_world()
    pid, lid = linked_pair(world)
    world.local.update(pid, {"first_name": "Later"})
    world.emulator.faults.inject(
        "slow", path_contains="/composite/sobjects", after_commit=True, timeout=True
    )
    report = world.cycle()
    assert report.status == "succeeded" and report.crm.updated == 1, report.counts()
    assert len(world.emulator.calls("PATCH", "/composite/sobjects")) == 2
    assert world.emulator.get("Lead", lid)["FirstName"] == "Later"


def test_a_session_expiring_mid_cycle_is_renewed_once(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    tokens = world.emulator.token_requests
    world.local.update(pid, {"first_name": "Renewed"})
    world.emulator.faults.inject("expired_session", path_contains="/composite/sobjects")
    report = world.cycle()
    assert report.crm.updated == 1
    assert world.emulator.get("Lead", lid)["FirstName"] == "Renewed"
    assert world.emulator.token_requests == tokens + 1
    assert [r.status for r in world.emulator.calls("PATCH", "/composite/sobjects")] == [401, 200]
    assert world.sleeps == []


def test_leads_sharing_one_modstamp_across_page_boundaries(make_world):
    world = make_world(page_size=5)
    world.emulator.server_page_limit = 5
    first = world.emulator.seed(
        "Lead",
        [{"LastName": f"T{n}", "Company": "C", "Email": f"t{n}@example.com"} for n in range(23)],
    )
    report = world.cycle()
    assert report.platform.created == 23, report.counts()
    assert world.local.count() == 23
    world.advance()
    second = world.emulator.seed(
        "Lead",
        [{"LastName": f"U{n}", "Company": "C", "Email": f"u{n}@example.com"} for n in range(12)],
    )
    stamps = {world.emulator.get("Lead", i)["SystemModstamp"] for i in second}
    assert len(stamps) == 1
    report = world.cycle()
    assert report.platform.created == 12 and world.local.count() == 35, report.counts()
    assert all(world.crm_link("Lead", i) is not None for i in first + second)
    world.advance()
    assert world.cycle().writes == 0


def test_a_converted_lead_moves_its_link_to_the_contact(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    contact = world.emulator.convert_lead(lid)
    report = world.cycle()
    assert report.relinked == 1 and report.platform.created == 0, report.counts()
    assert world.crm_link("Contact", contact).platform_id == pid
    world.advance()
    world.local.update(pid, {"first_name": "Converted"})
    world.cycle()
    assert world.emulator.get("Contact", contact)["FirstName"] == "Converted"
    assert world.local.count() == 1


def test_a_merge_relinks_to_the_survivor_and_a_deletion_unlinks(make_world):
    world = make_world(create_in_platform=CreationMode.NEVER)
    pid, loser = linked_pair(world)
    (survivor,) = world.emulator.seed(
        "Lead", [{"LastName": "S", "Company": "C", "Email": "survivor@example.com"}]
    )
    world.emulator.merge(survivor, [loser])
    report = world.cycle()
    assert report.relinked == 1, report.counts()
    assert world.crm_link("Lead", survivor).platform_id == pid
    world.advance()
    world.emulator.delete("Lead", survivor)
    report = world.cycle()
    assert report.unlinked == 1, report.counts()
    assert world.crm_link("Lead", survivor) is None
    assert world.local.get(pid) is not None  # a deletion in the CRM unlinks, never deletes


def test_the_api_budget_share_stops_the_cycle_and_the_next_one_resumes(make_world):
    world = make_world(crm_settings={"api_budget_share": 0.5}, page_size=2)
    world.emulator.daily_limit = 24  # crmsync stops once the org has used 12 calls
    world.emulator.server_page_limit = 2
    world.emulator.seed(
        "Lead",
        [{"LastName": f"B{n}", "Company": "C", "Email": f"b{n}@example.com"} for n in range(20)],
    )
    stopped = world.cycle()
    assert stopped.status == "stopped" and "budget" in (stopped.message or ""), stopped.message
    assert world.emulator.api_usage <= 12
    (run, *_) = world.store.history.list_runs(world.integration.id)
    assert run.status == "stopped"
    # Still spent a minute later: the kept connection's reading stops the next cycle at once.
    world.advance(60)
    mark = world.mark()
    assert world.cycle().status == "stopped" and world.mark() == mark
    # Hours later the rolling 24-hour window has moved on: the old reading goes stale, one
    # call looks again, and the cycle resumes where the stopped one left off.
    world.emulator.api_usage = 0
    world.advance(6 * 3600)
    resumed = world.cycle()
    assert resumed.status == "succeeded", resumed.message
    assert world.local.count() == 20  # every lead once, none twice
    assert world.cycle().writes == 0


# -- issue 21: fields that may not be cleared, purged records ---------------------------------
OPT_OUT = (two_way("opted_out", "HasOptedOutOfEmail", FieldType.BOOLEAN),)
LEAD_STATUS = (
    Mapping(
        platform_field="status",
        crm_field="Status",
        direction=Direction.TO_CRM,
        platform_type=FieldType.PICKLIST,
        crm_type=FieldType.PICKLIST,
    ),
)


def test_a_cleared_checkbox_becomes_false_and_a_cleared_status_is_an_error_naming_it(
    make_world,
):
    world = make_world(extra_mappings=OPT_OUT, lead_mappings=LEAD_STATUS)
    agreed = {"opted_out": True, "status": "engaged"}  # Lead Status is not restricted
    p1 = world.prospect(**person(1, company="Initech", **agreed))
    p2 = world.prospect(**person(2, company="Initech", **agreed))
    l1, l2 = world.emulator.seed(
        "Lead",
        [
            {
                "Email": f"p{n}@example.com",
                "FirstName": "Pat",
                "LastName": f"P{n}",
                "Company": "Initech",
                "HasOptedOutOfEmail": True,
                "Status": "engaged",
            }
            for n in (1, 2)
        ],
    )
    assert world.cycle().linked == 2
    world.advance()
    world.local.update(p1, {"opted_out": None})
    world.local.update(p2, {"status": None})
    mark = world.mark()
    report = world.cycle()
    assert report.status == "partial", report.counts()
    assert report.crm.updated == 1 and report.crm.failed == 1, report.counts()
    assert world.emulator.get("Lead", l1)["HasOptedOutOfEmail"] is False
    assert world.emulator.get("Lead", l2)["Status"] == "engaged"
    (error,) = world.store.history.open_errors(world.integration.id)
    assert (error.code, error.field) == ("REQUIRED_FIELD_MISSING", "Status")
    assert error.record_id in {p2, l2}
    (patch,) = world.writes_since(mark)
    assert [r["Id"] for r in patch.json_body()["records"]] == [l1]  # nothing sent for p2


def test_a_record_purged_between_cycles_is_unlinked_when_an_update_finds_it_gone(make_world):
    world = make_world(create_in_platform=CreationMode.NEVER)
    pid, lid = linked_pair(world)
    world.emulator.delete("Lead", lid)
    world.emulator.purge_recycle_bin()  # the feed never shows the deletion
    world.advance()
    world.local.update(pid, {"first_name": "After"})
    report = world.cycle()
    assert report.unlinked == 1, report.counts()
    assert world.crm_link("Lead", lid) is None
    assert world.store.history.open_errors(world.integration.id) == []
    world.advance()
    assert world.cycle().status == "succeeded"


def test_an_old_cursor_sweeps_get_deleted_and_unlinks_a_purged_record(make_world):
    world = make_world(create_in_platform=CreationMode.NEVER)
    pid, lid = linked_pair(world)
    _, other = linked_pair(world, 2)
    world.emulator.delete("Lead", lid)
    world.emulator.purge_recycle_bin()
    world.advance(3 * 3600)  # past the two hours after which the bin may be purged
    mark = world.mark()
    report = world.cycle()
    assert report.unlinked == 1 and report.writes == 0, report.counts()
    assert world.crm_link("Lead", lid) is None and world.crm_link("Lead", other) is not None
    swept = [r for r in world.emulator.requests[mark:] if r.path.endswith("/deleted/")]
    # One getDeleted, for Lead: Contact's feed has never had a record, so no cursor.
    assert [r.path.split("/")[-3] for r in swept] == ["Lead"]
    world.advance()
    mark = world.mark()
    assert world.cycle().unlinked == 0
    assert not [r for r in world.emulator.requests[mark:] if r.path.endswith("/deleted/")]
    assert world.local.get(pid) is not None


@pytest.mark.parametrize(
    ("hours", "forget"),
    [(16 * 24, False), (3, True)],
    ids=["past-the-15-day-window", "delete-log-truncated"],
)
def test_deletions_lost_past_get_deleted_window_are_found_by_id(make_world, hours, forget):
    """Deleted, purged, and past what getDeleted still remembers (issue 21): the page
    says so, and the engine asks which linked ids still exist."""
    world = make_world(create_in_platform=CreationMode.NEVER)
    _, gone = linked_pair(world)
    pid, kept = linked_pair(world, 2)
    world.emulator.delete("Lead", gone)
    world.emulator.purge_recycle_bin(forget_deletions=forget)
    world.advance(hours * 3600)
    mark = world.mark()
    report = world.cycle()
    assert report.unlinked == 1 and report.writes == 0, report.counts()
    assert world.crm_link("Lead", gone) is None and world.crm_link("Lead", kept) is not None
    assert report.api_calls["crm"]["missing_records"] == 1
    (asked,) = [
        r.query["q"]
        for r in world.emulator.requests[mark:]
        if r.path.endswith("/query") and "WHERE Id IN" in r.query.get("q", "")
    ]
    assert asked.startswith("SELECT Id FROM Lead") and gone in asked and kept in asked
    (event,) = [
        e
        for e in world.store.history.list_events(world.integration.id)
        if e.kind == "links_reconciled"
    ]
    assert (event.detail["checked"], event.detail["missing"]) == (2, 1)
    # Asked once: the next cycle's cursor carries the check.
    world.advance()
    mark = world.mark()
    assert world.cycle().unlinked == 0
    assert not [r for r in world.emulator.requests[mark:] if "WHERE Id IN" in r.query.get("q", "")]
    assert world.local.get(pid) is not None


def test_an_org_clock_far_behind_ours_does_not_look_like_lost_deletions(make_world):
    # getDeleted's window and the feed's cursor are the org's times: measured against
    # this host's clock, an org 20 days behind would make every recent cursor look
    # older than getDeleted remembers, and every link would be checked by id.
    world = make_world(
        create_in_platform=CreationMode.NEVER, vendor_clock_offset=-20 * 86400.0
    )
    _, lid = linked_pair(world)
    world.advance(600)
    mark = world.mark()
    report = world.cycle()
    assert report.status == "succeeded" and report.unlinked == 0, report.counts()
    assert "missing_records" not in report.api_calls.get("crm", {})
    assert not [r for r in world.emulator.requests[mark:] if r.path.endswith("/deleted/")]
    assert world.crm_link("Lead", lid) is not None


def test_an_org_clock_90_s_behind_does_not_decide_the_first_meeting(make_world):
    # The org's clock runs 90 s behind ours. A prospect is edited, then 30 s later the
    # matching lead: the lead's stamp reads 60 s *before* the prospect's. Measured from
    # the answers' Date headers, the offset puts the lead back where it belongs: later.
    world = make_world(vendor_clock_offset=-90.0)
    world.prospect(**person(1, first_name="Platform"))
    world.advance(30)
    world.emulator.seed(
        "Lead",
        [{"Email": "p1@example.com", "FirstName": "Crm", "LastName": "P1", "Company": "C"}],
    )
    world.advance(60)

    report = world.cycle()

    assert report.linked == 1, report.counts()
    assert report.decisions.get("first_meeting:crm_newer") == 1, report.decisions
    rows = world.local.query("SELECT first_name FROM prospect WHERE deleted_at IS NULL")
    assert [row["first_name"] for row in rows] == ["Crm"]
    offset = report.clock_offsets["crm"]
    assert abs(offset["offset_seconds"] - -90.0) <= offset["uncertainty_seconds"] <= 0.5
    assert "platform" not in report.clock_offsets  # `local` has no clock to measure


def test_an_org_clock_on_time_is_measured_so(make_world):
    world = make_world()
    world.prospect(**person(1))
    report = world.cycle()
    offset = report.clock_offsets["crm"]
    assert abs(offset["offset_seconds"]) <= offset["uncertainty_seconds"] <= 0.5
