"""The emulator against the fact sheet (section 9 and the samples of section 10), with a
plain httpx client: what the real Web API refuses, it refuses with the same status
and body."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from crmsync_dynamics._multipart import boundary_of, parse_http_message, split_multipart
from crmsync_dynamics.emulator import DataverseEmulator, serve

from .conftest import CLIENT_ID, CLIENT_SECRET

API = "https://contoso.crm.dynamics.com/api/data/v9.2"


@pytest.fixture
def client(emulator: DataverseEmulator) -> httpx.Client:
    http = httpx.Client(transport=emulator.transport())
    token = http.post(
        emulator.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "https://contoso.crm.dynamics.com/.default",
        },
    )
    assert token.status_code == 200
    body = token.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert isinstance(body["expires_in"], int)
    http.headers["Authorization"] = f"Bearer {body['access_token']}"
    return http


def test_token_errors_are_entra_bodies(emulator):
    http = httpx.Client(transport=emulator.transport())
    answer = http.post(
        emulator.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "https://other.crm.dynamics.com/.default",
        },
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_scope" and body["error_codes"] == [70011]
    assert body["error_description"].startswith("AADSTS70011:")


def test_401_has_the_unquoted_challenge(emulator):
    answer = httpx.Client(transport=emulator.transport()).get(f"{API}/WhoAmI")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == (
        "Bearer authorization_uri=https://login.microsoftonline.com/"
        "11111111-2222-3333-4444-555555555555/oauth2/authorize, "
        "resource_id=https://contoso.crm.dynamics.com/"
    )


def test_unknown_and_case_mismatched_sets_are_0x8006088a(client):
    answer = client.get(f"{API}/Leads")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {"code": "0x8006088a", "message": "Resource not found for the segment 'Leads'."}
    }


def test_create_answers_204_with_both_entity_headers_and_201_with_representation(client):
    plain = client.post(f"{API}/leads", json={"lastname": "Ng", "subject": "x"})
    assert plain.status_code == 204
    assert plain.headers["OData-EntityId"] == plain.headers["Location"]
    assert plain.headers["OData-EntityId"].startswith(f"{API}/leads(")
    rich = client.post(
        f"{API}/leads?$select=leadid,modifiedon",
        json={"lastname": "Ng"},
        headers={"Prefer": "return=representation"},
    )
    assert rich.status_code == 201
    body = rich.json()
    assert body["@odata.context"].endswith("$metadata#leads(leadid,modifiedon)/$entity")
    assert body["@odata.etag"].startswith('W/"') and body["modifiedon"].endswith("Z")


def test_patch_semantics_upsert_update_only_create_only_and_stale(client):
    row = "leads(3c9e5a10-0000-0000-0000-000000000000)"
    missing = client.patch(f"{API}/{row}", json={"lastname": "A"}, headers={"If-Match": "*"})
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "0x80040217",
        "message": "lead With Id = 3c9e5a10-0000-0000-0000-000000000000 Does Not Exist",
    }
    assert client.patch(f"{API}/{row}", json={"lastname": "A"}).status_code == 204  # upsert
    again = client.patch(f"{API}/{row}", json={"lastname": "B"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412 and again.json()["error"]["code"] == "0x80040237"
    stale = client.patch(f"{API}/{row}", json={"lastname": "C"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "0x80060882"


def test_validation_errors_keep_the_two_spaces(client):
    answer = client.post(f"{API}/leads", json={"lastname": "x" * 51})
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "0x80044331",
        "message": "A validation error occurred.  The length of the 'lastname' attribute of "
        "the 'lead' entity exceeded the maximum allowed length of '50'.",
    }
    choice = client.post(f"{API}/leads", json={"lastname": "A", "leadsourcecode": 99})
    assert choice.json()["error"]["code"] == "0x8004431A"
    unknown = client.get(f"{API}/leads?$select=nosuchcolumn")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "0x0"


def test_skip_and_tracked_filters_are_refused(client):
    assert client.get(f"{API}/leads?$skip=2").status_code == 400
    tracked = client.get(
        f"{API}/leads?$filter=lastname eq 'A'", headers={"Prefer": "odata.track-changes"}
    )
    assert tracked.status_code == 400
    assert "isn't supported when Change Tracking is enabled" in tracked.json()["error"]["message"]


def test_paging_and_delta_shapes(emulator, client):
    ids = emulator.seed("lead", [{"lastname": f"N{n}"} for n in range(3)])
    first = client.get(
        f"{API}/leads?$select=lastname",
        headers={"Prefer": "odata.track-changes,odata.maxpagesize=2"},
    )
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=2,odata.track-changes"
    assert "$skiptoken=%3Ccookie%20pagenumber" in first.json()["@odata.nextLink"]
    last = client.get(first.json()["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"})
    delta_link = last.json()["@odata.deltaLink"]
    emulator.clock.advance(1)
    emulator.delete("lead", ids[0])
    emulator.edit("lead", ids[1], {"firstname": "Z"})
    delta = client.get(delta_link).json()
    assert delta["@odata.context"].endswith("$metadata#leads(lastname)/$delta")
    kinds = [item.get("reason", "row") for item in delta["value"]]
    assert kinds == ["row", "deleted"]  # upserts first, then deletions
    tombstone = delta["value"][1]
    assert tombstone == {
        "@odata.context": f"{API}/$metadata#leads/$deletedEntity",
        "id": ids[0],
        "reason": "deleted",
    }


def test_batch_changesets_are_atomic_and_continue_on_error_goes_on(client):
    body = (
        "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_a\r\n\r\n"
        "--changeset_a\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
        "\r\nContent-ID: 1\r\n\r\nPOST /api/data/v9.2/leads HTTP/1.1\r\n"
        'Content-Type: application/json; type=entry\r\n\r\n{"lastname": "Haddad"}\r\n'
        "--changeset_a\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
        "\r\nContent-ID: 2\r\n\r\nPATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        '{"lastname": "' + "x" * 60 + '"}\r\n--changeset_a--\r\n'
        "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_b\r\n\r\n"
        "--changeset_b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
        "\r\nContent-ID: 3\r\n\r\nPOST /api/data/v9.2/leads HTTP/1.1\r\n"
        'Content-Type: application/json\r\n\r\n{"lastname": "Ok"}\r\n--changeset_b--\r\n'
        "--batch_1--\r\n"
    )
    headers = {"Content-Type": "multipart/mixed; boundary=batch_1"}
    stopped = client.post(f"{API}/$batch", content=body, headers=headers)
    assert stopped.status_code == 400
    parts = split_multipart(stopped.text, boundary_of(stopped.headers["Content-Type"]) or "")
    assert len(parts) == 1  # stopped at the failing changeset
    (failing,) = split_multipart(parts[0].body, boundary_of(parts[0].content_type) or "")
    assert failing.headers["content-id"] == "2"
    assert parse_http_message(failing.body).status == 400
    assert client.get(f"{API}/leads").json()["value"] == []  # rolled back
    going_on = client.post(
        f"{API}/$batch", content=body, headers={**headers, "Prefer": "odata.continue-on-error"}
    )
    assert going_on.status_code == 200
    names = [r["lastname"] for r in client.get(f"{API}/leads").json()["value"]]
    assert names == ["Ok"]
    refused = client.post(f"{API}/$batch", content="nonsense", headers=headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "0x0"


def test_create_multiple_is_all_or_nothing(client):
    targets = [
        {"@odata.type": "Microsoft.Dynamics.CRM.lead", "lastname": "A"},
        {"@odata.type": "Microsoft.Dynamics.CRM.lead", "lastname": "x" * 60},
    ]
    refused = client.post(
        f"{API}/leads/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets}
    )
    assert refused.status_code == 400
    assert client.get(f"{API}/leads").json()["value"] == []
    made = client.post(
        f"{API}/leads/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets[:1]}
    )
    assert made.status_code == 200 and len(made.json()["Ids"]) == 1


def test_qualify_lead_answers_full_records_and_closes_the_lead(emulator, client):
    (lead,) = emulator.seed("lead", [{"lastname": "Haddad", "emailaddress1": "r@x.io"}])
    answer = client.post(
        f"{API}/leads({lead})/Microsoft.Dynamics.CRM.QualifyLead",
        json={
            "CreateAccount": False,
            "CreateContact": True,
            "CreateOpportunity": True,
            "Status": 3,
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["@odata.context"].endswith(
        "$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)"
    )
    contact, opportunity = body["value"]
    assert contact["@odata.type"] == "#Microsoft.Dynamics.CRM.contact"
    assert contact["_originatingleadid_value"] == lead and "@odata.etag" not in contact
    assert contact["createdon"] == contact["modifiedon"]
    assert opportunity["_parentcontactid_value"] == contact["contactid"]
    assert emulator.get("lead", lead)["statecode"] == 1
    twice = client.post(
        f"{API}/leads({lead})/Microsoft.Dynamics.CRM.QualifyLead",
        json={
            "CreateAccount": False,
            "CreateContact": True,
            "CreateOpportunity": False,
            "Status": 3,
        },
    )
    assert twice.status_code == 400


def test_merge_needs_odata_type_and_marks_the_subordinate(emulator, client):
    keep, absorb = emulator.seed("contact", [{"lastname": "K"}, {"lastname": "A"}])
    untyped = client.post(
        f"{API}/Merge",
        json={"Target": {"contactid": keep}, "Subordinate": {"contactid": absorb}},
    )
    assert untyped.status_code == 400
    typed = {"@odata.type": "Microsoft.Dynamics.CRM.contact"}
    merged = client.post(
        f"{API}/Merge",
        json={
            "Target": {**typed, "contactid": keep},
            "Subordinate": {**typed, "contactid": absorb},
            "UpdateContent": {**typed, "emailaddress1": "new@x.io"},
            "PerformParentingChecks": False,
        },
    )
    assert merged.status_code == 204
    row = emulator.get("contact", absorb)
    assert row["merged"] is True and row["masterid"] == keep
    assert (row["statecode"], row["statuscode"]) == (1, 2)
    assert emulator.get("contact", keep)["emailaddress1"] == "new@x.io"


def test_metadata_casts_give_lengths_and_options(client):
    root = f"{API}/EntityDefinitions(LogicalName='lead')/Attributes"
    base = client.get(f"{root}?$select=LogicalName,MaxLength")
    assert base.status_code == 400  # MaxLength needs the string cast
    strings = client.get(
        f"{root}/Microsoft.Dynamics.CRM.StringAttributeMetadata?$select=LogicalName,MaxLength"
    )
    lengths = {a["LogicalName"]: a["MaxLength"] for a in strings.json()["value"]}
    assert lengths["lastname"] == 50 and lengths["subject"] == 300
    picklists = client.get(
        f"{root}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName"
        "&$filter=LogicalName eq 'leadqualitycode'&$expand=OptionSet($select=Options)"
    )
    (quality,) = picklists.json()["value"]
    labels = [o["Label"]["UserLocalizedLabel"]["Label"] for o in quality["OptionSet"]["Options"]]
    assert labels == ["Hot", "Warm", "Cold"]
    assert client.get(f"{root}/Microsoft.Dynamics.CRM.EnumAttributeMetadata").status_code == 400


def test_duplicate_detection_only_when_asked(emulator, client):
    emulator.seed("lead", [{"lastname": "A", "emailaddress1": "dup@x.io"}])
    quiet = client.post(f"{API}/leads", json={"lastname": "B", "emailaddress1": "dup@x.io"})
    assert quiet.status_code == 204
    loud = client.post(
        f"{API}/leads",
        json={"lastname": "C", "emailaddress1": "DUP@x.io"},
        headers={"MSCRM.SuppressDuplicateDetection": "false"},
    )
    assert loud.status_code == 500 and loud.json()["error"]["code"] == "0x80040333"


def test_the_concurrency_cap_fails_at_once(emulator, client):
    emulator.concurrency_limit = 1
    entered, release = threading.Event(), threading.Event()
    slow = emulator.dispatch

    def held(request):
        entered.set()
        release.wait(5)
        return slow(request)

    emulator.dispatch = held  # type: ignore[method-assign]
    worker = threading.Thread(target=lambda: client.get(f"{API}/WhoAmI"))
    worker.start()
    entered.wait(5)
    emulator.dispatch = slow  # type: ignore[method-assign]
    second = client.get(f"{API}/WhoAmI")
    release.set()
    worker.join(5)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "0x80072326" and second.headers["Retry-After"]


def test_request_limit_over_its_window(emulator, client):
    emulator.request_limit = (2, 300)
    assert [client.get(f"{API}/WhoAmI").status_code for _ in range(3)] == [200, 200, 429]
    emulator.clock.advance(301)
    assert client.get(f"{API}/WhoAmI").status_code == 200


def test_served_emulator_answers_on_loopback():
    served = serve()
    try:
        settings = served.settings
        with httpx.Client(base_url=served.url, timeout=5) as http:
            token = http.post(
                f"/{settings['tenant_id']}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings["client_id"],
                    "client_secret": settings["client_secret"],
                    "scope": f"{served.url}/.default",
                },
            ).json()["access_token"]
            (lead,) = served.seed("lead", [{"lastname": "Served"}])
            answer = http.get(
                f"/api/data/v9.2/leads({lead})", headers={"Authorization": f"Bearer {token}"}
            )
        assert answer.json()["lastname"] == "Served"
        assert json.loads(answer.text)["leadid"] == lead
    finally:
        served.stop()


def test_lead_state_machine_binds_and_closed_lead_strictness(emulator, client):
    (lead,) = emulator.seed("lead", [{"lastname": "S"}])
    row = f"{API}/leads({lead})"
    wrong = client.patch(row, json={"statecode": 0, "statuscode": 3}, headers={"If-Match": "*"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "0x8004431A"
    closed = client.patch(row, json={"statecode": 2}, headers={"If-Match": "*"})
    assert closed.status_code == 204
    assert (emulator.get("lead", lead)["statecode"], emulator.get("lead", lead)["statuscode"]) == (
        2,
        4,
    )  # the state's default status
    emulator.store.strict_closed_leads = True
    refused = client.patch(row, json={"firstname": "X"}, headers={"If-Match": "*"})
    assert refused.status_code == 400
    reopened = client.patch(row, json={"statecode": 0, "statuscode": 1}, headers={"If-Match": "*"})
    assert reopened.status_code == 204
    missing = "00000000-0000-0000-0000-0000000000aa"
    bind = client.patch(
        row,
        json={"parentcontactid@odata.bind": f"/contacts({missing})"},
        headers={"If-Match": "*"},
    )
    assert bind.status_code == 404 and bind.json()["error"]["code"] == "0x80040217"
