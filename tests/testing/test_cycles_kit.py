"""The cycle world's own edges (the connectors' cycle suites drive the rest of it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from crmsync.contract import FieldType
from crmsync.models import CreationMode, CreationRule, Direction
from crmsync.testing.cycles import CYCLE_START, CycleWorld, Worlds, two_way
from crmsync.testing.emulator import EmulatorClock


class _NoEmulator:
    clock = EmulatorClock()

    def transport(self) -> Any:
        raise AssertionError("a world with a naive start must fail before connecting")


def test_a_naive_start_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"aware start \(tzinfo=datetime.UTC\)"):
        CycleWorld(
            tmp_path,
            emulator=_NoEmulator(),
            crm_connector="acme",
            crm_settings={},
            object_pairs=(),
            create_in_crm=CreationRule(mode=CreationMode.NEVER),
            start=dt.datetime(2026, 3, 2, 9, 0),
        )
    assert not (tmp_path / "platform.db").exists()


class _Recorded:
    def __init__(self, closed: list[Path], folder: Path, **options: Any) -> None:
        self.closed = closed
        self.folder = folder
        self.options = options

    def close(self) -> None:
        self.closed.append(self.folder)


def test_worlds_get_a_folder_each_and_are_all_closed_in_order(tmp_path: Path) -> None:
    closed: list[Path] = []

    def world(folder: Path, **options: Any) -> Any:
        return _Recorded(closed, folder, **options)

    with Worlds(tmp_path, world) as make:
        first = make(page_size=10)
        second = make()
        assert (first.folder, second.folder) == (tmp_path / "0", tmp_path / "1")
        assert first.options == {"page_size": 10} and second.options == {}
        assert closed == []
    assert closed == [tmp_path / "0", tmp_path / "1"]
    assert CYCLE_START.tzinfo is dt.UTC


def test_two_way_maps_one_type_both_ways_and_keeps_the_extras() -> None:
    mapping = two_way("email", "Email", FieldType.EMAIL, default="[none]")
    assert (mapping.platform_field, mapping.crm_field) == ("email", "Email")
    assert mapping.direction is Direction.SYNC
    assert mapping.platform_type is mapping.crm_type is FieldType.EMAIL
    assert mapping.default == "[none]"
    assert two_way("first_name", "FirstName").crm_type is FieldType.STRING
