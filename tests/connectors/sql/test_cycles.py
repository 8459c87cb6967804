"""Sync cycles through the CLI, the ``sql`` connector on one side and the Salesforce
emulator on the other, with every statement the connector sends counted.

The cost of a cycle must follow what changed, not the table: an idle cycle reads one
(empty) page of the feed, an incremental one reads the changed rows, and both issue the
same statements on a table four times larger.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from typer.testing import CliRunner

from crmsync.cli import CliState, app
from crmsync.settings import CrmsyncSettings
from crmsync_salesforce.emulator import SalesforceEmulator

from .conftest import Database

CLIENT_ID = "3MVG9-cycles-client"
CLIENT_SECRET = "cycles-client-s3cret"
OLD = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass
class Counter:
    """Statements the connector sent, and the rows its feed reads returned."""

    table: str
    statements: list[str] = field(default_factory=list)
    feed_rows: list[int] = field(default_factory=list)

    def attach(self, engine: sa.Engine) -> None:
        @event.listens_for(engine, "after_cursor_execute")
        def _count(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
            self.statements.append(statement)
            if (
                self.table in statement
                and "ORDER BY" in statement
                and "LIMIT" in statement
            ):
                self.feed_rows.append(cursor.rowcount)

    def reset(self) -> None:
        self.statements.clear()
        self.feed_rows.clear()


@dataclass
class World:
    database: Database
    tmp: Path
    emulator: SalesforceEmulator
    engine: sa.Engine
    counter: Counter
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, *words: str) -> str:
        state = CliState(
            connector_kwargs={
                "sql": {"engine": self.engine},
                "salesforce": {"transport": self.emulator.transport()},
            },
            settings=CrmsyncSettings(
                database_url=f"sqlite:///{self.tmp}/state.db", overlap_seconds=60
            ),
        )
        result = self.runner.invoke(app, list(words), obj=state)
        assert result.exit_code == 0, (words, result.output, result.exception)
        return str(result.output)

    def seed(self, count: int) -> None:
        """``count`` prospects last modified long ago (outside every overlap)."""
        table = sa.Table(self.database.table, sa.MetaData(), autoload_with=self.engine)
        naive = self.database.dialect == "mysql"
        rows = []
        for n in range(count):
            moment = OLD + dt.timedelta(milliseconds=n)
            rows.append(
                {
                    "email": f"p{n}@example.com",
                    "first_name": f"First{n}",
                    "last_name": f"Last{n}",
                    "company": "Acme",
                    "updated_at": moment.replace(tzinfo=None) if naive else moment,
                }
            )
        with self.engine.begin() as connection:
            connection.execute(sa.insert(table), rows)

    def touch(self, ids: list[int]) -> None:
        """The platform's application edits rows (stamping them itself)."""
        table = sa.Table(self.database.table, sa.MetaData(), autoload_with=self.engine)
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(table)
                .where(table.c.id.in_(ids))
                .values(first_name="Edited", updated_at=sa.func.now())
            )


@pytest.fixture
def world(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    for variable in list(os.environ):
        if variable.startswith(("CRMSYNC_SALESFORCE_", "CRMSYNC_SQL_")):
            monkeypatch.delenv(variable)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRMSYNC_SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)
    emulator = SalesforceEmulator()
    emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
    engine = database.engine()
    counter = Counter(database.table)
    counter.attach(engine)
    yield World(database, tmp_path, emulator, engine, counter)
    engine.dispose()


def integrate(world: World) -> None:
    settings = world.database.settings()
    world.run(
        *("integration", "create", "shop", "--platform", "sql", "--crm", "salesforce"),
        *[f"--platform-setting={key}={value}" for key, value in settings.items()],
        "--crm-setting=login_url=https://acme.my.salesforce.com",
        "--crm-setting=auth_flow=client_credentials",
        f"--crm-setting=client_id={CLIENT_ID}",
        *("--create-in-crm", "all", "--pair", "prospect:Lead"),
    )
    for platform_field, crm_field in (
        ("email", "Email"),
        ("first_name", "FirstName"),
        ("last_name", "LastName"),
        ("company", "Company"),
    ):
        world.run(
            *("mapping", "add", "shop", platform_field, crm_field),
            *("--direction", "sync"),
        )
    world.run("integration", "resume", "shop")


