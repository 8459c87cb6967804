"""What the connector does where Salesforce is strict (issue 21), through the HTTP seam:
clearing fields that may not be empty, numbers past describe's sizes, unique values,
lookups that name no record, records purged from the Recycle Bin, and the getDeleted
sweep."""

from __future__ import annotations

import datetime as dt

import pytest
import structlog

from crmsync.contract import Cursor, WriteRequest
from crmsync_salesforce import SalesforceConnector
from crmsync_salesforce.emulator import to_18

from .conftest import FROZEN, make_settings
from .test_connector import FIELDS, read_all


def update(record_id: str, ref: str = "u", **values: object) -> WriteRequest:
    return WriteRequest(ref=ref, op="update", record_id=record_id, values=values)


def create(ref: str = "c", **values: object) -> WriteRequest:
    return WriteRequest(ref=ref, op="create", values={"LastName": "L", "Company": "C", **values})


# -- clearing ----------------------------------------------------------------------------------
def test_a_cleared_checkbox_is_written_false(emulator, connector):
    (lead,) = emulator.seed(
        "Lead", [{"LastName": "L", "Company": "C", "HasOptedOutOfEmail": True}]
    )
    (result,) = connector.push_updates("Lead", [update(lead, HasOptedOutOfEmail=None)])
    assert result.ok, result.error
    assert emulator.get("Lead", lead)["HasOptedOutOfEmail"] is False
    (sent,) = emulator.calls("PATCH", "/composite/sobjects")
    assert sent.json_body()["records"][0]["HasOptedOutOfEmail"] is False


def test_clearing_a_field_with_a_default_is_refused_for_its_record_only(emulator, connector):
    a, b = emulator.seed("Lead", count=2)
    results = connector.push_updates(
        "Lead",
        [update(a, "a", Status=None), update(b, "b", Title="CTO"), update(b, "o", OwnerId=None)],
    )
    assert [r.ok for r in results] == [False, True, False]
    assert (results[0].error.code, results[0].error.field) == ("REQUIRED_FIELD_MISSING", "Status")
    assert "cannot be cleared" in results[0].error.message
    assert results[2].error.field == "OwnerId" and not results[0].error.missing
    (sent,) = emulator.calls("PATCH", "/composite/sobjects")
    assert [r["Id"] for r in sent.json_body()["records"]] == [b]  # nothing sent for a
    assert emulator.get("Lead", a)["Status"] == "Open - Not Contacted"


def test_a_create_leaves_out_a_cleared_field_with_a_default(emulator, connector):
    (result,) = connector.push_updates("Lead", [create(Status=None, HasOptedOutOfEmail=None)])
    assert result.ok, result.error
    stored = emulator.get("Lead", result.record_id)
    assert stored["Status"] == "Open - Not Contacted" and stored["HasOptedOutOfEmail"] is False
    (sent,) = emulator.calls("POST", "/composite/sobjects")
    assert "Status" not in sent.json_body()["records"][0]


# -- numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [("NumberOfEmployees", 10**12), ("NumberOfEmployees", 10**8), ("Lead_Score__c", 123456.789)],
)
def test_a_number_past_describe_is_refused_before_the_call(emulator, connector, field, value):
    results = connector.push_updates("Lead", [create("big", **{field: value}), create("ok")])
    assert [r.ok for r in results] == [False, True]
    error = results[0].error
    assert (error.code, error.field) == ("NUMBER_OUTSIDE_VALID_RANGE", field)
    (sent,) = emulator.calls("POST", "/composite/sobjects")
    assert len(sent.json_body()["records"]) == 1


def test_numbers_inside_describe_are_written(emulator, connector):
    (result,) = connector.push_updates(
        "Lead", [create(NumberOfEmployees=99_999_999, Lead_Score__c=9999.99)]
    )
    assert result.ok, result.error


# -- unique values and lookups --------------------------------------------------------------------
def test_a_duplicate_unique_value_names_its_field(emulator, connector):
    emulator.seed("Lead", [{"LastName": "L", "Company": "C", "Crmsync_Ref__c": "ref-1"}])
    (result,) = connector.push_updates("Lead", [create(Crmsync_Ref__c="REF-1")])
    assert (result.error.code, result.error.field) == ("DUPLICATE_VALUE", "Crmsync_Ref__c")
    assert not result.error.retryable


def test_a_lookup_naming_no_record_is_a_bad_value_not_a_missing_record(emulator, connector):
    (contact,) = emulator.seed("Contact", [{"LastName": "C"}])
    (result,) = connector.push_updates(
        "Contact", [update(contact, AccountId=to_18("0015e0000000001"))]
    )
    error = result.error
    assert (error.code, error.field) == ("INVALID_CROSS_REFERENCE_KEY", "AccountId")
    assert result.error.missing is False


