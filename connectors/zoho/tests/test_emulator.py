"""The emulator against the fact sheet (section 9's checklist), spoken to as a client
would: raw HTTP through its transport, real hosts."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import httpx
import pytest

from crmsync_zoho.emulator import ZohoEmulator, serve

from .conftest import CLIENT_ID, CLIENT_SECRET, FROZEN, make_emulator

ACCOUNTS = "https://accounts.zoho.com/oauth/v2/token"
API = "https://www.zohoapis.com/crm"


class Client:
    def __init__(self, emulator: ZohoEmulator, refresh: str) -> None:
        self.emulator = emulator
        self.http = httpx.Client(transport=emulator.transport())
        answer = self.http.post(ACCOUNTS, data={
            "grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": refresh,
        }).json()
        self.token = answer["access_token"]

    def call(self, method: str, path: str, *, version: str = "v8", **kwargs: Any
             ) -> httpx.Response:
        headers = {"Authorization": f"Zoho-oauthtoken {self.token}",
                   **kwargs.pop("headers", {})}
        return self.http.request(method, f"{API}/{version}/{path}", headers=headers, **kwargs)


@pytest.fixture
def client() -> Client:
    return Client(*make_emulator())


def _leads(emulator: ZohoEmulator, count: int, *, tick: bool = True) -> list[str]:
    ids = []
    for n in range(count):
        if tick:
            emulator.clock.advance(1)
        ids += emulator.seed("Leads", [{"Last_Name": f"L{n}", "Email": f"l{n}@example.com"}])
    return ids


# -- token endpoint (section 1) -------------------------------------------------------------
def test_token_answers_and_refusals_as_zoho_sends_them() -> None:
    emulator, refresh = make_emulator()
    http = httpx.Client(transport=emulator.transport())
    good = http.post(ACCOUNTS, data={"grant_type": "refresh_token", "client_id": CLIENT_ID,
                                     "client_secret": CLIENT_SECRET, "refresh_token": refresh})
    body = good.json()
    assert good.status_code == 200
    assert set(body) == {"access_token", "api_domain", "token_type", "expires_in", "scope"}
    assert (body["api_domain"], body["token_type"], body["expires_in"]) == (
        "https://www.zohoapis.com", "Bearer", 3600)
    # Query-string parameters work as well as a form (the docs show the query form).
    assert http.post(ACCOUNTS, params={"grant_type": "refresh_token", "client_id": CLIENT_ID,
                                       "client_secret": CLIENT_SECRET,
                                       "refresh_token": refresh}).status_code == 200
    wrong_secret = http.post(ACCOUNTS, data={"grant_type": "refresh_token",
                                             "client_id": CLIENT_ID, "client_secret": "no",
                                             "refresh_token": refresh})
    assert (wrong_secret.status_code, wrong_secret.json()) == (200, {"error": "invalid_client"})
    unknown = http.post(ACCOUNTS, data={"grant_type": "refresh_token", "client_id": CLIENT_ID,
                                        "client_secret": CLIENT_SECRET,
                                        "refresh_token": "1000.nope"})
    assert (unknown.status_code, unknown.json()) == (200, {"error": "invalid_code"})
    other_dc = http.post("https://accounts.zoho.eu/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "refresh_token": refresh})
    assert other_dc.json() == {"error": "invalid_client"}


def test_refresh_is_throttled_after_ten_tokens_in_ten_minutes() -> None:
    emulator, refresh = make_emulator()
    http = httpx.Client(transport=emulator.transport())
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": refresh}
    statuses = [http.post(ACCOUNTS, data=form).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [400]
    throttled = http.post(ACCOUNTS, data=form).json()
    assert throttled["error"] == "Access Denied"
    assert "too many requests continuously" in throttled["error_description"]
    emulator.clock.advance(601)
    assert http.post(ACCOUNTS, data=form).status_code == 200


def test_a_grant_code_is_exchanged_once_within_its_minutes() -> None:
    emulator, _ = make_emulator()
    http = httpx.Client(transport=emulator.transport())
    code = emulator.issue_grant_code(CLIENT_ID)
    form = {"grant_type": "authorization_code", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "code": code}
    first = http.post(ACCOUNTS, data=form).json()
    assert first["refresh_token"].startswith("1000.") and "access_token" in first
    assert http.post(ACCOUNTS, data=form).json() == {"error": "invalid_code"}
    late = emulator.issue_grant_code(CLIENT_ID)
    emulator.clock.advance(181)
    assert http.post(ACCOUNTS, data={**form, "code": late}).json() == {"error": "invalid_code"}
    # The request log never keeps the secrets.
    logged = emulator.log.calls("POST", "/oauth/v2/token")[0].form()
    assert logged["client_secret"] == "***" and logged["code"] == "***"


# -- auth on data calls (section 9.2) -----------------------------------------------------
def test_tokens_expire_and_headers_are_checked(client: Client) -> None:
    assert client.call("GET", "settings/fields", params={"module": "Leads"}).status_code == 200
    bearer = client.http.get(f"{API}/v8/settings/fields", params={"module": "Leads"},
                             headers={"Authorization": f"Bearer {client.token}"})
    assert bearer.status_code == 200
    missing = client.http.get(f"{API}/v8/settings/fields", params={"module": "Leads"})
    assert (missing.status_code, missing.json()["code"]) == (401, "AUTHENTICATION_FAILURE")
    client.emulator.clock.advance(3600)
    expired = client.call("GET", "settings/fields", params={"module": "Leads"})
    assert expired.status_code == 401
    assert expired.json() == {"code": "INVALID_TOKEN", "details": {},
                              "message": "invalid oauth token", "status": "error"}


def test_scopes_modules_and_hosts_are_enforced() -> None:
    emulator = ZohoEmulator()
    emulator.register_client(CLIENT_ID, CLIENT_SECRET, scopes="ZohoCRM.modules.leads.ALL")
    client = Client(emulator, emulator.issue_refresh_token(CLIENT_ID))
    assert client.call("GET", "Leads", params={"fields": "Email"}).status_code == 204
    scope = client.call("GET", "Contacts", params={"fields": "Email"})
    assert (scope.status_code, scope.json()["code"]) == (401, "OAUTH_SCOPE_MISMATCH")
    fields = client.call("GET", "settings/fields", params={"module": "Leads"})
    assert fields.json()["code"] == "OAUTH_SCOPE_MISMATCH"
    bad = client.call("GET", "leads", params={"fields": "Email"})
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_MODULE")
    host = client.http.get("https://crm.zoho.com/crm/v8/Leads", params={"fields": "Email"},
                           headers={"Authorization": f"Zoho-oauthtoken {client.token}"})
    assert (host.status_code, host.json()["code"]) == (400, "INVALID_HOST")


# -- reads (sections 4 and 9.4-9.11) -------------------------------------------------------
def test_fields_is_mandatory_from_v3_and_capped_at_50(client: Client) -> None:
    _leads(client.emulator, 1)
    missing = client.call("GET", "Leads")
    assert (missing.status_code, missing.json()["code"]) == (400, "REQUIRED_PARAM_MISSING")
    assert client.call("GET", "Leads", version="v2").status_code == 200
    many = ",".join(["Email"] * 51)
    too_many = client.call("GET", "Leads", params={"fields": many})
    assert (too_many.status_code, too_many.json()["code"]) == (400, "LIMIT_EXCEEDED")


def test_list_envelope_types_and_empty_answers(client: Client) -> None:
    assert client.call("GET", "Leads", params={"fields": "Email"}).status_code == 204
    (lead,) = _leads(client.emulator, 1)
    answer = client.call("GET", "Leads", params={"fields": "Email,Owner,Modified_Time"})
    body = answer.json()
    assert set(body["info"]) == {"per_page", "count", "page", "more_records",
                                 "next_page_token", "previous_page_token",
                                 "page_token_expiry", "sort_by", "sort_order"}
    (row,) = body["data"]
    assert row["id"] == lead and isinstance(row["id"], str) and len(row["id"]) == 19
    assert set(row["Owner"]) == {"name", "id", "email"}
    assert row["Modified_Time"].endswith("+02:00") and "." not in row["Modified_Time"]
    full = client.emulator.get("Leads", lead)
    assert full["$converted_detail"] == {} and full["Converted_Contact"] is None
    later = (FROZEN + dt.timedelta(days=1)).isoformat()
    nothing = client.call("GET", "Leads", params={"fields": "Email"},
                          headers={"If-Modified-Since": later})
    assert (nothing.status_code, nothing.content) == (304, b"")


def test_if_modified_since_includes_its_second(client: Client) -> None:
    ids = _leads(client.emulator, 3)
    stamp = client.emulator.get("Leads", ids[1])["Modified_Time"]
    answer = client.call("GET", "Leads", params={"fields": "Email", "sort_by": "Modified_Time",
                                                 "sort_order": "asc"},
                         headers={"If-Modified-Since": stamp})
    assert [r["id"] for r in answer.json()["data"]] == ids[1:]


def test_page_window_of_2000_then_page_token() -> None:
    emulator, refresh = make_emulator()
    ids = emulator.seed("Leads", [{"Last_Name": f"L{n}"} for n in range(2101)])
    client = Client(emulator, refresh)
    params = {"fields": "Last_Name", "sort_by": "Modified_Time", "sort_order": "asc",
              "per_page": 200}
    tenth = client.call("GET", "Leads", params={**params, "page": 10}).json()
    assert tenth["info"]["more_records"] is True
    beyond = client.call("GET", "Leads", params={**params, "page": 11})
    assert beyond.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    token = tenth["info"]["next_page_token"]
    both = client.call("GET", "Leads", params={**params, "page": 1, "page_token": token})
    assert both.json()["code"] == "AMBIGUITY_DURING_PROCESSING"
    changed = client.call("GET", "Leads", params={**params, "per_page": 100,
                                                   "page_token": token})
    assert changed.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"
    rest = client.call("GET", "Leads", params={**params, "page_token": token}).json()
    assert rest["info"]["count"] == 101 and rest["info"]["more_records"] is False
    seen = {r["id"] for p in range(1, 11) for r in client.call(
        "GET", "Leads", params={**params, "page": p}).json()["data"]}
    assert seen | {r["id"] for r in rest["data"]} == set(ids)
    emulator.clock.advance(24 * 3600 + 1)
    client = Client(emulator, refresh)
    stale = client.call("GET", "Leads", params={**params, "page_token": token})
    assert stale.json()["code"] == "EXPIRED_VALUE"


def test_converted_leads_are_hidden_by_default(client: Client) -> None:
    lead, other = _leads(client.emulator, 2)
    contact = client.emulator.convert_lead(lead)
    default = client.call("GET", "Leads", params={"fields": "Email,Converted_Contact"})
    assert [r["id"] for r in default.json()["data"]] == [other]
    both = client.call("GET", "Leads", params={"fields": "Converted_Contact",
                                               "converted": "both"}).json()["data"]
    linked = {r["id"]: r["Converted_Contact"] for r in both}
    assert linked[lead]["id"] == contact and linked[other] is None
    assert client.emulator.get("Leads", lead)["$converted_detail"] != {}
    again = client.call("POST", f"Leads/{lead}/actions/convert", json={"data": [{}]})
    assert (again.status_code, again.json()["code"]) == (400, "ID_ALREADY_CONVERTED")


def test_conversion_answers_v8_wrapped_and_v2_flat(client: Client) -> None:
    first, second = _leads(client.emulator, 2)
    client.emulator.edit("Leads", first, {"Company": "Ek Bygg"})
    v8 = client.call("POST", f"Leads/{first}/actions/convert", json={"data": [{}]}).json()
    (entry,) = v8["data"]
    assert entry["code"] == "SUCCESS" and set(entry["details"]) == {"Contacts", "Accounts"}
    v2 = client.call("POST", f"Leads/{second}/actions/convert", version="v2",
                     json={"data": [{}]}).json()
    assert set(v2["data"][0]) == {"Contacts", "Accounts", "Deals"}
    assert isinstance(v2["data"][0]["Contacts"], str)
    assert client.emulator.credits_used >= 10  # 5 credits a conversion


def test_deleted_list(client: Client) -> None:
    assert client.call("GET", "Leads/deleted", params={"type": "all"}).status_code == 204
    (lead,) = _leads(client.emulator, 1)
    client.emulator.delete("Leads", lead)
    body = client.call("GET", "Leads/deleted", params={"type": "all"}).json()
    (entry,) = body["data"]
    assert set(entry) == {"id", "display_name", "type", "deleted_time", "deleted_by",
                          "created_by"}
    assert entry["id"] == lead and entry["type"] == "recycle"
    assert set(body["info"]) == {"per_page", "count", "page", "more_records"}


# -- writes (sections 5 and 9.12-9.17) -------------------------------------------------------
def test_mixed_batches_answer_in_input_order_with_configurable_status() -> None:
    for mixed in (207, 200):
        emulator, refresh = make_emulator(mixed_status=mixed)
        client = Client(emulator, refresh)
        answer = client.call("POST", "Leads", json={"data": [
            {"Last_Name": "A", "Email": "a@example.com"},
            {"First_Name": "No last name"},
            {"Last_Name": "B", "Email": "not-an-email"},
            {"Last_Name": "C", "First_Name": "x" * 41},
        ], "trigger": []})
        assert answer.status_code == mixed
        codes = [(e["code"], e["details"].get("api_name")) for e in answer.json()["data"]]
        assert codes == [("SUCCESS", None), ("MANDATORY_NOT_FOUND", "Last_Name"),
                         ("INVALID_DATA", "Email"), ("INVALID_DATA", "First_Name")]
        ok = answer.json()["data"][0]
        assert ok["message"] == "record added"
        assert set(ok["details"]) == {"id", "Created_Time", "Modified_Time", "Created_By",
                                      "Modified_By", "$approval_state"}
        assert set(ok["details"]["Created_By"]) == {"name", "id"}
        assert answer.json()["data"][1]["details"]["json_path"] == "$.data[1].Last_Name"
        assert answer.json()["data"][3]["details"]["maximum_length"] == 40
    failed = client.call("POST", "Leads", json={"data": [{"First_Name": "x"}]})
    assert failed.status_code == 400 and failed.json()["data"][0]["status"] == "error"
    created = client.call("POST", "Leads", json={"data": [{"Last_Name": "Z"}]})
    assert created.status_code == 201


def test_write_limits_update_rules_and_upsert() -> None:
    emulator, refresh = make_emulator(unique_email=True)
    client = Client(emulator, refresh)
    too_many = client.call("POST", "Leads", json={"data": [{"Last_Name": "x"}] * 101})
    assert (too_many.status_code, too_many.json()["code"]) == (400, "LIMIT_EXCEEDED")
    (lead,) = _leads(emulator, 1)
    duplicate = client.call("POST", "Leads", json={"data": [
        {"Last_Name": "D", "Email": "L0@example.com"}]}).json()["data"][0]
    assert duplicate["code"] == "DUPLICATE_DATA"
    assert duplicate["details"]["api_name"] == "Email"
    no_id = client.call("PUT", "Leads", json={"data": [{"Last_Name": "x"}]}).json()
    assert no_id["data"][0]["code"] == "MANDATORY_NOT_FOUND"
    gone = client.call("PUT", "Leads", json={"data": [{"id": "4970762000000999999",
                                                       "Last_Name": "x"}]}).json()
    assert gone["data"][0]["code"] == "INVALID_DATA"
    before = emulator.get("Leads", lead)
    emulator.clock.advance(5)
    updated = client.call("PUT", "Leads", json={"data": [{"id": lead, "First_Name": "New"}]})
    assert updated.status_code == 200
    after = emulator.get("Leads", lead)
    assert after["Last_Name"] == before["Last_Name"] and after["First_Name"] == "New"
    assert after["Modified_Time"] > before["Modified_Time"]
    stale = client.call("PUT", "Leads", json={"data": [{"id": lead, "First_Name": "Late"}]},
                        headers={"If-Unmodified-Since": before["Modified_Time"]})
    assert (stale.status_code, stale.json()["code"]) == (412, "ALREADY_MODIFIED")
    upsert = client.call("POST", "Leads/upsert", json={"data": [
        {"Last_Name": "U", "Email": "l0@EXAMPLE.com"}, {"Last_Name": "V", "Email": "v@x.io"},
    ], "duplicate_check_fields": ["Email"], "trigger": []}).json()["data"]
    assert [(e["action"], e["duplicate_field"]) for e in upsert] == [
        ("update", "Email"), ("insert", None)]
    assert emulator.triggers[-1] == []
    contact = emulator.convert_lead(lead)
    converted = client.call("PUT", "Leads", json={"data": [{"id": lead, "Last_Name": "x"}]})
    assert converted.json()["data"][0]["code"] == "CONVERTED_RECORD"
    assert contact in emulator.records["Contacts"]


def test_delete_by_ids_goes_to_the_recycle_bin(client: Client) -> None:
    ids = _leads(client.emulator, 2)
    answer = client.call("DELETE", "Leads", params={"ids": ",".join(ids)})
    assert [e["message"] for e in answer.json()["data"]] == ["record deleted"] * 2
    assert set(client.emulator.deleted["Leads"]) == set(ids)


def test_coql_lookup_by_email(client: Client) -> None:
    _leads(client.emulator, 3)
    query = "select id, Email from Leads where Email in ('L1@example.com', 'l2@example.com')"
    rows = client.call("POST", "coql", json={"select_query": query}).json()["data"]
    assert sorted(r["Email"] for r in rows) == ["l1@example.com", "l2@example.com"]
    bad = client.call("POST", "coql", json={"select_query": "select from"})
    assert (bad.status_code, bad.json()["code"]) == (400, "SYNTAX_ERROR")


# -- limits (section 7) ------------------------------------------------------------------------
def test_credits_are_a_rolling_24_hour_ledger() -> None:
    emulator, refresh = make_emulator(credit_limit=3)
    client = Client(emulator, refresh)
    _leads(emulator, 1)
    for _ in range(3):
        assert client.call("GET", "Leads", params={"fields": "Email"}).status_code == 200
    spent = client.call("GET", "Leads", params={"fields": "Email"})
    assert (spent.status_code, spent.json()["code"]) == (429, "TOO_MANY_REQUESTS")
    assert "Retry-After" not in spent.headers
    emulator.clock.advance(24 * 3600 + 1)
    client = Client(emulator, refresh)  # the old token expired meanwhile
    assert client.call("GET", "Leads", params={"fields": "Email"}).status_code == 200


def test_concurrency_over_the_edition_cap_is_refused() -> None:
    emulator, refresh = make_emulator(edition="free")
    client = Client(emulator, refresh)
    release = threading.Event()
    entered = threading.Semaphore(0)
    original = emulator._cost

    def slow_cost(*args: Any) -> Any:  # holds the call in flight, as a slow query does
        entered.release()
        release.wait(5)
        return original(*args)

    emulator._cost = slow_cost  # type: ignore[method-assign]
    threads = [threading.Thread(target=client.call, args=("GET", "settings/fields"),
                                kwargs={"params": {"module": "Leads"}}) for _ in range(5)]
    for thread in threads:
        thread.start()
    for _ in range(5):
        assert entered.acquire(timeout=5)
    # Five calls are in flight: the sixth is refused at once (never reaching the wait).
    refused = client.call("GET", "settings/fields", params={"module": "Leads"})
    release.set()
    for thread in threads:
        thread.join()
    assert (refused.status_code, refused.json()["code"]) == (429, "TOO_MANY_REQUESTS")
    assert emulator.max_in_flight == 5


def test_faults_render_as_zoho(client: Client) -> None:
    faults = client.emulator.faults
    faults.inject("rate_limit")
    assert client.call("GET", "Leads", params={"fields": "Email"}).json()["code"] == (
        "TOO_MANY_REQUESTS")
    faults.inject("quota")
    quota = client.call("GET", "Leads", params={"fields": "Email"})
    assert quota.headers["X-API-CREDITS-REMAINING"] == "0"
    faults.inject("server_error")
    assert client.call("GET", "Leads", params={"fields": "Email"}).status_code == 500
    faults.inject("token_throttle", path_contains="/oauth/v2/token")
    throttled = client.http.post(ACCOUNTS, data={"grant_type": "refresh_token"})
    assert (throttled.status_code, throttled.json()["error"]) == (400, "Access Denied")


def test_serve_answers_over_a_loopback_port() -> None:
    served = serve()
    try:
        settings = served.settings
        with httpx.Client() as http:
            token = http.post(f"{served.url}/oauth/v2/token", data={
                "grant_type": "refresh_token", "client_id": settings["client_id"],
                "client_secret": settings["client_secret"],
                "refresh_token": settings["refresh_token"]}).json()
            assert token["api_domain"] == served.url
            (lead,) = served.seed("Leads", [{"Email": "demo@example.com"}])
            served.edit("Leads", lead, {"First_Name": "Demo"})
            fields = http.get(f"{served.url}/crm/v8/Leads",
                              params={"fields": "First_Name,Company"},
                              headers={"Authorization": f"Zoho-oauthtoken {token['access_token']}"})
            assert fields.json()["data"][0]["First_Name"] == "Demo"
            assert {f.crm_field for f in served.demo_fields} >= {"Email", "Last_Name"}
    finally:
        served.stop()


def test_search_lags_behind_writes_and_answers_204(client: Client) -> None:
    client.emulator.search_lag = 30
    (lead,) = _leads(client.emulator, 1)
    found = client.call("GET", "Leads/search", params={"email": "l0@example.com"})
    assert found.status_code == 204  # not indexed yet: use COQL after a write
    client.emulator.clock.advance(31)
    found = client.call("GET", "Leads/search", params={"criteria": "(Email:equals:L0@example.com)"})
    assert [r["id"] for r in found.json()["data"]] == [lead]
    missing = client.call("GET", "Leads/search")
    assert missing.json()["code"] == "REQUIRED_PARAM_MISSING"
    deep = client.call("GET", "Leads/search", params={"email": "x@y.io", "page": 11})
    assert deep.json()["code"] == "LIMIT_REACHED"


def test_merge_keeps_the_master_and_bins_the_children(client: Client) -> None:
    master, child = _leads(client.emulator, 2)
    client.emulator.edit("Leads", child, {"Phone": "+46 8 555 0100"})
    answer = client.call("POST", f"Leads/{master}/actions/merge", json={"merge": [{"data": [
        {"id": child, "_fields": [{"api_name": "Phone"}]}]}]})
    assert answer.json()["data"][0]["details"]["id"] == master
    assert client.emulator.get("Leads", master)["Phone"] == "+46 8 555 0100"
    assert child in client.emulator.deleted["Leads"] and child not in client.emulator.records[
        "Leads"]


def test_deleted_list_filters_by_type(client: Client) -> None:
    binned, purged = _leads(client.emulator, 2)
    client.emulator.delete("Leads", binned)
    client.emulator.delete("Leads", purged, permanent=True)
    kinds = {kind: [e["id"] for e in client.call("GET", "Leads/deleted",
                                                 params={"type": kind}).json()["data"]]
             for kind in ("recycle", "permanent")}
    assert kinds == {"recycle": [binned], "permanent": [purged]}
    (entry,) = client.call("GET", "Leads/deleted", params={"type": "permanent"}).json()["data"]
    assert entry["display_name"] is None and entry["deleted_by"] is None


def test_a_strict_v2_org_answers_202_for_a_mixed_batch() -> None:
    emulator, refresh = make_emulator(mixed_status=202)
    client = Client(emulator, refresh)
    body = {"data": [{"Last_Name": "A"}, {"First_Name": "B"}]}
    assert client.call("POST", "Leads", version="v2", json=body).status_code == 202
    listed = client.call("GET", "Leads", version="v2").json()
    assert set(listed["info"]) == {"per_page", "count", "page", "more_records"}
    assert "Converted_Contact" not in listed["data"][0]  # v3+ only
