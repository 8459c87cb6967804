"""ConnectorHttp with each auth object, through an emulator's MockTransport."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import httpx
import jwt
import pytest

from crmsync.authoring import (
    ClientAssertion,
    ClientCredentials,
    HeaderKeys,
    JwtBearer,
    RefreshTokenGrant,
    RefreshTokenStore,
    Token,
)
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    ConfigurationError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)

from .conftest import BASE, TOKEN_URL, AcmeEmulator, make_http

SECRET = "s3cret-value-of-app"


def credentials() -> ClientCredentials:
    return ClientCredentials(token_url=TOKEN_URL, client_id="app", client_secret=SECRET)


def test_client_credentials_fetch_cache_and_extra(emulator: AcmeEmulator) -> None:
    auth = credentials()
    http = make_http(emulator, auth)
    response = http.request("GET", "/v1/leads", object_name="Leads")
    assert response.json()["module"] == "leads"
    http.request("GET", f"{BASE}/v1/contacts")
    assert emulator.oauth.requests == 1  # cached
    token = auth.token
    assert token is not None and token.extra["api_domain"] == BASE
    assert token.expires_at is not None
    sent = emulator.log.calls("GET")[0]
    assert sent.headers["authorization"] == "Bearer ***"
    assert sent.headers["user-agent"] == "crmsync-acme/0.1"
    form = emulator.log.calls("POST", "/oauth/token")[0].form()
    assert form["client_secret"] == "***"
    assert SECRET not in repr(auth) and SECRET not in repr(token)
    assert token.access_token not in repr(token)


def test_a_token_is_renewed_before_it_expires(emulator: AcmeEmulator) -> None:
    now = [1_000_000.0]
    emulator.oauth.lifetime = 600
    auth = ClientCredentials(
        token_url=TOKEN_URL,
        client_id="app",
        client_secret=SECRET,
        clock=lambda: now[0],
        leeway=60,
    )
    http = make_http(emulator, auth)
    http.request("GET", "/v1/leads")
    now[0] += 530
    http.request("GET", "/v1/leads")
    assert emulator.oauth.requests == 1
    now[0] += 20  # within the leeway of expires_in
    http.request("GET", "/v1/leads")
    assert emulator.oauth.requests == 2


def test_an_expired_token_is_dropped_and_renewed_once_across_threads(
    emulator: AcmeEmulator,
) -> None:
    auth = credentials()
    http = make_http(emulator, auth)
    http.request("GET", "/v1/leads")
    emulator.faults.inject("expired", path_contains="/v1/leads")
    with pytest.raises(AuthenticationExpired) as caught:
        http.request("GET", "/v1/leads", object_name="Leads")
    assert caught.value.connector == "acme" and caught.value.object_name == "Leads"
    assert auth.token is None
    start = threading.Barrier(4)

    def renew() -> None:
        start.wait()
        auth.ensure_token(force=True)

    workers = [threading.Thread(target=renew) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert emulator.oauth.requests == 2  # one renewal for four workers
    assert http.request("GET", "/v1/leads").status_code == 200


def test_force_without_an_expiry_renews(emulator: AcmeEmulator) -> None:
    auth = credentials()
    make_http(emulator, auth)
    first = auth.ensure_token(force=True)
    second = auth.ensure_token(force=True)
    assert first.generation < second.generation
    assert emulator.oauth.requests == 2


def test_refused_credentials_are_authentication_failed(emulator: AcmeEmulator) -> None:
    auth = ClientCredentials(
        token_url=TOKEN_URL, client_id="app", client_secret="wrong-one"
    )
    http = make_http(emulator, auth)
    with pytest.raises(AuthenticationFailed) as caught:
        http.request("GET", "/v1/leads")
    assert "invalid_client" in str(caught.value) and "wrong-one" not in str(
        caught.value
    )


def test_token_endpoint_faults(emulator: AcmeEmulator) -> None:
    http = make_http(emulator, credentials())
    emulator.faults.inject("rate_limit", path_contains="/oauth/token", retry_after=None)
    with pytest.raises(RateLimited) as limited:
        http.request("GET", "/v1/leads")
    assert limited.value.retry_after is None
    emulator.faults.inject("transient", path_contains="/oauth/token")
    with pytest.raises(TransientError):
        http.request("GET", "/v1/leads")
    assert http.request("GET", "/v1/leads").status_code == 200


def test_basic_client_auth(emulator: AcmeEmulator) -> None:
    auth = ClientCredentials(
        token_url=TOKEN_URL, client_id="app", client_secret=SECRET, client_auth="basic"
    )
    make_http(emulator, auth).request("GET", "/v1/leads")
    logged = emulator.log.calls("POST", "/oauth/token")[0]
    assert logged.headers["authorization"] == "Basic ***"
    assert "client_secret" not in logged.form()


def test_jwt_bearer_signs_a_verifiable_assertion(
    emulator: AcmeEmulator, rsa_pem: tuple[str, str]
) -> None:
    private, public = rsa_pem
    emulator.oauth.register_client("app", public_key=public, users=["pat@acme.example"])
    auth = JwtBearer(
        token_url=TOKEN_URL,
        issuer="app",
        subject="pat@acme.example",
        audience=TOKEN_URL,
        private_key=private,
    )
    assert make_http(emulator, auth).request("GET", "/v1/leads").status_code == 200
    bad = JwtBearer(
        token_url=TOKEN_URL,
        issuer="app",
        subject="pat@acme.example",
        audience=TOKEN_URL,
        private_key="not a key",
    )
    with pytest.raises(AuthenticationFailed, match="not a usable PEM RSA key"):
        make_http(emulator, bad).request("GET", "/v1/leads")


def test_jwt_bearer_reads_a_key_file(
    emulator: AcmeEmulator, rsa_pem: tuple[str, str], tmp_path: Path
) -> None:
    emulator.oauth.register_client("app", public_key=rsa_pem[1], users=["pat"])
    key = tmp_path / "key.pem"
    key.write_text(rsa_pem[0])
    auth = JwtBearer(
        token_url=TOKEN_URL,
        issuer="app",
        subject="pat",
        audience=TOKEN_URL,
        private_key=key,
    )
    assert make_http(emulator, auth).request("GET", "/v1/leads").status_code == 200
    missing = JwtBearer(
        token_url=TOKEN_URL,
        issuer="app",
        subject="pat",
        audience=TOKEN_URL,
        private_key=tmp_path / "nope.pem",
    )
    with pytest.raises(AuthenticationFailed, match="cannot read the private key file"):
        make_http(emulator, missing).request("GET", "/v1/leads")


def test_client_assertion_with_a_certificate_thumbprint(
    emulator: AcmeEmulator, rsa_pem: tuple[str, str]
) -> None:
    emulator.oauth.register_client("app", public_key=rsa_pem[1])
    auth = ClientAssertion(
        token_url=TOKEN_URL,
        client_id="app",
        private_key=rsa_pem[0],
        thumbprint="AB:CD:EF:01",
        scope="https://acme.example/.default",
    )
    make_http(emulator, auth).request("GET", "/v1/leads")
    form = emulator.log.calls("POST", "/oauth/token")[0].form()
    assert form["client_assertion"] == "***"
    assert form["scope"] == "https://acme.example/.default"
    header = jwt.get_unverified_header(auth.form()["client_assertion"])
    assert header["x5t"] == "q83vAQ"


def test_refresh_token_rotation_is_written_back(
    emulator: AcmeEmulator, tmp_path: Path
) -> None:
    emulator.oauth.register_client("app", secret=SECRET, rotate_refresh_tokens=True)
    first = emulator.oauth.issue_refresh_token("app")
    path = tmp_path / "refresh"
    path.write_text(first + "\n")
    store = RefreshTokenStore(path=path, connector="acme")
    auth = RefreshTokenGrant(token_url=TOKEN_URL, client_id="app", store=store)
    http = make_http(emulator, auth)
    http.request("GET", "/v1/leads")
    rotated = path.read_text().strip()
    assert rotated != first and rotated == store.current()
    assert path.stat().st_mode & 0o777 == 0o600
    auth.ensure_token(force=True)  # the rotated one works; the first is revoked
    assert path.read_text().strip() != rotated
    spent = RefreshTokenGrant(
        token_url=TOKEN_URL,
        client_id="app",
        store=RefreshTokenStore(first),
        spent_hint="put a new refresh token in the file",
    )
    with pytest.raises(AuthenticationFailed) as caught:
        make_http(emulator, spent).request("GET", "/v1/leads")
    assert caught.value.hint == "put a new refresh token in the file"
    assert first not in str(caught.value)


def test_refresh_token_store_problems(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        RefreshTokenStore()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(AuthenticationFailed, match="is empty"):
        RefreshTokenStore(path=empty).current()
    with pytest.raises(AuthenticationFailed, match="cannot read"):
        RefreshTokenStore(path=tmp_path / "missing").current()
    assert "secret-token" not in repr(RefreshTokenStore("secret-token"))


def test_header_keys(emulator: AcmeEmulator) -> None:
    keys = HeaderKeys({"UserName": "api@acme", "Secret": "top-secret-value"})
    assert "top-secret-value" not in repr(keys)
    emulator.faults.inject("permanent", code="NOPE")
    http = make_http(emulator, keys)
    with pytest.raises(PermanentError):
        http.request("GET", "/v1/leads")
    assert emulator.log.calls()[0].headers["secret"] == "***"


def test_a_token_answer_pointing_elsewhere_is_refused(emulator: AcmeEmulator) -> None:
    emulator.oauth.answer_extra = lambda request, client: {
        "instance_url": "http://169.254.169.254"
    }
    with pytest.raises(PermanentError) as caught:
        make_http(emulator, credentials()).request("GET", "/v1/leads")
    assert caught.value.code == "UNTRUSTED_URL" and "instance_url" in str(caught.value)


def test_vendor_links_and_base_urls_are_guarded(emulator: AcmeEmulator) -> None:
    http = make_http(emulator, credentials())
    for link in (
        "https://evil.example/v1/leads",
        "http://api.acme.example/v1",
        "//evil.com/x",
    ):
        with pytest.raises(PermanentError):
            http.request("GET", link)
    with pytest.raises(ConfigurationError):
        http.base_url = "https://10.0.0.1"
    assert emulator.log.calls() == []  # nothing left the process


def test_no_base_url() -> None:
    http = make_http(AcmeEmulator(), None)
    http.base_url = None
    with pytest.raises(ConfigurationError, match="no base URL"):
        http.request("GET", "/v1/leads")


def test_transport_failures(emulator: AcmeEmulator) -> None:
    http = make_http(emulator, credentials())
    http.request("GET", "/v1/leads")
    emulator.faults.inject("dropped_connection", path_contains="/v1/leads")
    with pytest.raises(TransientError):
        http.request("GET", "/v1/leads")
    emulator.faults.inject(
        "dropped_connection", path_contains="/v1/leads", after_commit=True
    )
    with pytest.raises(OutcomeUnknown):
        http.request("POST", "/v1/leads", json={"a": 1}, write=True, idempotent=False)
    assert len(emulator.created) == 1  # carried out; only the answer was lost
    emulator.faults.inject("slow", path_contains="/v1/leads", timeout=True)
    with pytest.raises(TransientError):  # an idempotent write is repeatable
        http.request("POST", "/v1/leads", json={"a": 1}, write=True)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    closed = make_http(
        emulator,
        None,
    )
    closed._client = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(TransientError, match="ConnectError"):
        closed.request("POST", "/v1/leads", write=True, idempotent=False)


def test_accept_returns_error_answers(emulator: AcmeEmulator) -> None:
    http = make_http(emulator, credentials())
    emulator.faults.inject("permanent", path_contains="/v1/leads", status=400)
    assert http.request("GET", "/v1/leads", accept=(400,)).status_code == 400


def test_json_of_a_non_json_answer(emulator: AcmeEmulator) -> None:
    http = make_http(emulator, credentials())
    with pytest.raises(PermanentError, match="not JSON"):
        http.json(httpx.Response(200, text="<html/>"))


def test_token_repr_and_equality() -> None:
    token = Token("abc-secret", expires_at=dt.datetime(2024, 1, 1).timestamp())
    assert "abc-secret" not in repr(token)
