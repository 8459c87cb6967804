"""Finding connectors through entry points; a broken one never takes the others down."""

from __future__ import annotations

import textwrap

import pytest

from crmsync.contract import CONTRACT_VERSION
from crmsync.errors import ConfigurationError, ConnectorLoadError, ContractError
from crmsync.plugins import check_contract_version, describe, discover_connectors
from crmsync.testing.memory import MemoryConnector


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """Install a distribution whose entry points are given, for this test only."""

    def install(entry_points: dict[str, str]) -> None:
        info = tmp_path / "crmsync_fake-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: crmsync-fake\nVersion: 1.2.3\n"
        )
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[crmsync.connectors]\n{lines}\n")
        (tmp_path / "fake_connectors.py").write_text(
            textwrap.dedent("""
            from crmsync.testing.memory import MemoryConnector
            raise_on_import = None
            class Renamed(MemoryConnector):
                pass
        """)
        )
        (tmp_path / "exploding_connector.py").write_text(
            "raise RuntimeError('boom at import')\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))

    return install


def test_a_broken_connector_is_a_status_line_and_the_others_load(fake_distribution):
    fake_distribution(
        {
            "memory": "crmsync.testing.memory:MemoryConnector",
            "exploding": "exploding_connector:Connector",
            "missing": "no_such_module:Connector",
            "wrongid": "fake_connectors:Renamed",
        }
    )
    catalog = discover_connectors()
    assert "memory" in catalog.loaded and "local" in catalog.loaded
    assert catalog.loaded["memory"].distribution == "crmsync-fake"
    assert catalog.loaded["memory"].version == "1.2.3"
    assert "boom at import" in catalog.failed["exploding"].error
    assert "ModuleNotFoundError" in catalog.failed["missing"].error
    assert "describes itself as 'memory'" in catalog.failed["wrongid"].error
    with pytest.raises(ConnectorLoadError, match="boom at import"):
        catalog.get("exploding")
    with pytest.raises(
        ConfigurationError, match=r"unknown connector 'nope'.*pip install"
    ):
        catalog.get("nope")


def test_contract_versions_must_share_the_major_and_not_be_newer():
    check_contract_version("x", CONTRACT_VERSION)
    major = CONTRACT_VERSION.split(".")[0]
    with pytest.raises(ContractError, match="needs plugin contract"):
        check_contract_version("x", f"{int(major) + 1}.0")
    with pytest.raises(ContractError, match="needs plugin contract"):
        check_contract_version("x", f"{major}.99")
    with pytest.raises(ContractError, match=r"MAJOR\.MINOR"):
        check_contract_version("x", "one")


def test_a_connector_missing_required_hooks_is_refused():
    class Half:
        @staticmethod
        def describe_connector():
            return MemoryConnector.describe_connector()

    with pytest.raises(ContractError, match="lacks required hooks"):
        describe("memory", Half)
