"""Whole sync cycles through crmsync's engine between ``local`` prospects and Autotask
contacts.

The platform is the ``local`` connector over a SQLite file; the CRM is this connector
over the in-process emulator; the state store is SQLite. One clock drives the platform,
the emulated tenant, the connector and the engine. Connections live as long as a world,
as they do in the runtime.
"""

from __future__ import annotations

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
from crmsync_autotask.emulator import OWNER_RESOURCE, AutotaskEmulator

USER = "cycles.api@example.com"
SECRET = "cycles-api-user-s3cret"
CODE = "CYCLESTRACKINGIDENTIFIER000"
NOT_PROVIDED = "[not provided]"
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def _pairs() -> tuple[ObjectPair, ...]:
    return (
        ObjectPair(
            platform_object="prospect",
            crm_object="Contacts",
            crm_match_field="emailAddress",
            match_order=0,
            mappings=(
                two_way("email", "emailAddress", FieldType.EMAIL),
                two_way("first_name", "firstName", default=NOT_PROVIDED),
                two_way("last_name", "lastName", default=NOT_PROVIDED),
                two_way("phone", "phone", FieldType.PHONE),
                Mapping(platform_field="title", crm_field="title", direction=Direction.TO_CRM),
                Mapping(
                    platform_field="company",
                    crm_field="companyName",
                    direction=Direction.TO_CRM,
                ),
                Mapping(
                    platform_field="lead_source",
                    crm_field="udf:Lead Source",
                    direction=Direction.TO_PLATFORM,
                ),
            ),
        ),
    )


