"""The CLI with the installed `salesforce` connector, against its emulator."""

from __future__ import annotations

import os

import pytest

from crmsync.cli import CliState, app
from crmsync.settings import CrmsyncSettings
from crmsync_salesforce.emulator import SalesforceEmulator

CLIENT = "rt-client"


@pytest.fixture
def emulator(monkeypatch):
    """An org whose connected app rotates refresh tokens, and the environment of the
    refresh_token flow (`CRMSYNC_SALESFORCE_REFRESH_TOKEN` set to a fresh token)."""
    for variable in list(os.environ):
        if variable.startswith("CRMSYNC_SALESFORCE_"):
            monkeypatch.delenv(variable)
    org = SalesforceEmulator()
    org.register_app(CLIENT, client_secret="rt-secret-9", rotate_refresh_tokens=True)
    org.seed("Lead", count=3)
    monkeypatch.setenv("CRMSYNC_SALESFORCE_AUTH_FLOW", "refresh_token")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_LOGIN_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("CRMSYNC_SALESFORCE_CLIENT_SECRET", "rt-secret-9")
    monkeypatch.setenv(
        "CRMSYNC_SALESFORCE_REFRESH_TOKEN",
        org.issue_refresh_token(CLIENT, "integration@example.com"),
    )
    return org


def run(cli, emulator, *args):
    """`crmsync ARGS` with the real catalog, the connector talking to ``emulator``."""
    state = CliState(
        connector_kwargs={"salesforce": {"transport": emulator.transport()}},
        settings=CrmsyncSettings(database_url=cli.db_url),
    )
    return cli.runner.invoke(app, list(args), obj=state)


def create(cli, emulator):
    """The integration `rt` (local ↔ salesforce), its platform file in place."""
    cli.platform().close()
    ok(cli, emulator, "integration", "create", "rt", "--crm", "salesforce")


def ok(cli, emulator, *args):
    result = run(cli, emulator, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_a_rotated_refresh_token_spent_by_doctor_is_explained(cli, emulator):
    create(cli, emulator)
    assert "rt is ready to sync" in ok(cli, emulator, "doctor", "rt")
    ok(cli, emulator, "integration", "resume", "rt")
    # doctor signed in: the configured token was rotated away, kept only in memory.
    result = run(cli, emulator, "sync", "rt")
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "invalid_grant" in line
    assert "refresh token rotation" in line and "doctor" in line
    assert "CRMSYNC_SALESFORCE_REFRESH_TOKEN_FILE" in line
    assert "rt-secret-9" not in result.output


def test_the_refresh_token_file_keeps_the_rotated_token(cli, emulator, monkeypatch):
    token_file = cli.tmp / "refresh.token"
    token = emulator.issue_refresh_token(CLIENT, "integration@example.com")
    token_file.write_text(token)
    token_file.chmod(0o600)
    monkeypatch.delenv("CRMSYNC_SALESFORCE_REFRESH_TOKEN")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_REFRESH_TOKEN_FILE", str(token_file))
    before = token_file.read_text()
    create(cli, emulator)
    assert "rt is ready to sync" in ok(cli, emulator, "doctor", "rt")
    assert token_file.read_text() != before  # rotated, and written back
    ok(cli, emulator, "integration", "resume", "rt")
    assert "cycle of rt: succeeded" in ok(cli, emulator, "sync", "rt")


def test_a_kept_token_never_loses_the_rotated_refresh_token(cli, emulator, monkeypatch):
    token_file = cli.tmp / "refresh.token"
    token_file.write_text(
        emulator.issue_refresh_token(CLIENT, "integration@example.com")
    )
    token_file.chmod(0o600)
    monkeypatch.delenv("CRMSYNC_SALESFORCE_REFRESH_TOKEN")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_REFRESH_TOKEN_FILE", str(token_file))
    create(cli, emulator)
    ok(cli, emulator, "doctor", "rt")  # signs in: rotates, keeps the access token
    rotated = token_file.read_text()
    ok(cli, emulator, "integration", "resume", "rt")
    before = emulator.token_requests
    assert "cycle of rt: succeeded" in ok(cli, emulator, "sync", "rt")
    assert emulator.token_requests == before  # doctor's token, from the cache
    assert token_file.read_text() == rotated
    emulator.expire_sessions()
    assert "cycle of rt: succeeded" in ok(cli, emulator, "sync", "rt")
    assert emulator.token_requests == before + 1  # refreshed with the rotated token
    assert token_file.read_text() != rotated  # and the new one written back


def test_a_secret_file_setting_is_refused_with_the_connectors_variable(cli, emulator):
    result = run(
        cli,
        emulator,
        *("integration", "create", "rt", "--crm", "salesforce", "--crm-setting"),
        f"refresh_token_file={cli.tmp / 'refresh.token'}",
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: --crm-setting refresh_token_file: setting 'refresh_token_file' of "
        "connector 'salesforce' looks like a secret and is never stored in the state "
        "(set CRMSYNC_SALESFORCE_REFRESH_TOKEN_FILE in the environment or .env)"
    )
    # ... and the settings that can be stored do not list it.
    result = run(
        cli,
        emulator,
        *("integration", "create", "rt", "--crm", "salesforce"),
        *("--crm-setting", "colour=blue"),
    )
    assert result.exit_code == 1
    listed = result.stderr.split("its settings:")[1]
    assert "login_url" in listed and "read_back_stamps" in listed
    for secret in ("refresh_token", "private_key", "client_secret"):
        assert secret not in listed, listed


@pytest.fixture
def org(monkeypatch):
    """An org with a client-credentials app, and the environment of that flow."""
    for variable in list(os.environ):
        if variable.startswith("CRMSYNC_SALESFORCE_"):
            monkeypatch.delenv(variable)
    found = SalesforceEmulator()
    found.register_app("cc-client", client_secret="cc-secret-7")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_AUTH_FLOW", "client_credentials")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_LOGIN_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_CLIENT_ID", "cc-client")
    monkeypatch.setenv("CRMSYNC_SALESFORCE_CLIENT_SECRET", "cc-secret-7")
    return found


