"""`crmsync emulator <id>`: an installed connector's emulator on its own, found through
``ConnectorDescription.emulator``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from crmsync.cli import CliState, app
from crmsync.cli._emulator_command import start_emulator
from crmsync.errors import ConfigurationError
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


def _catalog_of(**priorities: int | None):
    """Test-made CRM connectors: each id with its ``demo_priority`` (``None``: no
    emulator at all)."""
    from crmsync.plugins import ConnectorCatalog, InstalledConnector, describe
    from crmsync.testing.memory import MemoryConnector

    loaded = {}
    for connector_id, priority in priorities.items():
        update: dict[str, object] = {"id": connector_id, "role": "crm"}
        if priority is not None:
            update |= {"emulator": "acme_emulator:serve", "demo_priority": priority}
        description = MemoryConnector.describe_connector().model_copy(update=update)
        factory = type(
            f"{connector_id}Connector",
            (MemoryConnector,),
            {"describe_connector": staticmethod(lambda d=description: d)},
        )
        loaded[connector_id] = InstalledConnector(
            connector_id, factory, describe(connector_id, factory), None, None
        )
    return ConnectorCatalog(loaded=loaded)


def test_the_demo_uses_the_only_connector_with_an_emulator() -> None:
    from crmsync.cli._demo_command import demo_crm

    assert demo_crm(_catalog_of(acme=0, plain=None)) == "acme"
    assert demo_crm(_catalog_of(acme=0, zeta=0), wanted="zeta") == "zeta"


def test_among_several_the_demo_takes_the_highest_priority() -> None:
    from crmsync.cli._demo_command import demo_crm

    assert demo_crm(_catalog_of(acme=0, beta=5, zeta=1)) == "beta"
    # This repository's connectors: Salesforce's description gives the priority.
    assert demo_crm(discover_connectors()) == "salesforce"


def test_a_tie_at_the_top_says_how_to_pick(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--dir", str(tmp_path)],
        obj=CliState(catalog=_catalog_of(acme=3, zeta=3, low=1)),
    )
    assert result.exit_code == 1
    assert (
        "error: several installed connectors offer an emulator for the demo: acme, "
        "zeta (pick one with `crmsync demo --crm <id>`, e.g. --crm acme)"
    ) in result.output + result.stderr
    assert not list(tmp_path.iterdir())  # nothing was started or written


# A platform connector written by a test, not in this repository: prospects in a
# memory backend that lives as long as the process (the demo opens several
# connections), self-contained, and preferred over `local` by its demo_priority.
_ACME_PLATFORM = """
from crmsync.contract import FieldSpec, FieldType, hookimpl
from crmsync.testing.memory import (
    MemoryBackend, MemoryPlatformConnector, platform_fields,
)

BACKEND = MemoryBackend(objects={"person": platform_fields() + [
    FieldSpec(name="title", label="Title", type=FieldType.STRING, length=80),
    FieldSpec(name="lead_source", label="Source", type=FieldType.PICKLIST,
              picklist_values=("Web", "Phone Inquiry", "Partner Referral")),
    FieldSpec(name="opted_out", label="Opted out", type=FieldType.BOOLEAN),
]})


class AcmePlatform(MemoryPlatformConnector):
    def __init__(self, settings, **kwargs):
        super().__init__(settings, backend=BACKEND)

    @staticmethod
    @hookimpl
    def describe_connector():
        return MemoryPlatformConnector.describe_connector().model_copy(update={
            "id": "acme_platform", "name": "Acme prospects", "objects": ("person",),
            "person_objects": ("person",), "self_contained": True,
            "demo_priority": 5,
        })
"""


def test_a_test_made_platform_connector_gets_a_working_demo(
    tmp_path: Path, monkeypatch
) -> None:
    """`crmsync demo` finds a self-contained platform connector by its entry point
    alone, seeds it through push_updates and reads it back through the contract;
    crmsync names it nowhere (and `local` is not touched)."""
    site = tmp_path / "site"
    info = site / "acme_platform-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-platform\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[crmsync.connectors]\nacme_platform = acme_platform:AcmePlatform\n"
    )
    (site / "acme_platform.py").write_text(_ACME_PLATFORM)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        ["demo", "--prospects", "100", "--dir", str(tmp_path / "demo")],
        obj=CliState(),
    )
    output = result.output + (result.stderr or "")
    assert result.exit_code == 0, output
    assert "platform: 100 fake prospects in Acme prospects" in output
    assert "both changed the first name" in output and "'Jon'" in output
    last = output.split("a fourth cycle with no new edits writes nothing")[1]
    for side in ("platform", "crm"):
        row = re.search(rf"│ {side}\s*│([^\n]*)", last)
        assert row is not None, last
        written = [cell.strip() for cell in row.group(1).split("│")[2:5]]
        assert written == ["0", "0", "0"], row.group(0)
    import acme_platform  # type: ignore[import-not-found]

    people = acme_platform.BACKEND.live("person")
    assert len(people) > 100  # the seeded, and the CRM-only people created
    assert not (tmp_path / "demo" / "crmsync-demo-platform.db").exists()


def test_the_default_platform_is_the_self_contained_one() -> None:
    from crmsync.operations import default_platform

    # This repository: `local` is the only self-contained platform connector.
    assert default_platform(discover_connectors()) == "local"
    assert default_platform(discover_connectors(), "sql") == "sql"
    memory_only = _catalog_of(acme=0)
    with pytest.raises(ConfigurationError, match="no installed connector offers"):
        default_platform(memory_only)
