"""Whole cycles: creation, matching, failures, retries, paging, links that move, dry
runs.
"""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.contract import ApiBudget, RecordError, hookimpl
from crmsync.models import CreationMode, CreationRule, FieldFilter, SourceOfTruth
from crmsync.testing.memory import MemoryConnector

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


def test_creation_uses_mapping_defaults_for_required_fields(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect(
        {"email": "new@x.io", "first_name": "Nia", "last_name": "Ng", "company": None}
    )
    report = world.cycle()
    assert report.crm.created == 1
    (lead_id,) = world.crm.live("Lead")
    lead = world.crm.get("Lead", lead_id)
    assert lead["Company"] == "[not provided]" and lead["LastName"] == "Ng"
    assert world.cycle().writes == 0


def test_creation_filter_only_creates_qualified_prospects(make_world, pairs):
    rule = CreationRule(
        mode=CreationMode.FILTER, filter=FieldFilter(field="last_name", op="not_blank")
    )
    world = make_world(create_in_crm=rule)
    world.prospect({"email": "a@x.io", "last_name": "A"})
    world.prospect({"email": "b@x.io", "last_name": ""})
    assert world.cycle().crm.created == 1


def test_a_per_record_failure_does_not_stop_the_others(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "ok1@x.io", "last_name": "One"})
    bad = world.prospect(
        {"email": "bad@x.io", "last_name": None}
    )  # LastName is required
    world.prospect({"email": "ok2@x.io", "last_name": "Two"})
    report = world.cycle()
    assert report.crm.created == 2 and report.crm.failed == 1
    assert report.status == "partial"
    (error,) = world.store.history.open_errors(world.integration.id)
    assert (error.record_id, error.code, error.field) == (
        bad,
        "REQUIRED_FIELD_MISSING",
        "LastName",
    )
    # Permanent: parked, not retried until the record changes; then it succeeds.
    assert world.cycle().crm.failed == 0
    world.clock.advance()
    world.prospect({"last_name": "Fixed"}, record_id=bad)
    assert world.cycle().crm.created == 1
    assert world.store.history.open_errors(world.integration.id) == []


def test_a_retryable_record_error_is_retried_next_cycle(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "lock@x.io", "last_name": "L"})
    world.crm.fail_on_push = lambda obj, req: RecordError(
        code="UNABLE_TO_LOCK_ROW", message="row locked", retryable=True
    )
    assert world.cycle().crm.failed == 1
    world.crm.fail_on_push = None
    assert world.cycle().crm.created == 1


def test_matching_by_email_is_trimmed_and_case_insensitive(make_world):
    world = make_world()
    world.prospect({"email": "  Mixed.Case@Example.COM", "last_name": "M"})
    world.lead({"Email": "mixed.case@example.com", "LastName": "M", "Company": "C"})
    assert world.cycle().linked == 1


def test_an_ambiguous_match_is_an_error_never_a_guess(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    pid = world.prospect({"email": "twin@x.io", "last_name": "T"})
    world.lead({"Email": "twin@x.io", "LastName": "A", "Company": "C"})
    world.lead({"Email": "TWIN@x.io", "LastName": "B", "Company": "C"})
    report = world.cycle()
    assert report.linked == 0 and report.crm.created == 0 and report.ambiguous == 1
    (error,) = world.store.history.open_errors(world.integration.id)
    assert error.record_id == pid and error.code == "AMBIGUOUS_MATCH"


def test_two_records_sharing_one_candidates_key_are_an_error_never_a_guess(
    make_world, database_url
):
    # One lead, two prospects with its email: linking either one is a guess that
    # depends on feed order. Both are recorded as ambiguous; nothing is linked, and
    # nothing is created (a third record with that email would be a duplicate).
    world = make_world(
        create_in_crm=CREATE_ALL, create_in_platform=CREATE_ALL, url=database_url
    )
    first = world.prospect({"email": "twin@x.io", "last_name": "A"})
    second = world.prospect({"email": "Twin@x.io ", "last_name": "B"})
    lead = world.lead({"Email": "twin@x.io", "LastName": "L", "Company": "C"})
    report = world.cycle()
    assert report.linked == 0 and report.writes == 0, report.counts()
    assert report.ambiguous == 2
    errors = world.store.history.open_errors(world.integration.id)
    assert {(e.record_id, e.code) for e in errors} == {
        (first, "AMBIGUOUS_MATCH"),
        (second, "AMBIGUOUS_MATCH"),
    }
    assert lead in errors[0].message or lead in errors[1].message
    assert world.crm.get("Lead", lead)["LastName"] == "L"
    assert len(world.crm.live("Lead")) == 1 and world.platform.store.count() == 2


def test_contacts_match_before_leads(make_world, pairs):
    world = make_world(pairs=pairs("Contact", "Lead"))
    world.prospect({"email": "p@x.io", "last_name": "P"})
    world.lead({"Email": "p@x.io", "LastName": "Lead", "Company": "C"})
    contact = world.lead(
        {"Email": "p@x.io", "LastName": "Contact", "Company": "C"},
        object_name="Contact",
    )
    report = world.cycle()
    assert report.linked == 1
    with world.store.database.transaction() as tx:
        links = world.store.links.find(
            tx, world.integration.id, "crm", [("Contact", contact)]
        )
    assert links, "the prospect must be linked to the contact"


def test_a_rate_limit_is_honoured_with_the_vendor_delay(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "r@x.io", "last_name": "R"})
    world.crm.inject("rate_limit", hook="push_updates")
    report = world.cycle()
    assert report.crm.created == 1
    assert 2.5 in world.sleeps
    assert report.retry_waits == {"crm:rate_limited": 1}


