"""A world for whole engine cycles between ``local`` prospects and an emulated CRM.

A connector's unit and contract tests check one call at a time; its cycle tests run
crmsync's engine end to end. :class:`CycleWorld` is what such a test needs, built once:

* the platform: the embedded ``local`` connector over a SQLite file in ``tmp_path``;
* the CRM: the connector under test, talking to its emulator in-process through
  ``emulator.transport()`` (the HTTP seam, no monkeypatching);
* a SQLite state store holding one integration, ``local-to-<connector>``;
* one clock for the platform, the emulator, the connector and the engine, so that
  "later" means the same everywhere: :meth:`CycleWorld.advance` moves it, nothing reads
  the wall clock (``vendor_clock_offset`` sets the emulator's clock that far off it, a
  vendor whose clock is wrong: the connector measures it from the answers' ``Date``);
* connections that live as long as the world, as they do in the runtime, so a token or
  a session survives from one cycle to the next. Retries never sleep: their delays are
  recorded in :attr:`CycleWorld.sleeps`.

A connector's suite subclasses it to add what is its vendor's own (credentials, object
pairs, which logged requests count as writes); :func:`two_way` spells the usual
both-ways mapping of such pairs::

    class World(CycleWorld[AcmeEmulator]):
        def __init__(self, tmp_path: Path, **options: Any) -> None:
            emulator = AcmeEmulator()
            emulator.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
            super().__init__(
                tmp_path,
                emulator=emulator,
                crm_connector="acme",
                crm_settings={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                object_pairs=PAIRS,
                create_in_crm=CreationRule(mode=CreationMode.ALL, target_object="Lead"),
                **options,
            )

This module imports the engine and the store, which the contract kit itself does not:
import it from a connector's tests, not from its package. :class:`Worlds` is the
fixture's half: it makes worlds, each in its own folder, and closes them all::

    @pytest.fixture
    def make_world(tmp_path: Path) -> Iterator[Worlds[World]]:
        with Worlds(tmp_path, World) as make:
            yield make
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import httpx

from crmsync.connectors.local import LocalSettings, LocalStore
from crmsync.contract import FieldType
from crmsync.engine import CycleReport, SyncEngine
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Integration,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.models import Mapping as FieldMapping
from crmsync.plugins import Connection, RetryPolicy, build_settings, discover_connectors
from crmsync.store import LinkRow, StateStore, open_store
from crmsync.testing.emulator import EmulatorClock

__all__ = ["CYCLE_START", "CycleEmulator", "CycleWorld", "Worlds", "two_way"]

CYCLE_START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
"""Where a world's clock starts unless told otherwise (a Monday morning, UTC)."""

# Quick retries: a test that provokes a fault waits for nothing (sleep is recorded).
_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)


def two_way(
    platform_field: str,
    crm_field: str,
    kind: FieldType = FieldType.STRING,
    **extra: Any,
) -> FieldMapping:
    """A mapping that syncs both ways, of one type on both sides (``extra``: the
    mapping's other fields, e.g. ``default``)."""
    return FieldMapping(
        platform_field=platform_field,
        crm_field=crm_field,
        direction=Direction.SYNC,
        platform_type=kind,
        crm_type=kind,
        **extra,
    )


class CycleEmulator(Protocol):
    """What a world needs from an emulator: its clock and an in-process transport."""

    @property
    def clock(self) -> EmulatorClock: ...

    def transport(self) -> httpx.BaseTransport: ...


EmulatorT = TypeVar("EmulatorT", bound=CycleEmulator)


