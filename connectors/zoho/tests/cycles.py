"""A world for whole sync cycles: ``local`` prospects, the emulated Zoho org, a SQLite
state store and one clock for all three (the same shape as the Salesforce suite's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crmsync.contract import FieldType
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Mapping,
    ObjectPair,
)
from crmsync.testing.cycles import CYCLE_START, CycleWorld, two_way
from crmsync_zoho.emulator import ZohoEmulator

from .conftest import CLIENT_ID, CLIENT_SECRET

NOT_PROVIDED = "[not provided]"
WRITES = ("POST", "PUT", "DELETE")


def pairs(phone: Direction = Direction.SYNC) -> tuple[ObjectPair, ...]:
    """prospect<->Contacts first, then prospect<->Leads; fields moving every way."""
    common = (
        two_way("email", "Email", FieldType.EMAIL),
        two_way("first_name", "First_Name"),
        two_way("last_name", "Last_Name", default=NOT_PROVIDED),
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


class World(CycleWorld[ZohoEmulator]):
    """A platform file, an emulated org, a state store and one clock for all three.
    Connections live as long as the world, as they do in the runtime."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        crm_settings: dict[str, Any] | None = None,
        phone: Direction = Direction.SYNC,
        emulator: ZohoEmulator | None = None,
        **options: Any,
    ) -> None:
        emulator = emulator or ZohoEmulator()
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        emulator.clock.freeze(CYCLE_START)
        refresh = emulator.issue_refresh_token(CLIENT_ID)
        super().__init__(
            tmp_path,
            emulator=emulator,
            crm_connector="zoho",
            crm_settings={
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": refresh,
                **(crm_settings or {}),
            },
            object_pairs=pairs(phone),
            create_in_crm=CreationRule(mode=CreationMode.ALL, target_object="Leads"),
            **options,
        )

    def mark(self) -> int:
        """A position in the emulator's request log."""
        return len(self.emulator.log)

    def since(self, mark: int) -> list[Any]:
        return [r for r in self.emulator.requests[mark:] if r.path.startswith("/crm/")]

    def writes_since(self, mark: int) -> list[Any]:
        return [r for r in self.since(mark) if r.method in WRITES and r.path != "/crm/v8/coql"]

    def lead(self, **values: Any) -> str:
        (record_id,) = self.emulator.seed("Leads", [values])
        return record_id


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
