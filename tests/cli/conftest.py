"""Fixtures: the CLI against the `local` platform connector and the in-memory CRM."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crmsync.cli import CliState, app
from crmsync.connectors.local import LocalConnector, LocalStore
from crmsync.plugins import (
    ConnectorCatalog,
    ConnectorFailure,
    InstalledConnector,
    describe,
)
from crmsync.settings import CrmsyncSettings
from crmsync.store import open_store
from crmsync.testing.memory import MemoryBackend, MemoryConnector


def catalog() -> ConnectorCatalog:
    loaded = {
        "local": InstalledConnector(
            "local",
            LocalConnector,
            describe("local", LocalConnector),
            "crmsync",
            "0.1.0",
        ),
        "memory": InstalledConnector(
            "memory",
            MemoryConnector,
            describe("memory", MemoryConnector),
            "crmsync",
            "0.1.0",
        ),
    }
    failed = {
        "broken": ConnectorFailure(
            "broken",
            "crmsync-broken",
            "9.9",
            "ImportError: No module named 'broken_sdk'",
        )
    }
    return ConnectorCatalog(loaded=loaded, failed=failed)


@dataclass
class Cli:
    """Runs `crmsync` in-process with an injected catalog and a temporary store."""

    tmp: Path
    template: Path | None = None
    backend: MemoryBackend = field(default_factory=MemoryBackend)
    runner: CliRunner = field(default_factory=CliRunner)
    sleeps: list[float] = field(default_factory=list)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.tmp / 'state.db'}"

    @property
    def platform_path(self) -> Path:
        return self.tmp / "platform.db"

    def state(self) -> CliState:
        return CliState(
            catalog=catalog(),
            connector_kwargs={"memory": {"backend": self.backend}},
            settings=CrmsyncSettings(database_url=self.db_url),
            sleep=self.sleeps.append,
        )

    def __call__(self, *args: str, input: str | None = None) -> Any:
        state = self.tmp / "state.db"
        copied = (
            self.template is not None
            and args[:2] == ("integration", "create")
            and not state.exists()
        )
        if copied:
            # What a successful `integration create` makes: an empty state database
            # at the newest schema, copied rather than migrated again for every test.
            shutil.copyfile(self.template, state)  # type: ignore[arg-type]
        result = self.runner.invoke(app, list(args), obj=self.state(), input=input)
        if copied and result.exit_code != 0:
            # A refused create leaves no database behind.
            for leftover in self.tmp.glob("state.db*"):
                leftover.unlink()
        return result

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.output, result.exception)
        return str(result.output)

    def fails(self, *args: str, input: str | None = None) -> str:
        """Run a command that must fail with one line `error: ...` and no traceback."""
        result = self(*args, input=input)
        assert result.exit_code != 0, result.output
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), repr(result.exception)
        lines = [
            line for line in result.output.splitlines() if line.startswith("error:")
        ]
        assert len(lines) == 1, result.output
        return lines[0]

    def platform(self) -> LocalStore:
        return LocalStore(self.platform_path)

    def create(self, name: str = "acme", *extra: str) -> None:
        self.ok(
            "integration",
            "create",
            name,
            "--crm",
            "memory",
            "--platform-setting",
            f"path={self.platform_path}",
            *extra,
        )


@pytest.fixture(scope="session")
def state_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty state database migrated to the newest schema, for every test."""
    path = tmp_path_factory.mktemp("template") / "state.db"
    store = open_store(f"sqlite:///{path}", migrate=False)
    store.ensure_schema(create=True)
    store.dispose()
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.db"]
    return path


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_template: Path) -> Cli:
    monkeypatch.chdir(tmp_path)  # nothing a command creates lands in the repository
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CRMSYNC_LOCAL_PATH", str(tmp_path / "platform.db"))
    return Cli(tmp_path, template=state_template)


@pytest.fixture
def mapped(cli: Cli) -> Cli:
    """An integration `acme` (prospect ↔ Contact, Lead) with mappings, paused."""
    cli.create()
    cli.ok("mapping", "add", "acme", "first_name", "FirstName", "--direction", "sync")
    cli.ok("mapping", "add", "acme", "last_name", "LastName", "--direction", "sync")
    cli.ok("mapping", "add", "acme", "email", "Email", "--direction", "sync")
    cli.ok(
        "mapping",
        "add",
        "acme",
        "company",
        "Company",
        "--direction",
        "to_crm",
        "--default",
        "Unknown",
    )
    return cli