def measure(world: World, size: int) -> dict[str, Any]:
    """Sync a table of ``size`` rows, then count an idle and an incremental cycle."""
    world.seed(size)
    integrate(world)
    assert "succeeded" in world.run("sync", "shop")
    assert len(world.emulator.records["Lead"]) == size
    world.counter.reset()
    assert "succeeded" in world.run("sync", "shop")
    idle = (list(world.counter.statements), list(world.counter.feed_rows))
    world.counter.reset()
    world.touch([3, 5, 7])
    assert "succeeded" in world.run("sync", "shop")
    incremental = (list(world.counter.statements), list(world.counter.feed_rows))
    edited = [
        r for r in world.emulator.records["Lead"].values() if r["FirstName"] == "Edited"
    ]
    assert len(edited) == 3
    return {"idle": idle, "incremental": incremental}


def shape(statements: list[str], table: str) -> list[str]:
    """The statements with the per-test table name replaced, to compare two runs."""
    return sorted(statement.replace(table, "T") for statement in statements)


@pytest.fixture
def second_world(
    request: pytest.FixtureRequest, database: Database, tmp_path: Path
) -> Iterator[World]:
    """A second table in the same database, four times larger."""
    from .conftest import _database

    maker = _database(database.url, database.dialect, database.deleted_column or "")
    bigger = next(maker)
    (tmp_path / "second").mkdir()
    emulator = SalesforceEmulator()
    emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
    engine = bigger.engine()
    counter = Counter(bigger.table)
    counter.attach(engine)
    yield World(bigger, tmp_path / "second", emulator, engine, counter)
    engine.dispose()
    next(maker, None)


def test_idle_and_incremental_cycles_cost_the_same_on_a_larger_table(
    world: World, second_world: World
) -> None:
    small = measure(world, 60)
    large = measure(second_world, 240)
    for kind in ("idle", "incremental"):
        (small_statements, small_rows), (large_statements, large_rows) = (
            small[kind],
            large[kind],
        )
        assert len(small_statements) == len(large_statements), kind
        assert shape(small_statements, world.database.table) == shape(
            large_statements, second_world.database.table
        ), kind
        assert small_rows == large_rows, kind
    # The idle cycle reads one page of the feed and finds nothing in it.
    assert small["idle"][1] == [0]
    # The incremental cycle reads the three changed rows (one page).
    assert small["incremental"][1] == [3]
    # Everything else is reflection and the table check: a bounded, fixed handful.
    assert len(small["idle"][0]) <= 40, small["idle"][0]


def test_doctor_warns_of_an_unmaintained_modification_time_and_offers_the_ddl(
    world: World,
) -> None:
    integrate(world)
    state = CliState(
        connector_kwargs={
            "sql": {"engine": world.engine},
            "salesforce": {"transport": world.emulator.transport()},
        },
        settings=CrmsyncSettings(database_url=f"sqlite:///{world.tmp}/state.db"),
    )
    result = world.runner.invoke(app, ["doctor", "shop"], obj=state)
    assert result.exit_code == 0, result.output
    assert "shop is ready to sync" in result.output
    assert "nothing in the database maintains" in result.output
    assert "python -m crmsync.connectors.sql ddl" in result.output


def test_doctor_fails_without_a_modification_time(world: World) -> None:
    settings = {
        key: value
        for key, value in world.database.settings().items()
        if key != "modified_column"
    }
    world.run(
        *("integration", "create", "bare", "--platform", "sql", "--crm", "salesforce"),
        *[f"--platform-setting={key}={value}" for key, value in settings.items()],
        "--crm-setting=login_url=https://acme.my.salesforce.com",
        "--crm-setting=auth_flow=client_credentials",
        f"--crm-setting=client_id={CLIENT_ID}",
    )
    state = CliState(
        connector_kwargs={
            "sql": {"engine": world.engine},
            "salesforce": {"transport": world.emulator.transport()},
        },
        settings=CrmsyncSettings(database_url=f"sqlite:///{world.tmp}/state.db"),
    )
    result = world.runner.invoke(app, ["doctor", "bare"], obj=state)
    assert result.exit_code == 1
    assert "no modification-time column is configured" in result.output
    assert "python -m crmsync.connectors.sql ddl" in result.output


def test_the_password_is_never_stored_with_the_integration(world: World) -> None:
    state = CliState(
        settings=CrmsyncSettings(database_url=f"sqlite:///{world.tmp}/state.db")
    )
    result = world.runner.invoke(
        app,
        [
            *("integration", "create", "leaky", "--platform", "sql"),
            *("--crm", "salesforce", "--platform-setting", "password=hunter2-s3cret"),
            *[
                f"--platform-setting={k}={v}"
                for k, v in world.database.settings().items()
            ],
        ],
        obj=state,
    )
    assert result.exit_code == 1
    assert "looks like a secret" in result.output
    assert "CRMSYNC_SQL_PASSWORD" in result.output
    assert "hunter2-s3cret" not in result.output
