"""Whole sync cycles through crmsync's engine between ``local`` prospects and the
emulated Zoho org (DESIGN.md's worked examples, conversions, deletions, faults, call
counts)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmsync.cli import app
from crmsync.models import CreationMode, Direction, SourceOfTruth
from crmsync.testing.cycles import Worlds

from .cycles import NOT_PROVIDED, World, linked_pair, person


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Worlds[World]]:
    with Worlds(tmp_path, World) as make:
        yield make


def test_initial_sync_both_ways_creates_in_batches_of_100(make_world):
    world = make_world()
    world.local.insert([person(n) for n in range(250)])
    leads = world.emulator.seed("Leads", [
        {"Last_Name": f"L{n}", "Company": "Initech", "Email": f"l{n}@example.com"}
        for n in range(230)
    ])
    world.emulator.seed("Contacts", [
        {"Last_Name": f"C{n}", "Email": f"c{n}@example.com"} for n in range(20)
    ])
    mark = world.mark()
    report = world.cycle()
    assert report.status == "succeeded", report.message
    assert report.crm.created == 250 and report.platform.created == 250, report.counts()
    creates = [r for r in world.since(mark) if r.method == "POST" and r.path == "/crm/v8/Leads"]
    assert len(creates) == math.ceil(250 / 100)
    assert sorted(len(c.json_body()["data"]) for c in creates) == [50, 100, 100]
    assert all(c.json_body()["trigger"] == [] for c in creates)  # no workflows by default
    # Reads: one list call per 200 records (230 leads -> 2, 20 contacts -> 1).
    reads = [r for r in world.since(mark) if r.method == "GET" and r.path in
             {"/crm/v8/Leads", "/crm/v8/Contacts"}]
    assert len([r for r in reads if r.path.endswith("Leads")]) == 2
    assert len([r for r in reads if r.path.endswith("Contacts")]) == 1
    created = [r for r in world.emulator.records["Leads"].values() if r["id"] not in leads]
    assert {r["Company"] for r in created} == {NOT_PROVIDED}
    assert world.local.count() == 500


def test_matching_is_by_email_case_insensitive_and_prefers_a_contact(make_world):
    world = make_world()
    mixed = world.prospect(**person(1, email="Mixed.Case@Example.COM"))
    both = world.prospect(**person(2, email="both@example.com"))
    lead = world.lead(Last_Name="P1", First_Name="Pat", Company="C",
                      Email="mixed.case@example.com")
    world.lead(Last_Name="P2", First_Name="Pat", Company="C", Email="BOTH@example.com")
    (contact,) = world.emulator.seed(
        "Contacts", [{"Last_Name": "P2", "First_Name": "Pat", "Email": "Both@Example.com"}]
    )
    mark = world.mark()
    report = world.cycle()
    assert report.linked >= 2 and report.crm.created == 0, report.counts()
    assert world.writes_since(mark) == []
    assert world.crm_link("Leads", lead).platform_id == mixed
    assert world.crm_link("Contacts", contact).platform_id == both


def test_a_new_prospect_matches_an_unchanged_lead_through_coql_lookup(make_world):
    world = make_world(create_in_platform=CreationMode.NEVER)
    lead = world.lead(Last_Name="Old", Company="C", Email="old@example.com")
    world.cycle()  # the lead is read once; nothing to match it with yet
    world.advance()
    fresh = world.prospect(**person(9, email="  OLD@example.com"))
    mark = world.mark()
    report = world.cycle()
    assert report.linked == 1 and report.crm.created == 0, report.counts()
    assert not [r for r in world.writes_since(mark) if r.method == "POST"]
    assert world.crm_link("Leads", lead).platform_id == fresh
    lookups = [r for r in world.since(mark) if r.path == "/crm/v8/coql"]
    assert lookups and "where Email in (" in lookups[0].json_body()["select_query"]


# -- DESIGN.md's worked examples ---------------------------------------------------------
def test_example_1_latest_change_wins_under_both(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    world.local.update(pid, {"first_name": "Johnathan"})
    world.advance(180)
    world.emulator.edit("Leads", lid, {"First_Name": "Jon"})
    world.advance()
    world.cycle()
    assert world.local.get(pid)["first_name"] == "Jon"
    assert world.emulator.get("Leads", lid)["First_Name"] == "Jon"


@pytest.mark.parametrize(
    ("truth", "expected"), [(SourceOfTruth.CRM, "Josh"), (SourceOfTruth.PLATFORM, "Steve")]
)
def test_examples_2_and_3_source_of_truth_decides_a_first_link(make_world, truth, expected):
    world = make_world(source_of_truth=truth)
    pid = world.prospect(**person(1, first_name="Steve"))
    lid = world.lead(Email="p1@example.com", First_Name="Josh", Last_Name="P1", Company="C")
    world.cycle()
    assert world.local.get(pid)["first_name"] == expected
    assert world.emulator.get("Leads", lid)["First_Name"] == expected


def test_example_4_a_week_old_crm_change_loses_to_todays_platform_change(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    world.emulator.edit("Leads", lid, {"First_Name": "Josh"},
                        at=world.at - __import__("datetime").timedelta(days=7))
    world.local.update(pid, {"first_name": "Steve"})
    world.advance()
    world.cycle()
    world.advance()
    world.cycle()
    assert world.local.get(pid)["first_name"] == "Steve"
    assert world.emulator.get("Leads", lid)["First_Name"] == "Steve"


def test_example_5_a_blank_crm_field_takes_the_platform_value(make_world):
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    pid = world.prospect(**person(1, first_name="Steve"))
    lid = world.lead(Email="p1@example.com", Last_Name="P1", Company="C")
    world.cycle()
    assert world.emulator.get("Leads", lid)["First_Name"] == "Steve"
    assert world.local.get(pid)["first_name"] == "Steve"


def test_example_6_changes_to_different_fields_both_survive(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    world.local.update(pid, {"phone": "+1 555 0100"})
    world.advance(300)
    world.emulator.edit("Leads", lid, {"First_Name": "Patricia"})
    world.advance()
    world.cycle()
    lead = world.emulator.get("Leads", lid)
    assert (lead["Phone"], lead["First_Name"]) == ("+1 555 0100", "Patricia")
    prospect = world.local.get(pid)
    assert (prospect["phone"], prospect["first_name"]) == ("+1 555 0100", "Patricia")


def test_example_7_a_second_cycle_writes_nothing_and_idles_at_one_call_per_object(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    world.local.update(pid, {"first_name": "Patricia", "title": "CTO"})
    world.emulator.edit("Leads", lid, {"Phone": "+1 555 0199", "Lead_Source": "Web Form"})
    report = world.cycle()
    assert report.crm.updated == 1 and report.platform.updated == 1, report.counts()
    world.advance()
    mark = world.mark()
    again = world.cycle()
    assert again.writes == 0, again.counts()
    assert world.writes_since(mark) == []
    calls = world.since(mark)
    # One list read per object (deleted lists are read every 10 minutes). The Leads read
    # re-reads the engine's overlap window (If-Modified-Since is inclusive), so it may
    # answer the last cycle's writes again; Contacts never had a record (no cursor: 204).
    assert sorted((r.method, r.path, r.status) for r in calls) in (
        [("GET", "/crm/v8/Contacts", 204), ("GET", "/crm/v8/Leads", status)]
        for status in (200, 304)
    )
    world.advance(3600)
    mark = world.mark()
    assert world.cycle().writes == 0
    later = world.since(mark)
    # An hour on, the deleted list is due again (2 credits): one more call per object.
    assert sorted(r.path for r in later) == [
        "/crm/v8/Contacts", "/crm/v8/Leads", "/crm/v8/Leads/deleted"
    ]


def test_example_8_a_to_crm_phone_is_kept_then_set_then_cleared(make_world):
    world = make_world(phone=Direction.TO_CRM)
    pid = world.prospect(**person(1, company="C"))
    lid = world.lead(Email="p1@example.com", First_Name="Pat", Last_Name="P1", Company="C",
                     Phone="555-0100")
    world.cycle()
    assert world.emulator.get("Leads", lid)["Phone"] == "555-0100"
    world.advance()
    world.local.update(pid, {"phone": "555-0199"})
    world.cycle()
    assert world.emulator.get("Leads", lid)["Phone"] == "555-0199"
    world.advance()
    world.local.update(pid, {"phone": None})
    world.cycle()
    assert world.emulator.get("Leads", lid)["Phone"] is None


# -- lifecycle ----------------------------------------------------------------------------
def test_a_converted_lead_moves_its_link_to_the_contact(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    contact = world.emulator.convert_lead(lid)
    report = world.cycle()
    assert report.relinked == 1 and report.platform.created == 0, report.counts()
    assert world.crm_link("Contacts", contact).platform_id == pid
    world.advance()
    world.local.update(pid, {"first_name": "Converted"})
    world.cycle()
    assert world.emulator.get("Contacts", contact)["First_Name"] == "Converted"
    assert world.local.count() == 1


def test_a_deleted_lead_is_unlinked_and_a_merged_away_one_too(make_world):
    world = make_world(create_in_platform=CreationMode.NEVER)
    pid, gone = linked_pair(world, 1)
    pid2, child = linked_pair(world, 2)
    master = world.lead(Last_Name="M", Company="C", Email="master@example.com")
    world.emulator.delete("Leads", gone)
    world.emulator.merge("Leads", master, [child])
    world.advance(600)  # the deleted list is read every 10 minutes by default
    mark = world.mark()
    report = world.cycle()
    assert report.unlinked == 2, report.counts()
    assert world.crm_link("Leads", gone) is None and world.crm_link("Leads", child) is None
    assert world.local.get(pid) is not None and world.local.get(pid2) is not None
    deleted = [r for r in world.since(mark) if r.path.endswith("/deleted")]
    assert deleted and all(r.query.get("type") == "all" for r in deleted)


def test_an_update_of_a_lead_deleted_meanwhile_unlinks_it(make_world):
    world = make_world(crm_settings={"deletions_every": 3600})
    pid, lid = linked_pair(world)
    world.emulator.delete("Leads", lid)
    world.local.update(pid, {"first_name": "Late"})
    world.cycle()
    world.advance()
    assert world.crm_link("Leads", lid) is None


# -- faults -------------------------------------------------------------------------------
def test_a_token_expiring_mid_cycle_is_renewed_once(make_world):
    world = make_world()
    pid, lid = linked_pair(world)
    tokens = world.emulator.token_requests
    world.local.update(pid, {"first_name": "Renewed"})
    world.emulator.faults.inject("expired", path_contains="/crm/v8/Leads", writes_only=True)
    report = world.cycle()
    assert report.crm.updated == 1
    assert world.emulator.get("Leads", lid)["First_Name"] == "Renewed"
    assert world.emulator.token_requests == tokens + 1
    puts = world.emulator.calls("PUT", "/crm/v8/Leads")
    assert [r.status for r in puts[-2:]] == [401, 200]
    assert puts[-1].headers["authorization"].startswith("Zoho-oauthtoken ")
    assert world.sleeps == []


def test_429_backs_off_with_the_frameworks_delay(make_world):
    world = make_world()
    world.prospect(**person(1))
    world.emulator.faults.inject("rate_limit", path_contains="/crm/v8/Leads", writes_only=True)
    world.emulator.faults.inject("rate_limit", path_contains="/crm/v8/Contacts")
    report = world.cycle()
    assert report.crm.created == 1 and len(world.emulator.records["Leads"]) == 1
    assert report.retry_waits == {"crm:rate_limited": 2}
    assert len(world.sleeps) == 2 and all(0 < s <= 0.1 for s in world.sleeps)


def test_spent_credits_stop_the_cycle_and_the_next_one_resumes(make_world):
    world = make_world()
    world.emulator.seed("Leads", [
        {"Last_Name": f"Q{n}", "Company": "C", "Email": f"q{n}@example.com"} for n in range(3)
    ])
    world.emulator.faults.inject("quota", path_contains="/crm/v8/Leads")
    stopped = world.cycle()
    assert stopped.status == "stopped", (stopped.status, stopped.message)
    assert world.sleeps == []  # a spent allocation is not waited on
    world.advance(3600)
    resumed = world.cycle()
    assert resumed.status == "succeeded", resumed.message
    assert world.local.count() == 3


def test_the_credit_ledger_itself_answers_429_when_spent(make_world):
    from crmsync_zoho.emulator import ZohoEmulator

    world = make_world(emulator=ZohoEmulator(credit_limit=4))
    world.prospect(**person(1))
    report = world.engine_report() if hasattr(world, "engine_report") else world.cycle()
    assert report.status == "stopped", report.message
    assert world.emulator.credits_used <= 4


@pytest.mark.parametrize("lost", ["slow", "dropped_connection"])
def test_a_create_whose_answer_is_lost_is_never_repeated_and_is_linked_later(make_world, lost):
    world = make_world()
    prospects = world.local.insert([person(n) for n in range(3)])
    world.emulator.faults.inject(lost, path_contains="/crm/v8/Leads", method="POST",
                                 after_commit=True, timeout=True)
    first = world.cycle()
    assert first.status == "partial" and first.crm.failed == 3, first.counts()
    assert len(world.emulator.calls("POST", "/crm/v8/Leads")) == 1
    assert len(world.emulator.records["Leads"]) == 3
    errors = world.store.history.open_errors(world.integration.id)
    assert {(e.record_id, e.code) for e in errors} == {(p, "OUTCOME_UNKNOWN") for p in prospects}
    world.advance()
    second = world.cycle()
    assert second.status == "succeeded", second.message
    assert second.crm.created == 0, second.counts()
    assert len(world.emulator.records["Leads"]) == 3  # nothing duplicated
    for lead_id in world.emulator.records["Leads"]:
        assert world.crm_link("Leads", lead_id) is not None


def test_a_refused_record_is_an_open_error_among_successes(make_world):
    world = make_world()
    world.prospect(**person(1))
    bad = world.prospect(**person(2, title="x" * 101))  # Designation holds 100
    world.prospect(**person(3))
    report = world.cycle()
    assert report.crm.created == 2 and report.crm.failed == 1, report.counts()
    (error,) = world.store.history.open_errors(world.integration.id)
    assert (error.record_id, error.code, error.field) == (bad, "INVALID_DATA", "Designation")


def test_workflow_triggers_are_sent_when_turned_on(make_world):
    world = make_world(crm_settings={"triggers": ["workflow"]})
    world.prospect(**person(1))
    world.cycle()
    (create,) = world.emulator.calls("POST", "/crm/v8/Leads")
    assert create.json_body()["trigger"] == ["workflow"]


# -- ids ------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["9223372036854", "497076200000"])
def test_record_ids_of_18_and_19_digits_survive_engine_and_store(make_world, prefix):
    """19-digit ids beyond 2**63 and 18-digit ones go through a cycle (engine, state
    store) and come back byte for byte: never parsed as numbers."""
    from crmsync_zoho.emulator import ZohoEmulator

    world = make_world(emulator=ZohoEmulator(id_prefix=prefix))
    pid = world.prospect(**person(1))
    lid = world.lead(Email="p7@example.com", Last_Name="P7", Company="C")
    world.cycle()
    created = next(i for i in world.emulator.records["Leads"] if i != lid)
    assert len(lid) == len(prefix) + 6 and len(created) == len(lid)
    for record_id in (lid, created):
        link = world.crm_link("Leads", record_id)
        assert link is not None and link.crm_id == record_id
        assert isinstance(link.crm_id, str)
    assert world.crm_link("Leads", created).platform_id == pid
    with world.store.database.engine.connect() as raw:  # what the store really holds
        rows = raw.exec_driver_sql("SELECT crm_id, typeof(crm_id) FROM links").fetchall()
    assert sorted(rows) == sorted([(lid, "text"), (created, "text")])
    world.advance()
    world.local.update(pid, {"first_name": "Again"})
    world.cycle()
    assert world.emulator.get("Leads", created)["First_Name"] == "Again"
    (put,) = world.emulator.calls("PUT", "/crm/v8/Leads")
    assert put.json_body()["data"][0]["id"] == created
    # The CLI shows a CRM-side error of that record with its id as it is.
    world.advance()
    world.local.update(pid, {"title": "x" * 101})  # over Designation's 100
    world.cycle()
    url = f"sqlite:///{world.store.database.engine.url.database}"
    listing = CliRunner().invoke(app, ["--database-url", url, "errors", "list",
                                       world.integration.name, "--json"])
    (error,) = json.loads(listing.output)["errors"]
    assert (error["side"], error["record_id"], error["field"]) == ("crm", created,
                                                                  "Designation")
    table = CliRunner().invoke(app, ["--database-url", url, "errors", "list",
                                     world.integration.name], env={"COLUMNS": "250"})
    assert created in table.output


def test_a_throttled_token_refresh_is_waited_out_not_a_failure(make_world):
    world = make_world()
    world.prospect(**person(1))
    world.emulator.faults.inject("token_throttle", path_contains="/oauth/v2/token")
    report = world.cycle()
    assert report.status == "succeeded", report.message
    assert report.crm.created == 1
    assert len(world.sleeps) == 1  # the framework's backoff, then the refresh went through
    statuses = [r.status for r in world.emulator.log.calls("POST", "/oauth/v2/token")]
    assert statuses == [400, 200]


def test_a_conversion_that_leaves_modified_time_alone_is_found_by_the_failed_write(
    make_world,
):
    """Whether converting moves a lead's Modified_Time is unconfirmed. If it does not,
    the feed cannot see the conversion; the next update of the lead fails with
    CONVERTED_RECORD, and the next read fetches that lead by id and relinks."""
    from crmsync_zoho.emulator import ZohoEmulator

    world = make_world(emulator=ZohoEmulator(convert_bumps_modified=False))
    pid, lid = linked_pair(world)
    world.lead(Last_Name="O", Company="C", Email="other@example.com")
    world.advance(3600)
    world.cycle()  # the cursor moves past the lead's last Modified_Time
    world.advance(3600)
    contact = world.emulator.convert_lead(lid)
    world.local.update(pid, {"first_name": "Moved"})
    failed = world.cycle()
    assert failed.crm.failed == 1, failed.counts()
    (error,) = world.store.history.open_errors(world.integration.id)
    assert error.code == "CONVERTED_RECORD"
    world.advance()
    mark = world.mark()
    report = world.cycle()
    assert report.relinked == 1, report.counts()
    by_id = [r for r in world.since(mark) if r.query.get("ids") == lid]
    assert by_id and by_id[0].query["converted"] == "true"
    assert world.crm_link("Contacts", contact).platform_id == pid
    world.advance()
    world.cycle()
    assert world.emulator.get("Contacts", contact)["First_Name"] == "Moved"
    assert world.local.count() == 2  # no duplicate prospect for the contact


def test_a_vendor_clock_90_s_behind_is_measured_and_reported(make_world):
    world = make_world(vendor_clock_offset=-90.0)
    world.prospect(**person(1))

    report = world.cycle()

    offset = report.clock_offsets["crm"]
    assert abs(offset["offset_seconds"] - -90.0) <= offset["uncertainty_seconds"] <= 0.5