def test_updating_a_purged_record_reports_it_missing(emulator, connector):
    (lead,) = emulator.seed("Lead", count=1)
    emulator.delete("Lead", lead)
    emulator.purge_recycle_bin()
    (result,) = connector.push_updates("Lead", [update(lead, Title="X")])
    assert result.error.code == "INVALID_CROSS_REFERENCE_KEY" and result.error.field is None
    assert result.error.missing is True


# -- the getDeleted sweep ----------------------------------------------------------------------
def test_a_recent_cursor_costs_one_call_and_no_sweep(emulator, connector):
    emulator.seed("Lead", count=1)
    _, _, cursors = read_all(connector, "Lead", FIELDS, None)
    emulator.clock.advance(3600)
    mark = len(emulator.requests)
    read_all(connector, "Lead", FIELDS, cursors[-1])
    assert [r.path.rsplit("/", 1)[-1] for r in emulator.requests[mark:]] == ["queryAll"]


def test_an_old_cursor_sweeps_get_deleted_once_and_reports_purged_records(emulator, connector):
    keep, gone = emulator.seed("Lead", count=2)
    _, _, cursors = read_all(connector, "Lead", FIELDS, None)
    emulator.clock.advance(600)
    emulator.delete("Lead", gone)
    emulator.purge_recycle_bin()  # the feed can no longer show the deletion
    emulator.clock.advance(3 * 3600)
    mark = len(emulator.requests)
    with structlog.testing.capture_logs() as logs:
        records, tombstones, after = read_all(connector, "Lead", FIELDS, cursors[-1])
    assert records == [] and [t.record_id for t in tombstones] == [gone]
    paths = [r.path for r in emulator.requests[mark:]]
    assert len(paths) == 2 and paths[1].endswith("/sobjects/Lead/deleted/")
    (event,) = [e for e in logs if e["event"] == "salesforce.deleted_sweep"]
    assert (event["deleted"], event["calls"]) == (1, 1)
    assert not [e for e in logs if e["event"] == "salesforce.deletions_beyond_window"]
    # The sweep is remembered in the cursor: the next read within two hours makes none.
    assert after[-1].token and after[-1].modified_at == cursors[-1].modified_at
    emulator.clock.advance(60)
    mark = len(emulator.requests)
    read_all(connector, "Lead", FIELDS, after[-1])
    assert len(emulator.requests) - mark == 1
    assert keep


def test_the_sweeps_call_is_reported_as_the_pages_cost(emulator, connector):
    _, gone = emulator.seed("Lead", count=2)
    _, _, cursors = read_all(connector, "Lead", FIELDS, None)
    emulator.delete("Lead", gone)
    emulator.purge_recycle_bin()
    emulator.clock.advance(3 * 3600)
    swept = connector.fetch_changed("Lead", FIELDS, cursors[-1], None, 200)
    assert swept.costs == {"deleted_sweep": 1}  # into the cycle report's api_calls
    emulator.clock.advance(60)
    quiet = connector.fetch_changed("Lead", FIELDS, swept.cursor, None, 200)
    assert quiet.costs == {}


def test_a_sweep_past_get_deleted_window_logs_lost_deletions(emulator, connector):
    emulator.seed("Lead", count=1)
    _, _, cursors = read_all(connector, "Lead", FIELDS, None)
    emulator.clock.advance(3 * 3600)
    emulator.purge_recycle_bin(forget_deletions=True)  # the delete log truncated now
    with structlog.testing.capture_logs() as logs:
        read_all(connector, "Lead", FIELDS, cursors[-1])
    (lost,) = [e for e in logs if e["event"] == "salesforce.deletions_beyond_window"]
    assert lost["object_name"] == "Lead"
    assert lost["earliest_date_available"] == "2024-05-01T15:00:00.000+0000"


def test_a_read_that_lost_deletions_says_so_once(emulator, connector):
    emulator.seed("Lead", count=1)
    _, _, cursors = read_all(connector, "Lead", FIELDS, None)
    emulator.clock.advance(3 * 3600)
    emulator.purge_recycle_bin(forget_deletions=True)
    lost = connector.fetch_changed("Lead", FIELDS, cursors[-1], None, 200)
    assert lost.deletions_unknown_before == FROZEN + dt.timedelta(hours=3)
    emulator.clock.advance(3 * 3600)
    again = connector.fetch_changed("Lead", FIELDS, lost.cursor, None, 200)
    assert again.deletions_unknown_before is None  # the check is in the cursor's token


def test_a_read_within_get_deleted_window_vouches_for_its_deletions(emulator, connector):
    emulator.seed("Lead", count=1)
    _, _, cursors = read_all(connector, "Lead", FIELDS, None)
    emulator.clock.advance(3 * 3600)
    swept = connector.fetch_changed("Lead", FIELDS, cursors[-1], None, 200)
    assert swept.costs == {"deleted_sweep": 1} and swept.deletions_unknown_before is None