def _idle_sync_requests(cli, org) -> list[str]:
    """The requests of a second `crmsync sync` of an integration where nothing
    changed, each run with new connections (as a new process would have)."""
    create(cli, org)
    ok(cli, org, "mapping", "add", "rt", "email", "Email", "--direction", "sync")
    ok(cli, org, "integration", "resume", "rt")
    ok(cli, org, "sync", "rt")
    org.log.clear()
    ok(cli, org, "sync", "rt")
    return [f"{r.method} {r.path.removeprefix('/services/')}" for r in org.log]


def test_an_idle_sync_in_a_new_process_reads_each_object_once(cli, org, monkeypatch):
    monkeypatch.setenv("CRMSYNC_CACHE_DIR", str(cli.tmp / "cache"))
    # One query per object: the token and the describes come from the first run's
    # cache.
    assert _idle_sync_requests(cli, org) == [
        "GET data/v60.0/queryAll",
        "GET data/v60.0/queryAll",
    ]
    kept_files = sorted((cli.tmp / "cache").iterdir())
    # One connection's (the platform takes no cache): its describes, its token.
    assert [path.suffix for path in kept_files] == [".bin", ".json"]
    tokens = org.oauth.issued_tokens()
    assert tokens
    for kept in kept_files:
        assert kept.stat().st_mode & 0o777 == 0o600
        assert b"cc-secret-7" not in kept.read_bytes()
        for token in tokens:
            assert token.encode() not in kept.read_bytes()


def test_a_kept_token_revoked_between_processes_is_renewed_once(cli, org, monkeypatch):
    monkeypatch.setenv("CRMSYNC_CACHE_DIR", str(cli.tmp / "cache"))
    _idle_sync_requests(cli, org)
    org.expire_sessions()  # an admin revoked the session, or it timed out
    org.log.clear()
    ok(cli, org, "sync", "rt")
    assert [f"{r.method} {r.status}" for r in org.log] == [
        "GET 401",  # the kept token
        "POST 200",  # renewed once
        "GET 200",  # the same query again
        "GET 200",
    ]
    org.log.clear()
    ok(cli, org, "sync", "rt")  # the renewed token was kept
    assert [r.method for r in org.log] == ["GET", "GET"]


def test_without_the_token_cache_each_process_asks_for_a_token(cli, org, monkeypatch):
    monkeypatch.setenv("CRMSYNC_CACHE_DIR", str(cli.tmp / "cache"))
    monkeypatch.setenv("CRMSYNC_TOKEN_CACHE_SECONDS", "0")
    assert _idle_sync_requests(cli, org) == [
        "POST oauth2/token",
        "GET data/v60.0/queryAll",
        "GET data/v60.0/queryAll",
    ]
    assert [path.suffix for path in (cli.tmp / "cache").iterdir()] == [".json"]


def test_without_the_cache_each_process_describes_again(cli, org, monkeypatch):
    monkeypatch.setenv("CRMSYNC_CACHE_DIR", str(cli.tmp / "cache"))
    monkeypatch.setenv("CRMSYNC_DESCRIBE_CACHE_SECONDS", "0")
    monkeypatch.setenv("CRMSYNC_TOKEN_CACHE_SECONDS", "0")
    assert _idle_sync_requests(cli, org) == [
        "POST oauth2/token",
        "GET data/v60.0/sobjects/Contact/describe",
        "GET data/v60.0/queryAll",
        "GET data/v60.0/sobjects/Lead/describe",
        "GET data/v60.0/queryAll",
    ]
    assert not (cli.tmp / "cache").exists()
