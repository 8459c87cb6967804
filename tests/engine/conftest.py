"""A world of two in-memory connectors, a state store and a clock, for whole-cycle
tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from crmsync.connectors.local import LocalConnector, LocalSettings, LocalStore
from crmsync.contract import FieldType
from crmsync.engine import CycleReport, SyncEngine
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Integration,
    Mapping,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.plugins import Connection, InstalledConnector, RetryPolicy, describe
from crmsync.store import LinkRow, StateStore, open_store
from crmsync.testing.memory import (
    MemoryBackend,
    MemoryConnector,
    MemoryPlatformConnector,
    MemorySettings,
    platform_backend,
)

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float = 60) -> dt.datetime:
        self.at += dt.timedelta(seconds=seconds)
        return self.at

    def set(self, hhmm: str) -> dt.datetime:
        hour, minute = (int(p) for p in hhmm.split(":"))
        self.at = self.at.replace(hour=hour, minute=minute, second=0)
        return self.at


def plan_of(report: CycleReport) -> tuple[list[Any], list[Any]]:
    """A cycle's plan, comparable between a dry run and a real run."""
    writes = sorted(
        (w.side, w.object_name, str(w.record_id), w.op, w.field, repr(w.new), w.rule)
        for w in report.planned
    )
    outcomes = sorted(
        (o.kind, o.object_name, o.record_id, o.other_object, o.detail)
        for o in report.outcomes
    )
    return writes, outcomes


def installed(factory: Any) -> InstalledConnector:
    description = describe(factory.describe_connector().id, factory)
    return InstalledConnector(description.id, factory, description, None, None)


def default_pairs(*crm_objects: str, mappings: tuple[Mapping, ...] | None = None):
    mappings = mappings or (
        Mapping(
            platform_field="first_name", crm_field="FirstName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="last_name", crm_field="LastName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="email",
            crm_field="Email",
            direction=Direction.SYNC,
            platform_type=FieldType.EMAIL,
            crm_type=FieldType.EMAIL,
        ),
        Mapping(platform_field="phone", crm_field="Phone", direction=Direction.SYNC),
        Mapping(
            platform_field="company",
            crm_field="Company",
            direction=Direction.TO_CRM,
            default="[not provided]",
        ),
    )
    return tuple(
        ObjectPair(
            platform_object="prospect",
            crm_object=name,
            match_order=index,
            mappings=mappings,
        )
        for index, name in enumerate(crm_objects or ("Lead",))
    )


