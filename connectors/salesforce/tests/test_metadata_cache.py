"""Describes kept across processes in the framework's metadata cache: used while fresh,
read again when a field is asked for that the kept describe lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.authoring import MetadataCache
from crmsync_salesforce import SalesforceConnector
from crmsync_salesforce.emulator import SalesforceEmulator
from crmsync_salesforce.emulator._schema import SCHEMAS, FieldDef

from .conftest import make_settings


def _describes(emulator: SalesforceEmulator) -> int:
    return sum(1 for r in emulator.log if r.path.endswith("/describe"))


def _process(emulator: SalesforceEmulator, path: Path, now: list[float]) -> SalesforceConnector:
    """A connector as a new process opens it, with the framework's cache file."""
    cache = MetadataCache(path, seconds=300, clock=lambda: now[0])
    connector = SalesforceConnector(
        settings=make_settings(), transport=emulator.transport(), metadata_cache=cache
    )
    connector.authenticate()
    return connector


def test_a_kept_describe_serves_later_processes_until_it_expires(
    emulator: SalesforceEmulator, tmp_path: Path
) -> None:
    now = [1000.0]
    path = tmp_path / "cache.json"
    _process(emulator, path, now).fetch_changed("Lead", ["Email"], None, None, 200)
    assert _describes(emulator) == 1
    _process(emulator, path, now).fetch_changed("Lead", ["Email"], None, None, 200)
    assert _describes(emulator) == 1  # the second process asked the org for no describe
    now[0] += 301  # past the lifetime
    _process(emulator, path, now).fetch_changed("Lead", ["Email"], None, None, 200)
    assert _describes(emulator) == 2


def test_a_field_added_since_is_described_again(
    emulator: SalesforceEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    path = tmp_path / "cache.json"
    _process(emulator, path, now).fetch_changed("Lead", ["Email"], None, None, 200)
    monkeypatch.setitem(SCHEMAS["lead"].fields, "score__c", FieldDef("Score__c", "Score", "double"))
    later = _process(emulator, path, now)
    page = later.fetch_changed("Lead", ["Email", "Score__c"], None, None, 200)
    assert _describes(emulator) == 2
    assert "Score__c" in {f.name for f in later.list_fields("Lead")}
    assert page.records is not None
