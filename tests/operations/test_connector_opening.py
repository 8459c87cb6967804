"""How the framework opens any connector: without creating anything where it must write
nothing (a dry run, doctor), and with a configuration error's hint saying where the
setting at fault is changed. A connector written here, not ``local``, proves that no
connector is special."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmsync import operations as ops
from crmsync.errors import ConfigurationError
from crmsync.plugins import ConnectorCatalog, InstalledConnector, describe
from crmsync.settings import CrmsyncSettings
from crmsync.testing.memory import MemoryConnector


class FolderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMSYNC_FOLDER_", extra="ignore")

    root: Path = Path("folder")
    create_missing: bool = True


class FolderConnector(MemoryConnector):
    """Prospects in a folder, which opening creates unless told not to."""

    def __init__(self, settings: FolderSettings) -> None:
        super().__init__(settings)  # type: ignore[arg-type]
        if not settings.root.is_dir():
            if not settings.create_missing:
                raise ConfigurationError(
                    f"no folder {settings.root}",
                    hint="a sync creates it",
                    setting="root",
                )
            settings.root.mkdir()

    @staticmethod
    def describe_connector():
        return MemoryConnector.describe_connector().model_copy(
            update={"id": "folder", "settings_model": FolderSettings}
        )


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    catalog = ConnectorCatalog(
        loaded={
            "folder": InstalledConnector(
                "folder", FolderConnector, describe("folder", FolderConnector), "t", "1"
            )
        },
        failed={},
    )
    workspace = ops.Workspace(
        catalog=catalog,
        settings=CrmsyncSettings(database_url=f"sqlite:///{tmp_path / 'state.db'}"),
    )
    yield workspace
    workspace.close()


def test_an_opening_that_must_write_nothing_creates_nothing(ws, tmp_path):
    root = tmp_path / "prospects"
    with pytest.raises(ConfigurationError) as raised:
        ws.open_connection(
            "folder",
            {"root": str(root)},
            integration="acme",
            side="platform",
            create=False,
        )
    assert not root.exists()
    # The value is stored with the integration: the hint names the command that
    # changes it (the variable would not override it), then the connector's own.
    assert raised.value.hint == (
        "the root is stored with integration 'acme': change it with `crmsync "
        "integration update acme --platform-setting root=ROOT`; a sync creates it"
    )
    ws.open_connection("folder", {"root": str(root)}, integration="acme")
    assert root.is_dir()


def test_a_setting_from_the_environment_is_named_by_its_variable(
    ws, tmp_path, monkeypatch
):
    monkeypatch.setenv("CRMSYNC_FOLDER_ROOT", str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigurationError) as raised:
        ws.open_connection("folder", integration="acme", side="platform", create=False)
    assert raised.value.hint == "check CRMSYNC_FOLDER_ROOT; a sync creates it"
    assert raised.value.setting == "root"
    assert not (tmp_path / "elsewhere").exists()


def _self_contained(connector_id: str, priority: int) -> InstalledConnector:
    description = FolderConnector.describe_connector().model_copy(
        update={
            "id": connector_id,
            "role": "platform",
            "self_contained": True,
            "demo_priority": priority,
        }
    )
    factory = type(
        f"{connector_id}Connector",
        (FolderConnector,),
        {"describe_connector": staticmethod(lambda: description)},
    )
    return InstalledConnector(
        connector_id, factory, describe(connector_id, factory), "t", "1"
    )


def test_a_new_integration_without_a_platform_gets_the_self_contained_one(ws):
    """The default platform is what a connector declares, not a name the framework
    knows: here `folder` (role any, not self-contained) plays the CRM."""
    spec = ops.NewIntegration(name="acme", crm="folder")
    with pytest.raises(ConfigurationError) as none:
        ops.create_integration(ws, spec)
    assert "no installed connector offers a self-contained platform" in str(none.value)
    assert "--platform" in (none.value.hint or "")
    ws.catalog.loaded["box"] = _self_contained("box", 0)
    ws.catalog.loaded["crate"] = _self_contained("crate", 0)
    with pytest.raises(ConfigurationError, match="several installed connectors"):
        ops.create_integration(ws, spec)
    ws.catalog.loaded["crate"] = _self_contained("crate", 3)
    assert ops.create_integration(ws, spec).platform_connector == "crate"
    assert ops.default_platform(ws.get_catalog(), "box") == "box"
