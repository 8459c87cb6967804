"""The connector's requests and its reading of Zoho's answers, at the HTTP seam (the
emulator's transport): what goes on the wire is what the fact sheet documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from crmsync.authoring import TokenCache
from crmsync.contract import FieldType, WriteRequest
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    OutcomeUnknown,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from crmsync_zoho import ZohoConnector, ZohoSettings, exchange_grant_code
from crmsync_zoho.emulator import ZohoEmulator

from .conftest import CLIENT_ID, CLIENT_SECRET, make_emulator, make_settings


def _connector(emulator: ZohoEmulator, refresh: str, **settings: Any) -> ZohoConnector:
    conn = ZohoConnector(make_settings(refresh, **settings), transport=emulator.transport(),
                         clock=emulator.clock.timestamp)
    conn.authenticate()
    return conn


def _read_all(conn: ZohoConnector, module: str, fields: list[str], page_size: int,
              cursor: Any = None) -> list[Any]:
    pages = []
    page = None
    while True:
        answer = conn.fetch_changed(module, fields, cursor, page, page_size)
        pages.append(answer)
        page = answer.next_page
        if page is None:
            return pages


# -- auth and hosts -----------------------------------------------------------------------------
def test_each_data_centre_has_its_accounts_server_and_calls_go_to_api_domain() -> None:
    emulator, refresh = make_emulator(accounts_host="accounts.zohocloud.ca",
                                      api_domain="https://www.zohoapis.ca")
    conn = _connector(emulator, refresh, data_centre="ca")
    conn.list_fields("Leads")
    token, fields = emulator.requests[-2:]
    assert (token.method, token.path) == ("POST", "/oauth/v2/token")
    assert token.form()["grant_type"] == "refresh_token"
    assert fields.headers["host"] == "www.zohoapis.ca"
    assert fields.headers["authorization"] == "Zoho-oauthtoken ***"
    assert (fields.path, fields.query) == ("/crm/v8/settings/fields", {"module": "Leads"})


def test_a_wrong_data_centre_is_refused_with_a_hint() -> None:
    emulator, refresh = make_emulator()  # a US org
    conn = ZohoConnector(make_settings(refresh, data_centre="eu"),
                         transport=emulator.transport())
    with pytest.raises(AuthenticationFailed, match="invalid_client") as caught:
        conn.authenticate()
    assert "data_centre" in str(caught.value)


def test_a_revoked_refresh_token_is_refused() -> None:
    emulator, refresh = make_emulator()
    emulator.revoke(refresh)
    conn = ZohoConnector(make_settings(refresh), transport=emulator.transport())
    with pytest.raises(AuthenticationFailed, match="invalid_code"):
        conn.authenticate()


def test_token_endpoint_throttling_is_a_rate_limit_without_delay() -> None:
    emulator, refresh = make_emulator()
    emulator.faults.inject("token_throttle", path_contains="/oauth/v2/token")
    conn = ZohoConnector(make_settings(refresh), transport=emulator.transport())
    with pytest.raises(RateLimited) as caught:
        conn.authenticate()
    assert caught.value.retry_after is None
    conn.authenticate()  # the next try goes through


def test_an_api_domain_off_zoho_never_gets_a_token() -> None:
    emulator, refresh = make_emulator(api_domain="https://www.zohoapis.com.evil.example")
    conn = ZohoConnector(make_settings(refresh), transport=emulator.transport())
    with pytest.raises(PermanentError, match="api_domain"):
        conn.authenticate()
    assert all(r.path.startswith("/oauth/") for r in emulator.requests)


def test_an_expired_token_is_authentication_expired_then_renewed() -> None:
    emulator, refresh = make_emulator()
    conn = _connector(emulator, refresh)
    emulator.expire_tokens()
    with pytest.raises(AuthenticationExpired):
        conn.list_fields("Leads")
    conn.authenticate()
    assert conn.list_fields("Leads")


def test_the_token_is_cached_for_its_hour() -> None:
    emulator, refresh = make_emulator()
    conn = _connector(emulator, refresh)
    for _ in range(3):
        conn.fetch_changed("Leads", ["Email"], None, None, 10)
    assert emulator.token_requests == 1
    emulator.clock.advance(3600)
    conn.fetch_changed("Leads", ["Email"], None, None, 10)
    assert emulator.token_requests == 2  # renewed before expiry, not after a 401


def test_a_new_process_uses_the_token_an_earlier_one_kept(tmp_path: Path) -> None:
    emulator, refresh = make_emulator()
    kept = TokenCache.for_connection(tmp_path, connector="zoho",
                                     settings=make_settings(refresh), seconds=600,
                                     clock=emulator.clock.timestamp)

    def process() -> ZohoConnector:
        return ZohoConnector(make_settings(refresh), transport=emulator.transport(),
                             clock=emulator.clock.timestamp, token_cache=kept)

    process().authenticate()
    second = process()
    second.authenticate()  # Zoho allows 10 tokens per 10 minutes: none spent here
    assert second.list_fields("Leads")
    assert emulator.token_requests == 1
    (path,) = tmp_path.iterdir()
    assert path.name.endswith("-token-refresh_token.bin")
    assert refresh.encode() not in path.read_bytes()
    emulator.expire_tokens()  # revoked before the next process: renewed once
    third = process()
    third.authenticate()
    with pytest.raises(AuthenticationExpired):
        third.list_fields("Leads")
    third.authenticate()
    assert third.list_fields("Leads")
    assert emulator.token_requests == 2


def test_grant_code_exchange_returns_the_refresh_token() -> None:
    emulator, _ = make_emulator()
    code = emulator.issue_grant_code(CLIENT_ID)
    refresh = exchange_grant_code("https://accounts.zoho.com", CLIENT_ID, CLIENT_SECRET, code,
                                  transport=emulator.transport())
    assert _connector(emulator, refresh).list_fields("Contacts")
    with pytest.raises(AuthenticationFailed, match="invalid_code"):
        exchange_grant_code("https://accounts.zoho.com", CLIENT_ID, CLIENT_SECRET, code,
                            transport=emulator.transport())


# -- settings -------------------------------------------------------------------------------------
def test_settings_are_checked_and_secrets_stay_hidden(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CRMSYNC_ZOHO_REFRESH_TOKEN"):
        ZohoSettings(client_id="1000.A", client_secret="s")
    with pytest.raises(ValidationError, match="not on a Zoho accounts domain"):
        ZohoSettings(client_id="1000.A", client_secret="s", refresh_token="r",
                     accounts_url="https://accounts.zoho.com.evil.io")
    with pytest.raises(ValidationError, match="https"):
        ZohoSettings(client_id="1000.A", client_secret="s", refresh_token="r",
                     accounts_url="http://accounts.zoho.com")
    with pytest.raises(ValidationError, match="data_centre"):
        ZohoSettings(client_id="1000.A", client_secret="s", refresh_token="r",
                     data_centre="uk")  # type: ignore[arg-type]
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("CRMSYNC_ZOHO_CLIENT_ID", "1000.ENV")
    monkeypatch.setenv("CRMSYNC_ZOHO_CLIENT_SECRET_FILE", str(secret))
    monkeypatch.setenv("CRMSYNC_ZOHO_REFRESH_TOKEN", "1000.refresh.value")
    monkeypatch.setenv("CRMSYNC_ZOHO_TRIGGERS", '["workflow", "approval"]')
    settings = ZohoSettings()  # type: ignore[call-arg]
    assert settings.secret().get_secret_value() == "from-a-file"
    assert settings.triggers == ("workflow", "approval")
    assert settings.accounts == "https://accounts.zoho.com"
    conn = ZohoConnector(settings)
    assert "from-a-file" not in repr(conn) + repr(settings) + repr(conn.auth)
    assert "1000.refresh.value" not in repr(settings)
    conn.close()


# -- metadata ------------------------------------------------------------------------------------
def test_field_metadata_maps_to_field_specs(connector: ZohoConnector) -> None:
    specs = {s.name: s for s in connector.list_fields("Leads")}
    assert specs["Last_Name"].required_on_create and specs["Last_Name"].length == 80
    assert not specs["First_Name"].required_on_create
    assert specs["Full_Name"].read_only and specs["Modified_Time"].read_only
    assert specs["Email"].type is FieldType.EMAIL and specs["Email"].length == 100
    assert specs["Lead_Source"].type is FieldType.PICKLIST
    assert "Web Form" in specs["Lead_Source"].picklist_values
    assert "-None-" not in specs["Lead_Source"].picklist_values
    assert not specs["Lead_Source"].restricted_picklist  # Zoho accepts other values
    assert specs["Converted_Contact"].type is FieldType.REFERENCE
    assert specs["Converted_Contact"].read_only
    assert specs["Email_Opt_Out"].type is FieldType.BOOLEAN
    assert specs["Annual_Revenue"].type is FieldType.NUMBER
    with pytest.raises(PermanentError, match=r"no object"):
        connector.list_fields("Deals")


# -- the feed --------------------------------------------------------------------------------------
def test_the_feed_request_is_the_documented_incremental_read(emulator: ZohoEmulator,
                                                            connector: ZohoConnector) -> None:
    emulator.seed("Leads", [{"Last_Name": "A", "Email": "a@example.com"}])
    (page,) = _read_all(connector, "Leads", ["Email", "Last_Name"], 50)
    emulator.clock.advance(10)
    mark = len(emulator.log)
    _read_all(connector, "Leads", ["Email", "Last_Name"], 50, page.cursor)
    (read,) = [r for r in emulator.requests[mark:] if r.path == "/crm/v8/Leads"]
    assert read.query == {
        "fields": "Email,Last_Name,Modified_Time,Converted_Contact",
        "sort_by": "Modified_Time", "sort_order": "asc", "per_page": "200",
        "converted": "both", "page": "1",
    }
    since = read.headers["if-modified-since"]
    assert dt.datetime.fromisoformat(since) == page.cursor.modified_at.replace(microsecond=0)
    assert since.endswith("+00:00")
    deleted = [r for r in emulator.requests[mark:] if r.path == "/crm/v8/Leads/deleted"]
    assert deleted and deleted[0].query["type"] == "all"
    assert deleted[0].headers["if-modified-since"]


def test_more_than_50_fields_are_refused_with_a_reason(connector: ZohoConnector) -> None:
    fields = [f"Field_{n}" for n in range(49)]  # + Modified_Time, Converted_Contact
    with pytest.raises(PermanentError, match="at most 50") as caught:
        connector.fetch_changed("Leads", fields, None, None, 10)
    assert caught.value.code == "LIMIT_EXCEEDED"


def test_ties_wider_than_a_vendor_page_come_back_in_id_order_once() -> None:
    emulator, refresh = make_emulator()
    conn = _connector(emulator, refresh, page_size=3)
    emulator.clock.advance(1)
    tied = emulator.seed("Leads", [{"Last_Name": f"T{n}"} for n in range(8)])
    emulator.clock.advance(1)
    later = emulator.seed("Leads", [{"Last_Name": f"U{n}"} for n in range(4)])
    mark = len(emulator.log)
    pages = _read_all(conn, "Leads", ["Last_Name"], 2)
    keys = [(r.modified_at, r.record_id) for p in pages for r in p.records]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == 12
    assert [k[1] for k in keys] == sorted(tied) + sorted(later)
    reads = [r.query for r in emulator.requests[mark:] if r.path == "/crm/v8/Leads"]
    # Within the tied second Zoho is paged (page 2, 3...); past it the read restarts
    # at the new second (If-Modified-Since) rather than trusting an offset.
    assert [q["page"] for q in reads][:3] == ["1", "2", "3"]
    for index, page in enumerate(pages[:-1]):  # resume from any cursor: nothing lost
        rest = [r.record_id for p in _read_all(conn, "Leads", ["Last_Name"], 2, page.cursor)
                for r in p.records]
        expected = [r.record_id for p in pages[index + 1:] for r in p.records]
        assert rest == expected


@pytest.mark.slow
def test_past_2000_records_in_one_second_the_read_goes_on_with_page_token() -> None:
    emulator, refresh = make_emulator()
    conn = _connector(emulator, refresh)
    ids = emulator.seed("Leads", [{"Last_Name": f"B{n}"} for n in range(2050)])
    mark = len(emulator.log)
    pages = _read_all(conn, "Leads", ["Last_Name"], 200)
    got = [r.record_id for p in pages for r in p.records]
    assert sorted(got) == sorted(ids) and len(got) == 2050
    reads = [r.query for r in emulator.requests[mark:] if r.path == "/crm/v8/Leads"]
    assert [q.get("page") for q in reads[:10]] == [str(n) for n in range(1, 11)]
    assert "page_token" in reads[10] and "page" not in reads[10]
    assert len(reads) == 11  # one call per 200 records: the minimum


def test_a_converted_lead_names_its_contact(emulator: ZohoEmulator,
                                            connector: ZohoConnector) -> None:
    (lead,) = emulator.seed("Leads", [{"Last_Name": "C", "Email": "c@example.com"}])
    contact = emulator.convert_lead(lead)
    (record,) = [r for p in _read_all(connector, "Leads", ["Email"], 10) for r in p.records]
    assert record.converted_to is not None
    assert (record.converted_to.object_name, record.converted_to.record_id) == (
        "Contacts", contact)
    assert connector.lookup_records("Leads", "Email", ["c@example.com"], ["Email"],
                                    None).records == ()
    (found,) = connector.lookup_records("Contacts", "Email", ["C@example.com "], ["Email"],
                                        None).records
    assert found.record_id == contact


def test_deletions_come_as_tombstones_in_feed_order(emulator: ZohoEmulator,
                                                    connector: ZohoConnector) -> None:
    ids = emulator.seed("Leads", [{"Last_Name": f"D{n}"} for n in range(3)])
    start = _read_all(connector, "Leads", ["Last_Name"], 10)[-1].cursor
    emulator.clock.advance(5)
    emulator.delete("Leads", ids[0])
    emulator.clock.advance(5)
    emulator.edit("Leads", ids[1], {"First_Name": "Later"})
    pages = _read_all(connector, "Leads", ["Last_Name"], 1, start)
    order = [t.record_id for p in pages for t in p.tombstones] + [
        r.record_id for p in pages for r in p.records]
    assert order == [ids[0], ids[1]]
    assert pages[0].tombstones and not pages[0].records  # the deletion came first


# -- writes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mixed", [207, 200, 202])
def test_mixed_batch_results_are_read_record_by_record(mixed: int) -> None:
    emulator, refresh = make_emulator(mixed_status=mixed, unique_email=True)
    conn = _connector(emulator, refresh)
    (existing,) = emulator.seed("Leads", [{"Last_Name": "E"}])
    emulator.delete("Leads", existing)
    results = conn.push_updates("Leads", [
        WriteRequest(ref="ok", op="create", values={"Last_Name": "Ok", "Email": "ok@x.io"}),
        WriteRequest(ref="nolast", op="create", values={"First_Name": "No"}),
        WriteRequest(ref="gone", op="update", record_id=existing, values={"Last_Name": "G"}),
        WriteRequest(ref="email", op="create", values={"Last_Name": "B", "Email": "bad"}),
        WriteRequest(ref="unknown", op="create", values={"Last_Name": "U", "Nope__c": 1}),
        WriteRequest(ref="ro", op="create", values={"Last_Name": "R", "Full_Name": "x"}),
        WriteRequest(ref="dup", op="create", values={"Last_Name": "D", "Email": "OK@x.io"}),
    ])
    summary = [(r.ref, r.ok, r.error and (r.error.code, r.error.field, r.error.missing))
               for r in results]
    assert summary == [
        ("ok", True, None),
        ("nolast", False, ("MANDATORY_NOT_FOUND", "Last_Name", False)),
        ("gone", False, ("INVALID_DATA", "id", True)),
        ("email", False, ("INVALID_DATA", "Email", False)),
        ("unknown", False, ("INVALID_FIELD", "Nope__c", False)),
        ("ro", False, ("NOT_ALLOWED", "Full_Name", False)),
        ("dup", False, ("DUPLICATE_DATA", "Email", False)),
    ]
    (call,) = emulator.calls("POST", "/crm/v8/Leads")
    assert call.status == mixed
    assert results[0].record_id in emulator.records["Leads"]
    assert isinstance(results[0].modified_at, dt.datetime)


def test_an_all_failed_batch_answered_400_is_still_per_record(
    emulator: ZohoEmulator, connector: ZohoConnector
) -> None:
    results = connector.push_updates("Leads", [
        WriteRequest(ref=f"r{n}", op="create", values={"First_Name": "x"}) for n in range(2)
    ])
    assert [r.error.code for r in results if r.error] == ["MANDATORY_NOT_FOUND"] * 2
    (call,) = emulator.calls("POST", "/crm/v8/Leads")
    assert call.status == 400


def test_writes_go_in_calls_of_100_updates_first(emulator: ZohoEmulator,
                                                 connector: ZohoConnector) -> None:
    existing = emulator.seed("Leads", [{"Last_Name": f"X{n}"} for n in range(30)])
    requests = [WriteRequest(ref=f"u{n}", op="update", record_id=i, values={"First_Name": "U"})
                for n, i in enumerate(existing)]
    requests += [WriteRequest(ref=f"c{n}", op="create", values={"Last_Name": f"C{n}"})
                 for n in range(70)]
    mark = len(emulator.log)
    results = connector.push_updates("Leads", requests)
    assert all(r.ok for r in results) and [r.ref for r in results] == [q.ref for q in requests]
    writes = [(r.method, len(r.json_body()["data"])) for r in emulator.requests[mark:]
              if r.method in {"POST", "PUT"}]
    assert writes == [("PUT", 30), ("POST", 70)]


def test_a_lost_create_answer_is_outcome_unknown_and_a_lost_update_transient(
    emulator: ZohoEmulator, connector: ZohoConnector
) -> None:
    (lead,) = emulator.seed("Leads", [{"Last_Name": "L"}])
    emulator.faults.inject("dropped_connection", path_contains="/crm/v8/Leads",
                           method="POST", after_commit=True)
    with pytest.raises(OutcomeUnknown):
        connector.push_updates("Leads", [WriteRequest(ref="c", op="create",
                                                      values={"Last_Name": "New"})])
    assert len(emulator.records["Leads"]) == 2  # it was carried out
    emulator.faults.inject("slow", path_contains="/crm/v8/Leads", method="PUT",
                           after_commit=True, timeout=True)
    with pytest.raises(TransientError):
        connector.push_updates("Leads", [WriteRequest(ref="u", op="update", record_id=lead,
                                                      values={"First_Name": "x"})])


def test_rate_limit_and_spent_credits_are_told_apart() -> None:
    emulator, refresh = make_emulator(credit_limit=3)
    conn = _connector(emulator, refresh)
    emulator.faults.inject("rate_limit")
    with pytest.raises(RateLimited) as limited:
        conn.list_fields("Leads")
    assert limited.value.retry_after is None  # Zoho sends no Retry-After: framework backoff
    conn.list_fields("Leads")
    conn.fetch_changed("Contacts", ["Email"], None, None, 10)
    with pytest.raises(QuotaExhausted):
        conn.fetch_changed("Leads", ["Email"], None, None, 10)


def test_ids_are_never_numbers_on_the_wire(emulator: ZohoEmulator,
                                           connector: ZohoConnector) -> None:
    (lead,) = emulator.seed("Leads", [{"Last_Name": "N"}])
    connector.push_updates("Leads", [WriteRequest(ref="u", op="update", record_id=lead,
                                                  values={"First_Name": "x"})])
    (put,) = emulator.calls("PUT", "/crm/v8/Leads")
    assert f'"id":"{lead}"' in put.body.decode()


def test_transport_failures_before_sending_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    conn = ZohoConnector(make_settings("1000.r"), transport=httpx.MockTransport(refuse))
    with pytest.raises(TransientError):
        conn.authenticate()


def test_lookup_reads_the_match_field_even_when_not_asked_for(
    emulator: ZohoEmulator, connector: ZohoConnector
) -> None:
    (lead,) = emulator.seed("Leads", [{"Last_Name": "K", "Email": "k@example.com"}])
    (found,) = connector.lookup_records("Leads", "Email", ["K@example.com"], ["Last_Name"],
                                        None).records
    assert (found.record_id, found.values) == (lead, {"Last_Name": "K"})
    (call,) = emulator.calls("POST", "/crm/v8/coql")
    query = call.json_body()["select_query"]
    assert query.startswith("select id, Email, Last_Name, Modified_Time, Converted_Contact ")
    assert "where Email in ('K@example.com', 'k@example.com') limit 200 offset 0" in query


def test_lookups_page_one_coql_call_at_a_time(emulator: ZohoEmulator,
                                              connector: ZohoConnector) -> None:
    ids = emulator.seed("Contacts", [{"Last_Name": f"P{n}", "Email": f"p{n}@example.com"}
                                     for n in range(60)])
    emails = [f"P{n}@Example.com" for n in range(60)]  # two terms each: 25 values a call
    found: list[str] = []
    page = None
    calls = 0
    while True:
        answer = connector.lookup_records("Contacts", "Email", emails, ["Email"], page)
        calls += 1
        found += [r.record_id for r in answer.records]
        page = answer.next_page
        if page is None:
            break
    assert sorted(found) == sorted(ids) and calls == 3
    assert len(emulator.calls("POST", "/crm/v8/coql")) == 3
    with pytest.raises(PermanentError, match="page token"):
        connector.lookup_records("Contacts", "Email", emails, ["Email"], '{"c": 9, "o": 0}')


@pytest.mark.parametrize("nothing", [304, 204])
def test_nothing_changed_is_an_empty_page_whether_304_or_204(nothing: int) -> None:
    emulator, refresh = make_emulator(not_modified_status=nothing)
    conn = _connector(emulator, refresh)
    emulator.seed("Leads", [{"Last_Name": "A"}])
    cursor = _read_all(conn, "Leads", ["Last_Name"], 10)[-1].cursor
    emulator.clock.advance(60)
    later = cursor.model_copy(update={"modified_at": cursor.modified_at
                                      + dt.timedelta(seconds=30), "record_id": None})
    (page,) = _read_all(conn, "Leads", ["Last_Name"], 10, later)
    assert page.records == () and page.next_page is None
    assert page.cursor.modified_at == later.modified_at
    statuses = [r.status for r in emulator.calls("GET", "/crm/v8/Leads")]
    assert statuses[-1] == nothing


def test_an_api_domain_on_an_accounts_host_is_refused_too() -> None:
    emulator, refresh = make_emulator(api_domain="https://accounts.zoho.com")
    conn = ZohoConnector(make_settings(refresh), transport=emulator.transport())
    with pytest.raises(PermanentError, match="not a Zoho API host"):
        conn.authenticate()