def test_an_expired_credential_is_renewed_once(make_world):
    world = make_world()
    world.linked_pair(first_name="A")
    world.crm.inject("expired", hook="fetch_changed")
    world.cycle()
    assert (
        world.crm.calls["authenticate"] == 2 + 1
    )  # first cycle, this cycle, the renewal


def test_transient_errors_back_off_and_then_give_up_without_losing_the_change(
    make_world,
):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "t@x.io", "last_name": "T"})
    world.crm.inject("transient", hook="push_updates", count=10)
    report = world.cycle()
    assert report.crm.failed == 1 and len(world.sleeps) == 3  # 4 attempts, 3 waits
    world.crm.faults.clear()
    assert world.cycle().crm.created == 1


def test_records_sharing_a_modification_time_across_a_page_boundary(make_world):
    world = make_world(create_in_platform=CREATE_ALL)
    world.page_size = 10
    for n in range(25):  # all at the same instant
        world.lead({"Email": f"tie{n}@x.io", "LastName": f"T{n}", "Company": "C"})
    report = world.cycle()
    assert report.crm.read == 25 and report.platform.created == 25
    world.clock.advance()
    for n in range(25, 31):
        world.lead({"Email": f"tie{n}@x.io", "LastName": f"T{n}", "Company": "C"})
    assert world.cycle().platform.created == 6
    assert len(world.platform.live("prospect")) == 31


class Killed(BaseException):
    """The process dies: nothing after this point runs."""


class KillAfterPush:
    def __init__(self) -> None:
        self.armed = True

    @hookimpl(wrapper=True)
    def push_updates(self, requests):
        result = yield
        if self.armed and any(request.op == "create" for request in requests):
            self.armed = False
            raise Killed
        return result


