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


def test_the_version_hint_says_which_side_to_upgrade():
    major = int(CONTRACT_VERSION.split(".")[0])
    with pytest.raises(ContractError, match="upgrade crmsync"):
        check_contract_version("x", f"{major + 1}.0")
    with pytest.raises(ContractError, match="upgrade the connector"):
        check_contract_version("x", f"{major - 1}.9")


def test_describe_connector_must_be_a_staticmethod():
    class Plain(MemoryConnector):
        def describe_connector(self):  # type: ignore[override]
            return MemoryConnector.describe_connector()

    with pytest.raises(ContractError, match="must be a staticmethod"):
        describe("memory", Plain)


def test_an_invalid_description_names_its_field():
    class Negative(MemoryConnector):
        @staticmethod
        def describe_connector():
            fields = MemoryConnector.describe_connector().model_dump()
            fields["late_commit_seconds"] = -5
            return type(MemoryConnector.describe_connector())(**fields)

    with pytest.raises(ContractError, match="late_commit_seconds: Input should be"):
        describe("memory", Negative)


def test_demo_files_must_name_settings_the_connector_declares():
    class Misnamed(MemoryConnector):
        @staticmethod
        def describe_connector():
            fields = MemoryConnector.describe_connector().model_dump()
            fields["demo_files"] = {"pth": "demo.db"}
            return type(MemoryConnector.describe_connector())(**fields)

    with pytest.raises(
        ContractError, match="demo_files names pth, which MemorySettings"
    ):
        describe("memory", Misnamed)


def test_a_connector_missing_required_hooks_is_refused():
    class Half:
        @staticmethod
        def describe_connector():
            return MemoryConnector.describe_connector()

    with pytest.raises(ContractError, match="lacks required hooks"):
        describe("memory", Half)


def test_an_installed_extension_wraps_every_connection_and_a_broken_one_is_reported(
    tmp_path, monkeypatch
):
    from crmsync.engine import open_connection
    from crmsync.plugins import discover_extensions

    info = tmp_path / "crmsync_audit-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: crmsync-audit\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[crmsync.connectors]\nmemory = crmsync.testing.memory:MemoryConnector\n"
        "[crmsync.extensions]\naudit = audit_extension:Audit\n"
        "broken = audit_extension:Missing\n"
    )
    (tmp_path / "audit_extension.py").write_text(
        textwrap.dedent("""
        from crmsync.contract import hookimpl

        SEEN = []

        class Audit:
            @hookimpl(wrapper=True)
            def list_fields(self, object_name):
                fields = yield
                SEEN.append((object_name, len(fields)))
                return fields
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    extensions = discover_extensions()
    assert "audit" in extensions.plugins and "Missing" in extensions.failed["broken"]
    connection = open_connection(discover_connectors(), "memory")
    connection.list_fields("Lead")
    import audit_extension

    assert audit_extension.SEEN == [("Lead", 14)]
