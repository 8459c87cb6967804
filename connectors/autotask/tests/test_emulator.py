"""The emulator against the fact sheet (section 9): what the real API answers, and
what it refuses, with the same status and body."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from crmsync_autotask.emulator import OWNER_RESOURCE, AutotaskEmulator, serve

USER = "api.user@example.com"  # the user conftest's emulator fixture knows
SECRET = "api-user-s3cret-value-123"
CODE = "TRACKINGIDENTIFIER0000000001"
ZONE = "https://webservices15.autotask.net/ATServicesRest/V1.0"
DISCOVERY = "https://webservices.autotask.net/atservicesrest"
HEADERS = {"ApiIntegrationcode": CODE, "UserName": USER, "Secret": SECRET}


@pytest.fixture
def http(emulator: AutotaskEmulator) -> httpx.Client:
    return httpx.Client(transport=emulator.transport(), headers=HEADERS)


def everything() -> dict[str, Any]:
    return {"filter": [{"op": "exist", "field": "id"}]}


def test_header_auth_failures(emulator: AutotaskEmulator) -> None:
    bare = httpx.Client(transport=emulator.transport())
    url = f"{ZONE}/ThresholdInformation"
    wrong_secret = bare.get(url, headers={**HEADERS, "Secret": "nope"})
    assert wrong_secret.status_code == 401
    unknown_user = bare.get(url, headers={**HEADERS, "UserName": "who@example.com"})
    assert unknown_user.status_code == 500 and unknown_user.json()["errors"]
    bad_code = bare.get(url, headers={**HEADERS, "ApiIntegrationcode": "WRONG"})
    assert bad_code.status_code == 500 and bad_code.json()["errors"]
    # Header names are matched case-insensitively.
    lower = {k.lower(): v for k, v in HEADERS.items()}
    assert bare.get(url, headers=lower).status_code == 200


def test_zone_and_version_discovery_need_no_auth(emulator: AutotaskEmulator) -> None:
    bare = httpx.Client(transport=emulator.transport())
    zone = bare.get(f"{DISCOVERY}/v1.0/zoneInformation", params={"user": USER}).json()
    assert set(zone) == {"zoneName", "url", "webUrl", "ci"}
    assert zone["url"] == "https://webservices15.autotask.net/ATServicesRest/"
    unknown = bare.get(f"{DISCOVERY}/v1.0/zoneInformation", params={"user": "x@y.z"})
    assert unknown.status_code == 500
    assert unknown.json() == {"errors": ["Zone information could not be determined"]}
    assert bare.get(f"{DISCOVERY}/versioninformation").json() == {"apiVersions": ["V1.0"]}


def test_v2_paths_have_no_route(emulator: AutotaskEmulator) -> None:
    emulator.versions = ("V1.0", "V2.0")
    bare = httpx.Client(transport=emulator.transport())
    assert bare.get(f"{DISCOVERY}/versioninformation").json()["apiVersions"][-1] == "V2.0"
    assert bare.get(f"{DISCOVERY}/V2.0/zoneInformation", params={"user": USER}).status_code == 404


def test_both_path_casings_are_accepted(http: httpx.Client) -> None:
    lower = "https://webservices15.autotask.net/atservicesrest/v1.0/Contacts/query"
    assert http.post(lower, json=everything()).status_code == 200
    assert http.post(f"{ZONE}/Contacts/query", json=everything()).status_code == 200


def test_post_and_get_queries_page_by_ascending_id(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    ids = emulator.seed("Contacts", [{"lastName": f"L{n}", "firstName": "F"} for n in range(5)])
    body = {"MaxRecords": 2, **everything()}
    first = http.post(f"{ZONE}/Contacts/query", json=body).json()
    assert [str(i["id"]) for i in first["items"]] == ids[:2]
    details = first["pageDetails"]
    assert details["count"] == 2 and details["requestCount"] == 2
    assert details["prevPageUrl"] is None
    next_url = details["nextPageUrl"]
    assert next_url.startswith(f"{ZONE}/Contacts/query/next?paging=")
    # A POSTed query's pages are POSTed again with the body; GET is refused.
    refused = http.get(next_url)
    assert refused.status_code == 405
    assert refused.json() == {
        "Message": "The requested resource does not support http method 'GET'."
    }
    second = http.post(next_url, json=body).json()
    assert [str(i["id"]) for i in second["items"]] == ids[2:4]
    third = http.post(second["pageDetails"]["nextPageUrl"], json=body).json()
    assert [str(i["id"]) for i in third["items"]] == ids[4:]
    assert third["pageDetails"]["nextPageUrl"] is None
    # GET with ?search= has the same semantics, and its pages are followed with GET.
    got = http.get(f"{ZONE}/Contacts/query", params={"search": json.dumps(body)}).json()
    assert [str(i["id"]) for i in got["items"]] == ids[:2]
    follow = http.get(got["pageDetails"]["nextPageUrl"]).json()
    assert [str(i["id"]) for i in follow["items"]] == ids[2:4]


@pytest.mark.parametrize("size", [0, 501, "10"])
def test_max_records_out_of_range(http: httpx.Client, size: Any) -> None:
    answer = http.post(f"{ZONE}/Contacts/query", json={"MaxRecords": size, **everything()})
    assert answer.status_code == 500
    assert answer.json() == {"errors": ["maxCountOfRecordsToReturn must be between 1 and 500"]}


def test_filter_grammar(emulator: AutotaskEmulator, http: httpx.Client) -> None:
    emulator.seed(
        "Contacts",
        [
            {"firstName": "Ana", "lastName": "Ruiz", "emailAddress": "ana@example.org"},
            {"firstName": "Bo", "lastName": "Li", "emailAddress": None, "isActive": 0},
            {"firstName": "Cy", "lastName": "Ode", "emailAddress": "cy@example.net",
             "userDefinedFields": [{"name": "Lead Source", "value": "Web"}]},
        ],
    )

    def names(conditions: list[Any]) -> list[str]:
        answer = http.post(f"{ZONE}/Contacts/query", json={"Filter": conditions})
        assert answer.status_code == 200, answer.text
        return [item["firstName"] for item in answer.json()["items"]]

    assert names([{"op": "exist", "field": "EmailAddress"}]) == ["Ana", "Cy"]
    assert names([{"op": "notExist", "field": "emailAddress"}]) == ["Bo"]
    assert names([{"op": "eq", "field": "isActive", "value": True}]) == ["Ana", "Cy"]
    assert names([{"op": "endsWith", "field": "emailAddress", "value": ".NET"}]) == ["Cy"]
    assert names([{"op": "in", "field": "lastName", "value": ["li", "ode"]}]) == ["Bo", "Cy"]
    assert names(
        [{"op": "or", "items": [{"op": "beginsWith", "field": "firstName", "value": "a"},
                                {"op": "and", "items": [
                                    {"op": "contains", "field": "lastName", "value": "d"},
                                    {"op": "noteq", "field": "firstName", "value": "Ana"}]}]}]
    ) == ["Ana", "Cy"]
    assert names([{"op": "eq", "field": "Lead Source", "value": "web", "udf": True}]) == ["Cy"]

    def refused(conditions: list[Any]) -> str:
        answer = http.post(f"{ZONE}/Contacts/query", json={"filter": conditions})
        assert answer.status_code == 500
        return str(answer.json()["errors"][0])

    unknown = refused([{"op": "eq", "field": "nope", "value": 1}])
    assert unknown == "Unable to find nope in the Entity."
    assert "Unable to find" in refused([{"op": "eq", "field": "Lead Source", "value": "x"}])
    assert "operator" in refused([{"op": "startsWith", "field": "firstName", "value": "a"}])
    assert "not queryable" in refused(
        [{"op": "eq", "field": "isOptedOutFromBulkEmail", "value": True}]
    )
    assert "true or false" in refused([{"op": "eq", "field": "primaryContact", "value": 1}])
    assert "user-defined" in refused(
        [{"op": "eq", "field": "Lead Source", "value": "a", "udf": True},
         {"op": "eq", "field": "Marketing Segment", "value": "12", "udf": True}]
    )
    assert "500 or fewer" in refused([{"op": "in", "field": "id", "value": list(range(501))}])


def test_include_fields_keeps_udfs_and_count(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    emulator.seed("Contacts", [{"firstName": "A", "lastName": "B"}] * 3)
    body = {"IncludeFields": ["Id", "lastName"], **everything()}
    item = http.post(f"{ZONE}/Contacts/query", json=body).json()["items"][0]
    assert set(item) == {"id", "lastName", "userDefinedFields"}
    count = http.post(f"{ZONE}/Contacts/query/count", json=everything()).json()
    assert count == {"queryCount": 3}


def test_per_entity_date_fields_and_formats(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    (cid,) = emulator.seed("Companies", [{"companyName": "Northwind"}])
    since = "2025-03-01T05:00:00"
    ok = http.post(
        f"{ZONE}/Companies/query",
        json={"filter": [{"op": "gte", "field": "lastTrackedModifiedDateTime", "value": since}]},
    )
    assert cid in [str(i["id"]) for i in ok.json()["items"]]
    assert ok.json()["items"][0]["lastTrackedModifiedDateTime"].endswith("Z")
    wrong = http.post(
        f"{ZONE}/Companies/query",
        json={"filter": [{"op": "gte", "field": "lastModifiedDate", "value": since}]},
    )
    assert wrong.status_code == 500
    assert wrong.json() == {"errors": ["Unable to find lastModifiedDate in the Entity."]}
    for value in ("2025-03-01", "2025-03-01T05:00:00.0000000Z", "2025-03-01T05:00:00+00:00"):
        answer = http.post(
            f"{ZONE}/Companies/query",
            json={"filter": [{"op": "gte", "field": "createDate", "value": value}]},
        )
        assert answer.status_code == 200, value
    emulator.date_style = "bare"
    item = http.get(f"{ZONE}/Companies/{cid}").json()["item"]
    assert item["createDate"] == "2025-03-01T06:00:00"
    assert item["isActive"] is True and isinstance(item["companyType"], int)


def test_contact_writes_only_through_the_company(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    company = emulator.default_company()
    body = {"companyID": company, "firstName": "Priya", "lastName": "N", "isActive": 1,
            "userDefinedFields": [{"name": "Marketing Segment", "value": "12"}]}
    assert http.post(f"{ZONE}/Contacts", json=body).status_code == 404
    created = http.post(f"{ZONE}/Companies/{company}/Contacts", json=body)
    assert created.status_code == 200 and set(created.json()) == {"itemId"}
    new_id = created.json()["itemId"]
    # PATCH is partial and merges only the UDFs sent.
    patched = http.patch(
        f"{ZONE}/Companies/{company}/Contacts",
        json={"id": new_id, "title": "CTO",
              "userDefinedFields": [{"name": "Lead Source", "value": "Web"}]},
    )
    assert patched.json() == {"itemId": new_id}
    item = http.get(f"{ZONE}/Contacts/{new_id}").json()["item"]
    udfs = {u["name"]: u["value"] for u in item["userDefinedFields"]}
    assert (item["firstName"], item["title"], item["isActive"]) == ("Priya", "CTO", 1)
    assert udfs["Marketing Segment"] == "12" and udfs["Lead Source"] == "Web"
    wrong_verb = http.patch(f"{ZONE}/Companies/{company}/Contacts/{new_id}", json={})
    assert wrong_verb.status_code == 405 and "PATCH" in wrong_verb.json()["Message"]
    assert http.patch(f"{ZONE}/Contacts/{new_id}", json={}).status_code == 405
    assert http.request("DELETE", f"{ZONE}/Companies/{company}").status_code == 405
    # PUT replaces: omitted fields are nulled, so the required ones must be sent.
    put = http.put(f"{ZONE}/Companies/{company}/Contacts", json={"id": new_id, "title": "x"})
    assert put.status_code == 500 and "required" in put.json()["errors"][0]
    gone = http.delete(f"{ZONE}/Companies/{company}/Contacts/{new_id}")
    assert gone.json() == {"itemId": new_id}
    assert http.get(f"{ZONE}/Contacts/{new_id}").json() == {"item": None}
    again = http.delete(f"{ZONE}/Companies/{company}/Contacts/{new_id}")
    assert again.status_code == 500 and "No matching records found" in again.json()["errors"][0]


def test_validation_failures_are_500_with_errors(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    company = emulator.default_company()
    url = f"{ZONE}/Companies/{company}/Contacts"
    base = {"companyID": company, "firstName": "A", "lastName": "B", "isActive": 1}

    def error(body: Any, target: str = url) -> str:
        answer = http.post(target, json=body)
        assert answer.status_code == 500, answer.text
        return str(answer.json()["errors"][0])

    assert error({**base, "isActive": True}).startswith(
        "Unexpected character encountered while parsing value: t."
    )
    assert "lastName" in error({k: v for k, v in base.items() if k != "lastName"})
    assert "namePrefix" in error({**base, "namePrefix": 99})
    assert "maximum length" in error({**base, "firstName": "x" * 51})
    assert "user-defined field" in error(
        {**base, "userDefinedFields": [{"name": "Nope", "value": "1"}]}
    )
    assert error([base]).startswith("Cannot deserialize")
    assert "companyID" in error({**base, "companyID": 999}, f"{ZONE}/Companies/999/Contacts")
    company_error = error({"companyName": "X", "companyType": 3, "phone": "1"}, f"{ZONE}/Companies")
    assert "ownerResourceID" in company_error
    made = http.post(
        f"{ZONE}/Companies",
        json={"companyName": "X", "companyType": 3, "phone": "1",
              "ownerResourceID": OWNER_RESOURCE},
    )
    assert made.status_code == 200 and "itemId" in made.json()


def test_missing_item_is_null_or_404(emulator: AutotaskEmulator, http: httpx.Client) -> None:
    assert http.get(f"{ZONE}/Contacts/12345").json() == {"item": None}
    emulator.missing_item = "404"
    assert http.get(f"{ZONE}/Contacts/12345").status_code == 404


def test_metadata_key_sets(http: httpx.Client) -> None:
    info = http.get(f"{ZONE}/Companies/entityInformation").json()["info"]
    assert info["canDelete"] is False and info["userAccessForQuery"] == "All"
    fields = http.get(f"{ZONE}/Contacts/entityInformation/fields").json()["fields"]
    prefix = next(f for f in fields if f["name"] == "namePrefix")
    assert prefix["dataType"] == "integer" and prefix["picklistValues"][0]["value"] == "1"
    udfs = http.get(f"{ZONE}/Contacts/entityInformation/userDefinedFields").json()["fields"]
    assert "type" in udfs[0] and "dataType" not in udfs[0]


def test_hourly_threshold_and_threshold_information(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    emulator.threshold = 3
    for _ in range(2):
        assert http.post(f"{ZONE}/Contacts/query", json=everything()).status_code == 200
    reading = http.get(f"{ZONE}/ThresholdInformation").json()
    assert reading == {
        "externalRequestThreshold": 3,
        "requestThresholdTimeframe": 60,
        "currentTimeframeRequestCount": 3,  # the reading counts itself
    }
    refused = http.post(f"{ZONE}/Contacts/query", json=everything())
    assert refused.status_code == 429 and refused.json()["errors"]
    emulator.clock.advance(3600)
    assert http.post(f"{ZONE}/Contacts/query", json=everything()).status_code == 200


def test_fourth_thread_on_one_entity_is_refused(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    gate = emulator.gate = threading.Event()
    statuses: list[int] = []

    def call() -> None:
        statuses.append(http.post(f"{ZONE}/Contacts/query", json=everything()).status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    while sum(emulator.max_in_flight.values()) < 3:
        threading.Event().wait(0.001)
    fourth = http.post(f"{ZONE}/Contacts/query", json=everything())
    assert fourth.status_code == 429
    assert "Itgenatr005" in fourth.json()["errors"][0]
    other_entity = threading.Thread(
        target=lambda: statuses.append(http.get(f"{ZONE}/Companies/0").status_code)
    )
    other_entity.start()
    gate.set()
    for thread in [*threads, other_entity]:
        thread.join()
    assert statuses == [200, 200, 200, 200]


def test_restricted_user_sees_nothing_and_cannot_write(emulator: AutotaskEmulator) -> None:
    emulator.add_api_user("limited@example.com", "limited-s3cret", CODE, restricted=True)
    emulator.seed("Contacts", [{"firstName": "A", "lastName": "B"}])
    limited = httpx.Client(
        transport=emulator.transport(),
        headers={**HEADERS, "UserName": "limited@example.com", "Secret": "limited-s3cret"},
    )
    assert limited.post(f"{ZONE}/Contacts/query", json=everything()).json()["items"] == []
    company = emulator.default_company()
    refused = limited.post(
        f"{ZONE}/Companies/{company}/Contacts",
        json={"companyID": company, "firstName": "A", "lastName": "B", "isActive": 1},
    )
    assert refused.status_code == 500 and "adequate permissions" in refused.json()["errors"][0]


def test_zone_move_answers_401_on_the_old_host(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    emulator.faults.inject("zone_move", to=16)
    assert http.get(f"{ZONE}/ThresholdInformation").status_code == 401
    assert http.get(f"{ZONE}/ThresholdInformation").status_code == 401
    moved = "https://webservices16.autotask.net/ATServicesRest/V1.0/ThresholdInformation"
    assert http.get(moved).status_code == 200


def test_secrets_are_masked_in_the_request_log(
    emulator: AutotaskEmulator, http: httpx.Client
) -> None:
    http.get(f"{ZONE}/ThresholdInformation")
    logged = emulator.log[-1]
    assert logged.headers["secret"] == "***" and logged.headers["apiintegrationcode"] == "***"
    assert SECRET not in repr(list(emulator.log))


def test_served_on_a_loopback_port() -> None:
    served = serve()
    try:
        with httpx.Client() as client:
            discovery = served.settings["discovery_url"]
            zone = client.get(
                f"{discovery}/v1.0/zoneInformation",
                params={"user": served.settings["username"]},
            ).json()["url"]
            assert zone.startswith(served.url) and zone.endswith("/ATServicesRest/")
            headers = {
                "ApiIntegrationCode": served.settings["integration_code"],
                "UserName": served.settings["username"],
                "Secret": served.settings["secret"],
            }
            (new_id,) = served.seed(
                "Contacts", [{"firstName": "A", "lastName": "B", "companyName": "Initech"}]
            )
            body = {"filter": [{"op": "eq", "field": "id", "value": int(new_id)}]}
            answer = client.post(f"{zone}V1.0/Contacts/query", json=body, headers=headers)
            item = answer.json()["items"][0]
            company = client.get(f"{zone}V1.0/Companies/{item['companyID']}", headers=headers)
            assert company.json()["item"]["companyName"] == "Initech"
            served.edit("Contacts", new_id, {"title": "CTO"})
            assert served.get("Contacts", new_id)["title"] == "CTO"
            paging = quote(json.dumps({"pageSize": 1, "nextIds": [0]}))
            follow = client.get(f"{zone}V1.0/Contacts/query/next?paging={paging}", headers=headers)
            assert follow.status_code == 405
    finally:
        served.stop()


def test_usage_latency_and_projection_without_id(emulator: AutotaskEmulator) -> None:
    waits: list[float] = []
    emulator.usage_latency, emulator.sleep, emulator.threshold = True, waits.append, 8
    http = httpx.Client(transport=emulator.transport(), headers=HEADERS)
    emulator.seed("Contacts", [{"firstName": "A", "lastName": "B"}] * 3)
    for _ in range(6):
        http.get(f"{ZONE}/ThresholdInformation")
    assert waits == [0.5, 0.5, 1.0]  # calls 4-5 (half of 8), call 6 (three quarters)
    body = {"MaxRecords": 2, "IncludeFields": ["lastName"], **everything()}
    page = http.post(f"{ZONE}/Contacts/query", json=body).json()
    assert page["pageDetails"]["nextPageUrl"] is None and len(page["items"]) == 2
