"""`crmsync emulator <id>`: an installed connector's emulator on its own, found through
``ConnectorDescription.emulator``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from typer.testing import CliRunner

from crmsync.cli import CliState, app
from crmsync.cli._emulator_command import start_emulator
from crmsync.plugins import discover_connectors


def run(*args: str):
    return CliRunner().invoke(app, ["emulator", *args], obj=CliState())


def test_serves_an_installed_connectors_emulator(tmp_path: Path) -> None:
    env_file = tmp_path / "emulator.env"
    result = run("salesforce", "--seconds", "0", "--env-file", str(env_file))
    assert result.exit_code == 0, result.output
    assert re.search(r"Salesforce emulator on http://127\.0\.0\.1:\d+", result.output)
    assert "--crm-setting auth_flow=client_credentials" in result.output
    secret_line = env_file.read_text().strip()
    assert secret_line.startswith("CRMSYNC_SALESFORCE_CLIENT_SECRET=")
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert secret_line.split("=", 1)[1] not in result.output  # secrets: the file only


def test_the_served_emulator_answers_a_connection() -> None:
    installed = discover_connectors().get("salesforce")
    served = start_emulator(installed)
    try:
        form = {
            "grant_type": "client_credentials",
            "client_id": served.settings["client_id"],
            "client_secret": served.settings["client_secret"],
        }
        answer = httpx.post(f"{served.url}/services/oauth2/token", data=form, timeout=5)
        assert answer.status_code == 200 and answer.json()["instance_url"] == served.url
        ids = served.seed("Lead", [{"LastName": "Hand", "Email": "hand@example.com"}])
        served.edit("Lead", ids[0], {"FirstName": "Tried"})
    finally:
        served.stop()


def test_a_connector_without_an_emulator_is_one_line() -> None:
    result = run("local", "--seconds", "0")
    assert result.exit_code != 0
    assert "offers no emulator" in result.output + (result.stderr or "")


def test_only_loopback_addresses() -> None:
    result = run("salesforce", "--host", "0.0.0.0", "--seconds", "0")
    assert result.exit_code != 0
    assert "not a loopback address" in result.output + (result.stderr or "")


def test_the_demo_says_when_no_connector_offers_an_emulator(tmp_path: Path) -> None:
    from crmsync.connectors.local import LocalConnector
    from crmsync.plugins import ConnectorCatalog, InstalledConnector, describe

    only_local = ConnectorCatalog(
        loaded={
            "local": InstalledConnector(
                "local", LocalConnector, describe("local", LocalConnector), None, None
            )
        }
    )
    result = CliRunner().invoke(
        app, ["demo", "--dir", str(tmp_path)], obj=CliState(catalog=only_local)
    )
    assert result.exit_code == 1
    assert "no installed connector offers an emulator" in result.output + result.stderr