class LocalPlatform:
    """The real ``local`` connector's store, with the memory backend's test helpers."""

    def __init__(self, path: str, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self.store = LocalStore(path, clock=clock.now)

    def put(
        self,
        object_name: str,
        values: dict[str, Any],
        *,
        record_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> str:
        assert object_name == "prospect"
        saved = self.clock.at
        if at is not None:
            self.clock.at = at
        try:
            if record_id is None:
                return self.store.insert([values])[0]
            self.store.update(record_id, values)
            return record_id
        finally:
            self.clock.at = saved if at is not None else self.clock.at

    def get(self, object_name: str, record_id: str) -> dict[str, Any]:
        found = self.store.get(record_id)
        assert found is not None, record_id
        return found

    def live(self, object_name: str) -> list[str]:
        return [
            row["id"]
            for row in self.store.query(
                "SELECT id FROM prospect WHERE deleted_at IS NULL"
            )
        ]


@dataclass
class World:
    store: StateStore
    clock: Clock
    platform: Any  # MemoryBackend or LocalPlatform: both have put/get/live
    crm: MemoryBackend
    integration: Integration
    sleeps: list[float] = field(default_factory=list)
    extra_plugins: list[object] = field(default_factory=list)
    page_size: int | None = None
    crm_connector: Any = MemoryConnector  # a subclass may describe another vendor
    # Every real cycle is first run dry, and the two plans must match record by record
    # (issue 22: a dry run tells the truth); a module turns it on for its worlds.
    dry_run_first: bool = False

    def connections(self) -> tuple[Connection, Connection]:
        retry = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)
        if isinstance(self.platform, LocalPlatform):
            platform = Connection(
                installed(LocalConnector),
                LocalSettings(path=self.platform.path),
                retry=retry,
                factory_kwargs={"store": self.platform.store},
                sleep=self.sleeps.append,
            )
        else:
            platform = Connection(
                installed(MemoryPlatformConnector),
                MemorySettings(),
                retry=retry,
                factory_kwargs={"backend": self.platform},
                sleep=self.sleeps.append,
            )
        crm = Connection(
            installed(self.crm_connector),
            MemorySettings(),
            retry=retry,
            factory_kwargs={"backend": self.crm},
            sleep=self.sleeps.append,
            extra_plugins=self.extra_plugins,
        )
        return platform, crm

    def engine(self, **options: Any) -> SyncEngine:
        """An engine over fresh connections, as the runtime builds one per cycle
        (``options``: ``should_stop``, ``chunk_size``...)."""
        platform, crm = self.connections()
        options.setdefault("page_size", self.page_size)
        return SyncEngine(
            self.store,
            self.store.config.get_integration(self.integration.name),
            platform,
            crm,
            clock=self.clock.now,
            **options,
        )

    def cycle(self, *, dry_run: bool = False) -> CycleReport:
        if self.dry_run_first and not dry_run:
            planned = self.engine().run_cycle(dry_run=True)
            report = self.engine().run_cycle(record_plan=True)
            assert plan_of(planned) == plan_of(report), "the dry run's plan differs"
        else:
            report = self.engine().run_cycle(dry_run=dry_run)
        assert report.status != "failed", report.message
        return report

    def prospect(
        self,
        values: dict[str, Any],
        record_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> str:
        return self.platform.put("prospect", values, record_id=record_id, at=at)

    def linked_pair(self, **values: Any) -> tuple[str, str]:
        """A prospect and a lead that a first cycle linked, agreeing on ``values``."""
        email = values.pop("email", "pair@example.com")
        platform = {
            "email": email,
            "last_name": "Doe",
            "company": "Initech",
            **{k: v for k, v in values.items()},
        }
        crm_names = {
            "first_name": "FirstName",
            "last_name": "LastName",
            "phone": "Phone",
            "company": "Company",
        }
        pid = self.prospect(platform)
        lid = self.lead(
            {
                "Email": email,
                **{crm_names[k]: v for k, v in platform.items() if k in crm_names},
            }
        )
        report = self.cycle()
        assert report.linked == 1 and report.writes == 0, report.counts()
        self.clock.advance()
        return pid, lid

    def linked_as(
        self, platform: dict[str, Any], crm: dict[str, Any]
    ) -> tuple[str, str]:
        """A prospect and a lead already linked, each side's baseline being the values
        it holds now, even where the two sides differ (a worked example's starting
        state, such as prospect "John" linked to lead "Johnny", that no cycle of these
        mappings leaves behind).
        """
        pid = self.prospect(dict(platform))
        lid = self.lead(dict(crm))
        pair = next(p for p in self.integration.object_pairs if p.crm_object == "Lead")
        seen = self.clock.now()
        link = LinkRow(
            id=None,
            platform_object=pair.platform_object,
            platform_id=pid,
            crm_object=pair.crm_object,
            crm_id=lid,
            baseline={
                m.key: [platform.get(m.platform_field), crm.get(m.crm_field)]
                for m in pair.mappings
            },
            platform_modified_at=seen,
            crm_modified_at=seen,
        )
        with self.store.database.transaction() as tx:
            self.store.links.upsert(tx, self.integration.id, [link])
        self.clock.advance()
        return pid, lid

    def lead(
        self,
        values: dict[str, Any],
        record_id: str | None = None,
        at: dt.datetime | None = None,
        object_name: str = "Lead",
    ) -> str:
        return self.crm.put(object_name, values, record_id=record_id, at=at)


@pytest.fixture
def pairs():
    """``pairs(*crm_objects, mappings=...)``: object pairs for an integration."""
    return default_pairs


@pytest.fixture
def platform_kind() -> str:
    """Which connector plays the platform: the shipped ``local`` one by default."""
    return "local"


@pytest.fixture
def make_world(tmp_path, platform_kind):
    worlds = []

    def make(
        *,
        source_of_truth: SourceOfTruth = SourceOfTruth.BOTH,
        pairs: tuple[ObjectPair, ...] | None = None,
        create_in_crm: CreationRule | None = None,
        create_in_platform: CreationRule | None = None,
        url: str | None = None,
    ) -> World:
        clock = Clock()
        store = open_store(url or f"sqlite:///{tmp_path}/state-{len(worlds)}.db")
        integration = store.config.create_integration(
            Integration(
                name=f"test{len(worlds)}",
                platform_connector="local"
                if platform_kind == "local"
                else "memory_platform",
                crm_connector="memory",
                source_of_truth=source_of_truth,
                object_pairs=pairs or default_pairs(),
                create_in_crm=create_in_crm or CreationRule(mode=CreationMode.NEVER),
                create_in_platform=create_in_platform
                or CreationRule(mode=CreationMode.NEVER),
            )
        )
        world = World(
            store,
            clock,
            LocalPlatform(f"{tmp_path}/platform-{len(worlds)}.db", clock)
            if platform_kind == "local"
            else platform_backend(now=clock.now),
            MemoryBackend(now=clock.now),
            integration,
        )
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.store.dispose()