class CycleWorld(Generic[EmulatorT]):
    """A platform file, an emulated CRM, a state store and one clock for all of them.

    ``emulator`` arrives ready (apps, users or tokens registered); the world freezes
    its clock at ``start`` (plus ``vendor_clock_offset`` seconds: a vendor whose clock
    runs behind is negative). ``crm_settings`` are the connector's raw settings, checked
    by its own settings model. Close the world with :meth:`close` (a fixture's
    teardown).
    """

    def __init__(
        self,
        tmp_path: Path,
        *,
        emulator: EmulatorT,
        crm_connector: str,
        crm_settings: Mapping[str, Any],
        object_pairs: tuple[ObjectPair, ...],
        create_in_crm: CreationRule,
        create_in_platform: CreationMode = CreationMode.ALL,
        source_of_truth: SourceOfTruth = SourceOfTruth.BOTH,
        page_size: int | None = None,
        start: dt.datetime = CYCLE_START,
        vendor_clock_offset: float = 0.0,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("CycleWorld needs an aware start (tzinfo=datetime.UTC)")
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.at = start
        self.sleeps: list[float] = []
        self.page_size = page_size
        self.emulator = emulator
        self.vendor_clock_offset = dt.timedelta(seconds=vendor_clock_offset)
        self.emulator.clock.freeze(start + self.vendor_clock_offset)
        self.path = tmp_path / "platform.db"
        self.local = LocalStore(self.path, clock=self.now)
        self.store: StateStore = open_store(f"sqlite:///{tmp_path}/s.db")
        self.integration = self.store.config.create_integration(
            Integration(
                name=f"local-to-{crm_connector}",
                platform_connector="local",
                crm_connector=crm_connector,
                source_of_truth=source_of_truth,
                object_pairs=object_pairs,
                create_in_crm=create_in_crm,
                create_in_platform=CreationRule(mode=create_in_platform),
            )
        )
        installed = discover_connectors()
        self.platform = Connection(
            installed.get("local"),
            LocalSettings(path=self.path),
            retry=_RETRY,
            factory_kwargs={"clock": self.now},
            sleep=self.sleeps.append,
        )
        crm = installed.get(crm_connector)
        self.crm = Connection(
            crm,
            build_settings(crm, dict(crm_settings)),
            retry=_RETRY,
            factory_kwargs={
                "transport": self.emulator.transport(),
                "clock": self.epoch,
            },
            sleep=self.sleeps.append,
        )

    def now(self) -> dt.datetime:
        """The world's time (the platform's and the engine's clock)."""
        return self.at

    def epoch(self) -> float:
        """The world's time in seconds since the epoch (the connector's clock)."""
        return self.at.timestamp()

    def advance(self, seconds: float = 60) -> None:
        """Time passes on both sides (the emulator's clock stays frozen in between)."""
        self.at += dt.timedelta(seconds=seconds)
        self.emulator.clock.set(self.at + self.vendor_clock_offset)

    def cycle(self) -> CycleReport:
        """Run one engine cycle; a failed cycle fails the test with its message."""
        engine = SyncEngine(
            self.store,
            self.store.config.get_integration(self.integration.name),
            self.platform,
            self.crm,
            clock=self.now,
            page_size=self.page_size,
        )
        report = engine.run_cycle()
        assert report.status != "failed", report.message
        return report

    def crm_link(self, object_name: str, record_id: str) -> LinkRow | None:
        """The link the store holds for a CRM record, or None."""
        integration_id = self.integration.id
        assert integration_id is not None, "a stored integration always has an id"
        with self.store.database.transaction() as tx:
            links = self.store.links.find(
                tx, integration_id, "crm", [(object_name, record_id)]
            )
        return links.get((object_name, record_id))

    def prospect(self, **values: Any) -> str:
        """Insert one prospect on the platform; its id."""
        (record_id,) = self.local.insert([values])
        return record_id

    def close(self) -> None:
        """Close both connections, the platform file and the store."""
        self.platform.close()
        self.crm.close()
        self.local.close()
        self.store.dispose()


WorldT = TypeVar("WorldT", bound=CycleWorld[Any])


class Worlds(Generic[WorldT]):
    """Makes worlds for one test, each in a folder of its own under ``tmp_path``.

    Call it with a world's options; leaving the ``with`` block (the fixture's teardown)
    closes every world it made, in the order they were made.
    """

    def __init__(self, tmp_path: Path, world: Callable[..., WorldT]) -> None:
        self._tmp_path = tmp_path
        self._world = world
        self.made: list[WorldT] = []

    def __call__(self, **options: Any) -> WorldT:
        world = self._world(self._tmp_path / str(len(self.made)), **options)
        self.made.append(world)
        return world

    def close(self) -> None:
        """Close every world made so far."""
        for world in self.made:
            world.close()

    def __enter__(self) -> Worlds[WorldT]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
