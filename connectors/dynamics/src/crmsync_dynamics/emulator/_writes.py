"""Create, update/upsert and the bulk messages (fact sheet section 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmsync_dynamics.emulator._schema import Table
from crmsync_dynamics.emulator._serialize import row_json, selected_columns
from crmsync_dynamics.emulator._store import DataverseError, Row

if TYPE_CHECKING:
    from crmsync_dynamics.emulator._core import DataverseEmulator, Reply, Request

__all__ = ["create", "multiple", "patch", "unbind"]


def _entity_url(emu: DataverseEmulator, table: Table, record_id: str) -> str:
    return f"{emu.api_root}/{table.entity_set}({record_id})"


def _duplicate_check(
    emu: DataverseEmulator, table: Table, request: Request, body: Any, record_id: str | None
) -> None:
    """Duplicate detection runs only when the caller turns it on (header ``false``)."""
    if request.headers.get("mscrm.suppressduplicatedetection", "").lower() != "false":
        return
    email = body.get("emailaddress1") if isinstance(body, dict) else None
    if not emu.duplicate_detection_on_email or not isinstance(email, str) or not email.strip():
        return
    for row in emu.store.all_rows(table.logical_name):
        other = row.get("emailaddress1")
        if (
            row[table.primary_key] != record_id
            and isinstance(other, str)
            and (other.strip().casefold() == email.strip().casefold())
        ):
            raise DataverseError(
                500,
                "0x80040333",
                "A record was not created or updated because a duplicate of the current "
                "record already exists.",
            )


def _written(
    emu: DataverseEmulator, table: Table, row: Row, request: Request, *, created: bool
) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    url = _entity_url(emu, table, row[table.primary_key])
    if "return" in request.prefer() and request.prefer()["return"] == "representation":
        select = request.query.get("$select")
        columns = selected_columns(table, select)
        body = {
            "@odata.context": f"{emu.api_root}/$metadata#{table.entity_set}"
            + (f"({select})" if select else "")
            + "/$entity",
            **row_json(table, row, columns),
        }
        return Reply(201 if created else 200, body, {"Preference-Applied": "return=representation"})
    return Reply(204, None, {"Location": url, "OData-EntityId": url})


def create(emu: DataverseEmulator, table: Table, request: Request) -> Reply:
    body = request.json()
    if not isinstance(body, dict):
        raise DataverseError(400, "0x0", "The request body must be a JSON object.")
    if request.query.get("$select"):
        selected_columns(table, request.query["$select"])
    with emu.store.lock:
        _duplicate_check(emu, table, request, body, None)
        row = emu.store.create(table, body)
    return _written(emu, table, row, request, created=True)


def patch(emu: DataverseEmulator, table: Table, record_id: str, request: Request) -> Reply:
    body = request.json()
    if not isinstance(body, dict):
        raise DataverseError(400, "0x0", "The request body must be a JSON object.")
    if_match = request.headers.get("if-match")
    if_none_match = request.headers.get("if-none-match")
    with emu.store.lock:
        existing = emu.store.get(table.logical_name, record_id)
        if if_none_match == "*" and existing is not None:
            raise DataverseError(
                412, "0x80040237", "A record with matching key values already exists."
            )
        if existing is None:
            if if_match is not None:
                raise DataverseError(
                    404,
                    "0x80040217",
                    f"{table.logical_name} With Id = {record_id} Does Not Exist",
                )
            _duplicate_check(emu, table, request, body, None)
            row = emu.store.create(table, body, record_id=record_id)
            return _written(emu, table, row, request, created=True)
        if if_match not in (None, "*") and if_match != f'W/"{existing["versionnumber"]}"':
            raise DataverseError(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property "
                "provided.",
            )
        _duplicate_check(emu, table, request, body, existing[table.primary_key])
        row = emu.store.update(table, record_id, body)
    reply = _written(emu, table, row, request, created=False)
    if reply.status == 201:
        reply.status = 200
    return reply


def multiple(emu: DataverseEmulator, table: Table, request: Request, message: str) -> Reply:
    """``CreateMultiple`` / ``UpdateMultiple``: one transaction, all or nothing."""
    from crmsync_dynamics.emulator._core import Reply

    body = request.json()
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets:
        raise DataverseError(400, "0x0", f"{message} needs a non-empty 'Targets' collection.")
    wanted = f"Microsoft.Dynamics.CRM.{table.logical_name}"
    with emu.store.transaction() as journal:
        ids: list[str] = []
        try:
            for target in targets:
                if (
                    not isinstance(target, dict)
                    or str(target.get("@odata.type", "")).lstrip("#") != wanted
                ):
                    raise DataverseError(
                        400,
                        "0x80048d19",
                        f'Every target of {message} needs "@odata.type": "{wanted}".',
                    )
                values = {k: v for k, v in target.items() if k != "@odata.type"}
                if message == "CreateMultiple":
                    ids.append(emu.store.create(table, values)[table.primary_key])
                else:
                    record_id = values.pop(table.primary_key, None)
                    if not isinstance(record_id, str):
                        raise DataverseError(
                            400,
                            "0x80040203",
                            f"{table.primary_key} is required for UpdateMultiple.",
                        )
                    emu.store.update(table, record_id, values)
        except DataverseError:
            journal.rollback()
            raise
    if message == "CreateMultiple":
        return Reply(
            200,
            {
                "@odata.context": f"{emu.api_root}/$metadata#"
                "Microsoft.Dynamics.CRM.CreateMultipleResponse",
                "Ids": ids,
            },
        )
    return Reply(204)


def unbind(emu: DataverseEmulator, table: Table, record_id: str, nav: str) -> Reply:
    """``DELETE <row>/<navigation property>/$ref``: clear a lookup."""
    from crmsync_dynamics.emulator._core import Reply

    found = table.navigation.get(nav)
    if found is None:
        raise DataverseError(
            400,
            "0x0",
            f"Could not find a property named '{nav}' on type "
            f"'Microsoft.Dynamics.CRM.{table.logical_name}'.",
        )
    with emu.store.lock:
        emu.store.require(table, record_id)
        emu.store.update(table, record_id, {found[0]: None}, force=True)
    return Reply(204)
