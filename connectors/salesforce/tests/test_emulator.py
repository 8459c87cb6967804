"""Fidelity of the emulator against the fact sheet (raw HTTP, no connector involved)."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import jwt
import pytest

from crmsync_salesforce.emulator import EmulatorServer, SalesforceEmulator, is_valid_id, to_18

from .conftest import CLIENT_ID, CLIENT_SECRET, LOGIN, USER

V = "/services/data/v60.0"


def client(emulator: SalesforceEmulator) -> httpx.Client:
    return httpx.Client(transport=emulator.transport(), base_url=LOGIN)


def token(emulator: SalesforceEmulator) -> dict[str, str]:
    answer = client(emulator).post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def api(emulator: SalesforceEmulator) -> httpx.Client:
    c = client(emulator)
    c.headers.update(token(emulator))
    return c


# -- auth ----------------------------------------------------------------------------------
def test_client_credentials_answer_has_optional_fields(emulator):
    body = (
        client(emulator)
        .post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        .json()
    )
    assert body["instance_url"] == LOGIN
    assert body["token_type"] == "Bearer"
    assert len(body["issued_at"]) == 13
    assert "expires_in" not in body
    assert body["id"].endswith(f"/{to_18('0055e000003XyZw')}")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"},
            "invalid_client_id",
        ),
        (
            {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "bad"},
            "invalid_client",
        ),
        (
            {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": "stale"},
            "invalid_grant",
        ),
        ({"grant_type": "password", "client_id": CLIENT_ID}, "unsupported_grant_type"),
    ],
)
def test_token_errors(emulator, form, error):
    answer = client(emulator).post("/services/oauth2/token", data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert "error_description" in answer.json()


def test_jwt_bearer_verifies_signature_and_claims(emulator, rsa_pem):
    private, _ = rsa_pem
    now = int(time.time())
    claims = {"iss": CLIENT_ID, "sub": USER, "aud": LOGIN, "exp": now + 180}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def ask(assertion: str) -> httpx.Response:
        return client(emulator).post(
            "/services/oauth2/token", data={"grant_type": grant, "assertion": assertion}
        )

    good = ask(jwt.encode(claims, private, algorithm="RS256"))
    assert good.status_code == 200
    assert "issued_at" not in good.json() and "signature" not in good.json()
    other_key = jwt.encode(claims, "not-the-key-but-hmac-secret-long-enough", algorithm="HS256")
    assert ask(other_key).json()["error"] == "invalid_grant"
    stranger = jwt.encode({**claims, "sub": "someone@else.com"}, private, algorithm="RS256")
    assert ask(stranger).json()["error_description"] == "user hasn't approved this consumer"
    expired = jwt.encode({**claims, "exp": now - 600}, private, algorithm="RS256")
    assert ask(expired).json()["error"] == "invalid_grant"
    wrong_aud = jwt.encode({**claims, "aud": "https://evil.test"}, private, algorithm="RS256")
    assert ask(wrong_aud).json()["error"] == "invalid_grant"


def test_refresh_token_flow(emulator):
    refresh = emulator.issue_refresh_token(CLIENT_ID, USER)
    answer = client(emulator).post(
        "/services/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": refresh},
    )
    assert answer.status_code == 200 and "refresh_token" not in answer.json()


def test_session_expiry_gives_401_array_until_reauth(emulator, api):
    assert api.get(f"{V}/limits").status_code == 200
    emulator.expire_sessions()
    answer = api.get(f"{V}/limits")
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    api.headers.update(token(emulator))
    assert api.get(f"{V}/limits").status_code == 200


# -- versions, ids, describe ---------------------------------------------------------------
def test_versions_list_needs_no_auth_and_carries_no_usage(emulator):
    answer = client(emulator).get("/services/data/")
    assert answer.status_code == 200
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in (
        answer.json()
    )
    assert "Sforce-Limit-Info" not in answer.headers


def test_retired_version_is_410(api):
    assert api.get("/services/data/v30.0/limits").status_code == 410


def test_id_checksums():
    assert to_18("0012300000bVTq1") == "0012300000bVTq1AAG"
    assert to_18("a0BA0000000L2ZC") == "a0BA0000000L2ZCMA0"
    assert is_valid_id("0011U00000V0tkDQAR")
    assert not is_valid_id("0011U00000V0tkDAAA")


def test_minted_ids_and_15_char_access(emulator, api):
    (lead,) = emulator.seed("Lead", [{"LastName": "Ortega", "Company": "Northwind"}])
    (contact,) = emulator.seed("Contact", [{"LastName": "Ito"}])
    assert lead.startswith("00Q") and contact.startswith("003")
    assert is_valid_id(lead) and len(lead) == 18
    answer = api.get(f"{V}/sobjects/Lead/{lead[:15]}", params={"fields": "Id,LastName"})
    assert answer.json()["Id"] == lead and answer.json()["LastName"] == "Ortega"
    assert api.get(f"{V}/sobjects/Lead/00Qxyz").json()[0]["errorCode"] == "MALFORMED_ID"
    assert api.get(f"{V}/sobjects/Lead/00Q5e0000000001AAA").status_code in {400, 404}


def test_describe_lead(api):
    body = api.get(f"{V}/sobjects/Lead/describe/").json()
    fields = {f["name"]: f for f in body["fields"]}
    assert body["keyPrefix"] == "00Q"
    assert fields["LastName"]["length"] == 80 and not fields["LastName"]["nillable"]
    assert fields["Company"]["length"] == 255
    assert fields["Email"]["type"] == "email" and fields["Email"]["length"] == 80
    assert fields["Industry"]["restrictedPicklist"] is True
    assert fields["Status"]["defaultedOnCreate"] is True
    assert fields["IsConverted"]["createable"] and not fields["IsConverted"]["updateable"]
    assert fields["Crmsync_Ref__c"]["externalId"] is True
    assert fields["Size_Band__c"]["calculated"] is True
    assert fields["NumberOfEmployees"]["type"] == "int"
    assert fields["AnnualRevenue"]["type"] == "currency"


# -- SOQL ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Lead",
        "select id, email from lead where email = 'a@b.com'",
        "SELECT Id FROM Lead WHERE SystemModstamp > 2024-05-01T12:00:00Z",
        "SELECT Id FROM Lead WHERE SystemModstamp >= 2024-05-01T12:00:00.000+0000",
        "SELECT Id FROM Lead WHERE SystemModstamp < 2024-05-01T14:00:00+02:00",
        "SELECT Id FROM Lead WHERE (LastName = 'a' OR LastName = 'b') AND IsConverted = false",
        "SELECT Id FROM Lead WHERE Email != null ORDER BY SystemModstamp ASC, Id DESC LIMIT 10",
        "SELECT Id FROM Lead WHERE LastName IN ('O\\'Brien', 'back\\\\slash')",
        "SELECT Id FROM Lead WHERE NumberOfEmployees >= 10 AND AnnualRevenue < 1.5",
        "SELECT Id FROM Lead WHERE Last_Webinar__c = 2024-05-01",
        "SELECT Id FROM Lead WHERE NOT (Email = null)",
    ],
)
def test_soql_accepts(api, soql):
    answer = api.get(f"{V}/query", params={"q": soql})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT FROM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Lead WHERE LastName = 'a' AND Email = 'b' OR Phone = 'c'",
            "MALFORMED_QUERY",
        ),
        ("SELECT Id FROM Lead WHERE LastName LIKE 'a%'", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > '2024-05-01T12:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > 2024-05-01 12:00:00", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > 2024-05-01", "INVALID_FIELD"),
        (
            "SELECT Id FROM Lead WHERE LastModifiedDate > 2023-01-01T12:00:00.000 0100",
            "MALFORMED_QUERY",
        ),
        ("SELECT Nope__c FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE"),
        ("SELECT Id FROM Lead LIMIT x", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE LastName = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE IsConverted = 'false'", "INVALID_FIELD"),
    ],
)
def test_soql_rejects(api, soql, code):
    answer = api.get(f"{V}/query", params={"q": soql})
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == code


def test_soql_semantics(emulator, api):
    emulator.seed(
        "Lead",
        [
            {"LastName": "O'Brien", "Company": "X", "Email": "Mixed@Case.com"},
            {"LastName": "Back\\slash", "Company": "X"},
            {"LastName": "Plain", "Company": "X", "NumberOfEmployees": 5},
        ],
    )

    def ids(soql: str) -> list[str]:
        return [r["LastName"] for r in api.get(f"{V}/query", params={"q": soql}).json()["records"]]

    assert ids("SELECT LastName FROM Lead WHERE LastName = 'o\\'brien'") == ["O'Brien"]
    assert ids("SELECT LastName FROM Lead WHERE LastName = 'Back\\\\slash'") == ["Back\\slash"]
    assert ids("SELECT LastName FROM Lead WHERE Email IN ('mixed@case.com')") == ["O'Brien"]
    assert ids("SELECT LastName FROM Lead WHERE NumberOfEmployees > 1") == ["Plain"]
    assert ids("SELECT LastName FROM Lead ORDER BY LastName DESC LIMIT 1") == ["Plain"]


def test_query_rows_render_nulls_and_wire_datetimes(emulator, api):
    emulator.seed("Lead", [{"LastName": "A", "Company": "X"}])
    (row,) = api.get(
        f"{V}/query", params={"q": "SELECT Id, Email, SystemModstamp FROM Lead"}
    ).json()["records"]
    assert row["Email"] is None
    assert row["SystemModstamp"] == "2024-05-01T12:00:00.000+0000"
    assert row["attributes"]["url"].startswith(f"{V}/sobjects/Lead/")


# -- paging, queryAll ----------------------------------------------------------------------
def test_paging_with_batch_size_and_locator(emulator, api):
    emulator.seed("Lead", count=450)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead"}, headers=headers).json()
    assert first["totalSize"] == 450 and not first["done"] and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith(f"{V}/query/") and first["nextRecordsUrl"].endswith(
        "-200"
    )
    second = api.get(first["nextRecordsUrl"]).json()
    third = api.get(second["nextRecordsUrl"]).json()
    assert third["done"] and "nextRecordsUrl" not in third and len(third["records"]) == 50
    bogus = api.get(f"{V}/query/0r8doesnotexist-200")
    assert bogus.status_code == 400 and bogus.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_default_page_is_2000_and_server_knob(emulator, api):
    emulator.seed("Lead", count=30)
    assert len(api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead"}).json()["records"]) == 30
    emulator.server_page_limit = 7
    page = api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead"}).json()
    assert len(page["records"]) == 7 and page["nextRecordsUrl"].endswith("-7")


def test_query_hides_deleted_query_all_shows_them(emulator, api):
    a, b, c = emulator.seed("Lead", count=3)
    emulator.delete("Lead", a)
    emulator.merge(c, [b])
    soql = "SELECT Id, IsDeleted, MasterRecordId FROM Lead"
    visible = api.get(f"{V}/query", params={"q": soql}).json()["records"]
    everything = api.get(f"{V}/queryAll", params={"q": soql}).json()["records"]
    assert [r["Id"] for r in visible] == [c]
    by_id = {r["Id"]: r for r in everything}
    assert by_id[a]["IsDeleted"] and by_id[a]["MasterRecordId"] is None
    assert by_id[b]["IsDeleted"] and by_id[b]["MasterRecordId"] == c
    assert api.get(f"{V}/sobjects/Lead/{a}").json()[0]["errorCode"] == "ENTITY_IS_DELETED"


# -- writes ----------------------------------------------------------------------------------
def collection(api, method, records, all_or_none=False):
    return api.request(
        method,
        f"{V}/composite/sobjects",
        json={"allOrNone": all_or_none, "records": records},
    )


def test_collection_item_errors(emulator, api):
    lead = {"attributes": {"type": "Lead"}, "LastName": "A", "Company": "X"}
    answer = collection(
        api,
        "POST",
        [
            lead,
            {"attributes": {"type": "Lead"}, "LastName": "A"},
            {**lead, "LastName": "x" * 81},
            {**lead, "Industry": "Space"},
            {**lead, "Email": "not-an-email"},
            {**lead, "IsConverted": True, "Size_Band__c": "Large"},
        ],
    )
    assert answer.status_code == 200
    items = answer.json()
    assert items[0]["success"] and items[0]["id"].startswith("00Q")
    codes = [i["errors"][0]["statusCode"] for i in items[1:]]
    assert codes == [
        "REQUIRED_FIELD_MISSING",
        "STRING_TOO_LONG",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_EMAIL_ADDRESS",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    ]
    assert items[1]["errors"][0]["fields"] == ["Company"]
    assert "max length=80" in items[2]["errors"][0]["message"]
    assert "id" not in items[1]
    assert items[5]["errors"][0]["fields"] == ["Size_Band__c"]


def test_collection_update_errors_and_converted_lead(emulator, api):
    a, b, gone = emulator.seed("Lead", count=3)
    emulator.convert_lead(b)
    emulator.delete("Lead", gone)
    answer = collection(
        api,
        "PATCH",
        [
            {"attributes": {"type": "Lead"}, "Id": a, "Title": "CTO"},
            {"attributes": {"type": "Lead"}, "Id": b, "Title": "CTO"},
            {"attributes": {"type": "Lead"}, "Id": gone, "Title": "CTO"},
            {"attributes": {"type": "Lead"}, "Id": a, "IsConverted": True},
        ],
    ).json()
    assert answer[0] == {"id": a, "success": True, "errors": []}
    assert [i["errors"][0]["statusCode"] for i in answer[1:]] == [
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "ENTITY_IS_DELETED",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    ]


def test_collection_all_or_none_rolls_back(emulator, api):
    (a,) = emulator.seed("Lead", count=1)
    answer = collection(
        api,
        "PATCH",
        [
            {"attributes": {"type": "Lead"}, "Id": a, "Title": "CEO"},
            {"attributes": {"type": "Lead"}, "Id": a, "LastName": None},
        ],
        all_or_none=True,
    ).json()
    assert answer[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert answer[0]["id"] == a
    assert emulator.get("Lead", a)["Title"] is None


def test_collection_limits_and_request_errors(api):
    records = [{"attributes": {"type": "Lead"}, "LastName": "A", "Company": "X"}] * 201
    too_many = collection(api, "POST", records)
    assert too_many.status_code == 400
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    unknown = collection(api, "POST", [{"attributes": {"type": "Lead"}, "Nope__c": 1}])
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"


def test_a_value_salesforce_cannot_read_fails_the_whole_call_and_writes_nothing(emulator, api):
    lead = {"attributes": {"type": "Lead"}, "LastName": "A", "Company": "X"}
    for bad in ({"NumberOfEmployees": "many"}, {"Nope__c": 1}):
        answer = collection(api, "POST", [lead, {**lead, **bad}])
        assert answer.status_code == 400
        assert answer.json()[0]["errorCode"] in {"JSON_PARSER_ERROR", "INVALID_FIELD"}
    assert emulator.records["Lead"] == {}  # the good record before it was not saved


def test_single_record_crud_and_upsert(emulator, api):
    created = api.post(f"{V}/sobjects/Lead", json={"LastName": "Ito", "Company": "Kestrel"})
    assert created.status_code == 201 and created.headers["Location"].endswith(created.json()["id"])
    lead = created.json()["id"]
    assert api.patch(f"{V}/sobjects/Lead/{lead}", json={"Title": "VP"}).status_code == 204
    missing = api.post(f"{V}/sobjects/Lead", json={"LastName": "Ito"})
    assert missing.status_code == 400
    assert missing.json() == [
        {
            "message": "Required fields are missing: [Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["Company"],
        }
    ]
    upsert = api.patch(
        f"{V}/sobjects/Lead/Crmsync_Ref__c/p-1", json={"LastName": "U", "Company": "C"}
    )
    assert upsert.status_code == 201 and upsert.json()["created"] is True
    again = api.patch(f"{V}/sobjects/Lead/Crmsync_Ref__c/p-1", json={"Title": "T"})
    assert again.status_code == 200 and again.json()["created"] is False
    emulator.seed("Lead", [{"LastName": "D", "Company": "C", "Email": "dup@x.com"}] * 2)
    assert api.get(f"{V}/sobjects/Lead/Email/dup@x.com").status_code == 300
    assert api.delete(f"{V}/sobjects/Lead/{lead}").status_code == 204
    again = api.delete(f"{V}/sobjects/Lead/{lead}")
    assert again.status_code == 404 and again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_modstamp_bumped_on_write_convert_delete(emulator, api):
    (lead,) = emulator.seed("Lead", count=1)
    stamps = [emulator.get("Lead", lead)["SystemModstamp"]]
    emulator.clock.advance(5)
    api.patch(f"{V}/sobjects/Lead/{lead}", json={"Title": "VP"})
    stamps.append(emulator.get("Lead", lead)["SystemModstamp"])
    emulator.clock.advance(5)
    contact = emulator.convert_lead(lead)
    stamps.append(emulator.get("Lead", lead)["SystemModstamp"])
    assert stamps == [
        "2024-05-01T12:00:00.000+0000",
        "2024-05-01T12:00:05.000+0000",
        "2024-05-01T12:00:10.000+0000",
    ]
    converted = emulator.get("Lead", lead)
    assert converted["IsConverted"] and converted["ConvertedContactId"] == contact
    assert converted["ConvertedDate"] == "2024-05-01"


def test_duplicate_rule(emulator, api):
    emulator.seed("Contact", [{"LastName": "A", "Email": "dup@x.com"}])
    emulator.duplicate_rule = "alert"
    body = {"LastName": "B", "Company": "C", "Email": "DUP@x.com"}
    refused = api.post(f"{V}/sobjects/Lead", json=body)
    assert refused.json()[0]["errorCode"] == "DUPLICATES_DETECTED"
    assert refused.json()[0]["duplicateResult"]["matchResults"][0]["entityType"] == "Contact"
    allowed = api.post(
        f"{V}/sobjects/Lead",
        json=body,
        headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"},
    )
    assert allowed.status_code == 201


def test_custom_validation_rule(emulator, api):
    emulator.add_validation_rule(
        "Lead", lambda r: r.get("Title") == "Intern", "Interns are not leads", field="Title"
    )
    answer = api.post(
        f"{V}/sobjects/Lead", json={"LastName": "A", "Company": "C", "Title": "Intern"}
    )
    assert answer.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


# -- limits ----------------------------------------------------------------------------------
def test_limit_header_counts_and_runs_out(emulator, api):
    emulator.daily_limit = 3
    first = api.get(f"{V}/limits")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/3"
    assert first.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}
    collection(api, "POST", [{"attributes": {"type": "Lead"}, "LastName": "A", "Company": "X"}])
    assert api.get(f"{V}/limits").headers["Sforce-Limit-Info"] == "api-usage=3/3"
    refused = api.get(f"{V}/limits")
    assert refused.status_code == 403
    assert refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_replication_updated_and_deleted(emulator, api):
    a, b = emulator.seed("Lead", count=2)
    emulator.clock.advance(120)
    emulator.delete("Lead", b)
    params = {"start": "2024-05-01T11:00:00+00:00", "end": "2024-05-01T13:00:00+00:00"}
    updated = api.get(f"{V}/sobjects/Lead/updated/", params=params).json()
    assert updated["ids"] == [a]
    deleted = api.get(f"{V}/sobjects/Lead/deleted/", params=params).json()
    assert deleted["deletedRecords"][0]["id"] == b
    assert "earliestDateAvailable" in deleted and "latestDateCovered" in deleted
    emulator.replication_id_limit = 0
    capped = api.get(f"{V}/sobjects/Lead/updated/", params=params)
    assert capped.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    backwards = api.get(f"{V}/sobjects/Lead/updated/", params={**params, "end": params["start"]})
    assert backwards.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


# -- faults and log --------------------------------------------------------------------------
def test_faults_and_request_log(emulator, api):
    emulator.faults.inject("rate_limit", status=429, retry_after=7)
    limited = api.get(f"{V}/limits")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    emulator.faults.inject("server_error", status=503, path_contains="/query")
    assert api.get(f"{V}/limits").status_code == 200
    assert api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead"}).status_code == 503
    emulator.faults.inject("dropped_connection")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(f"{V}/limits")
    emulator.faults.inject("row_lock", mode="request")
    assert api.get(f"{V}/limits").json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    logged = emulator.calls("GET", "/limits")
    assert logged[0].headers["authorization"] == "Bearer ***"
    assert [r.status for r in logged] == [429, 200, 0, 400]


def test_loopback_server_uses_same_handler(emulator):
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.url) as c:
        answer = c.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        assert answer.json()["instance_url"] == server.url
        c.headers["Authorization"] = "Bearer " + answer.json()["access_token"]
        assert c.get(f"{V}/limits").status_code == 200
        emulator.faults.inject("dropped_connection")
        with pytest.raises(httpx.TransportError):
            c.get(f"{V}/limits")
        emulator.faults.inject("slow", delay=0.05)
        started = time.perf_counter()
        assert c.get(f"{V}/limits").status_code == 200
        assert time.perf_counter() - started >= 0.05


def test_clock_freezes_to_second_precision(emulator):
    assert emulator.clock.now() == dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_feed_queries_answer_the_same_from_the_stamp_index(emulator):
    """The SystemModstamp index is an optimization only: same rows as a full scan."""
    import random

    from crmsync_salesforce.emulator._soql import parse

    rng = random.Random(7)
    for _ in range(5):
        emulator.seed("Lead", count=20)
        emulator.clock.advance(rng.choice([0, 1, 2]))
    leads = list(emulator.records["Lead"])
    for rid in rng.sample(leads, 30):
        emulator.touch("Lead", rid, Title=f"T{rng.random()}")
        emulator.clock.advance(rng.choice([0, 1]))
    stamps = sorted({r["SystemModstamp"] for r in emulator.records["Lead"].values()})
    for stamp in stamps[:: max(1, len(stamps) // 6)]:
        literal = stamp.replace(".000+0000", "Z")
        anchor = min(
            rid for rid, r in emulator.records["Lead"].items() if r["SystemModstamp"] == stamp
        )
        for where in (
            f"SystemModstamp >= {literal}",
            f"SystemModstamp > {literal} OR (SystemModstamp = {literal} AND Id > '{anchor}')",
            f"(SystemModstamp > {literal}) AND IsDeleted = false",
        ):
            soql = f"SELECT Id FROM Lead WHERE {where} ORDER BY SystemModstamp, Id"
            query = parse(soql)
            assert query.stamp_bound is not None
            full = [r["Id"] for r in query.run(emulator.records["Lead"].values())]
            candidates = list(emulator._candidates(query))
            indexed = [r["Id"] for r in query.run(candidates)]
            assert indexed == full, where
            if "Id >" in where:
                # The keyset filter starts after the cursor's record, not at its second:
                # the records sharing that second up to the anchor are not even read.
                assert len(candidates) == len(full), where
    assert parse("SELECT Id FROM Lead WHERE Email = 'x'").stamp_bound is None
    assert (
        parse(f"SELECT Id FROM Lead WHERE SystemModstamp > {literal} OR Email = 'x'").stamp_bound
        is None
    )


def test_match_key_lookups_answer_the_same_from_the_email_index(emulator):
    """The Email index is an optimization only: same rows as a full scan, after email
    changes, across case and spaces, for leads and contacts alike."""
    from crmsync_salesforce.emulator._soql import parse

    leads = emulator.seed("Lead", count=30)
    contacts = emulator.seed("Contact", count=5)
    emulator.touch("Lead", leads[0], Email="moved@example.com")  # the old key goes stale
    emulator.touch("Lead", leads[1], Email=" Seed2@Example.com ")
    emulator.touch("Lead", leads[2], Email=None)
    for object_name, where in (
        ("Lead", "Email IN ('seed0@example.com', 'MOVED@example.com', 'seed2@example.com')"),
        ("Lead", "Email = 'seed3@example.com' AND IsConverted = false"),
        (
            "Lead",
            "Email IN ('seed1@example.com', 'seed4@example.com') AND Email = 'seed4@example.com'",
        ),
        ("Lead", "Email IN ('seed2@example.com') OR LastName = 'Seed5'"),
        ("Contact", "Email IN ('seed1@example.com', 'seed29@example.com')"),
    ):
        query = parse(f"SELECT Id FROM {object_name} WHERE {where} ORDER BY Id")
        table = emulator.records[object_name].values()
        full = [r["Id"] for r in query.run(table)]
        indexed = [r["Id"] for r in query.run(emulator._candidates(query))]
        assert indexed == full, where
    assert parse("SELECT Id FROM Lead WHERE Email IN ('a@x.io')").email_keys == {"a@x.io"}
    assert parse("SELECT Id FROM Lead WHERE Email NOT IN ('a@x.io')").email_keys is None
    assert parse("SELECT Id FROM Lead WHERE Email = 'a' OR Phone = '1'").email_keys is None
    assert contacts  # both objects were seeded


def test_lookups_by_id_answer_the_same_from_the_primary_key(emulator):
    """``Id IN (...)`` (missing_records asks it, 200 ids at a time) is read from the
    primary key, not by scanning the org: the same rows as a full scan, 15- and
    18-character ids alike, deleted and unknown ids answered as absent."""
    from crmsync_salesforce.emulator._soql import parse

    leads = emulator.seed("Lead", count=40)
    emulator.delete("Lead", leads[3])
    unknown = leads[5][:3] + "0" * 12  # a well-formed (15-character) id of no record
    for where in (
        f"Id IN ('{leads[0]}', '{leads[1][:15]}', '{leads[3]}', '{unknown}')",
        f"Id IN ('{leads[0]}', '{leads[2]}') AND IsDeleted = false",
        f"Id IN ('{leads[0]}', '{leads[2]}') AND Id IN ('{leads[2]}')",
    ):
        query = parse(f"SELECT Id FROM Lead WHERE {where} ORDER BY Id")
        table = emulator.records["Lead"].values()
        full = [r["Id"] for r in query.run(table)]
        candidates = list(emulator._candidates(query))
        assert [r["Id"] for r in query.run(candidates)] == full, where
        assert len(candidates) <= 4, where  # what was asked for, not the 40 leads
    assert parse(f"SELECT Id FROM Lead WHERE Id NOT IN ('{leads[0]}')").id_keys is None
    assert parse(f"SELECT Id FROM Lead WHERE Id = '{leads[0]}' OR Email = 'x'").id_keys is None
