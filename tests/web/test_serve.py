"""`crmsync serve`: the credentials it makes, and the binds it refuses."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from crmsync.cli import CliState, app
from crmsync.cli._serve import is_loopback
from crmsync.web._secrets import verify

from .conftest import World, catalog


def run(world: World, *args: str, input: str | None = None):
    state = CliState(catalog=catalog(), settings=world.settings())
    return CliRunner().invoke(app, list(args), obj=state, input=input)


def test_hash_password_prints_only_the_hash(world: World) -> None:
    secret = "a long admin passphrase"
    result = run(world, "serve", "--hash-password", input=f"{secret}\n{secret}\n")
    assert result.exit_code == 0, result.output
    line = next(
        row for row in result.output.splitlines() if row.startswith("CRMSYNC_WEB_")
    )
    name, _, stored = line.partition("=")
    assert name == "CRMSYNC_WEB_PASSWORD_HASH"
    assert verify(secret, stored)
    assert secret not in line


def test_a_short_password_is_refused(world: World) -> None:
    result = run(world, "serve", "--hash-password", input="short\nshort\n")
    assert result.exit_code == 1
    assert "error: the password is too short" in result.output


def test_new_token_prints_the_token_once_and_its_hash(world: World) -> None:
    result = run(world, "serve", "--new-token")
    assert result.exit_code == 0, result.output
    token = result.output.split("keep it safe): ")[1].split()[0]
    stored = result.output.split("CRMSYNC_WEB_TOKEN_HASH=")[1].split()[0]
    assert verify(token, stored) and token not in stored


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_a_non_loopback_bind_is_refused_without_behind_tls(
    world: World, host: str
) -> None:
    result = run(world, "serve", "--host", host)
    assert result.exit_code == 1
    assert "is not a loopback address" in result.output
    assert "--behind-tls" in result.output


def test_serving_needs_credentials(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PASSWORD_HASH", "TOKEN_HASH", "SESSION_KEY"):
        monkeypatch.delenv(f"CRMSYNC_WEB_{name}", raising=False)
    monkeypatch.chdir(world.tmp)  # no .env here
    result = run(world, "serve", "--port", "8765")
    assert result.exit_code == 1
    assert "error: no administrator password or API token is set" in result.output


def test_loopback_hosts() -> None:
    assert all(
        is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost")
    )
    assert not any(
        is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "host.example")
    )
