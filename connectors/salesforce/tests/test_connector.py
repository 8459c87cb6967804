"""The connector against the emulator, through the HTTP seam only."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from crmsync.contract import Cursor, FieldType, WriteRequest
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from crmsync_salesforce import SalesforceConnector, SalesforceSettings

from .conftest import CLIENT_ID, CLIENT_SECRET, FROZEN, USER, make_settings

FIELDS = ["FirstName", "LastName", "Email"]


def read_all(connector, obj, fields, cursor, page_size=200):
    """Follow next_page to the end; returns (records, tombstones, cursors after each page)."""
    records, tombstones, cursors = [], [], []
    page = None
    while True:
        answer = connector.fetch_changed(
            object_name=obj, fields=fields, cursor=cursor, page=page, page_size=page_size
        )
        records += answer.records
        tombstones += answer.tombstones
        cursors.append(answer.cursor)
        if answer.next_page is None:
            return records, tombstones, cursors
        page = answer.next_page


# -- describe ------------------------------------------------------------------------------
def test_description():
    description = SalesforceConnector.describe_connector()
    assert description.id == "salesforce" and description.max_batch_size == 200
    assert description.objects == ("Lead", "Contact")


def test_list_fields(connector):
    fields = {f.name: f for f in connector.list_fields(object_name="Lead")}
    assert fields["LastName"].required_on_create and fields["LastName"].length == 80
    assert fields["Company"].required_on_create
    assert not fields["Status"].required_on_create  # defaulted on create
    assert not fields["HasOptedOutOfEmail"].required_on_create  # boolean
    assert fields["Email"].type is FieldType.EMAIL
    assert (
        fields["Industry"].restricted_picklist and "Banking" in fields["Industry"].picklist_values
    )
    assert fields["NumberOfEmployees"].type is FieldType.INTEGER
    assert fields["AnnualRevenue"].type is FieldType.NUMBER
    assert fields["Interests__c"].type is FieldType.MULTIPICKLIST
    assert fields["Size_Band__c"].read_only and fields["SystemModstamp"].read_only
    # createable but not updateable: a sync cannot keep it in step, so read-only here
    assert fields["IsConverted"].read_only
    assert fields["Id"].type is FieldType.ID
    with pytest.raises(PermanentError) as error:
        connector.list_fields(object_name="Opportunity")
    assert error.value.code == "UNKNOWN_OBJECT"


# -- fetch ---------------------------------------------------------------------------------
def test_feed_with_shared_modstamp_resumes_from_every_cursor(emulator, connector):
    emulator.clock.freeze(FROZEN)
    emulator.seed("Lead", count=450)  # all in one second
    emulator.clock.advance(1)
    emulator.seed("Lead", count=30)
    emulator.server_page_limit = 25
    records, _, cursors = read_all(connector, "Lead", FIELDS, None)
    ids = [r.record_id for r in records]
    assert len(ids) == 480 == len(set(ids))
    assert [(r.modified_at, r.record_id) for r in records] == sorted(
        (r.modified_at, r.record_id) for r in records
    )
    assert len(cursors) == 20
    for index, cursor in enumerate(cursors):
        rest, _, _ = read_all(connector, "Lead", FIELDS, cursor)
        assert [r.record_id for r in rest] == ids[(index + 1) * 25 :], index
    assert "batchSize=200" in emulator.calls("GET", "/queryAll")[0].headers["sforce-query-options"]


def test_cursor_without_record_id_is_inclusive_and_empty_page_keeps_cursor(emulator, connector):
    emulator.seed("Lead", count=2)
    emulator.clock.advance(10)
    (late,) = emulator.seed("Lead", count=1)
    moment = FROZEN + dt.timedelta(seconds=10)
    answer = connector.fetch_changed(
        object_name="Lead",
        fields=FIELDS,
        cursor=Cursor(modified_at=moment),
        page=None,
        page_size=2000,
    )
    assert [r.record_id for r in answer.records] == [late]
    assert answer.cursor == Cursor(modified_at=moment, record_id=late)
    empty = connector.fetch_changed(
        object_name="Lead", fields=FIELDS, cursor=answer.cursor, page=None, page_size=2000
    )
    assert empty.records == () and empty.cursor == answer.cursor and empty.next_page is None


def test_values_are_canonical(emulator, connector):
    emulator.seed(
        "Lead",
        [
            {
                "LastName": "A",
                "Company": "C",
                "Interests__c": "Email;Webinar",
                "Last_Webinar__c": "2024-04-30",
                "Score_Changed_At__c": "2024-04-30T10:00:00.000+0000",
                "NumberOfEmployees": 12,
                "AnnualRevenue": 2500000.0,
                "HasOptedOutOfEmail": True,
            }
        ],
    )
    fields = [
        "Interests__c",
        "Last_Webinar__c",
        "Score_Changed_At__c",
        "NumberOfEmployees",
        "AnnualRevenue",
        "HasOptedOutOfEmail",
        "Email",
        "LastName",
    ]
    (record,) = connector.fetch_changed(
        object_name="Lead", fields=fields, cursor=None, page=None, page_size=2000
    ).records
    assert record.values == {
        "Interests__c": ["Email", "Webinar"],
        "Last_Webinar__c": dt.date(2024, 4, 30),
        "Score_Changed_At__c": dt.datetime(2024, 4, 30, 10, tzinfo=dt.UTC),
        "NumberOfEmployees": 12,
        "AnnualRevenue": 2500000.0,
        "HasOptedOutOfEmail": True,
        "Email": None,
        "LastName": "A",
    }
    assert record.modified_at == FROZEN and len(record.record_id) == 18


def test_conversion_merge_and_delete_in_the_feed(emulator, connector):
    lead, loser, survivor, gone = emulator.seed("Lead", count=4)
    first = connector.fetch_changed(
        object_name="Lead", fields=FIELDS, cursor=None, page=None, page_size=2000
    )
    emulator.clock.advance(60)
    contact = emulator.convert_lead(lead)
    emulator.merge(survivor, [loser])
    emulator.delete("Lead", gone)
    page = connector.fetch_changed(
        object_name="Lead", fields=FIELDS, cursor=first.cursor, page=None, page_size=2000
    )
    by_id = {r.record_id: r for r in page.records}
    assert by_id[lead].converted_to is not None
    assert by_id[lead].converted_to.object_name == "Contact"
    assert by_id[lead].converted_to.record_id == contact
    assert by_id[survivor].converted_to is None
    tombstones = {t.record_id: t for t in page.tombstones}
    assert tombstones[loser].merged_into == survivor
    assert tombstones[gone].merged_into is None
    assert tombstones[gone].deleted_at == FROZEN + dt.timedelta(seconds=60)
    soql = emulator.calls("GET", "/queryAll")[-1].query["q"]
    assert "IsConverted" in soql and "ConvertedContactId" in soql and "MasterRecordId" in soql


def test_bad_page_token_and_field_name_are_refused(connector):
    with pytest.raises(PermanentError):
        connector.fetch_changed(
            object_name="Lead",
            fields=FIELDS,
            cursor=None,
            page="https://evil.test/x",
            page_size=200,
        )
    with pytest.raises(PermanentError) as error:
        connector.fetch_changed(
            object_name="Lead",
            fields=["Email FROM User --"],
            cursor=None,
            page=None,
            page_size=200,
        )
    assert error.value.code == "INVALID_FIELD"


def test_unknown_field_is_permanent_with_field(connector):
    with pytest.raises(PermanentError) as error:
        connector.fetch_changed(
            object_name="Lead", fields=["Nope__c"], cursor=None, page=None, page_size=200
        )
    assert error.value.code == "INVALID_FIELD" and error.value.field == "Nope__c"


# -- push ------------------------------------------------------------------------------------
def creates(n, **values):
    return [
        WriteRequest(
            ref=f"r{i}", op="create", values={"LastName": f"L{i}", "Company": "C", **values}
        )
        for i in range(n)
    ]


def test_push_200_creates_is_one_call(emulator, connector):
    results = connector.push_updates(object_name="Lead", requests=creates(200))
    assert len(emulator.calls("POST", "/composite/sobjects")) == 1
    assert all(r.ok and r.record_id and len(r.record_id) == 18 for r in results)
    assert [r.ref for r in results] == [f"r{i}" for i in range(200)]
    body = emulator.calls("POST", "/composite/sobjects")[0].json_body()
    assert body["allOrNone"] is False and body["records"][0]["attributes"] == {"type": "Lead"}


def test_push_201_is_split(emulator, connector):
    results = connector.push_updates(object_name="Lead", requests=creates(201))
    assert [len(c.json_body()["records"]) for c in emulator.calls("POST", "/composite")] == [200, 1]
    assert all(r.ok for r in results)


def test_push_mix_is_two_calls_in_input_order_with_item_errors(emulator, connector):
    a, b = emulator.seed("Lead", count=2)
    emulator.convert_lead(b)
    requests = [
        WriteRequest(ref="new-ok", op="create", values={"LastName": "N", "Company": "C"}),
        WriteRequest(ref="upd-ok", op="update", record_id=a[:15], values={"Title": "CTO"}),
        WriteRequest(ref="new-bad", op="create", values={"LastName": "N"}),
        WriteRequest(ref="upd-conv", op="update", record_id=b, values={"Title": "CTO"}),
        WriteRequest(ref="new-long", op="create", values={"LastName": "x" * 81, "Company": "C"}),
    ]
    results = connector.push_updates(object_name="Lead", requests=requests)
    assert [r.ref for r in results] == [r.ref for r in requests]
    assert len(emulator.calls("POST", "/composite/sobjects")) == 1
    assert len(emulator.calls("PATCH", "/composite/sobjects")) == 1
    assert results[0].ok and results[1].ok and results[1].record_id == a
    assert results[2].error.code == "REQUIRED_FIELD_MISSING"
    assert results[2].error.field == "Company" and not results[2].error.retryable
    assert results[3].error.code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert results[4].error.code == "STRING_TOO_LONG" and results[4].error.field == "LastName"
    assert emulator.get("Lead", a)["Title"] == "CTO"


def test_a_value_salesforce_could_not_read_fails_only_its_own_record(emulator, connector):
    # Salesforce refuses a whole sObject Collections call for one unreadable value;
    # the connector refuses that record alone and sends the others.
    requests = [
        WriteRequest(ref="ok", op="create", values={"LastName": "A", "Company": "C"}),
        WriteRequest(
            ref="text-for-int",
            op="create",
            values={"LastName": "B", "Company": "C", "NumberOfEmployees": "many"},
        ),
        WriteRequest(ref="no-such-field", op="create", values={"LastName": "C", "Bogus__c": "x"}),
        WriteRequest(
            ref="numeric-text",
            op="create",
            values={"LastName": "D", "Company": "C", "NumberOfEmployees": "12"},
        ),
    ]
    results = connector.push_updates(object_name="Lead", requests=requests)
    assert [r.ref for r in results] == [r.ref for r in requests]
    assert results[0].ok and results[3].ok
    assert (results[1].error.code, results[1].error.field) == (
        "JSON_PARSER_ERROR",
        "NumberOfEmployees",
    )
    assert (results[2].error.code, results[2].error.field) == ("INVALID_FIELD", "Bogus__c")
    assert not results[1].error.retryable and not results[2].error.retryable
    (sent,) = emulator.calls("POST", "/composite/sobjects")
    assert len(sent.json_body()["records"]) == 2
    assert len(emulator.records["Lead"]) == 2


@pytest.fixture
def reading_back(emulator):
    conn = SalesforceConnector(
        settings=make_settings(read_back_stamps=True), transport=emulator.transport()
    )
    conn.authenticate()
    yield conn
    conn.close()


def test_writes_cost_one_call_per_200_records_by_default(emulator, connector):
    requests = [
        WriteRequest(ref=f"c{n}", op="create", values={"LastName": f"N{n}", "Company": "C"})
        for n in range(200)
    ]
    results = connector.push_updates(object_name="Lead", requests=requests)
    assert all(r.ok and r.modified_at is None for r in results)
    assert emulator.calls("GET", "/query") == []


def test_push_reads_stamps_back_in_one_query_per_chunk(emulator, reading_back):
    requests = [
        WriteRequest(ref=f"c{n}", op="create", values={"LastName": f"N{n}", "Company": "C"})
        for n in range(200)
    ]
    results = reading_back.push_updates(object_name="Lead", requests=requests)
    assert all(r.ok and r.modified_at == FROZEN for r in results)
    assert len(emulator.calls("GET", "/query")) == 1  # 200 ids fit one URI


def test_push_read_back_failure_never_fails_the_written_batch(emulator, reading_back):
    connector = reading_back
    emulator.faults.inject("server_error", status=503, path_contains="/query")
    (result,) = connector.push_updates(
        object_name="Lead",
        requests=[WriteRequest(ref="c", op="create", values={"LastName": "N", "Company": "C"})],
    )
    # Raising would make the framework repeat the batch and create the lead twice.
    assert result.ok and result.record_id and result.modified_at is None
    assert len(emulator.records["Lead"]) == 1


def test_push_wire_formats_and_auto_assign_setting(emulator):
    connector = SalesforceConnector(
        settings=make_settings(auto_assign=False), transport=emulator.transport()
    )
    connector.authenticate()
    (result,) = connector.push_updates(
        object_name="Lead",
        requests=[
            WriteRequest(
                ref="r",
                op="create",
                values={
                    "LastName": "W",
                    "Company": "C",
                    "Interests__c": ["Email", "Events"],
                    "Last_Webinar__c": dt.date(2024, 5, 2),
                    "Score_Changed_At__c": dt.datetime(
                        2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))
                    ),
                    "Phone": None,
                },
            )
        ],
    )
    call = emulator.calls("POST", "/composite/sobjects")[0]
    sent = call.json_body()["records"][0]
    assert sent["Interests__c"] == "Email;Events"
    assert sent["Last_Webinar__c"] == "2024-05-02"
    assert sent["Score_Changed_At__c"] == "2024-05-01T12:00:00.000+0000"
    assert sent["Phone"] is None
    assert call.headers["sforce-auto-assign"] == "FALSE"
    assert emulator.get("Lead", result.record_id)["Interests__c"] == "Email;Events"


def test_updating_a_deleted_record_reports_it_missing(emulator, connector):
    (lead,) = emulator.seed("Lead", count=1)
    emulator.delete("Lead", lead)
    (result,) = connector.push_updates(
        object_name="Lead",
        requests=[WriteRequest(ref="u", op="update", record_id=lead, values={"Title": "X"})],
    )
    assert result.error.code == "ENTITY_IS_DELETED" and result.error.missing


def test_row_lock_item_is_retryable(emulator, connector):
    emulator.faults.inject("row_lock")
    results = connector.push_updates(object_name="Lead", requests=creates(2))
    assert results[0].error.code == "UNABLE_TO_LOCK_ROW" and results[0].error.retryable
    assert results[1].ok


# -- failures ----------------------------------------------------------------------------------
def test_session_expiry_mid_way(emulator, connector):
    emulator.seed("Lead", count=3)
    emulator.expire_sessions()
    with pytest.raises(AuthenticationExpired):
        connector.fetch_changed(
            object_name="Lead", fields=FIELDS, cursor=None, page=None, page_size=200
        )
    connector.authenticate()
    answer = connector.fetch_changed(
        object_name="Lead", fields=FIELDS, cursor=None, page=None, page_size=200
    )
    assert len(answer.records) == 3


# Without Retry-After the framework's capped, jittered backoff decides (issue 12): None.
@pytest.mark.parametrize(("status", "header", "expected"), [(403, None, None), (429, 7, 7.0)])
def test_rate_limit_raises_without_sleeping(emulator, connector, status, header, expected):
    emulator.faults.inject("rate_limit", status=status, retry_after=header)
    started = time.perf_counter()
    with pytest.raises(RateLimited) as error:
        connector.push_updates(object_name="Lead", requests=creates(1))
    assert time.perf_counter() - started < 0.5
    assert error.value.retry_after == expected


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(emulator, connector, status):
    emulator.faults.inject("server_error", status=status)
    with pytest.raises(TransientError):
        connector.list_fields(object_name="Contact")


def test_network_failures_are_transient(emulator, connector):
    emulator.faults.inject("dropped_connection")
    with pytest.raises(TransientError):
        connector.list_fields(object_name="Lead")
    emulator.faults.inject("slow", timeout=True)
    with pytest.raises(TransientError):
        connector.list_fields(object_name="Contact")


def test_a_spent_daily_allocation_stops_rather_than_backs_off(emulator, connector):
    emulator.daily_limit = emulator.api_usage
    with pytest.raises(QuotaExhausted, match="TotalRequests"):
        connector.list_fields(object_name="Lead")


def test_a_concurrency_limit_is_rate_limited(emulator, connector):
    emulator.faults.inject("rate_limit", status=403)
    with pytest.raises(RateLimited):
        connector.list_fields(object_name="Lead")


def test_retired_version_is_permanent(emulator):
    connector = SalesforceConnector(
        settings=make_settings(api_version="v30.0"), transport=emulator.transport()
    )
    connector.authenticate()
    with pytest.raises(PermanentError) as error:
        connector.list_fields(object_name="Lead")
    assert "api_version" in str(error.value)


# -- lookup, budget ----------------------------------------------------------------------------
def test_lookup_by_email_with_quotes(emulator, connector):
    lead, converted, _ = emulator.seed(
        "Lead",
        [
            {"LastName": "OB", "Company": "C", "Email": "o'brien@example.com"},
            {"LastName": "Conv", "Company": "C", "Email": "conv@example.com"},
            {"LastName": "Other", "Company": "C", "Email": "other@example.com"},
        ],
    )
    emulator.convert_lead(converted)
    found = connector.lookup_records(
        object_name="Lead",
        field="Email",
        values=[" O'Brien@Example.com ", "conv@example.com", "back\\slash@x.com"],
        fields=["Email", "LastName"],
    )
    assert [(r.record_id, r.values["LastName"]) for r in found] == [(lead, "OB")]
    soql = emulator.calls("GET", "/query")[-1].query["q"]
    assert "'O\\'Brien@Example.com'" in soql and "'back\\\\slash@x.com'" in soql
    assert "IsConverted = false" in soql


def test_lookup_chunks_long_value_lists(emulator, connector):
    emails = [f"person{i:04d}@a-rather-long-domain.example.com" for i in range(300)]
    emulator.seed("Contact", [{"LastName": "P", "Email": e} for e in emails[:5]])
    found = connector.lookup_records(
        object_name="Contact", field="Email", values=emails, fields=["Email"]
    )
    assert len(found) == 5
    calls = emulator.calls("GET", "/query")
    assert len(calls) > 1 and all(len(c.query["q"]) < 4000 for c in calls)


def test_budget(emulator):
    connector = SalesforceConnector(
        settings=make_settings(api_budget_share=0.25), transport=emulator.transport()
    )
    assert connector.api_budget() is None
    connector.authenticate()
    connector.list_fields(object_name="Lead")
    budget = connector.api_budget()
    assert (budget.used, budget.limit, budget.allowed) == (1, 15000, 3750)
    requests_before = len(emulator.requests)
    connector.api_budget()
    assert len(emulator.requests) == requests_before


def test_budget_reading_goes_stale(emulator):
    now = [1_000_000.0]
    connector = SalesforceConnector(
        settings=make_settings(), transport=emulator.transport(), clock=lambda: now[0]
    )
    connector.authenticate()
    connector.list_fields(object_name="Lead")
    now[0] += 300
    assert connector.api_budget() is not None
    now[0] += 1  # the rolling window moved on: unknown, so the next call may look again
    assert connector.api_budget() is None
    connector.list_fields(object_name="Contact")
    assert connector.api_budget().used == 2


# -- auth flows and secrets --------------------------------------------------------------------
def test_jwt_flow(emulator, rsa_pem, tmp_path):
    key_file = tmp_path / "key.pem"
    key_file.write_text(rsa_pem[0])
    for key in ({"private_key": rsa_pem[0]}, {"private_key_file": str(key_file)}):
        connector = SalesforceConnector(
            settings=make_settings(auth_flow="jwt", username=USER, client_secret=None, **key),
            transport=emulator.transport(),
        )
        connector.authenticate()
        assert connector.list_fields(object_name="Lead")
    form = emulator.calls("POST", "/oauth2/token")[-1].body.decode()
    assert "jwt-bearer" in form


def test_refresh_token_flow(emulator):
    refresh = emulator.issue_refresh_token(CLIENT_ID, USER)
    connector = SalesforceConnector(
        settings=make_settings(
            auth_flow="refresh_token", refresh_token=refresh, client_secret=None
        ),
        transport=emulator.transport(),
    )
    connector.authenticate()
    assert connector.list_fields(object_name="Contact")


def test_a_rotated_refresh_token_is_used_for_the_next_renewal(emulator):
    emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET, rotate_refresh_tokens=True)
    first = emulator.issue_refresh_token(CLIENT_ID, USER)
    connector = SalesforceConnector(
        settings=make_settings(auth_flow="refresh_token", refresh_token=first, client_secret=None),
        transport=emulator.transport(),
    )
    for _ in range(3):  # each renewal revokes the token it used
        emulator.expire_sessions()
        connector.authenticate()
        assert connector.list_fields(object_name="Lead")
    assert emulator.token_requests == 3


def test_a_rotated_refresh_token_is_saved_to_its_file(emulator, tmp_path):
    emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET, rotate_refresh_tokens=True)
    token_file = tmp_path / "salesforce.token"
    token_file.write_text(emulator.issue_refresh_token(CLIENT_ID, USER) + "\n")
    settings = make_settings(
        auth_flow="refresh_token", refresh_token_file=str(token_file), client_secret=None
    )
    SalesforceConnector(settings=settings, transport=emulator.transport()).authenticate()
    saved = token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600
    # A restarted process reads the rotated token and renews with it.
    restarted = SalesforceConnector(settings=settings, transport=emulator.transport())
    restarted.authenticate()
    assert restarted.list_fields(object_name="Lead")
    assert token_file.read_text().strip() != saved
    assert [p.name for p in tmp_path.iterdir()] == ["salesforce.token"]  # no temp left


def test_an_unreadable_refresh_token_file_is_a_clear_error(emulator, tmp_path):
    missing = tmp_path / "nope.token"
    connector = SalesforceConnector(
        settings=make_settings(
            auth_flow="refresh_token", refresh_token_file=str(missing), client_secret=None
        ),
        transport=emulator.transport(),
    )
    with pytest.raises(AuthenticationFailed, match="cannot read refresh_token_file"):
        connector.authenticate()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"login_url": "http://login.example.com"}, "must use https"),
        (
            {"login_url": "https://login.salesforce.com"},
            "needs your org's My Domain login url",
        ),
        (
            {"login_url": "https://test.salesforce.com"},
            "needs your org's My Domain login url",
        ),
    ],
)
def test_login_urls_salesforce_would_refuse_are_refused_early(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_settings(**overrides)


def test_plain_http_is_accepted_for_a_loopback_emulator():
    assert make_settings(login_url="http://127.0.0.1:8080").login_url == "http://127.0.0.1:8080"


def test_the_request_log_keeps_no_token_request_secret(emulator, connector):
    form = emulator.calls("POST", "/oauth2/token")[-1].body.decode()
    assert CLIENT_SECRET not in form and "client_secret=%2A%2A%2A" in form


def test_refused_credentials(emulator):
    connector = SalesforceConnector(
        settings=make_settings(client_secret="wrong-secret-value"), transport=emulator.transport()
    )
    with pytest.raises(AuthenticationFailed) as error:
        connector.authenticate()
    assert "invalid_client" in str(error.value)
    assert "wrong-secret-value" not in str(error.value)


def test_token_endpoint_outage_is_transient(emulator):
    connector = SalesforceConnector(settings=make_settings(), transport=emulator.transport())
    emulator.faults.inject("server_error", path_contains="/oauth2/token")
    with pytest.raises(TransientError):
        connector.authenticate()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth_flow": "jwt", "client_id": "c"}, "username"),
        ({"auth_flow": "jwt", "client_id": "c", "username": "u"}, "private_key"),
        ({"auth_flow": "client_credentials", "client_id": "c"}, "client_secret"),
        ({"auth_flow": "refresh_token", "client_id": "c"}, "refresh_token"),
        ({"auth_flow": "client_credentials", "client_secret": "s"}, "client_id"),
        ({"client_id": "c", "username": "u", "private_key": "k", "api_version": "60"}, "v60.0"),
        ({"client_id": "c", "username": "u", "private_key": "k", "page_size": 50}, "200"),
    ],
)
def test_settings_validation(values, message):
    with pytest.raises(ValueError, match=message):
        SalesforceSettings(**values)


def test_settings_come_from_a_dotenv_file_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "CRMSYNC_SALESFORCE_AUTH_FLOW=client_credentials\n"
        "CRMSYNC_SALESFORCE_LOGIN_URL=https://acme.my.salesforce.com\n"
        "CRMSYNC_SALESFORCE_CLIENT_ID=from-dotenv\n"
        "CRMSYNC_SALESFORCE_CLIENT_SECRET=s3cret-from-dotenv\n"
    )
    settings = SalesforceSettings()
    assert settings.client_id == "from-dotenv"
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == "s3cret-from-dotenv"
    assert "s3cret-from-dotenv" not in repr(settings)


def test_secrets_never_shown(emulator, rsa_pem):
    settings = make_settings(
        auth_flow="jwt", username=USER, private_key=rsa_pem[0], refresh_token="rt-secret-value"
    )
    connector = SalesforceConnector(settings=settings, transport=emulator.transport())
    connector.authenticate()
    shown = repr(settings) + str(settings) + repr(connector)
    for secret in (CLIENT_SECRET, "rt-secret-value", "PRIVATE KEY", rsa_pem[0][40:80]):
        assert secret not in shown
    session_token = emulator.calls("POST", "/oauth2/token")[-1]
    assert session_token.status == 200
    emulator.expire_sessions()
    errors = []
    for call in (
        lambda: connector.list_fields(object_name="Lead"),
        lambda: SalesforceConnector(
            settings=make_settings(client_secret="nope-nope-nope"), transport=emulator.transport()
        ).authenticate(),
    ):
        with pytest.raises(Exception) as error:
            call()
        errors.append(str(error.value) + repr(error.value))
    for text in errors:
        assert "Bearer" not in text and "!AQ" not in text
        assert CLIENT_SECRET not in text and "nope-nope-nope" not in text