def test_a_process_killed_between_push_and_commit_converges(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.prospect({"email": "fresh@x.io", "last_name": "Fresh"})
    killer = KillAfterPush()
    world.extra_plugins.append(killer)
    with pytest.raises(Killed):
        world.cycle()
    world.store.leases.release(world.integration.id, owner="*")
    with world.store.database.transaction() as tx:
        tx.exec_driver_sql("DELETE FROM leases")
    assert len(world.crm.live("Lead")) == 2, (
        "the create reached the CRM before the kill"
    )
    report = world.cycle()
    assert len(world.crm.live("Lead")) == 2, "the create must not be repeated"
    assert world.crm.get("Lead", lid)["FirstName"] == "New", "the edit must not be lost"
    assert report.crm.created == 0 and report.linked == 1
    with world.store.database.transaction() as tx:
        assert not world.store.pending.any(tx, world.integration.id), (
            "the create found again is no longer pending"
        )
    assert world.cycle().writes == 0


def test_a_converted_lead_moves_the_link_to_its_contact(make_world, pairs):
    world = make_world(pairs=pairs("Contact", "Lead"))
    pid, lid = world.linked_pair(first_name="C")
    contact = world.crm.convert(lid)
    report = world.cycle()
    assert report.relinked == 1
    world.clock.advance()
    world.prospect({"first_name": "Converted"}, record_id=pid)
    world.cycle()
    assert world.crm.get("Contact", contact)["FirstName"] == "Converted"


@pytest.mark.parametrize("order", [("Contact", "Lead"), ("Lead", "Contact")])
def test_a_lead_converted_before_its_first_sync_gives_one_prospect(
    make_world, pairs, order
):
    world = make_world(pairs=pairs(*order), create_in_platform=CREATE_ALL)
    lid = world.lead({"Email": "c@x.io", "LastName": "C", "Company": "Co"})
    world.clock.advance(1)
    contact = world.crm.convert(lid)
    world.clock.advance()
    world.cycle()
    world.clock.advance()
    assert world.cycle().writes == 0
    (prospect,) = world.platform.live("prospect")
    with world.store.database.transaction() as tx:
        found = world.store.links.find(
            tx, world.integration.id, "crm", [("Contact", contact)]
        )
    assert found[("Contact", contact)].platform_id == prospect


def test_a_lead_converted_into_an_unpaired_object_says_its_sync_stops(make_world):
    world = make_world()  # prospect <-> Lead only
    _, lid = world.linked_pair(first_name="C")
    contact = world.crm.convert(lid)
    assert world.cycle().relinked == 1
    (event,) = [
        e
        for e in world.store.history.list_events(world.integration.id)
        if e.kind == "relinked"
    ]
    assert contact in event.detail["reason"]
    assert "no object pair" in event.detail["reason"]


@pytest.mark.parametrize("order", [("Contact", "Lead"), ("Lead", "Contact")])
def test_a_crm_edit_made_around_a_conversion_reaches_the_platform(
    make_world, pairs, order, database_url
):
    # The contact a lead became is read in the same cycle as the conversion, before
    # the lead when contacts match first: the link must already be on the contact
    # when the contact is decided, or the edit is dropped as "linked elsewhere".
    world = make_world(pairs=pairs(*order), url=database_url)
    pid, lid = world.linked_pair(first_name="John")
    world.lead({"FirstName": "Jon"}, record_id=lid)  # edited, then converted
    contact = world.crm.convert(lid)
    world.clock.advance()
    world.lead({"Phone": "555-0199"}, record_id=contact, object_name="Contact")
    world.clock.advance()

    report = world.cycle()

    assert report.relinked == 1 and report.platform.updated == 1, report.counts()
    prospect = world.platform.get("prospect", pid)
    assert (prospect["first_name"], prospect["phone"]) == ("Jon", "555-0199")
    with world.store.database.transaction() as tx:
        found = world.store.links.find(
            tx, world.integration.id, "crm", [("Contact", contact)]
        )
    assert found[("Contact", contact)].platform_id == pid
    world.clock.advance()
    assert world.cycle().writes == 0


def test_a_chain_of_merges_in_one_cycle_moves_the_link_to_the_last_survivor(
    make_world, database_url
):
    world = make_world(url=database_url)
    pid, first = world.linked_pair(first_name="M", email="m@x.io")
    second = world.lead({"Email": "m@x.io", "LastName": "Doe", "Company": "C"})
    last = world.lead({"Email": "m@x.io", "LastName": "Doe", "Company": "C"})
    world.clock.advance()
    world.crm.delete("Lead", first, merged_into=second)
    world.clock.advance(1)
    world.crm.delete("Lead", second, merged_into=last)
    world.clock.advance()
    assert world.cycle().relinked == 1
    world.clock.advance()
    world.prospect({"first_name": "After"}, record_id=pid)
    world.clock.advance()
    world.cycle()
    assert world.crm.get("Lead", last)["FirstName"] == "After"


def test_a_survivor_edited_in_its_merge_reaches_the_platform(make_world):
    world = make_world()
    pid, loser = world.linked_pair(first_name="Old", email="m@x.io")
    survivor = world.lead(
        {"Email": "m@x.io", "LastName": "Doe", "Company": "C", "FirstName": "Old"}
    )
    world.clock.advance()
    world.cycle()  # the survivor is seen, linked nowhere
    world.clock.advance()
    world.lead({"FirstName": "Merged", "Phone": "555"}, record_id=survivor)
    world.clock.advance(1)
    world.crm.delete("Lead", loser, merged_into=survivor)
    world.clock.advance()
    assert world.cycle().relinked == 1
    prospect = world.platform.get("prospect", pid)
    assert (prospect["first_name"], prospect["phone"]) == ("Merged", "555")


def test_a_merged_record_relinks_to_the_survivor_and_a_deleted_one_unlinks(make_world):
    world = make_world()
    _, lid = world.linked_pair(first_name="M")
    survivor = world.lead({"Email": "other@x.io", "LastName": "S", "Company": "C"})
    world.crm.delete("Lead", lid, merged_into=survivor)
    assert world.cycle().relinked == 1
    world.clock.advance()
    world.crm.delete("Lead", survivor)
    report = world.cycle()
    assert report.unlinked == 1
    kinds = [
        event.kind for event in world.store.history.list_events(world.integration.id)
    ]
    assert "unlinked" in kinds and "relinked" in kinds


def test_a_dry_run_plans_every_write_and_makes_none(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.prospect({"email": "n@x.io", "last_name": "N"})
    report = world.cycle(dry_run=True)
    planned = {(w.op, w.field, w.new) for w in report.planned}
    assert ("update", "FirstName", "New") in planned
    assert ("create", "LastName", "N") in planned
    assert world.crm.get("Lead", lid)["FirstName"] == "Old"
    assert len(world.crm.live("Lead")) == 1
    real = world.cycle()
    assert real.crm.updated == 1 and real.crm.created == 1


class Exhausted:
    @hookimpl
    def api_budget(self):
        return ApiBudget(used=900, limit=1000, allowed=500)


def test_a_spent_api_budget_stops_the_cycle_early_and_resumes_later(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "b@x.io", "last_name": "B"})
    world.extra_plugins.append(Exhausted())
    stopped = world.cycle()
    assert stopped.status == "stopped" and "budget" in (stopped.message or "")
    (run, *_) = world.store.history.list_runs(world.integration.id)
    assert run.status == "stopped"
    world.extra_plugins.clear()
    assert world.cycle().crm.created == 1


def test_a_spent_vendor_quota_stops_the_cycle_without_retrying_or_losing_work(
    make_world,
):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "q@x.io", "last_name": "Q"})
    world.crm.inject("quota", hook="push_updates")
    stopped = world.engine().run_cycle()
    assert stopped.status == "stopped" and world.sleeps == []
    assert world.cycle().crm.created == 1


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_cycle_is_recorded_failed_and_locks_nothing(
    make_world, monkeypatch, error
):
    world = make_world(create_in_crm=CREATE_ALL)
    world.prospect({"email": "a@x.io", "last_name": "A"})

    def dies(*args, **kwargs):
        raise error("died mid-settle")

    monkeypatch.setattr(world.store.pending, "add", dies)
    with pytest.raises(error):
        world.cycle()
    (run,) = world.store.history.list_runs(world.integration.id)
    assert run.status == "failed" and run.finished_at is not None
    integration = world.store.config.get_integration(world.integration.name)
    assert integration.source_of_truth_locked_at is None
    monkeypatch.undo()
    world.clock.advance()
    assert world.cycle().crm.created == 1  # the next cycle does the work, once


