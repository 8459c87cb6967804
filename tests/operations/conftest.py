"""Fixtures: a workspace on the `local` platform connector and the in-memory CRM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsync import operations as ops
from crmsync.connectors.local import LocalConnector, LocalStore
from crmsync.plugins import ConnectorCatalog, InstalledConnector, describe
from crmsync.settings import CrmsyncSettings
from crmsync.testing.memory import MemoryBackend, MemoryConnector


def catalog() -> ConnectorCatalog:
    loaded = {
        connector_id: InstalledConnector(
            connector_id, factory, describe(connector_id, factory), "crmsync", "0.1.0"
        )
        for connector_id, factory in (
            ("local", LocalConnector),
            ("memory", MemoryConnector),
        )
    }
    return ConnectorCatalog(loaded=loaded, failed={})


class World:
    """A workspace factory over one state file, one platform file and one CRM."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.backend = MemoryBackend()
        self._open: list[ops.Workspace] = []

    @property
    def platform_path(self) -> Path:
        return self.tmp / "platform.db"

    def workspace(self) -> ops.Workspace:
        """A fresh workspace, as a web request or a worker task would hold."""
        ws = ops.Workspace(
            catalog=catalog(),
            connector_kwargs={"memory": {"backend": self.backend}},
            settings=CrmsyncSettings(database_url=f"sqlite:///{self.tmp / 'state.db'}"),
        )
        self._open.append(ws)
        return ws

    def platform(self) -> LocalStore:
        return LocalStore(self.platform_path)

    def create(self, name: str = "acme", **fields: object) -> None:
        given: dict[str, object] = {
            "name": name,
            "crm": "memory",
            "platform_settings": {"path": str(self.platform_path)},
            **fields,
        }
        spec = ops.NewIntegration.model_validate(given)
        ops.create_integration(self.workspace(), spec)

    def close(self) -> None:
        for ws in self._open:
            ws.close()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRMSYNC_LOCAL_PATH", str(tmp_path / "platform.db"))
    found = World(tmp_path)
    yield found
    found.close()


@pytest.fixture
def mapped(world: World) -> World:
    """Integration `acme` (prospect ↔ Contact, Lead), three sync mappings, paused."""
    world.create()
    ws = world.workspace()
    for platform_field, crm_field in (
        ("first_name", "FirstName"),
        ("last_name", "LastName"),
        ("email", "Email"),
    ):
        ops.add_mapping(
            ws,
            "acme",
            ops.MappingSpec(platform_field=platform_field, crm_field=crm_field),
        )
    return world
