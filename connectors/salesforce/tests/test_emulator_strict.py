"""The emulator refuses what Salesforce refuses (issue 21): raw HTTP, no connector.

Each test names the fact sheet's rule it holds the emulator to (section 3 for describe's
sizes and nillability, 4 and 7 for query limits, 5 for upserts, 6 for error bodies, 8 for
the Recycle Bin).
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync_salesforce.emulator import EmulatorServer, SalesforceEmulator, to_18

from .conftest import CLIENT_ID, CLIENT_SECRET, FROZEN
from .test_emulator import V, client, collection, token

LEAD = {"LastName": "Ito", "Company": "Kestrel"}
NO_SUCH_ACCOUNT = to_18("0015e0000000001")
NO_SUCH_USER = to_18("0055e0000000001")


@pytest.fixture
def api(emulator: SalesforceEmulator) -> httpx.Client:
    c = client(emulator)
    c.headers.update(token(emulator))
    return c


def first_error(answer: httpx.Response) -> dict[str, object]:
    body = answer.json()
    assert isinstance(body, list) and body, body
    entry = body[0]
    assert isinstance(entry, dict)
    return entry


def item_error(answer: httpx.Response, index: int = 0) -> dict[str, object]:
    assert answer.status_code == 200, answer.text
    item = answer.json()[index]
    assert item["success"] is False, item
    error = item["errors"][0]
    assert isinstance(error, dict)
    return error


# -- 5. bodies Salesforce cannot read ---------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"null",
        b'"a string"',
        b"42",
        b'{"attributes": "Lead", "LastName": "A", "Company": "C"}',
        b'{"attributes": {"type": 5}, "LastName": "A", "Company": "C"}',
        b'{"LastName": "A", "LastName": "B", "Company": "C"}',
        b'{"LastName": "A", "lastname": "B", "Company": "C"}',
        b'{"LastName": "A", "Company": "C", "AnnualRevenue": NaN}',
        b'{"LastName": "A", "Company": "C", "NumberOfEmployees": "nan"}',
        b'{"LastName": "A", "Company": "C", "Lead_Score__c": "-Infinity"}',
    ],
)
def test_an_unreadable_body_is_400_json_parser_error_and_writes_nothing(emulator, api, body):
    (lead,) = emulator.seed("Lead", count=1)
    before = emulator.get("Lead", lead)
    headers = {"Content-Type": "application/json"}
    for method, path in (
        ("POST", f"{V}/sobjects/Lead"),
        ("PATCH", f"{V}/sobjects/Lead/{lead}"),
        ("PATCH", f"{V}/sobjects/Lead/Crmsync_Ref__c/ref-1"),
    ):
        answer = api.request(method, path, content=body, headers=headers)
        assert answer.status_code == 400, (method, path, answer.text)
        assert first_error(answer)["errorCode"] == "JSON_PARSER_ERROR"
    assert list(emulator.records["Lead"]) == [lead]
    assert emulator.get("Lead", lead) == before


@pytest.mark.parametrize(
    "records",
    [
        [[]],
        ["Lead"],
        [None],
        [{"attributes": "Lead", "LastName": "A", "Company": "C"}],
        [{"attributes": ["Lead"], "LastName": "A", "Company": "C"}],
    ],
)
def test_a_collection_member_that_is_not_a_record_is_json_parser_error(emulator, api, records):
    good = {"attributes": {"type": "Lead"}, **LEAD}
    answer = collection(api, "POST", [good, *records])
    assert answer.status_code == 400
    assert first_error(answer)["errorCode"] == "JSON_PARSER_ERROR"
    assert emulator.records["Lead"] == {}


def test_an_unreadable_body_is_answered_over_a_real_socket_not_dropped(emulator):
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.url) as http:
        token = http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        ).json()["access_token"]
        for body in (b"[]", b"null", b'{"attributes": 1}'):
            answer = http.post(
                f"{V}/sobjects/Lead",
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert answer.status_code == 400
            assert answer.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


# -- 1. null in a field that may not hold one ---------------------------------------------
@pytest.mark.parametrize("field", ["HasOptedOutOfEmail", "Status", "OwnerId", "DoNotCall"])
def test_null_in_a_field_that_is_not_nillable_is_refused_naming_it(emulator, api, field):
    (lead,) = emulator.seed("Lead", count=1)
    before = emulator.get("Lead", lead)[field]
    answer = api.patch(f"{V}/sobjects/Lead/{lead}", json={field: None})
    assert answer.status_code == 400
    error = first_error(answer)
    assert error["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert error["fields"] == [field]
    assert emulator.get("Lead", lead)[field] == before is not None
    created = collection(api, "POST", [{"attributes": {"type": "Lead"}, **LEAD, field: None}])
    assert item_error(created)["fields"] == [field]
    assert len(emulator.records["Lead"]) == 1


def test_a_nillable_field_is_still_cleared_by_null(emulator, api):
    (lead,) = emulator.seed("Lead", [{**LEAD, "Title": "CTO"}])
    assert api.patch(f"{V}/sobjects/Lead/{lead}", json={"Title": None}).status_code == 204
    assert emulator.get("Lead", lead)["Title"] is None


# -- 3. number sizes from describe ---------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("NumberOfEmployees", 10**12),
        ("NumberOfEmployees", 100_000_000),  # digits 8
        ("NumberOfEmployees", -100_000_000),
        ("Lead_Score__c", 123456.789),  # precision 6, scale 2: four whole digits
        ("Lead_Score__c", 10_000),
        ("Lead_Score__c", 9999.996),  # rounds to 10000.00
    ],
)
def test_a_number_larger_than_describe_allows_is_refused(emulator, api, field, value):
    answer = collection(api, "POST", [{"attributes": {"type": "Lead"}, **LEAD, field: value}])
    error = item_error(answer)
    assert error["statusCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert error["fields"] == [field]
    assert emulator.records["Lead"] == {}


def test_numbers_inside_describe_sizes_are_kept_rounded_to_the_scale(emulator, api):
    values = {"NumberOfEmployees": 99_999_999, "Lead_Score__c": 9999.994}
    created = api.post(f"{V}/sobjects/Lead", json={**LEAD, **values})
    assert created.status_code == 201, created.text
    stored = emulator.get("Lead", created.json()["id"])
    assert stored["NumberOfEmployees"] == 99_999_999
    assert stored["Lead_Score__c"] == 9999.99
    api.patch(f"{V}/sobjects/Lead/{stored['Id']}", json={"Lead_Score__c": 1.005})
    assert emulator.get("Lead", stored["Id"])["Lead_Score__c"] == 1.01  # half up


# -- 2. unique fields ------------------------------------------------------------------------
def test_a_unique_external_id_is_enforced_case_insensitively(emulator, api):
    first = api.post(f"{V}/sobjects/Lead", json={**LEAD, "Crmsync_Ref__c": "ref-1"})
    assert first.status_code == 201
    again = api.post(f"{V}/sobjects/Lead", json={**LEAD, "Crmsync_Ref__c": "REF-1"})
    assert again.status_code == 400
    error = first_error(again)
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert error["message"] == (
        "duplicate value found: Crmsync_Ref__c duplicates value on record with id: "
        + first.json()["id"]
    )
    (other,) = emulator.seed("Lead", count=1)
    moved = api.patch(f"{V}/sobjects/Lead/{other}", json={"Crmsync_Ref__c": "ref-1"})
    assert first_error(moved)["errorCode"] == "DUPLICATE_VALUE"
    # Within one call: the second record collides with the first one saved.
    pair = collection(
        api,
        "POST",
        [{"attributes": {"type": "Lead"}, **LEAD, "Crmsync_Ref__c": "ref-2"}] * 2,
    )
    assert pair.json()[0]["success"] is True
    assert item_error(pair, 1)["statusCode"] == "DUPLICATE_VALUE"
    # Updating a record to the value it already holds is no collision.
    same = api.patch(
        f"{V}/sobjects/Lead/{first.json()['id']}", json={"Crmsync_Ref__c": "ref-1"}
    )
    assert same.status_code == 204
    # The value of a deleted record is free again.
    emulator.delete("Lead", first.json()["id"])
    reused = api.post(f"{V}/sobjects/Lead", json={**LEAD, "Crmsync_Ref__c": "ref-1"})
    assert reused.status_code == 201


# -- 4. references ----------------------------------------------------------------------------
def test_lookups_must_name_a_live_record_of_their_target(emulator, api):
    (account,) = emulator.seed("Account", [{"Name": "Initech"}])
    (lead,) = emulator.seed("Lead", count=1)
    contact = {"attributes": {"type": "Contact"}, "LastName": "C"}
    answer = collection(
        api,
        "POST",
        [
            {**contact, "AccountId": account},
            {**contact, "AccountId": NO_SUCH_ACCOUNT},
            {**contact, "AccountId": lead},
            {**contact, "OwnerId": NO_SUCH_USER},
            {**contact, "OwnerId": account},
        ],
    )
    assert answer.json()[0]["success"] is True
    errors = [item_error(answer, i) for i in range(1, 5)]
    codes = [(error["statusCode"], error["fields"]) for error in errors]
    assert codes == [
        ("INVALID_CROSS_REFERENCE_KEY", ["AccountId"]),
        ("FIELD_INTEGRITY_EXCEPTION", ["AccountId"]),
        ("INVALID_CROSS_REFERENCE_KEY", ["OwnerId"]),
        ("FIELD_INTEGRITY_EXCEPTION", ["OwnerId"]),
    ]
    assert len(emulator.records["Contact"]) == 1
    user = emulator.add_user()
    owned = api.patch(f"{V}/sobjects/Lead/{lead}", json={"OwnerId": user})
    assert owned.status_code == 204 and emulator.get("Lead", lead)["OwnerId"] == user
    emulator.delete("Account", account)
    gone = collection(api, "POST", [{**contact, "AccountId": account}])
    assert item_error(gone)["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"


# -- 6. updateOnly, query and header sizes ----------------------------------------------------
def test_update_only_upsert_never_creates_from_v61(emulator, api):
    path = "/sobjects/Lead/Crmsync_Ref__c/ref-9"
    v61 = "/services/data/v61.0"
    refused = api.patch(f"{v61}{path}", params={"updateOnly": "true"}, json=LEAD)
    assert refused.status_code == 404 and first_error(refused)["errorCode"] == "NOT_FOUND"
    assert emulator.records["Lead"] == {}
    # v60 does not know the parameter: the upsert creates.
    created = api.patch(f"{V}{path}", params={"updateOnly": "true"}, json=LEAD)
    assert created.status_code == 201
    updated = api.patch(f"{v61}{path}", params={"updateOnly": "true"}, json={"Title": "T"})
    assert updated.status_code == 200 and updated.json()["created"] is False


def test_a_string_in_where_past_4000_characters_is_malformed(emulator, api):
    def ask(length: int) -> httpx.Response:
        literal = "x" * (length - len("@example.com")) + "@example.com"
        soql = f"SELECT Id FROM Lead WHERE Email = '{literal}'"
        return api.get(f"{V}/query", params={"q": soql})

    assert ask(4000).status_code == 200
    too_long = ask(4001)
    assert too_long.status_code == 400
    assert first_error(too_long)["errorCode"] == "MALFORMED_QUERY"


def test_headers_past_16_kb_are_431(api):
    answer = api.get(f"{V}/limits", headers={"X-Padding": "p" * 16_400})
    assert answer.status_code == 431
    assert api.get(f"{V}/limits", headers={"X-Padding": "p" * 8_000}).status_code == 200


# -- controls: getDeleted's window, the Recycle Bin, query locators ---------------------------
def test_earliest_date_available_follows_the_emulator_clock(emulator, api):
    def earliest() -> str:
        answer = api.get(
            f"{V}/sobjects/Lead/deleted/",
            params={"start": "2024-04-30T00:00:00Z", "end": "2024-05-01T11:00:00Z"},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["earliestDateAvailable"])

    assert earliest() == "2024-04-16T12:00:00.000+0000"  # FROZEN - 15 days
    emulator.clock.advance(3600)
    assert earliest() == "2024-04-16T13:00:00.000+0000"


def test_a_purged_record_is_gone_but_for_get_deleted(emulator, api):
    keep, gone = emulator.seed("Lead", count=2)
    emulator.clock.advance(60)
    emulator.delete("Lead", gone)
    emulator.clock.advance(60)
    assert emulator.purge_recycle_bin("Lead") == [gone]
    every = api.get(f"{V}/queryAll", params={"q": "SELECT Id FROM Lead"}).json()
    assert [r["Id"] for r in every["records"]] == [keep]
    assert first_error(api.get(f"{V}/sobjects/Lead/{gone}"))["errorCode"] == "NOT_FOUND"
    update = collection(api, "PATCH", [{"attributes": {"type": "Lead"}, "Id": gone, "Title": "T"}])
    assert item_error(update) == {
        "statusCode": "INVALID_CROSS_REFERENCE_KEY",
        "message": "invalid cross reference id",
        "fields": [],
    }
    window = {"start": "2024-05-01T11:00:00Z", "end": "2024-05-01T13:00:00Z"}
    deleted = api.get(f"{V}/sobjects/Lead/deleted/", params=window).json()
    assert [r["id"] for r in deleted["deletedRecords"]] == [gone]
    # The delete log truncated as well: getDeleted forgets, and says from when it knows.
    emulator.clock.advance(60)
    emulator.purge_recycle_bin(forget_deletions=True)
    forgotten = api.get(f"{V}/sobjects/Lead/deleted/", params=window).json()
    assert forgotten["deletedRecords"] == []
    assert forgotten["earliestDateAvailable"] == "2024-05-01T12:03:00.000+0000"


@pytest.mark.parametrize("how", ["control", "two_days"])
def test_a_stale_query_locator_is_invalid_query_locator(emulator, api, how):
    emulator.seed("Lead", count=3)
    emulator.server_page_limit = 1
    first = api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead"}).json()
    next_url = first["nextRecordsUrl"]
    assert api.get(next_url).status_code == 200
    if how == "control":
        emulator.expire_query_locators()
    else:
        emulator.clock.set(FROZEN + dt.timedelta(days=2, seconds=1))
    stale = api.get(next_url)
    assert stale.status_code == 400
    assert first_error(stale)["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_the_request_body_of_a_refused_call_is_still_logged(emulator, api):
    api.post(f"{V}/sobjects/Lead", content=b"[]", headers={"Content-Type": "application/json"})
    (logged,) = emulator.calls("POST", "/sobjects/Lead")
    assert logged.status == 400 and json.loads(logged.body or b"null") == []


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # what JSON can carry
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["attributes", "type", "Id", "LastName", "Company", "OwnerId", "x"]),
        inner,
        max_size=4,
    ),
    max_leaves=8,
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=_JSON)
def test_no_json_body_breaks_a_write_route(emulator, api, body):
    """Whatever JSON arrives, every write route answers (never a dropped connection)."""
    lead = next(iter(emulator.records["Lead"]), None) or emulator.seed("Lead", count=1)[0]
    for method, path, payload in (
        ("POST", f"{V}/sobjects/Lead", body),
        ("PATCH", f"{V}/sobjects/Lead/{lead}", body),
        ("PATCH", f"{V}/sobjects/Lead/Crmsync_Ref__c/fuzz", body),
        ("POST", f"{V}/composite/sobjects", {"allOrNone": False, "records": [body]}),
        ("PATCH", f"{V}/composite/sobjects", {"allOrNone": False, "records": [body]}),
        ("POST", f"{V}/composite/sobjects", body),
    ):
        answer = api.request(method, path, json=payload)
        assert answer.status_code in {200, 201, 204, 400, 404}, (method, path, answer.text)
        if answer.status_code >= 400:
            assert isinstance(answer.json(), list) and "errorCode" in answer.json()[0]