def test_the_source_of_truth_locks_after_the_first_cycle(make_world):
    from crmsync.errors import ConfigurationError
    from crmsync.policy import check_source_of_truth_change

    world = make_world()
    name = world.integration.name
    check_source_of_truth_change(
        world.store.config.get_integration(name), SourceOfTruth.CRM
    )
    world.store.config.update_integration(name, source_of_truth=SourceOfTruth.CRM)
    world.cycle()
    locked = world.store.config.get_integration(name)
    assert locked.source_of_truth_locked_at is not None
    with pytest.raises(ConfigurationError, match="rebaseline"):
        check_source_of_truth_change(locked, SourceOfTruth.PLATFORM)
    check_source_of_truth_change(locked, SourceOfTruth.CRM)  # no change: allowed
    world.store.config.rebaseline(world.integration.name, SourceOfTruth.PLATFORM)
    assert (
        world.store.config.get_integration(world.integration.name).source_of_truth
        is SourceOfTruth.PLATFORM
    )


def test_after_a_rebaseline_an_edit_on_one_side_still_moves(make_world, database_url):
    # The links' baselines are cleared; the next cycle re-reads both sides and decides
    # every field afresh, so an edit made on one side only is not left waiting.
    world = make_world(url=database_url)
    pid, lid = world.linked_pair(first_name="John")
    world.clock.advance()
    assert world.cycle().writes == 0
    world.store.config.rebaseline(world.integration.name, SourceOfTruth.PLATFORM)
    world.clock.advance()
    world.prospect({"first_name": "Steve"}, record_id=pid)
    world.clock.advance()

    report = world.cycle()

    assert world.crm.get("Lead", lid)["FirstName"] == "Steve"
    assert report.crm.updated == 1, report.counts()
    with world.store.database.transaction() as tx:
        link = world.store.links.find(tx, world.integration.id, "crm", [("Lead", lid)])
    assert link[("Lead", lid)].baseline  # agreed again, field by field
    world.clock.advance()
    assert world.cycle().writes == 0


