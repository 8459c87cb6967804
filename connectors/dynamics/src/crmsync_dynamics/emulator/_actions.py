"""The ``QualifyLead`` bound action and the ``Merge`` unbound action (fact sheet 8)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from crmsync_dynamics.emulator._reads import full_record
from crmsync_dynamics.emulator._schema import CONTACT, LEAD, SCHEMAS, Table
from crmsync_dynamics.emulator._store import DataverseError, format_datetime

if TYPE_CHECKING:
    from crmsync_dynamics.emulator._core import DataverseEmulator, Reply, Request

__all__ = ["merge", "merge_action", "qualify", "qualify_action"]

# What a contact created by QualifyLead takes from its lead.
_LEAD_TO_CONTACT = (
    "firstname",
    "lastname",
    "emailaddress1",
    "emailaddress2",
    "jobtitle",
    "telephone1",
    "mobilephone",
    "address1_city",
    "description",
    "donotemail",
    "donotphone",
)


def qualify(
    emu: DataverseEmulator,
    lead_id: str,
    *,
    create_contact: bool = True,
    create_account: bool = False,
    create_opportunity: bool = False,
    status: int = 3,
) -> list[dict[str, Any]]:
    """Qualify a lead: create what is asked, close the lead; the created records."""
    store = emu.store
    with store.lock:
        lead = store.require(LEAD, lead_id)
        if lead.get("statecode") != 0:
            # Wording from SDK mocks; the live code is unconfirmed (fact sheet 8).
            raise DataverseError(400, "0x80040203", "The lead is already closed.")
        if LEAD.column("statuscode").option_state.get(status) != 1:  # type: ignore[union-attr]
            raise DataverseError(
                400,
                "0x8004431A",
                f"A validation error occurred.  The value {status} of 'statuscode' on record "
                "of type 'lead' is outside the valid range.",
            )
        created: list[dict[str, Any]] = []
        contact_id = account_id = None
        now = store.now()
        if create_account:
            account_id = str(uuid.uuid4())
            created.append(
                {
                    "@odata.type": "#Microsoft.Dynamics.CRM.account",
                    "accountid": account_id,
                    "name": lead.get("companyname"),
                    "statecode": 0,
                    "statuscode": 1,
                    "_originatingleadid_value": lead["leadid"],
                    "createdon": format_datetime(now),
                    "modifiedon": format_datetime(now),
                }
            )
        if create_contact:
            values = {k: lead.get(k) for k in _LEAD_TO_CONTACT if lead.get(k) is not None}
            values["originatingleadid@odata.bind"] = f"/leads({lead['leadid']})"
            contact = store.create(CONTACT, values)
            contact_id = contact["contactid"]
            record = {
                "@odata.type": "#Microsoft.Dynamics.CRM.contact",
                **full_record(CONTACT, contact),
            }
            created.append(record)
        if create_opportunity:
            created.append(
                {
                    "@odata.type": "#Microsoft.Dynamics.CRM.opportunity",
                    "opportunityid": str(uuid.uuid4()),
                    "name": None,
                    "statecode": 0,
                    "statuscode": 1,
                    "_originatingleadid_value": lead["leadid"],
                    "_parentcontactid_value": contact_id,
                    "_customerid_value": account_id or contact_id,
                    "createdon": format_datetime(now),
                    "modifiedon": format_datetime(now),
                }
            )
        store.update(LEAD, lead_id, {"statecode": 1, "statuscode": status}, force=False)
        return created


def qualify_action(emu: DataverseEmulator, lead_id: str, request: Request) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    body = request.json()
    missing = [
        name
        for name in ("CreateAccount", "CreateContact", "CreateOpportunity", "Status")
        if name not in body
    ]
    if missing:
        raise DataverseError(
            400, "0x0", f"Required parameter '{missing[0]}' is missing for QualifyLead."
        )
    for name in ("CreateAccount", "CreateContact", "CreateOpportunity"):
        if not isinstance(body[name], bool):
            raise DataverseError(
                400,
                "0x0",
                f"Cannot convert the literal '{body[name]}' to the expected type 'Edm.Boolean'.",
            )
    created = qualify(
        emu,
        lead_id,
        create_contact=body["CreateContact"],
        create_account=body["CreateAccount"],
        create_opportunity=body["CreateOpportunity"],
        status=int(body["Status"]),
    )
    return Reply(
        200,
        {
            "@odata.context": f"{emu.api_root}/$metadata#Collection("
            "Microsoft.Dynamics.CRM.crmbaseentity)",
            "value": created,
        },
    )


def _entity_param(body: dict[str, Any], name: str) -> tuple[Table, str | None, dict[str, Any]]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise DataverseError(400, "0x0", f"Required parameter '{name}' is missing for Merge.")
    kind = str(value.get("@odata.type", ""))
    if not kind:
        raise DataverseError(
            400,
            "0x0",
            f"The '{name}' parameter needs an '@odata.type' annotation to be deserialized.",
        )
    table = SCHEMAS.get(kind.lstrip("#").removeprefix("Microsoft.Dynamics.CRM."))
    if table is None:
        raise DataverseError(400, "0x0", f"Merge is not supported for '{kind}'.")
    values = {k: v for k, v in value.items() if k != "@odata.type"}
    return table, values.pop(table.primary_key, None), values


def merge(
    emu: DataverseEmulator,
    table: Table,
    target_id: str,
    subordinate_id: str,
    update_content: dict[str, Any] | None = None,
) -> None:
    """Merge ``subordinate_id`` into ``target_id``: content applied to the target,
    lookups re-pointed, the subordinate deactivated with ``merged`` and ``masterid``."""
    store = emu.store
    with store.lock:
        if target_id.lower() == subordinate_id.lower():
            raise DataverseError(400, "0x80040203", "The target and subordinate must differ.")
        store.require(table, target_id)
        store.require(table, subordinate_id)
        if update_content:
            store.update(table, target_id, update_content)
        for other in SCHEMAS.values():
            for row in list(store.all_rows(other.logical_name)):
                touched = {
                    column: target_id.lower()
                    for column, target in row["__targets"].items()
                    if target == table.logical_name
                    and row.get(column) == subordinate_id.lower()
                    and column != "masterid"
                }
                if touched:
                    store.update(other, row[other.primary_key], touched, force=True)
        closed = (
            {"statecode": 2, "statuscode": 7}
            if table is LEAD
            else {"statecode": 1, "statuscode": 2}
        )
        store.update(
            table,
            subordinate_id,
            {
                **closed,
                "merged": True,
                "masterid": target_id.lower(),
                "__targets": {"masterid": table.logical_name},
            },
            force=True,
        )


def merge_action(emu: DataverseEmulator, request: Request) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    body = request.json()
    table, target_id, _ = _entity_param(body, "Target")
    sub_table, subordinate_id, _ = _entity_param(body, "Subordinate")
    if sub_table is not table or not target_id or not subordinate_id:
        raise DataverseError(400, "0x0", "Target and Subordinate must be rows of one table.")
    content: dict[str, Any] | None = None
    if "UpdateContent" in body:
        update_table, _, content = _entity_param(body, "UpdateContent")
        if update_table is not table:
            raise DataverseError(400, "0x0", "UpdateContent must be of the target's table.")
    merge(emu, table, target_id, subordinate_id, content)
    return Reply(204)
