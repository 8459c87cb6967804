"""Access tokens kept across processes (TokenCache), encrypted, through the kit's
auth objects against the Acme emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmsync.authoring import (
    ClientCredentials,
    JwtBearer,
    RefreshTokenGrant,
    RefreshTokenStore,
    TokenCache,
)
from crmsync.errors import AuthenticationExpired

from .conftest import TOKEN_URL, AcmeEmulator, make_http

SECRET = "s3cret-value-of-app"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def cache(
    directory: Path, clock: Clock | None = None, seconds: float = 600
) -> TokenCache:
    return TokenCache(
        directory, name="acme-fingerprint", seconds=seconds, clock=clock or Clock()
    )


def credentials(
    kept: TokenCache, secret: str = SECRET, clock: Clock | None = None
) -> ClientCredentials:
    return ClientCredentials(
        token_url=TOKEN_URL,
        client_id="app",
        client_secret=secret,
        token_cache=kept,
        **({"clock": clock} if clock else {}),
    )


def process(emulator: AcmeEmulator, kept: TokenCache, **options: object) -> None:
    """What a new process does: a new auth object and session, one data call."""
    auth = credentials(kept, **options)  # type: ignore[arg-type]
    make_http(emulator, auth).request("GET", "/v1/leads")


def test_a_new_process_uses_the_kept_token(emulator: AcmeEmulator, tmp_path):
    kept = cache(tmp_path)
    process(emulator, kept)
    process(emulator, kept)
    assert emulator.oauth.requests == 1
    (path,) = tmp_path.iterdir()
    assert path == kept.path("client_credentials")
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_file_holds_no_token_or_secret_in_clear(emulator: AcmeEmulator, tmp_path):
    kept = cache(tmp_path)
    process(emulator, kept)
    (token,) = emulator.oauth.issued_tokens()
    blob = kept.path("client_credentials").read_bytes()  # type: ignore[union-attr]
    assert token.encode() not in blob
    assert SECRET.encode() not in blob
    assert b"api.acme.example" not in blob  # what else the answer carried, too


def test_another_secret_cannot_read_it_and_is_a_miss(emulator: AcmeEmulator, tmp_path):
    kept = cache(tmp_path)
    process(emulator, kept)
    assert kept.load("client_credentials", ("another-secret", "app", "")) is None
    # A changed secret: the process asks for a token (refused here), no crash.
    emulator.oauth.register_client("app", secret="rotated-secret")
    process(emulator, kept, secret="rotated-secret")
    assert emulator.oauth.requests == 2


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage",
        b"crmsync-token-cache-1\n\x00\x01",
        json.dumps({"a": 1}).encode(),
    ],
    ids=["empty", "garbage", "truncated", "foreign-json"],
)
def test_a_corrupt_or_foreign_file_is_a_miss(
    emulator: AcmeEmulator, tmp_path, content: bytes
):
    kept = cache(tmp_path)
    path = kept.path("client_credentials")
    assert path is not None
    path.write_bytes(content)
    process(emulator, kept)
    assert emulator.oauth.requests == 1
    process(emulator, kept)  # the bad file was replaced by a good one
    assert emulator.oauth.requests == 1


def test_a_tampered_file_is_a_miss(emulator: AcmeEmulator, tmp_path):
    kept = cache(tmp_path)
    process(emulator, kept)
    path = kept.path("client_credentials")
    assert path is not None
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    process(emulator, kept)
    assert emulator.oauth.requests == 2


def test_a_token_is_kept_at_most_the_setting_and_its_own_lifetime(
    emulator: AcmeEmulator, tmp_path
):
    clock = Clock()
    kept = cache(tmp_path, clock, seconds=600)
    process(emulator, kept, clock=clock)
    clock.now += 599
    process(emulator, kept, clock=clock)
    assert emulator.oauth.requests == 1
    clock.now += 2  # older than the setting
    process(emulator, kept, clock=clock)
    assert emulator.oauth.requests == 2
    # The vendor's expires_in is shorter than the setting: it wins.
    emulator.oauth.lifetime = 120
    kept.drop("client_credentials")
    process(emulator, kept, clock=clock)
    clock.now += 30
    process(emulator, kept, clock=clock)
    assert emulator.oauth.requests == 3
    clock.now += 60  # within the renewal leeway of its 120 seconds
    process(emulator, kept, clock=clock)
    assert emulator.oauth.requests == 4


def test_a_kept_token_carries_its_remaining_lifetime(emulator: AcmeEmulator, tmp_path):
    clock = Clock()
    kept = cache(tmp_path, clock)
    emulator.oauth.lifetime = 300
    process(emulator, kept, clock=clock)
    clock.now += 100
    auth = credentials(kept, clock=clock)
    make_http(emulator, auth)
    token = auth.ensure_token()
    assert token.expires_at == pytest.approx(clock.now + 200)
    assert emulator.oauth.requests == 1


def test_seconds_zero_keeps_nothing(emulator: AcmeEmulator, tmp_path):
    kept = cache(tmp_path, seconds=0)
    assert not kept.enabled and kept.path("client_credentials") is None
    process(emulator, kept)
    process(emulator, kept)
    assert emulator.oauth.requests == 2
    assert list(tmp_path.iterdir()) == []


def test_a_kept_token_refused_is_dropped_and_renewed_once(
    emulator: AcmeEmulator, tmp_path
):
    kept = cache(tmp_path)
    process(emulator, kept)
    emulator.oauth.expire_all()  # revoked before the next process starts
    auth = credentials(kept)
    http = make_http(emulator, auth)
    with pytest.raises(AuthenticationExpired):
        http.request("GET", "/v1/leads")
    assert emulator.oauth.requests == 1  # the kept token was sent
    assert not kept.path("client_credentials").exists()  # type: ignore[union-attr]
    auth.ensure_token(force=True)  # what the framework's authenticate() does
    auth.ensure_token(force=True)  # a second worker: renewed already
    assert emulator.oauth.requests == 2
    assert http.request("GET", "/v1/leads").status_code == 200
    process(emulator, kept)  # the renewed token was kept
    assert emulator.oauth.requests == 2


def test_the_refused_token_is_not_taken_back_from_the_cache(
    emulator: AcmeEmulator, tmp_path
):
    kept = cache(tmp_path)
    process(emulator, kept)
    stale = kept.path("client_credentials").read_bytes()  # type: ignore[union-attr]
    emulator.oauth.expire_all()
    auth = credentials(kept)
    http = make_http(emulator, auth)
    with pytest.raises(AuthenticationExpired):
        http.request("GET", "/v1/leads")
    # Another process wrote the same refused token back meanwhile.
    kept.path("client_credentials").write_bytes(stale)  # type: ignore[union-attr]
    auth.ensure_token(force=True)
    assert emulator.oauth.requests == 2
    assert http.request("GET", "/v1/leads").status_code == 200


def test_a_rotated_refresh_token_keys_the_cache_and_is_kept(
    emulator: AcmeEmulator, tmp_path
):
    emulator.oauth.register_client("app", secret=SECRET, rotate_refresh_tokens=True)
    token_file = tmp_path / "refresh.token"
    token_file.write_text(emulator.oauth.issue_refresh_token("app"))
    kept = cache(tmp_path / "cache")

    def grant() -> RefreshTokenGrant:
        return RefreshTokenGrant(
            token_url=TOKEN_URL,
            client_id="app",
            client_secret=SECRET,
            store=RefreshTokenStore(path=token_file),
            token_cache=kept,
        )

    first = token_file.read_text()
    make_http(emulator, grant()).request("GET", "/v1/leads")
    rotated = token_file.read_text()
    assert rotated != first
    make_http(emulator, grant()).request("GET", "/v1/leads")  # from the cache
    assert emulator.oauth.requests == 1 and token_file.read_text() == rotated
    blob = kept.path("refresh_token").read_bytes()  # type: ignore[union-attr]
    assert rotated.strip().encode() not in blob
    # The kept token is revoked: the next process refreshes with the rotated token.
    emulator.oauth.expire_all()
    auth = grant()
    http = make_http(emulator, auth)
    with pytest.raises(AuthenticationExpired):
        http.request("GET", "/v1/leads")
    auth.ensure_token(force=True)
    assert emulator.oauth.requests == 2
    assert token_file.read_text() not in {first, rotated}
    assert http.request("GET", "/v1/leads").status_code == 200


def test_a_process_holding_a_spent_refresh_token_gets_a_miss(
    emulator: AcmeEmulator, tmp_path
):
    kept = cache(tmp_path)
    store = RefreshTokenStore(emulator.oauth.issue_refresh_token("app"))
    auth = RefreshTokenGrant(
        token_url=TOKEN_URL, client_id="app", store=store, token_cache=kept
    )
    make_http(emulator, auth).request("GET", "/v1/leads")
    other = RefreshTokenGrant(
        token_url=TOKEN_URL,
        client_id="app",
        store=RefreshTokenStore("rt_another"),
        token_cache=kept,
    )
    assert other._from_cache() is None


def test_jwt_bearer_keys_the_cache_with_its_private_key(
    emulator: AcmeEmulator, tmp_path, rsa_pem
):
    private, public = rsa_pem
    emulator.oauth.register_client("app", public_key=public)
    emulator.oauth.audiences.add("https://login.acme.example")
    kept = cache(tmp_path / "cache")

    def bearer(key: str) -> JwtBearer:
        return JwtBearer(
            token_url=TOKEN_URL,
            issuer="app",
            subject="integration@example.com",
            audience="https://login.acme.example",
            private_key=key,
            token_cache=kept,
        )

    make_http(emulator, bearer(private)).request("GET", "/v1/leads")
    make_http(emulator, bearer(private)).request("GET", "/v1/leads")
    assert emulator.oauth.requests == 1
    blob = kept.path("jwt_bearer").read_bytes()  # type: ignore[union-attr]
    for token in emulator.oauth.issued_tokens():
        assert token.encode() not in blob
    assert bearer("not a key")._from_cache() is None


def test_an_empty_secret_keeps_nothing(emulator: AcmeEmulator, tmp_path):
    emulator.oauth.register_client("app", secret="")
    kept = cache(tmp_path)
    auth = ClientCredentials(
        token_url=TOKEN_URL, client_id="app", client_secret="", token_cache=kept
    )
    make_http(emulator, auth).request("GET", "/v1/leads")
    # A key from public values alone would protect nothing: no file.
    assert list(tmp_path.iterdir()) == []