def test_a_new_mapping_back_fills_existing_links(make_world):
    from crmsync.models import Direction, Mapping

    world = make_world()
    pid, lid = world.linked_pair(first_name="B")
    world.prospect({"score": 42}, record_id=pid)
    world.store.config.put_mapping(
        world.integration.name,
        "prospect",
        "Lead",
        Mapping(platform_field="score", crm_field="Score", direction=Direction.TO_CRM),
    )
    world.clock.advance()
    world.cycle()
    assert world.crm.get("Lead", lid)["Score"] == "42"


def test_a_cycle_reads_and_writes_only_what_changed(make_world):
    world = make_world(create_in_crm=CREATE_ALL)
    ids = [
        world.prospect({"email": f"p{n}@x.io", "last_name": f"P{n}"})
        for n in range(300)
    ]
    assert world.cycle().crm.created == 300
    world.clock.advance(3600)
    assert world.cycle().writes == 0
    world.clock.advance(3600)
    for pid in ids[:3]:
        world.prospect({"first_name": "Edited"}, record_id=pid)
    world.clock.advance(3600)
    report = world.cycle()
    assert report.platform.read == 3 and report.crm.read == 0
    assert report.crm.updated == 3


def test_a_second_cycle_of_the_same_integration_is_refused_while_one_runs(make_world):
    from crmsync.engine import CycleBusy

    world = make_world()
    assert world.store.leases.acquire(world.integration.id, "someone-else", seconds=60)
    with pytest.raises(CycleBusy):
        world.cycle()


@pytest.mark.postgres
def test_whole_cycles_on_postgresql(make_world, postgres_url):
    world = make_world(create_in_crm=CREATE_ALL, url=postgres_url)
    pid, lid = world.linked_pair(first_name="Old")
    world.prospect({"first_name": "New"}, record_id=pid)
    world.prospect({"email": "pg@x.io", "last_name": "Pg"})
    world.extra_plugins.append(KillAfterPush())
    with pytest.raises(Killed):
        world.cycle()
    with world.store.database.transaction() as tx:
        tx.exec_driver_sql("DELETE FROM leases")
    world.extra_plugins.clear()
    world.cycle()
    assert len(world.crm.live("Lead")) == 2
    assert world.crm.get("Lead", lid)["FirstName"] == "New"
    assert world.cycle().writes == 0


def test_every_log_line_names_integration_cycle_side_and_object(make_world):
    import structlog
    from structlog.testing import capture_logs

    world = make_world()
    world.linked_pair(first_name="L")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        world.cycle()
    reads = [entry for entry in logs if entry["event"] == "feed_read"]
    assert reads and all(
        {"integration", "cycle", "side", "object"} <= set(entry) for entry in reads
    )


def test_a_creation_filter_may_test_an_unmapped_field(make_world):
    rule = CreationRule(
        mode=CreationMode.FILTER, filter=FieldFilter(field="score", op=">=", value=50)
    )
    world = make_world(create_in_crm=rule)
    world.prospect({"email": "hot@x.io", "last_name": "Hot", "score": 80})
    world.prospect({"email": "cold@x.io", "last_name": "Cold", "score": 10})
    report = world.cycle()
    assert report.crm.created == 1
    (lead,) = world.crm.live("Lead")
    assert world.crm.get("Lead", lead)["LastName"] == "Hot"
    assert "Score" not in world.crm.get("Lead", lead), "an unmapped field never moves"


