"""The connector's requests at the HTTP seam, checked against the fact sheet: token
requests, headers, queries, the ``$batch`` body, and what is refused before sending."""

from __future__ import annotations

import datetime as dt
import json
import logging
from urllib.parse import parse_qsl

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from crmsync.authoring import TokenCache
from crmsync.contract import Cursor, WriteRequest
from crmsync.errors import AuthenticationExpired, AuthenticationFailed, RateLimited
from crmsync_dynamics import DynamicsConnector
from crmsync_dynamics.emulator import DataverseEmulator

from .conftest import CLIENT_ID, CLIENT_SECRET, FROZEN, make_settings

API = "/api/data/v9.2"


@pytest.fixture(scope="module")
def certificate() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crmsync-test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return private, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_client_secret_token_request_is_the_v2_client_credentials_form(emulator, connector):
    (token,) = emulator.calls("POST", "/oauth2/v2.0/token")
    assert token.path == "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"
    form = token.form()
    assert form["grant_type"] == "client_credentials"
    assert form["client_id"] == CLIENT_ID
    assert form["scope"] == "https://contoso.crm.dynamics.com/.default"
    assert form["client_secret"] == "***"  # sent, and masked in the log


def test_certificate_auth_signs_a_client_assertion_with_x5t(certificate):
    private, public = certificate
    emulator = DataverseEmulator()
    emulator.clock.freeze(FROZEN)
    emulator.register_app(CLIENT_ID, certificate_pem=public)
    settings = make_settings(
        auth="certificate", client_secret=None, private_key=private, certificate=public
    )
    captured: list[httpx.Request] = []

    def spy(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return emulator.handle(request)

    connector = DynamicsConnector(settings=settings, transport=httpx.MockTransport(spy))
    connector.authenticate()
    form = dict(parse_qsl(captured[0].content.decode()))
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert "client_secret" not in form
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header["alg"] == "RS256" and header["x5t"]
    claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == (
        "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"
    )
    assert connector.list_fields("lead")
    connector.close()


def test_a_wrong_secret_is_authentication_failed_without_the_secret(emulator):
    connector = DynamicsConnector(
        settings=make_settings(client_secret="not-the-secret-at-all"),
        transport=emulator.transport(),
    )
    with pytest.raises(AuthenticationFailed) as raised:
        connector.authenticate()
    assert "AADSTS7000215" in str(raised.value)
    assert "not-the-secret-at-all" not in str(raised.value) + repr(connector)
    assert CLIENT_SECRET not in repr(connector.settings)


def test_every_web_api_call_carries_the_odata_headers(emulator, connector):
    connector.fetch_changed("lead", ["firstname"], None, None, 10)
    for call in emulator.data_calls():
        assert call.headers["odata-maxversion"] == "4.0"
        assert call.headers["odata-version"] == "4.0"
        assert call.headers["accept"] == "application/json"
        assert call.headers["if-none-match"] == "null"
        assert call.headers["authorization"] == "Bearer ***"


def test_watermark_read_filters_orders_with_a_key_tie_break_and_pages(emulator, connector):
    emulator.set_change_tracking("lead", False)
    emulator.seed("lead", [{"lastname": "A", "emailaddress1": "a@x.io"}])
    cursor = Cursor(modified_at=FROZEN - dt.timedelta(minutes=5))
    connector.fetch_changed("lead", ["emailaddress1", "parentcontactid"], cursor, None, 100)
    (read,) = [c for c in emulator.calls("GET", f"{API}/leads")]
    assert read.query["$filter"] == "modifiedon ge 2025-03-14T08:55:00Z"
    assert read.query["$orderby"] == "modifiedon asc,leadid asc"
    assert read.query["$select"] == (
        "leadid,modifiedon,merged,_masterid_value,statecode,emailaddress1,_parentcontactid_value"
    )
    assert read.headers["prefer"] == "odata.maxpagesize=101"  # one row of look-ahead


def test_change_tracking_takes_a_token_first_then_reads_deltas(emulator, connector, caplog):
    emulator.seed("lead", [{"lastname": "A"}])
    with caplog.at_level(logging.INFO, logger="crmsync_dynamics"):
        page = connector.fetch_changed("lead", ["lastname"], None, None, 10)
    assert "change tracking" in caplog.text
    assert page.cursor.token and page.cursor.token.startswith("delta:")
    tracked = emulator.calls("GET", f"{API}/leads")[0]
    assert tracked.headers["prefer"] == "odata.track-changes,odata.maxpagesize=5000"
    assert set(tracked.query) == {"$select"}  # no $filter/$orderby/$top with tracking
    emulator.clock.advance(5)
    emulator.seed("lead", [{"lastname": "B"}])
    again = connector.fetch_changed("lead", ["lastname"], page.cursor, None, 10)
    delta = emulator.calls("GET", f"{API}/leads")[-1]
    assert delta.query["$deltatoken"] == page.cursor.token.removeprefix("delta:")
    assert [r.values["lastname"] for r in again.records] == ["B"]


def test_writes_are_one_batch_of_changesets_with_conditional_headers(emulator, connector):
    (existing,) = emulator.seed("lead", [{"lastname": "Old", "parentcontactid@odata.bind": None}])
    (contact,) = emulator.seed("contact", [{"lastname": "C"}])
    emulator.edit("lead", existing, {"parentcontactid@odata.bind": f"/contacts({contact})"})
    requests = [
        WriteRequest(
            ref="u1",
            op="update",
            record_id=existing,
            values={"firstname": "New", "parentcontactid": None},
        ),
        WriteRequest(ref="c1", op="create", values={"lastname": "Fresh", "leadsourcecode": "Web"}),
    ]
    results = connector.push_updates("lead", requests)
    assert [r.ok for r in results] == [True, True]
    (batch,) = emulator.calls("POST", f"{API}/$batch")[-1:]
    assert batch.headers["prefer"] == "odata.continue-on-error"
    body = batch.body.decode()
    assert body.count('boundary="changeset_') == 2  # one changeset per record
    assert f"PATCH {API}/leads({existing})?$select=leadid,modifiedon HTTP/1.1" in body
    assert "If-Match: *" in body and "If-None-Match: *" in body
    assert f"DELETE {API}/leads({existing})/parentcontactid/$ref HTTP/1.1" in body
    assert '"leadsourcecode": 8' in body  # the label went out as its option value
    assert emulator.get("lead", existing)["parentcontactid"] is None
    created = emulator.get("lead", results[1].record_id)
    assert created is not None and created["leadsourcecode"] == 8
    assert results[0].modified_at == FROZEN


def test_bad_values_are_refused_per_record_before_sending(emulator, connector):
    (lead,) = emulator.seed("lead", [{"lastname": "A"}])
    connector.list_fields("lead")
    mark = len(emulator.log)
    results = connector.push_updates(
        "lead",
        [
            WriteRequest(ref="a", op="update", record_id=lead, values={"lastname": "x" * 51}),
            WriteRequest(ref="b", op="update", record_id=lead, values={"leadsourcecode": "Fax"}),
            WriteRequest(ref="c", op="update", record_id=lead, values={"fullname": "Read Only"}),
            WriteRequest(ref="d", op="update", record_id=lead, values={"statecode": "Qualified"}),
        ],
    )
    assert [(r.error.code, r.error.field) for r in results if r.error] == [
        ("0x80044331", "lastname"),
        ("0x8004431A", "leadsourcecode"),
        ("READ_ONLY", "fullname"),
        ("READ_ONLY", "statecode"),
    ]
    assert len(emulator.log) == mark  # nothing was sent


def test_an_update_of_a_deleted_row_is_missing_never_an_upsert(emulator, connector):
    (lead,) = emulator.seed("lead", [{"lastname": "A"}])
    emulator.delete("lead", lead)
    (result,) = connector.push_updates(
        "lead", [WriteRequest(ref="u", op="update", record_id=lead, values={"firstname": "X"})]
    )
    assert not result.ok and result.error.missing and result.error.code == "0x80040217"
    assert emulator.get("lead", lead) is None


def test_a_401_forgets_the_token_and_authenticate_renews_it(emulator, connector):
    emulator.expire_tokens()
    with pytest.raises(AuthenticationExpired):
        connector.list_fields("lead")
    connector.authenticate()
    assert connector.list_fields("lead")


def test_a_new_process_uses_the_token_an_earlier_one_kept(emulator, tmp_path):
    clock = emulator.clock.timestamp
    kept = TokenCache.for_connection(
        tmp_path, connector="dynamics", settings=make_settings(), seconds=600, clock=clock
    )

    def process() -> DynamicsConnector:
        return DynamicsConnector(
            settings=make_settings(), transport=emulator.transport(), clock=clock,
            token_cache=kept,
        )

    process().authenticate()
    second = process()
    second.authenticate()
    assert second.list_fields("lead")
    assert len(emulator.calls("POST", "/oauth2/v2.0/token")) == 1
    (path,) = tmp_path.iterdir()
    assert path.name.endswith("-token-client_credentials.bin")
    assert CLIENT_SECRET.encode() not in path.read_bytes()
    # Another secret (rotated in Entra ID) cannot read it: a token request, no error.
    emulator.register_app(CLIENT_ID, client_secret="a-new-secret-value")
    other = DynamicsConnector(
        settings=make_settings(client_secret="a-new-secret-value"),
        transport=emulator.transport(), clock=clock, token_cache=kept,
    )
    other.authenticate()
    assert len(emulator.calls("POST", "/oauth2/v2.0/token")) == 2


def test_429_carries_retry_after(emulator, connector):
    emulator.faults.inject("rate_limit", path_contains="/$batch", retry_after=12)
    with pytest.raises(RateLimited) as raised:
        connector.list_fields("contact")
    assert raised.value.retry_after == 12.0
    assert "0x80072322" in str(raised.value)


def test_lookup_is_one_filtered_query_excluding_closed_and_merged_rows(emulator, connector):
    (open_lead,) = emulator.seed("lead", [{"lastname": "A", "emailaddress1": "o'neil@x.io"}])
    (closed,) = emulator.seed("lead", [{"lastname": "B", "emailaddress1": "o'neil@x.io"}])
    emulator.qualify(closed)
    found = connector.lookup_records("lead", "emailaddress1", [" O'Neil@X.io "], ["lastname"], None)
    assert [r.record_id for r in found.records] == [open_lead] and found.next_page is None
    query = emulator.calls("GET", f"{API}/leads")[-1].query
    assert query["$filter"] == (
        "(emailaddress1 eq 'O''Neil@X.io') and merged eq false and statecode eq 0"
    )


def test_list_fields_maps_choices_lengths_and_requirement(connector):
    specs = {s.name: s for s in connector.list_fields("lead")}
    assert specs["lastname"].length == 50 and specs["lastname"].required_on_create
    assert specs["emailaddress1"].type == "email" and specs["emailaddress1"].length == 100
    assert specs["leadsourcecode"].type == "picklist"
    assert "Web" in specs["leadsourcecode"].picklist_values
    assert specs["leadsourcecode"].restricted_picklist
    assert specs["statuscode"].picklist_values[:2] == ("New", "Contacted")
    assert specs["fullname"].read_only and specs["modifiedon"].read_only
    assert specs["parentcontactid"].type == "reference" and not specs["parentcontactid"].read_only


def test_settings_errors_name_the_setting():
    with pytest.raises(ValidationError, match="environment_url"):
        make_settings(environment_url="https://contoso.example.com")
    with pytest.raises(ValidationError, match="client_secret"):
        make_settings(client_secret=None)
    with pytest.raises(ValidationError, match="private_key"):
        make_settings(auth="certificate", client_secret=None)
    assert make_settings(environment_url="http://127.0.0.1:8080").environment_url


def test_description_declares_limits_and_the_emulator():
    description = DynamicsConnector.describe_connector()
    assert description.max_batch_size == 1000
    assert description.max_concurrency == 52
    assert description.person_objects == ("contact", "lead")
    assert description.emulator == "crmsync_dynamics.emulator:serve"
    assert json.dumps(sorted(description.capabilities))


def test_lookup_pages_fifty_values_per_request(emulator, connector):
    emails = [f"v{n}@x.io" for n in range(120)]
    emulator.seed(
        "contact", [{"lastname": f"V{n}", "emailaddress1": e} for n, e in enumerate(emails)]
    )
    found, page, calls = [], None, 0
    while True:
        answer = connector.lookup_records("contact", "emailaddress1", emails, ["lastname"], page)
        calls += 1
        found += [r.record_id for r in answer.records]
        page = answer.next_page
        if page is None:
            break
    assert calls == 3 and len(set(found)) == 120
