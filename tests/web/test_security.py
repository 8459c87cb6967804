"""Sign-in, sessions, CSRF, bearer tokens, security headers and the error shape."""

from __future__ import annotations

import pytest

from crmsync.errors import ConfigurationError
from crmsync.web import create_app, hash_token
from crmsync.web._secrets import hash_password, verify

from .conftest import PASSWORD, TOKEN, TestClient, World, csrf_of, sign_in


def test_every_page_needs_sign_in(client: TestClient) -> None:
    for path in (
        "/",
        "/integrations/new",
        "/integrations/acme",
        "/integrations/acme/runs",
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")


def test_sign_in_with_the_password_then_out(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    wrong = client.post(
        "/login", data={"csrf_token": csrf_of(page.text), "password": "nope" * 4}
    )
    assert wrong.status_code == 401
    assert "not right" in wrong.text
    csrf = sign_in(client)
    assert client.get("/", follow_redirects=False).status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_form_without_the_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    answer = client.post("/login", data={"password": PASSWORD})
    assert answer.status_code == 403
    assert "Form refused" in answer.text
    csrf = sign_in(client)
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf + "x"}):
        refused = client.post("/logout", data=data)
        assert refused.status_code == 403
    # Still signed in: the refused posts changed nothing.
    assert client.get("/", follow_redirects=False).status_code == 200


def test_the_csrf_token_changes_at_sign_in(client: TestClient) -> None:
    before = csrf_of(client.get("/login").text)
    after = sign_in(client)
    assert before != after


def test_a_forged_or_foreign_cookie_is_a_new_anonymous_session(
    client: TestClient, world: World
) -> None:
    client.cookies.set("crmsync_session", "eyJjc3JmIjoieCIsImluIjp0cnVlfQ.forged")
    assert client.get("/", follow_redirects=False).status_code == 303
    # A cookie signed with another app's key is refused too.
    other = create_app(world.backend(), world.web(session_key="z" * 40))
    with TestClient(other) as elsewhere:
        sign_in(elsewhere)
        foreign = elsewhere.cookies.get("crmsync_session")
    client.cookies.set("crmsync_session", foreign or "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_app(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        client.cookies.clear()
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "password": PASSWORD,
                "next": target,
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/"


def test_security_headers_on_pages_and_api(client: TestClient) -> None:
    for path in ("/login", "/api/v1/integrations"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def test_the_api_needs_the_bearer_token(client: TestClient) -> None:
    missing = client.get("/api/v1/integrations")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = client.get(
        "/api/v1/integrations", headers={"Authorization": "Bearer cst_wrong"}
    )
    assert wrong.status_code == 401
    right = client.get(
        "/api/v1/integrations", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert right.status_code == 200
    assert right.json() == []


def test_a_signed_in_cookie_does_not_open_the_api(signed_in: TestClient) -> None:
    assert signed_in.get("/api/v1/integrations").status_code == 401


def test_the_app_refuses_to_start_without_credentials(world: World) -> None:
    with pytest.raises(ConfigurationError, match="no administrator password"):
        create_app(world.backend(), world.web(password_hash=None, token_hash=None))
    with pytest.raises(
        ConfigurationError, match="CRMSYNC_WEB_TOKEN_HASH is not a hash"
    ):
        create_app(world.backend(), world.web(token_hash="plain-text-token"))


def test_hashes_verify_only_their_secret() -> None:
    stored = hash_password("a long enough password")
    assert verify("a long enough password", stored)
    assert not verify("a long enough passwore", stored)
    assert "a long enough password" not in stored
    assert verify(TOKEN, hash_token(TOKEN)) and not verify(
        TOKEN + "x", hash_token(TOKEN)
    )
    with pytest.raises(ConfigurationError, match="too short"):
        hash_password("short")


def test_openapi_document_is_served_behind_the_token(api: TestClient) -> None:
    document = api.get("/api/v1/openapi.json").json()
    assert "/api/v1/integrations/{name}/mappings" in document["paths"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_failed_sign_ins_are_throttled(world: World) -> None:
    now = [1_000.0]
    app = create_app(world.backend(), world.web(), clock=lambda: now[0])
    with TestClient(app) as client:
        csrf = csrf_of(client.get("/login").text)
        for _ in range(10):
            wrong = client.post(
                "/login", data={"csrf_token": csrf, "password": "x" * 12}
            )
            assert wrong.status_code == 401
        # Even the right password is not checked until the window has passed.
        blocked = client.post("/login", data={"csrf_token": csrf, "password": PASSWORD})
        assert blocked.status_code == 429
        assert "Too many failed sign-ins" in blocked.text
        now[0] += 61
        right = client.post(
            "/login",
            data={"csrf_token": csrf, "password": PASSWORD},
            follow_redirects=False,
        )
        assert right.status_code == 303


def test_the_openapi_document_needs_the_token_too(client: TestClient) -> None:
    assert client.get("/api/v1/openapi.json").status_code == 401
