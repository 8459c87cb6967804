"""A world for whole sync cycles: ``local`` prospects, the emulated Zoho org, a SQLite
state store and one clock for all three (the same shape as the Salesforce suite's)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from crmsync.connectors.local import LocalSettings, LocalStore
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
from crmsync.plugins import Connection, RetryPolicy, build_settings, discover_connectors
from crmsync.store import open_store
from crmsync_zoho.emulator import ZohoEmulator

from .conftest import CLIENT_ID, CLIENT_SECRET

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
NOT_PROVIDED = "[not provided]"
WRITES = ("POST", "PUT", "DELETE")


def sync(platform: str, crm: str, kind: FieldType = FieldType.STRING, **extra: Any) -> Mapping:
    return Mapping(platform_field=platform, crm_field=crm, direction=Direction.SYNC,
                   platform_type=kind, crm_type=kind, **extra)


def pairs(phone: Direction = Direction.SYNC) -> tuple[ObjectPair, ...]:
    """prospect<->Contacts first, then prospect<->Leads; fields moving every way."""
    common = (
        sync("email", "Email", FieldType.EMAIL),
        sync("first_name", "First_Name"),
        sync("last_name", "Last_Name", default=NOT_PROVIDED),
        Mapping(platform_field="phone", crm_field="Phone", direction=phone,
                platform_type=FieldType.PHONE, crm_type=FieldType.PHONE),
        Mapping(platform_field="lead_source", crm_field="Lead_Source",
                direction=Direction.TO_PLATFORM, platform_type=FieldType.PICKLIST,
                crm_type=FieldType.PICKLIST),
    )
    return (
        ObjectPair(platform_object="prospect", crm_object="Contacts", match_order=0,
                   mappings=(*common, Mapping(platform_field="title", crm_field="Title",
                                              direction=Direction.TO_CRM))),
        ObjectPair(
            platform_object="prospect", crm_object="Leads", match_order=1,
            mappings=(
                *common,
                Mapping(platform_field="title", crm_field="Designation",
                        direction=Direction.TO_CRM),
                Mapping(platform_field="company", crm_field="Company",
                        direction=Direction.TO_CRM, default=NOT_PROVIDED),
            ),
        ),
    )


class World:
    """A platform file, an emulated org, a state store and one clock for all three.
    Connections live as long as the world, as they do in the runtime."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        source_of_truth: SourceOfTruth = SourceOfTruth.BOTH,
        page_size: int | None = None,
        crm_settings: dict[str, Any] | None = None,
        create_in_platform: CreationMode = CreationMode.ALL,
        phone: Direction = Direction.SYNC,
        emulator: ZohoEmulator | None = None,
    ) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.at = START
        self.sleeps: list[float] = []
        self.page_size = page_size
        self.emulator = emulator or ZohoEmulator()
        self.emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        self.emulator.clock.freeze(START)
        refresh = self.emulator.issue_refresh_token(CLIENT_ID)
        self.path = tmp_path / "platform.db"
        self.local = LocalStore(self.path, clock=self.now)
        self.store = open_store(f"sqlite:///{tmp_path}/s.db")
        self.integration = self.store.create_integration(
            Integration(
                name="local-to-zoho",
                platform_connector="local",
                crm_connector="zoho",
                source_of_truth=source_of_truth,
                object_pairs=pairs(phone),
                create_in_crm=CreationRule(mode=CreationMode.ALL, target_object="Leads"),
                create_in_platform=CreationRule(mode=create_in_platform),
            )
        )
        installed = discover_connectors()
        retry = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)
        self.platform = Connection(
            installed.get("local"), LocalSettings(path=self.path), retry=retry,
            factory_kwargs={"clock": self.now}, sleep=self.sleeps.append,
        )
        zoho = installed.get("zoho")
        self.crm = Connection(
            zoho,
            build_settings(zoho, {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": refresh,
                **(crm_settings or {}),
            }),
            retry=retry,
            factory_kwargs={"transport": self.emulator.transport(), "clock": self.epoch},
            sleep=self.sleeps.append,
        )

    def now(self) -> dt.datetime:
        return self.at

    def epoch(self) -> float:
        return self.at.timestamp()

    def advance(self, seconds: float = 60) -> None:
        """Time passes on both sides (the org's clock stays frozen in between)."""
        self.at += dt.timedelta(seconds=seconds)
        self.emulator.clock.set(self.at)

    def cycle(self) -> CycleReport:
        engine = SyncEngine(
            self.store, self.store.get_integration(self.integration.name), self.platform,
            self.crm, clock=self.now, page_size=self.page_size,
        )
        report = engine.run_cycle()
        assert report.status != "failed", report.message
        return report

    def mark(self) -> int:
        """A position in the emulator's request log."""
        return len(self.emulator.log)

    def since(self, mark: int) -> list[Any]:
        return [r for r in self.emulator.requests[mark:] if r.path.startswith("/crm/")]

    def writes_since(self, mark: int) -> list[Any]:
        return [r for r in self.since(mark) if r.method in WRITES and r.path != "/crm/v8/coql"]

    def crm_link(self, object_name: str, record_id: str) -> Any:
        with self.store.transaction() as tx:
            links = self.store.links_for(tx, self.integration.id, "crm",
                                         [(object_name, record_id)])
        return links.get((object_name, record_id))

    def prospect(self, **values: Any) -> str:
        (record_id,) = self.local.insert([values])
        return record_id

    def lead(self, **values: Any) -> str:
        (record_id,) = self.emulator.seed("Leads", [values])
        return record_id

    def close(self) -> None:
        self.platform.close()
        self.crm.close()
        self.local.close()
        self.store.dispose()


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"p{n}@example.com", "first_name": "Pat", "last_name": f"P{n}", **extra}


def linked_pair(world: World, n: int = 1, **lead_values: Any) -> tuple[str, str]:
    """A prospect and a lead that one cycle linked (agreeing on every mapped field)."""
    pid = world.prospect(**person(n, company="Initech"))
    lid = world.lead(Email=f"p{n}@example.com", First_Name="Pat", Last_Name=f"P{n}",
                     Company="Initech", **lead_values)
    report = world.cycle()
    assert report.linked >= 1, report.counts()
    world.advance()
    return pid, lid