def test_a_record_found_deleted_on_write_is_unlinked_with_the_reason(make_world):
    world = make_world()
    pid, lid = world.linked_pair(first_name="G")
    # Deleted where the feed cannot see it (a vendor without tombstones).
    world.crm.rows["Lead"][lid].deleted = True
    world.prospect({"first_name": "Gone"}, record_id=pid)
    report = world.cycle()
    assert report.unlinked == 1 and report.crm.failed == 0
    (event, *_) = world.store.history.list_events(world.integration.id)
    assert event.kind == "unlinked" and "found on write" in event.detail["reason"]
    with world.store.database.transaction() as tx:
        assert world.store.links.count(tx, world.integration.id) == 0
    assert world.store.history.open_errors(world.integration.id) == []


def test_a_stop_request_ends_the_cycle_after_the_current_batch(make_world):

    world = make_world(create_in_crm=CREATE_ALL)
    for n in range(25):
        world.prospect({"email": f"s{n}@x.io", "last_name": f"S{n}"})
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 2  # asked after each feed's page, then after each chunk

    stopped = world.engine(chunk_size=10, should_stop=should_stop).run_cycle()
    assert stopped.status == "stopped" and "on request" in (stopped.message or "")
    assert stopped.crm.created == 10, "the chunk being settled is pushed and recorded"
    assert len(world.crm.live("Lead")) == 10
    world.clock.advance(3600)
    assert world.cycle().crm.created == 15
    assert len(world.crm.live("Lead")) == 25


class LateCommittingCrm(MemoryConnector):
    """A vendor that may commit a change up to ten minutes after stamping it."""

    @staticmethod
    def describe_connector():
        return MemoryConnector.describe_connector().model_copy(
            update={"late_commit_seconds": 600.0}
        )


@pytest.mark.parametrize(
    ("crm", "seen"), [(MemoryConnector, False), (LateCommittingCrm, True)]
)
def test_a_vendors_late_commit_window_is_re_read_whatever_the_overlap_setting(
    make_world, crm, seen
):
    world = make_world()
    world.crm_connector = crm
    pid, lid = world.linked_pair(first_name="Early")
    read_at = world.clock.now() - dt.timedelta(seconds=60)  # linked_pair's cycle
    # Committed after that read, stamped four minutes before it: outside the 60 s
    # default overlap, inside the vendor's declared ten minutes.
    world.lead(
        {"FirstName": "Late"}, record_id=lid, at=read_at - dt.timedelta(minutes=4)
    )
    world.clock.advance()

    world.cycle()

    assert (world.platform.get("prospect", pid)["first_name"] == "Late") is seen


def test_an_edit_between_two_pages_of_a_read_skips_no_record(make_world):
    world = make_world(create_in_platform=CREATE_ALL)
    world.page_size = 2
    ids = []
    for n in range(5):
        ids.append(
            world.lead({"Email": f"l{n}@x.io", "LastName": f"L{n}", "Company": "C"})
        )
        world.clock.advance(1)
    world.clock.advance(3600)

    class EditAfterTheFirstPage:
        pages = 0

        @hookimpl(wrapper=True)
        def fetch_changed(self, object_name, fields, cursor, page, page_size):
            answer = yield
            if object_name == "Lead":
                self.pages += 1
                if self.pages == 1:  # a user edits a record of the page just read
                    world.lead({"Phone": "1"}, record_id=ids[0])
            return answer

    world.extra_plugins.append(EditAfterTheFirstPage())
    world.cycle()
    world.extra_plugins.clear()
    assert len(world.platform.live("prospect")) == 5


def test_a_record_re_read_in_the_overlap_window_costs_no_link_write(make_world):
    world = make_world()
    pid, _ = world.linked_pair(first_name="Same")

    def stored_link():
        with world.store.database.transaction() as tx:
            return tx.exec_driver_sql("SELECT updated_at, baseline FROM links").one()

    before = stored_link()
    report = world.cycle()  # the overlap window re-reads the pair, unchanged
    assert report.platform.read >= 1 and report.writes == 0
    assert stored_link() == before
    world.clock.advance()
    world.prospect({"first_name": "Changed"}, record_id=pid)
    world.cycle()
    assert stored_link() != before
