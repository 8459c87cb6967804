"""The connector's requests and answers at the HTTP seam (the emulator's transport):
what goes on the wire, and how every vendor answer is translated."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from pydantic import ValidationError

from crmsync.contract import Cursor, FieldType, WriteRequest
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    OutcomeUnknown,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from crmsync_autotask import AutotaskConnector, AutotaskSettings
from crmsync_autotask._baseline import Baseline
from crmsync_autotask.emulator import AutotaskEmulator

FIELDS = ["firstName", "lastName", "emailAddress", "isActive", "udf:Lead Source"]


def read_all(
    conn: AutotaskConnector, object_name: str, cursor: Cursor | None, fields: list[str]
) -> tuple[list[Any], Cursor]:
    records: list[Any] = []
    page: str | None = None
    while True:
        answer = conn.fetch_changed(
            object_name=object_name, fields=fields, cursor=cursor, page=page, page_size=500
        )
        records += [*answer.records, *answer.tombstones]
        if answer.next_page is None:
            return records, answer.cursor
        page = answer.next_page


def create(ref: str, **values: Any) -> WriteRequest:
    return WriteRequest(ref=ref, op="create", values=values)


def update(record_id: str, **values: Any) -> WriteRequest:
    return WriteRequest(ref=f"u-{record_id}", op="update", record_id=record_id, values=values)


# -- auth and zone --------------------------------------------------------------------------
def test_zone_is_discovered_without_credentials_and_cached(
    build: Any, emulator: AutotaskEmulator
) -> None:
    conn = build()
    discovery = emulator.calls("GET", "zoneInformation")
    assert len(discovery) == 1
    assert discovery[0].query == {"user": "api.user@example.com"}
    assert not {"secret", "username", "apiintegrationcode"} & set(discovery[0].headers)
    threshold = emulator.calls("GET", "ThresholdInformation")[0]
    assert threshold.headers["host"] == "webservices15.autotask.net"
    assert {"secret", "username", "apiintegrationcode"} <= set(threshold.headers)
    conn.authenticate()  # cached zone, fresh budget reading: no call at all
    assert len(emulator.log) == 2
    budget = conn.api_budget()
    assert budget is not None and budget.limit == 10_000 and budget.allowed == 5_000


def test_a_zone_move_is_rediscovered_once(build: Any, emulator: AutotaskEmulator) -> None:
    conn = build()
    emulator.faults.inject("zone_move", to=22)
    with pytest.raises(AuthenticationExpired):
        conn.fetch_changed(
            object_name="Contacts", fields=["lastName"], cursor=None, page=None, page_size=10
        )
    conn.authenticate()
    assert len(emulator.calls("GET", "zoneInformation")) == 2
    read_all(conn, "Contacts", None, ["lastName"])
    assert emulator.log[-1].headers["host"] == "webservices22.autotask.net"


def test_wrong_secret_and_unknown_user_fail_authentication(
    build: Any, emulator: AutotaskEmulator
) -> None:
    with pytest.raises(AuthenticationFailed, match="secret"):
        build(secret="wrong-secret-value")
    with pytest.raises(AuthenticationFailed) as unknown:
        build(username="nobody@example.com")
    assert "Zone information could not be determined" in str(unknown.value)


def test_settings_errors_name_the_variable(build: Any, settings_for: Any) -> None:
    with pytest.raises(ValidationError, match="CRMSYNC_AUTOTASK_SECRET"):
        AutotaskSettings(username="u", integration_code="c", default_company_id=1)
    with pytest.raises(ValidationError, match="CRMSYNC_AUTOTASK_DEFAULT_COMPANY_ID"):
        AutotaskSettings(username="u", secret="s", integration_code="c")
    with pytest.raises(ValidationError, match=r"not on a Autotask domain"):
        settings_for(discovery_url="https://webservices.autotask.net.evil.com/x")
    settings = settings_for()
    assert "api-user-s3cret" not in repr(settings) + repr(build())


def test_a_vendor_zone_url_off_autotask_is_refused(build: Any, emulator: AutotaskEmulator) -> None:
    original = emulator._zone_base
    attacker = "https://attacker.example.com/ATServicesRest/"
    emulator._zone_base = lambda request: attacker  # type: ignore[method-assign]
    with pytest.raises(PermanentError, match="will not send credentials"):
        build()
    emulator._zone_base = original  # type: ignore[method-assign]


# -- metadata -------------------------------------------------------------------------------
def test_fields_udfs_picklists_and_flags(connector: AutotaskConnector) -> None:
    specs = {s.name: s for s in connector.list_fields(object_name="Contacts")}
    assert specs["isActive"].type is FieldType.BOOLEAN
    assert specs["isActive"].vendor_type == "integer"
    assert specs["namePrefix"].type is FieldType.PICKLIST
    assert specs["namePrefix"].picklist_values[:2] == ("Mr.", "Mrs.")
    assert specs["udf:Marketing Segment"].picklist_values == ("SMB", "Enterprise")
    assert specs["udf:Lead Score"].type is FieldType.INTEGER
    assert specs["emailAddress"].type is FieldType.EMAIL
    assert specs["lastModifiedDate"].read_only and specs["lastName"].required_on_create
    assert not specs["companyID"].required_on_create  # the connector chooses the company
    assert specs["companyName"].type is FieldType.STRING and not specs["companyName"].read_only
    companies = {s.name: s for s in connector.list_fields(object_name="Companies")}
    assert companies["isActive"].type is FieldType.BOOLEAN
    assert "Prospect" in companies["companyType"].picklist_values


# -- the feed -------------------------------------------------------------------------------
def test_feed_query_is_a_post_filtered_on_the_modified_field(
    emulator: AutotaskEmulator, connector: AutotaskConnector
) -> None:
    ids = emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(3)])
    since = dt.datetime(2025, 3, 1, 5, 0, tzinfo=dt.UTC)
    records, _ = read_all(connector, "Contacts", Cursor(modified_at=since), FIELDS)
    assert [r.record_id for r in records] == ids
    # The feed query, then (no baseline in the cursor yet) an id-only sweep.
    query, sweep = (c.json_body() for c in emulator.calls("POST", "/Contacts/query")[-2:])
    assert sweep["IncludeFields"] == ["id"]
    assert query["MaxRecords"] == 500
    assert {"id", "lastModifiedDate", "companyID", "firstName"} <= set(query["IncludeFields"])
    condition = query["filter"][0]["items"][0]
    assert condition == {
        "op": "gte", "field": "lastModifiedDate", "value": "2025-03-01T05:00:00.000000Z"
    }
    emulator.seed("Companies", [{"companyName": "Northwind"}])
    read_all(connector, "Companies", Cursor(modified_at=since), ["companyName"])
    company_query = emulator.calls("POST", "/Companies/query")[-2].json_body()
    assert company_query["filter"][0] == {"op": "gt", "field": "id", "value": 0}
    assert company_query["filter"][1]["items"][0]["field"] == "lastTrackedModifiedDateTime"


def test_every_vendor_page_is_posted_with_the_same_body(
    build: Any, emulator: AutotaskEmulator
) -> None:
    conn = build(page_size=2)
    ids = emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(5)])
    conn.list_fields(object_name="Contacts")
    mark = len(emulator.log)
    records, _ = read_all(conn, "Contacts", None, ["lastName"])
    assert sorted(r.record_id for r in records) == sorted(ids)
    calls = list(emulator.log)[mark:]
    assert [c.method for c in calls] == ["POST"] * 3
    assert calls[1].path.endswith("/Contacts/query/next")
    assert calls[0].json_body() == calls[1].json_body() == calls[2].json_body()


def test_records_come_in_modification_order_with_values_converted(
    emulator: AutotaskEmulator, connector: AutotaskConnector
) -> None:
    emulator.date_style = "bare"
    first, second = emulator.seed(
        "Contacts",
        [
            {"firstName": "A", "lastName": "One", "isActive": 0,
             "userDefinedFields": [{"name": "Lead Source", "value": "Web"}]},
            {"firstName": "B", "lastName": "Two", "city": ""},
        ],
    )
    emulator.clock.advance(5)
    emulator.edit("Contacts", first, {"title": "CTO"})
    records, cursor = read_all(connector, "Contacts", None, [*FIELDS, "city", "namePrefix"])
    assert [r.record_id for r in records] == [second, first]
    values = {r.record_id: r.values for r in records}
    assert values[first]["isActive"] is False and values[first]["udf:Lead Source"] == "Web"
    assert values[second]["city"] is None and values[second]["isActive"] is True
    assert records[1].modified_at == dt.datetime(2025, 3, 1, 6, 0, 5, tzinfo=dt.UTC)
    assert cursor.record_id == first and cursor.token is not None


# -- deletions ------------------------------------------------------------------------------
def test_reconciliation_counts_then_sweeps_only_when_something_vanished(
    build: Any, emulator: AutotaskEmulator,
) -> None:
    conn = build(reconcile_interval=600)
    ids = emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(7)])
    _, cursor = read_all(conn, "Contacts", None, ["lastName"])
    baseline = Baseline.decode(cursor.token)
    assert baseline is not None and {str(i) for i in baseline.ids} == set(ids)
    # Within the interval: the feed query only.
    emulator.clock.advance(60)
    mark = len(emulator.log)
    _, cursor = read_all(conn, "Contacts", cursor, ["lastName"])
    assert [c.path.rsplit("/", 1)[-1] for c in list(emulator.log)[mark:]] == ["query"]
    # Due, nothing deleted: one count.
    emulator.clock.advance(600)
    mark = len(emulator.log)
    with structlog.testing.capture_logs() as logs:
        _, cursor = read_all(conn, "Contacts", cursor, ["lastName"])
    assert [c.path.rsplit("/", 1)[-1] for c in list(emulator.log)[mark:]] == ["query", "count"]
    event = next(e for e in logs if e["event"] == "autotask_reconciliation")
    assert (event["calls"], event["deleted"], event["swept"]) == (1, 0, False)
    # Due, two deleted: count, then an id-only sweep; the two come back as tombstones.
    emulator.delete("Contacts", ids[1])
    emulator.delete("Contacts", ids[4])
    emulator.clock.advance(600)
    mark = len(emulator.log)
    found, cursor = read_all(conn, "Contacts", cursor, ["lastName"])
    assert sorted(t.record_id for t in found) == sorted([ids[1], ids[4]])
    sweep = list(emulator.log)[mark:][-1]
    assert sweep.json_body()["IncludeFields"] == ["id"]
    assert conn.last_reconciliation["Contacts"].calls == 2
    assert conn.last_reconciliation["Contacts"].deleted == 2
    # Its cost rides on the read's first page, into the cycle report's api_calls.
    emulator.clock.advance(600)
    page = conn.fetch_changed("Contacts", ["lastName"], cursor, None, 500)
    assert page.costs == {"reconciliation": 1}
    emulator.clock.advance(60)
    assert conn.fetch_changed("Contacts", ["lastName"], page.cursor, None, 500).costs == {}
    cursor = page.cursor
    # Reported once: the new baseline no longer holds them.
    emulator.clock.advance(600)
    again, _ = read_all(conn, "Contacts", cursor, ["lastName"])
    assert again == []


def test_a_mass_disappearance_is_not_reported(build: Any, emulator: AutotaskEmulator) -> None:
    conn = build(reconcile_interval=0)
    ids = emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(30)])
    _, cursor = read_all(conn, "Contacts", None, ["lastName"])
    for record_id in ids[:20]:
        emulator.delete("Contacts", record_id)
    emulator.clock.advance(1)
    with structlog.testing.capture_logs() as logs:
        found, _ = read_all(conn, "Contacts", cursor, ["lastName"])
    assert found == []
    assert any(e["event"] == "autotask_reconciliation_refused" for e in logs)


# -- writes ---------------------------------------------------------------------------------
def test_create_and_update_one_record_per_call_through_the_company(
    build: Any, emulator: AutotaskEmulator,
) -> None:
    conn = build(company_strategy="default_company")
    company = emulator.default_company()
    (made,) = conn.push_updates(
        object_name="Contacts",
        requests=[create("c1", firstName="Ana", lastName="Ruiz", namePrefix="Dr.",
                         **{"udf:Marketing Segment": "SMB"})],
    )
    assert made.ok and made.record_id
    post = emulator.calls("POST", "/Contacts")[-1]
    assert post.path.endswith(f"/V1.0/Companies/{company}/Contacts")
    assert post.json_body() == {
        "firstName": "Ana", "lastName": "Ruiz", "namePrefix": 4, "companyID": company,
        "isActive": 1, "userDefinedFields": [{"name": "Marketing Segment", "value": "12"}],
    }
    (changed,) = conn.push_updates(
        object_name="Contacts",
        requests=[update(made.record_id, isActive=False, **{"udf:Lead Source": "Web"})],
    )
    assert changed.ok and changed.record_id == made.record_id
    patch = emulator.calls("PATCH")[-1]
    assert patch.path.endswith(f"/Companies/{company}/Contacts")
    assert patch.json_body() == {
        "id": int(made.record_id), "isActive": 0,
        "userDefinedFields": [{"name": "Lead Source", "value": "Web"}],
    }
    stored = emulator.get("Contacts", made.record_id) or {}
    udfs = {u["name"]: u["value"] for u in stored["userDefinedFields"]}
    assert udfs == {"Marketing Segment": "12", "Lead Source": "Web", "Lead Score": None}
    (company_update,) = conn.push_updates(
        object_name="Companies", requests=[update(str(company), isActive=False)]
    )
    assert company_update.ok
    assert emulator.calls("PATCH", "/Companies")[-1].json_body()["isActive"] is False


def test_an_update_of_an_unknown_contact_reads_it_first(
    build: Any, emulator: AutotaskEmulator
) -> None:
    (record_id,) = emulator.seed("Contacts", [{"firstName": "A", "lastName": "B"}])
    conn = build()
    (result,) = conn.push_updates(object_name="Contacts", requests=[update(record_id, title="x")])
    assert result.ok
    assert [c.method for c in list(emulator.log)[-2:]] == ["GET", "PATCH"]
    emulator.delete("Contacts", record_id)
    fresh = build()
    (gone,) = fresh.push_updates(object_name="Contacts", requests=[update(record_id, title="y")])
    assert gone.error is not None and gone.error.missing and gone.error.code == "NOT_FOUND"
    # Known company, deleted since: "No matching records found" -> re-read -> missing.
    (other,) = emulator.seed("Contacts", [{"firstName": "C", "lastName": "D"}])
    read_all(fresh, "Contacts", None, ["lastName"])
    emulator.delete("Contacts", other)
    (missing,) = fresh.push_updates(object_name="Contacts", requests=[update(other, title="z")])
    assert missing.error is not None and missing.error.missing


def test_find_or_create_makes_one_prospect_company_per_name(
    build: Any, emulator: AutotaskEmulator
) -> None:
    conn = build(default_company_id=None)
    gate = emulator.gate = threading.Event()
    results: list[Any] = []

    def push(n: int) -> None:
        results.extend(
            conn.push_updates(
                object_name="Contacts",
                requests=[create(f"c{n}", firstName="P", lastName=f"L{n}",
                                 companyName="Initech ", phone="555-0142")],
            )
        )

    threads = [threading.Thread(target=push, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.05)
    gate.set()
    for thread in threads:
        thread.join()
    assert all(r.ok for r in results), results
    made = [c for c in emulator.calls("POST") if c.path.endswith("/V1.0/Companies")]
    assert len(made) == 1
    body = made[0].json_body()
    assert (body["companyName"], body["companyType"], body["phone"]) == ("Initech", 3, "555-0142")
    assert max(emulator.max_in_flight.values()) <= 3
    (no_name,) = conn.push_updates(
        object_name="Contacts", requests=[create("c9", firstName="P", lastName="Q")]
    )
    assert no_name.error is not None and no_name.error.code == "COMPANY_REQUIRED"
    assert no_name.error.field == "companyName" and not no_name.error.retryable


def test_a_contact_is_never_moved_to_another_company(
    emulator: AutotaskEmulator, connector: AutotaskConnector
) -> None:
    (made,) = connector.push_updates(
        object_name="Contacts",
        requests=[create("c1", firstName="A", lastName="B", companyName="Globex")],
    )
    assert made.record_id is not None
    (same,) = connector.push_updates(
        object_name="Contacts", requests=[update(made.record_id, companyName="globex")]
    )
    assert same.ok
    (moved,) = connector.push_updates(
        object_name="Contacts", requests=[update(made.record_id, companyName="Initech")]
    )
    assert moved.error is not None and moved.error.code == "COMPANY_CHANGE_UNSUPPORTED"


def test_validation_errors_are_per_record_and_permanent(
    emulator: AutotaskEmulator, connector: AutotaskConnector
) -> None:
    ids = emulator.seed("Contacts", [{"firstName": "A", "lastName": "B"}] * 2)
    emulator.faults.inject("validation", message="Value does not reference an existing "
                           "entity for countryID . ", method="PATCH")
    bad, good = connector.push_updates(
        object_name="Contacts",
        requests=[update(ids[0], countryID=999), update(ids[1], title="ok")],
    )
    assert bad.error is not None and bad.error.field == "countryID"
    assert not bad.error.retryable and good.ok
    (typed,) = connector.push_updates(
        object_name="Contacts", requests=[update(ids[0], namePrefix="Sir")]
    )
    assert typed.error is not None and typed.error.field == "namePrefix"
    assert not typed.error.retryable


@pytest.mark.parametrize(
    ("fault", "options", "raised"),
    [
        ("thread_limit", {}, RateLimited),
        ("hourly_limit", {"retry_after": 30}, QuotaExhausted),
        ("server_error", {}, TransientError),
    ],
)
def test_whole_call_failures(
    emulator: AutotaskEmulator,
    connector: AutotaskConnector,
    fault: str,
    options: dict[str, Any],
    raised: type[Exception],
) -> None:
    emulator.faults.inject(fault, path_contains="/Contacts/query", **options)
    with pytest.raises(raised):
        connector.fetch_changed(
            object_name="Contacts", fields=["lastName"], cursor=None, page=None, page_size=5
        )


def test_a_lost_create_answer_is_outcome_unknown(
    emulator: AutotaskEmulator, connector: AutotaskConnector
) -> None:
    emulator.faults.inject(
        "dropped_connection", path_contains="/Contacts", method="POST", after_commit=True
    )
    with pytest.raises(OutcomeUnknown):
        connector.push_updates(
            object_name="Contacts",
            requests=[create("c1", firstName="A", lastName="B", companyName="Acme")],
        )


def test_at_most_three_requests_in_flight_per_entity(
    build: Any, emulator: AutotaskEmulator
) -> None:
    conn = build()
    ids = emulator.seed("Contacts", [{"firstName": "A", "lastName": f"B{n}"} for n in range(8)])
    read_all(conn, "Contacts", None, ["lastName"])
    gate = emulator.gate = threading.Event()
    results: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda rid=rid: results.extend(
                conn.push_updates(object_name="Contacts", requests=[update(rid, title="t")])
            )
        )
        for rid in ids
    ]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.05)
    gate.set()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r.ok for r in results)
    assert max(emulator.max_in_flight.values()) == 3
    assert not [c for c in emulator.log if c.status == 429]


@pytest.fixture
def served_connector() -> Iterator[AutotaskConnector]:
    from crmsync_autotask.emulator import serve

    served = serve()
    try:
        conn = AutotaskConnector(settings=AutotaskSettings(**served.settings))
        conn.authenticate()
        yield conn
        conn.close()
    finally:
        served.stop()


def test_over_a_real_socket(served_connector: AutotaskConnector) -> None:
    (made,) = served_connector.push_updates(
        object_name="Contacts",
        requests=[create("c1", firstName="A", lastName="B", companyName="Umbrella")],
    )
    assert made.ok
    records, _ = read_all(served_connector, "Contacts", None, ["lastName", "companyName"])
    assert records[-1].values == {"lastName": "B", "companyName": "Umbrella"}


def test_a_read_failing_part_way_resumes_at_its_next_page(
    build: Any, emulator: AutotaskEmulator
) -> None:
    conn = build(page_size=2)
    emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(7)])
    conn.list_fields(object_name="Contacts")
    emulator.faults.inject("thread_limit", path_contains="/query/next")
    mark = len(emulator.log)
    with pytest.raises(RateLimited):
        read_all(conn, "Contacts", None, ["lastName"])
    records, _ = read_all(conn, "Contacts", None, ["lastName"])
    assert len(records) == 7
    paths = [c.path.rsplit("/", 1)[-1] for c in list(emulator.log)[mark:]]
    # First page, the refused second, then the second again and the rest: never page 1 twice.
    assert paths == ["query", "next", "next", "next", "next"]


def test_a_404_for_a_contact_is_never_taken_for_a_deletion(
    build: Any, emulator: AutotaskEmulator
) -> None:
    (record_id,) = emulator.seed("Contacts", [{"firstName": "A", "lastName": "B"}])
    emulator.delete("Contacts", record_id)
    emulator.missing_item = "404"  # as just after a create (replication lag)
    conn = build()
    with pytest.raises(TransientError):
        conn.push_updates(object_name="Contacts", requests=[update(record_id, title="x")])


def test_a_page_asked_for_by_another_process_resumes_from_its_token(
    build: Any, emulator: AutotaskEmulator
) -> None:
    ids = emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(5)])
    first = build().fetch_changed(
        object_name="Contacts", fields=["lastName"], cursor=None, page=None, page_size=2
    )
    assert [r.record_id for r in first.records] == ids[:2] and first.next_page
    other = build()  # a fresh process: the read's rows are not in its memory
    rest: list[str] = []
    page: str | None = first.next_page
    while page is not None:
        answer = other.fetch_changed(
            object_name="Contacts", fields=["lastName"], cursor=None, page=page, page_size=2
        )
        rest += [r.record_id for r in answer.records]
        page = answer.next_page
    assert rest == ids[2:]


def test_a_read_cut_by_a_zone_move_resumes_on_the_new_zone(
    build: Any, emulator: AutotaskEmulator
) -> None:
    conn = build(page_size=2)
    emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(5)])
    conn.list_fields(object_name="Contacts")
    emulator.faults.inject("zone_move", to=16, path_contains="/query/next")
    with pytest.raises(AuthenticationExpired):
        read_all(conn, "Contacts", None, ["lastName"])
    conn.authenticate()
    mark = len(emulator.log)
    records, _ = read_all(conn, "Contacts", None, ["lastName"])
    assert len(records) == 5
    resumed = list(emulator.log)[mark:]
    assert {c.headers["host"] for c in resumed} == {"webservices16.autotask.net"}
    assert [c.path.rsplit("/", 1)[-1] for c in resumed] == ["next", "next"]


def test_secrets_from_files_and_impersonation_on_writes_only(
    build: Any, emulator: AutotaskEmulator, tmp_path: Any
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("api-user-s3cret-value-123\n")
    code = tmp_path / "code"
    code.write_text("TRACKINGIDENTIFIER0000000001")
    conn = build(
        secret=None,
        secret_file=secret,
        integration_code=None,
        integration_code_file=code,
        impersonation_resource_id=29682886,
    )
    (made,) = conn.push_updates(
        object_name="Contacts",
        requests=[create("c1", firstName="A", lastName="B", companyName="Initech")],
    )
    assert made.ok
    post = emulator.calls("POST", "/Contacts")[-1]
    assert post.headers["impersonationresourceid"] == "29682886"
    reads = [c for c in emulator.log if c.method == "GET" or c.path.endswith("/query")]
    assert reads and all("impersonationresourceid" not in c.headers for c in reads)
    stored = emulator.get("Contacts", made.record_id or "") or {}
    assert stored["impersonatorCreatorResourceID"] == 29682886
