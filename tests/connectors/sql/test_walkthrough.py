"""The walkthrough of ``docs/own-prospect-table.md``, run as written: its SQL in a fresh
PostgreSQL database, its commands through the CLI, the CRM the Salesforce emulator on
a loopback port. Then edits on both sides, a soft delete, and an idle cycle.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from crmsync.cli import CliState, app
from crmsync.settings import CrmsyncSettings
from crmsync_salesforce.emulator import EmulatorServer, SalesforceEmulator

DOC = Path(__file__).resolve().parents[3] / "docs" / "own-prospect-table.md"
CLIENT_ID = "3MVG9-walkthrough-client"
CLIENT_SECRET = "walkthrough-client-s3cret"

pytestmark = pytest.mark.postgres


def block(marker: str) -> str:
    """The fenced code block after ``<!-- walkthrough:MARKER -->`` in the doc."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- walkthrough:{marker} -->\n```\w+\n(.*?)\n```", text, re.DOTALL
    )
    assert match, f"docs/own-prospect-table.md has no walkthrough:{marker} block"
    return match.group(1)


def commands() -> list[list[str]]:
    """The doc's commands, continuation lines joined, without the leading
    ``crmsync``."""
    joined = block("cli").replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        words = shlex.split(line)
        assert words[0] == "crmsync", line
        found.append(words[1:])
    return found


def substitute(words: list[str], values: dict[str, str]) -> list[str]:
    """Point ``KEY=VALUE`` settings at this machine's database and emulator."""
    out = []
    for word in words:
        key, sep, _ = word.partition("=")
        out.append(f"{key}={values[key]}" if sep and key in values else word)
    return out


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for variable in list(os.environ):
        if variable.startswith(("CRMSYNC_SALESFORCE_", "CRMSYNC_SQL_")):
            monkeypatch.delenv(variable)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRMSYNC_SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("COLUMNS", "200")
    emulator = SalesforceEmulator()
    emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
    with EmulatorServer(emulator) as server:
        yield emulator, server.url


def leads(emulator: SalesforceEmulator) -> dict[str, dict[str, Any]]:
    return {
        str(record.get("Email")): record
        for record in emulator.records["Lead"].values()
        if not record.get("IsDeleted")
    }


def test_the_walkthrough_syncs_a_postgresql_table_with_salesforce(
    postgres_url: str, org: Any, tmp_path: Path
) -> None:
    emulator, login_url = org
    platform = sa.create_engine(postgres_url)
    with platform.begin() as connection:
        connection.exec_driver_sql(block("sql"))
    runner = CliRunner()

    def run(*words: str) -> str:
        state = CliState(
            settings=CrmsyncSettings(database_url=f"sqlite:///{tmp_path}/state.db")
        )
        result = runner.invoke(app, list(words), obj=state)
        assert result.exit_code == 0, (words, result.output, result.exception)
        return str(result.output)

    values = {"url": postgres_url, "login_url": login_url, "client_id": CLIENT_ID}
    outputs = [run(*substitute(words, values)) for words in commands()]
    listed = outputs[1]
    assert "email" in listed and "crmsync_modified_at" in listed
    assert "ready to sync" in outputs[-3]
    assert "cycle of shop: succeeded" in outputs[-1]
    assert set(leads(emulator)) == {"ada@example.com", "grace@example.com"}
    assert leads(emulator)["ada@example.com"]["Company"] == "Analytical Engines"

    # The platform's application edits a row without touching the modification time:
    # the trigger stamps it, and the next cycle carries it to the lead.
    with platform.begin() as connection:
        connection.execute(
            sa.text("UPDATE prospects SET first_name = 'Augusta' WHERE id = 1")
        )
    run("sync", "shop")
    assert leads(emulator)["ada@example.com"]["FirstName"] == "Augusta"

    # A CRM user's edit reaches the table, stamped by the database.
    lead_id = leads(emulator)["grace@example.com"]["Id"]
    emulator.clock.advance(5)
    emulator.touch("Lead", lead_id, FirstName="Amazing Grace")
    run("sync", "shop")
    with platform.connect() as connection:
        name = connection.execute(
            sa.text("SELECT first_name FROM prospects WHERE id = 2")
        ).scalar_one()
    assert name == "Amazing Grace"

    # Nothing changed: a cycle writes nothing to either side.
    before = len(emulator.calls("PATCH")) + len(emulator.calls("POST"))
    with platform.connect() as connection:
        stamps = connection.execute(
            sa.text("SELECT id, crmsync_modified_at FROM prospects ORDER BY id")
        ).all()
    idle = run("sync", "shop")
    assert "cycle of shop: succeeded" in idle
    with platform.connect() as connection:
        assert (
            connection.execute(
                sa.text("SELECT id, crmsync_modified_at FROM prospects ORDER BY id")
            ).all()
            == stamps
        )
    after = len(emulator.calls("PATCH")) + len(emulator.calls("POST"))
    token_posts = len(emulator.calls("POST", path_contains="/oauth2/token"))
    assert after - before <= token_posts  # at most a sign-in, never a record write

    # A soft delete unlinks the prospect from its lead.
    with platform.begin() as connection:
        connection.execute(
            sa.text("UPDATE prospects SET deleted_at = now() WHERE id = 1")
        )
    assert "1 unlinked" in run("sync", "shop")
    platform.dispose()
