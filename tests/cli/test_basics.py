"""Global behaviour: help, connectors listing, one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from crmsync.cli import app


def test_help_lists_every_command(cli):
    output = cli.ok("--help")
    for command in (
        "connectors",
        "integration",
        "fields",
        "mapping",
        "sync",
        "status",
        "history",
        "errors",
        "doctor",
        "demo",
    ):
        assert command in output


def test_no_arguments_shows_help():
    result = CliRunner().invoke(app, [])
    assert "Usage" in result.output


def test_connectors_table_lists_versions_and_failures_as_lines(cli):
    output = cli.ok("connectors")
    assert "memory" in output and "local" in output and "0.1.0" in output
    failure = [line for line in output.splitlines() if "broken" in line]
    assert len(failure) == 1
    assert "failed to load" in failure[0] and "broken_sdk" in failure[0]


def test_connectors_json(cli):
    data = json.loads(cli.ok("connectors", "--json"))
    ids = {row["id"]: row for row in data["connectors"]}
    assert ids["memory"]["objects"] == ["Lead", "Contact"]
    assert "lookup" in ids["memory"]["capabilities"]
    assert ids["local"]["version"] == "0.1.0"
    assert data["failed"][0]["id"] == "broken"


def test_real_discovery_lists_installed_connectors():
    result = CliRunner().invoke(app, ["connectors", "--json"])
    assert result.exit_code == 0, result.output
    assert "local" in {row["id"] for row in json.loads(result.output)["connectors"]}


def test_unknown_command_is_one_line(cli):
    assert "No such command" in cli.fails("nope")


def test_unknown_option_is_one_line(cli):
    assert "--bogus" in cli.fails("connectors", "--bogus")


def test_bad_log_level_is_one_line(cli):
    assert "log_level" in cli.fails("--log-level", "LOUD", "connectors")


def test_bad_database_url_is_one_line(cli):
    assert "state store" in cli.fails(
        "--database-url", "nosuchdb://x", "integration", "list"
    )


def test_database_url_option_overrides_settings(cli, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    cli.create("one")
    output = cli.ok("--database-url", other, "integration", "list")
    assert "No integrations yet" in output