# -- missing_records ---------------------------------------------------------------------------
def test_missing_records_answers_deleted_purged_and_merged_ids_only(emulator, connector):
    live, binned, purged, survivor, loser = emulator.seed("Lead", count=5)
    (converted,) = emulator.seed("Lead", count=1)
    emulator.convert_lead(converted)
    emulator.delete("Lead", purged)
    emulator.purge_recycle_bin()
    emulator.delete("Lead", binned)  # still in the Recycle Bin
    emulator.merge(survivor, [loser])
    asked = [live, binned, purged, survivor, loser, converted]
    mark = len(emulator.requests)
    assert connector.missing_records("Lead", asked) == [binned, purged, loser]
    (query,) = emulator.requests[mark:]
    assert query.path.endswith("/query") and query.query["q"].startswith(
        "SELECT Id FROM Lead WHERE Id IN ("
    )


def test_missing_records_asks_a_full_batch_in_one_query_within_the_limits(emulator, connector):
    batch = connector.describe_connector().missing_records_batch_size
    ids = emulator.seed("Contact", count=batch)
    emulator.server_page_limit = 150  # the answer comes in pages: all are read
    for gone in ids[:3]:
        emulator.delete("Contact", gone)
    emulator.purge_recycle_bin()
    mark = len(emulator.requests)
    assert connector.missing_records("Contact", ids) == ids[:3]
    requests = emulator.requests[mark:]
    assert [r.status for r in requests] == [200, 200]  # the query and its second page
    assert "WHERE Id IN" in requests[0].query["q"]


def test_a_swept_read_over_several_pages_keeps_the_token_to_its_last_page(emulator, connector):
    emulator.seed("Lead", count=1)
    _, _, cursors = read_all(connector, "Lead", FIELDS, None)
    emulator.clock.advance(3 * 3600)
    emulator.seed("Lead", count=5)
    emulator.server_page_limit = 2
    _, _, after = read_all(connector, "Lead", FIELDS, cursors[-1])
    assert len(after) == 3 and all(c.token == after[0].token for c in after)
    assert after[0].token is not None
    assert len(emulator.calls("GET", "/deleted/")) == 1
    start = Cursor(modified_at=FROZEN + dt.timedelta(hours=3), token=after[-1].token)
    assert read_all(connector, "Lead", FIELDS, start)[1] == []


def test_a_host_clock_ahead_of_the_org_does_not_sweep(emulator):
    # The sweep runs on the org's time (our clock corrected by the offset measured from
    # its Date headers): a cursor minutes old is minutes old, however far off our clock.
    ahead = emulator.clock.now() + dt.timedelta(days=400)
    connector = SalesforceConnector(
        settings=make_settings(), transport=emulator.transport(), clock=ahead.timestamp
    )
    connector.authenticate()
    try:
        emulator.seed("Lead", count=1)
        _, _, cursors = read_all(connector, "Lead", FIELDS, None)
        cursor = cursors[-1]
        for _ in range(3):
            _, _, after = read_all(connector, "Lead", FIELDS, cursor)
            cursor = after[-1]
        assert emulator.calls("GET", "/deleted/") == []
    finally:
        connector.close()


def test_an_expired_query_locator_restarts_the_read_from_its_cursor(emulator, connector):
    ids = emulator.seed("Lead", count=5)
    emulator.server_page_limit = 2
    first = connector.fetch_changed("Lead", FIELDS, None, None, 200)
    assert first.next_page is not None
    emulator.expire_query_locators()
    with structlog.testing.capture_logs() as logs:
        records, _, _ = read_all_from(connector, first.next_page)
    assert [e["event"] for e in logs] == ["salesforce.query_locator_expired"]
    # The read starts over: every record comes (again), none is lost.
    assert sorted(r.record_id for r in records) == sorted(ids)
    assert len(emulator.calls("GET", "/queryAll")) == 2


def read_all_from(connector, page):
    records, tombstones, cursors = [], [], []
    while page is not None:
        answer = connector.fetch_changed("Lead", FIELDS, None, page, 200)
        records += answer.records
        tombstones += answer.tombstones
        cursors.append(answer.cursor)
        page = answer.next_page
    return records, tombstones, cursors


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_number_json_cannot_carry_is_refused_for_its_record(emulator, connector, value):
    results = connector.push_updates("Lead", [create("bad", AnnualRevenue=value), create("ok")])
    assert [r.ok for r in results] == [False, True]
    assert (results[0].error.code, results[0].error.field) == ("JSON_PARSER_ERROR", "AnnualRevenue")