class World(CycleWorld[AutotaskEmulator]):
    """A platform file, an emulated tenant, a state store and one clock for all."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        crm_settings: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        emulator = AutotaskEmulator()
        emulator.add_api_user(USER, SECRET, CODE)
        super().__init__(
            tmp_path,
            emulator=emulator,
            crm_connector="autotask",
            crm_settings={
                "username": USER,
                "secret": SECRET,
                "integration_code": CODE,
                "company_strategy": "find_or_create",
                "new_company_owner_resource_id": OWNER_RESOURCE,
                **(crm_settings or {}),
            },
            object_pairs=_pairs(),
            create_in_crm=CreationRule(mode=CreationMode.ALL, target_object="Contacts"),
            **options,
        )

    def mark(self) -> int:
        return len(self.emulator.log)

    def since(self, mark: int) -> list[Any]:
        return list(self.emulator.log)[mark:]

    def writes_since(self, mark: int) -> list[Any]:
        """Creates, updates and deletes (queries are POSTs too, but read)."""
        return [
            r
            for r in self.since(mark)
            if r.method in WRITES and not r.path.endswith(("/query", "/count", "/next"))
        ]

    def contact(self, record_id: str) -> dict[str, Any]:
        found = self.emulator.get("Contacts", record_id)
        assert found is not None
        return found

    def udf(self, record_id: str, name: str) -> Any:
        entries = self.contact(record_id)["userDefinedFields"]
        return next(e["value"] for e in entries if e["name"] == name)

    def link(self, record_id: str) -> Any:
        return self.crm_link("Contacts", record_id)


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Worlds[World]]:
    with Worlds(tmp_path, World) as make:
        yield make


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "email": f"p{n}@example.com",
        "first_name": "Pat",
        "last_name": f"P{n}",
        "company": "Initech",
        **extra,
    }


def linked_pair(world: World, n: int = 1, **values: Any) -> tuple[str, str]:
    """A prospect and a contact that one cycle linked, agreeing on every mapped field."""
    pid = world.prospect(**person(n, **values))
    (cid,) = world.emulator.seed(
        "Contacts",
        [
            {
                "emailAddress": f"p{n}@example.com",
                "firstName": "Pat",
                "lastName": f"P{n}",
                "companyID": _company(world, "Initech"),
                **{_crm(k): v for k, v in values.items()},
            }
        ],
    )
    report = world.cycle()
    assert report.linked >= 1, report.counts()
    world.advance()
    return pid, cid


def _crm(platform_field: str) -> str:
    return {"first_name": "firstName", "phone": "phone", "title": "title"}[platform_field]


def _company(world: World, name: str) -> int:
    for record in world.emulator.records["companies"].values():
        if record["companyName"] == name:
            return int(record["id"])
    return int(world.emulator.seed("Companies", [{"companyName": name}])[0])


def test_initial_sync_creates_one_contact_per_call_under_found_or_made_companies(make_world):
    world = make_world()
    world.local.insert([person(n, company="Initech" if n % 2 else "Globex") for n in range(12)])
    (existing,) = world.emulator.seed("Companies", [{"companyName": "Globex"}])
    world.emulator.seed(
        "Contacts",
        [{"firstName": "C", "lastName": f"C{n}", "emailAddress": f"c{n}@example.com"}
         for n in range(5)],
    )
    report = world.cycle()
    assert report.status == "succeeded", report.message
    assert report.crm.created == 12 and report.platform.created == 5, report.counts()
    posts = world.emulator.calls("POST")
    contact_posts = [p for p in posts if p.path.endswith("/Contacts")]
    assert len(contact_posts) == 12  # Autotask has no batch write: one per record
    made = [p for p in posts if p.path.endswith("/V1.0/Companies")]
    assert [p.json_body()["companyName"] for p in made] == ["Initech"]  # Globex was found
    by_company: dict[int, int] = {}
    for contact in world.emulator.records["contacts"].values():
        by_company[contact["companyID"]] = by_company.get(contact["companyID"], 0) + 1
    assert by_company[int(existing)] == 6
    assert max(world.emulator.max_in_flight.values()) <= 3


def test_matching_is_by_email_case_insensitive(make_world):
    world = make_world()
    pid = world.prospect(**person(1, email="Mixed.Case@Example.COM"))
    (cid,) = world.emulator.seed(
        "Contacts",
        [{"firstName": "Pat", "lastName": "P1", "emailAddress": "mixed.case@example.com"}],
    )
    mark = world.mark()
    report = world.cycle()
    assert report.linked == 1 and report.crm.created == 0, report.counts()
    assert world.link(cid).platform_id == pid
    assert not [w for w in world.writes_since(mark) if w.path.endswith("/Contacts")
                and w.method == "POST"]


def test_example_1_and_6_edits_on_each_side_converge_then_nothing_echoes(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, cid = linked_pair(world)
    world.local.update(pid, {"first_name": "Johnathan", "phone": "555-0100"})
    world.advance(180)
    world.emulator.edit("Contacts", cid, {"firstName": "Jon", "title": "ignored by to_crm"})
    world.emulator.edit("Contacts", cid, {"Lead Source": "Web"})
    report = world.cycle()
    assert report.crm.updated == 1 and report.platform.updated == 1, report.counts()
    contact = world.contact(cid)
    assert (contact["firstName"], contact["phone"]) == ("Jon", "555-0100")
    prospect = world.local.get(pid)
    assert (prospect["first_name"], prospect["lead_source"]) == ("Jon", "Web")
    # Example 7: a second cycle writes nothing, and an idle cycle reads one page.
    world.advance(300)
    world.cycle()
    world.advance(300)
    mark = world.mark()
    again = world.cycle()
    assert again.writes == 0, again.counts()
    calls = world.since(mark)
    assert [c.path.rsplit("/", 1)[-1] for c in calls] == ["query"], [c.path for c in calls]


@pytest.mark.parametrize(
    ("truth", "winner"),
    [(SourceOfTruth.CRM, "Josh"), (SourceOfTruth.PLATFORM, "Steve")],
)
def test_examples_2_and_3_source_of_truth_on_first_meeting(make_world, truth, winner):
    world = make_world(source_of_truth=truth)
    pid = world.prospect(**person(1, first_name="Steve"))
    (cid,) = world.emulator.seed(
        "Contacts",
        [{"firstName": "Josh", "lastName": "P1", "emailAddress": "p1@example.com",
          "companyID": _company(world, "Initech")}],
    )
    world.cycle()
    assert world.local.get(pid)["first_name"] == winner
    assert world.contact(cid)["firstName"] == winner


def test_example_4_the_latest_change_wins_under_both(make_world):
    world = make_world(source_of_truth=SourceOfTruth.BOTH)
    pid, cid = linked_pair(world)
    world.emulator.edit("Contacts", cid, {"firstName": "Josh"})
    world.advance(7 * 86400)
    world.local.update(pid, {"first_name": "Steve"})
    world.cycle()
    assert world.contact(cid)["firstName"] == "Steve"
    assert world.local.get(pid)["first_name"] == "Steve"


def test_example_5_a_blank_crm_field_is_filled_under_crm(make_world):
    world = make_world(source_of_truth=SourceOfTruth.CRM)
    pid = world.prospect(**person(1, phone="555-0142"))
    (cid,) = world.emulator.seed(
        "Contacts",
        [{"firstName": "Pat", "lastName": "P1", "emailAddress": "p1@example.com",
          "companyID": _company(world, "Initech")}],
    )
    world.cycle()
    assert world.contact(cid)["phone"] == "555-0142"
    assert world.local.get(pid)["phone"] == "555-0142"


def test_example_8_a_to_crm_field_set_then_cleared(make_world):
    world = make_world()
    pid, cid = linked_pair(world)
    world.emulator.edit("Contacts", cid, {"title": "VP"})
    world.advance()
    world.cycle()
    assert world.contact(cid)["title"] == "VP"  # never set on the platform: kept
    assert world.local.get(pid)["title"] is None
    world.advance()
    world.local.update(pid, {"title": "CTO"})
    world.cycle()
    assert world.contact(cid)["title"] == "CTO"
    world.advance()
    world.local.update(pid, {"title": None})
    world.cycle()
    assert world.contact(cid)["title"] in {None, ""}


def test_a_deleted_contact_is_found_by_reconciliation_and_unlinked(make_world):
    world = make_world(crm_settings={"reconcile_interval": 3600})
    pid, cid = linked_pair(world)
    _, other = linked_pair(world, 2)
    world.emulator.delete("Contacts", cid)
    world.advance(60)
    early = world.cycle()
    assert early.unlinked == 0  # the check runs hourly
    world.advance(3600)
    mark = world.mark()
    report = world.cycle()
    assert report.unlinked == 1 and report.crm.deleted == 1, report.counts()
    assert world.link(cid) is None and world.link(other) is not None
    assert world.local.get(pid) is not None  # unlinked, never deleted on the platform
    kinds = [c.path.split("V1.0/")[1] for c in world.since(mark)]
    # The feed (re-reading the late-commit window, so the mapped companyName is read
    # too), the count, then one id-only sweep page.
    assert kinds == [
        "Contacts/query", "Companies/query", "Contacts/query/count", "Contacts/query"
    ], kinds


def test_an_update_of_a_contact_deleted_since_unlinks_it(make_world):
    world = make_world(crm_settings={"reconcile_interval": 86400})
    pid, cid = linked_pair(world)
    world.emulator.delete("Contacts", cid)
    world.local.update(pid, {"first_name": "Changed"})
    report = world.cycle()
    assert report.unlinked == 1, report.counts()
    assert world.link(cid) is None


def test_a_zone_move_mid_cycle_is_rediscovered_once(make_world):
    world = make_world()
    pid, cid = linked_pair(world)
    world.local.update(pid, {"first_name": "Moved"})
    world.emulator.faults.inject("zone_move", to=22, method="PATCH")
    discoveries = len(world.emulator.calls("GET", "zoneInformation"))
    report = world.cycle()
    assert report.crm.updated == 1, report.counts()
    assert world.contact(cid)["firstName"] == "Moved"
    assert len(world.emulator.calls("GET", "zoneInformation")) == discoveries + 1
    assert [r.status for r in world.emulator.calls("PATCH")] == [401, 200]
    assert world.emulator.log[-1].headers["host"] == "webservices22.autotask.net"
    assert world.sleeps == []


def test_the_thread_limit_is_retried_and_the_hourly_threshold_stops_the_cycle(make_world):
    world = make_world()
    world.prospect(**person(1))
    company = _company(world, "Initech")
    world.emulator.faults.inject("thread_limit", path_contains=f"/{company}/Contacts")
    report = world.cycle()
    assert report.crm.created == 1, report.counts()
    assert len(world.sleeps) == 1 and report.retry_waits == {"crm:rate_limited": 1}
    world.advance()
    world.prospect(**person(2))
    world.emulator.faults.inject("hourly_limit", path_contains="/Contacts/query")
    stopped = world.cycle()
    assert stopped.status == "stopped", stopped.counts()
    world.advance()
    resumed = world.cycle()
    assert resumed.crm.created == 1, resumed.counts()


def test_a_lost_create_answer_is_linked_later_not_duplicated(make_world):
    world = make_world()
    pid = world.prospect(**person(1))
    company = _company(world, "Initech")
    world.emulator.faults.inject(
        "dropped_connection", path_contains=f"/{company}/Contacts", after_commit=True
    )
    first = world.cycle()
    assert first.crm.failed == 1 and first.status == "partial", first.counts()
    assert len(world.emulator.records["contacts"]) == 1  # carried out, answer lost
    world.advance()
    second = world.cycle()
    assert second.linked == 1 and second.crm.created == 0, second.counts()
    assert len(world.emulator.records["contacts"]) == 1
    (cid,) = [str(i) for i in world.emulator.records["contacts"]]
    assert world.link(cid).platform_id == pid


def test_refused_records_are_open_errors_among_successes(make_world):
    world = make_world()
    world.prospect(**person(1))
    bad = world.prospect(**person(2, title="x" * 60))  # Autotask's title holds 50
    nameless = world.prospect(**person(3, company=None))
    world.prospect(**person(4))
    report = world.cycle()
    assert report.crm.created == 2 and report.crm.failed == 2, report.counts()
    assert report.status == "partial"
    errors = {e.record_id: e for e in world.store.history.open_errors(world.integration.id)}
    assert (errors[bad].code, errors[bad].field) == ("INVALID_VALUE", "title")
    assert (errors[nameless].code, errors[nameless].field) == ("COMPANY_REQUIRED", "companyName")
    assert world.sleeps == []  # permanent: never retried


def test_the_api_budget_share_stops_the_cycle(make_world):
    world = make_world(crm_settings={"api_budget_share": 0.5, "threshold_poll_seconds": 0})
    world.emulator.threshold = 20
    world.local.insert([person(n) for n in range(15)])
    report = world.cycle()
    assert report.status == "stopped" and "budget" in (report.message or ""), report.message
    assert len(world.emulator.log) <= 16


def test_a_company_change_keeps_the_other_fields_flowing(make_world):
    world = make_world()
    pid, cid = linked_pair(world)
    world.local.update(pid, {"company": "Globex", "first_name": "Still"})
    report = world.cycle()
    assert report.crm.failed == 1, report.counts()
    assert world.contact(cid)["firstName"] == "Still"
    (error,) = world.store.history.open_errors(world.integration.id)
    assert (error.code, error.field) == ("COMPANY_CHANGE_UNSUPPORTED", "companyName")


def test_reads_cost_one_request_per_500_records(make_world):
    world = make_world()
    world.emulator.seed(
        "Contacts",
        [{"firstName": "C", "lastName": f"C{n}", "emailAddress": f"c{n}@example.com"}
         for n in range(1100)],
    )
    mark = world.mark()
    report = world.cycle()
    assert report.platform.created == 1100, report.counts()
    paths = [c.path.split("V1.0/")[1] for c in world.since(mark) if "V1.0/" in c.path]
    feed = [p for p in paths if p.startswith("Contacts/query")]
    assert len(feed) == 3  # ceil(1100 / 500): the vendor's minimum
    assert paths.count("Companies/query") == 1  # the companyName of every contact read
    assert world.writes_since(mark) == []


def test_a_vendor_clock_90_s_behind_is_measured_and_reported(make_world):
    world = make_world(vendor_clock_offset=-90.0)
    world.prospect(**person(1))

    report = world.cycle()

    offset = report.clock_offsets["crm"]
    assert abs(offset["offset_seconds"] - -90.0) <= offset["uncertainty_seconds"] <= 0.5
