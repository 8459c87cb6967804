"""Metadata endpoints: ``EntityDefinitions(...)`` with ``/Attributes`` and casts, the
service document and a minimal ``$metadata`` (fact sheet sections 3 and 10.7)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crmsync_dynamics.emulator._query import QueryError, parse_filter
from crmsync_dynamics.emulator._schema import SCHEMAS, Table, metadata_id
from crmsync_dynamics.emulator._serialize import BASE_PROPERTIES, CAST_PROPERTIES, attribute_json
from crmsync_dynamics.emulator._store import DataverseError

if TYPE_CHECKING:
    from crmsync_dynamics.emulator._core import DataverseEmulator, Reply, Request

__all__ = ["csdl", "entity_definitions", "service_document"]

_DEFINITION = re.compile(
    r"^EntityDefinitions\(LogicalName='(?P<name>[a-z_]+)'\)"
    r"(?:/Attributes(?:/Microsoft\.Dynamics\.CRM\.(?P<cast>\w+))?(?P<attrs>))?$"
)
_ENUM_LITERAL = re.compile(r"Microsoft\.Dynamics\.CRM\.\w+'([^']*)'")
_EXPAND = re.compile(r"^(?P<nav>\w+)(?:\(\$select=(?P<select>[\w,]+)\))?$")
_ENTITY_PROPERTIES: dict[str, Callable[[Table], Any]] = {
    "LogicalName": lambda t: t.logical_name,
    "EntitySetName": lambda t: t.entity_set,
    "PrimaryIdAttribute": lambda t: t.primary_key,
    "SchemaName": lambda t: t.display_name,
    "ObjectTypeCode": lambda t: 4 if t.logical_name == "lead" else 2,
}


def service_document(emu: DataverseEmulator) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    sets = [
        {"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set} for t in SCHEMAS.values()
    ]
    sets.append({"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"})
    return Reply(200, {"@odata.context": f"{emu.api_root}/$metadata", "value": sets})


def csdl(emu: DataverseEmulator) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    types = "".join(
        f'<EntityType Name="{t.logical_name}"><Key><PropertyRef Name="{t.primary_key}"/></Key>'
        + "".join(
            f'<Property Name="{c.name}" Type="Edm.String"/>' for c in t.columns if not c.is_lookup
        )
        + "</EntityType>"
        for t in SCHEMAS.values()
    )
    sets = "".join(
        f'<EntitySet Name="{t.entity_set}" EntityType="Microsoft.Dynamics.CRM.{t.logical_name}"/>'
        for t in SCHEMAS.values()
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" '
        'xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" '
        'xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        f'{types}<EntityContainer Name="System">{sets}</EntityContainer></Schema>'
        "</edmx:DataServices></edmx:Edmx>"
    )
    return Reply(200, raw=xml, content_type="application/xml")


def _not_property(name: str, type_name: str) -> DataverseError:
    return DataverseError(
        400,
        "0x0",
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.",
    )


def _definition(emu: DataverseEmulator, table: Table, request: Request) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    data = emu.store.data(table.logical_name)
    properties: dict[str, Any] = {name: get(table) for name, get in _ENTITY_PROPERTIES.items()}
    properties["ChangeTrackingEnabled"] = data.change_tracking
    select = request.query.get("$select")
    names = [n.strip() for n in select.split(",")] if select else list(properties)
    out: dict[str, Any] = {
        "@odata.context": f"{emu.api_root}/$metadata#EntityDefinitions"
        + (f"({select})" if select else "")
        + "/$entity"
    }
    for name in names:
        if name not in properties:
            raise _not_property(name, "EntityMetadata")
        out[name] = properties[name]
    out["MetadataId"] = metadata_id(table.logical_name)
    return Reply(200, out)


def entity_definitions(emu: DataverseEmulator, request: Request, rest: str) -> Reply:
    from crmsync_dynamics.emulator._core import Reply

    if request.method != "GET":
        raise DataverseError(
            405, "0x80060888", "The requested resource does not support http method."
        )
    match = _DEFINITION.match(rest)
    if match is None:
        raise DataverseError(404, "0x8006088a", f"Resource not found for the segment '{rest}'.")
    table = SCHEMAS.get(match.group("name"))
    if table is None:
        raise DataverseError(
            404,
            "0x80040217",
            f"Could not find entity with name '{match.group('name')}'.",
        )
    if match.group("attrs") is None:
        return _definition(emu, table, request)
    cast = match.group("cast")
    if cast is not None and cast not in CAST_PROPERTIES:
        if cast == "EnumAttributeMetadata":
            raise DataverseError(400, "0x0", "Casting to 'EnumAttributeMetadata' is not allowed.")
        raise DataverseError(
            400, "0x0", f"The type 'Microsoft.Dynamics.CRM.{cast}' is not defined."
        )
    type_name = cast or "AttributeMetadata"
    allowed = BASE_PROPERTIES | (CAST_PROPERTIES.get(cast, set()) if cast else set())
    columns = [c for c in table.columns if cast is None or c.metadata_type == cast]
    select = request.query.get("$select")
    names = [n.strip() for n in select.split(",")] if select else None
    expands: dict[str, list[str] | None] = {}
    for option in _split_top(request.query.get("$expand", "")):
        found = _EXPAND.match(option)
        if found is None:
            raise DataverseError(400, "0x0", f"Syntax error in $expand '{option}'.")
        nav = found.group("nav")
        if nav not in allowed or nav not in {"OptionSet", "GlobalOptionSet"}:
            raise _not_property(nav, type_name)
        chosen = found.group("select")
        expands[nav] = chosen.split(",") if chosen else None
    for name in names or []:
        if name not in allowed:
            raise _not_property(name, type_name)
        if name in {"OptionSet", "GlobalOptionSet"}:
            raise DataverseError(
                400, "0x0", f"The navigation property '{name}' must be expanded, not selected."
            )
    items = [attribute_json(table, column) for column in columns]
    if "$filter" in request.query:
        text = _ENUM_LITERAL.sub(lambda m: f"'{m.group(1)}'", request.query["$filter"])

        def resolve(name: str) -> Any:
            path = name.split("/")
            if path[0] not in allowed:
                raise QueryError(
                    f"Could not find a property named '{path[0]}' on type "
                    f"'Microsoft.Dynamics.CRM.{type_name}'."
                )

            def get(item: dict[str, Any]) -> Any:
                value: Any = item
                for step in path:
                    value = value.get(step) if isinstance(value, dict) else None
                return value

            return get

        try:
            predicate = parse_filter(text, resolve).predicate
        except QueryError as error:
            raise DataverseError(400, "0x0", str(error)) from None
        items = [item for item in items if predicate(item)]
    out_items = []
    for item in items:
        keep = set(names) if names is not None else set(allowed) - {"OptionSet", "GlobalOptionSet"}
        keep |= {"MetadataId"}
        shaped: dict[str, Any] = {k: v for k, v in item.items() if k in keep}
        if cast is None:
            shaped = {"@odata.type": item["@odata.type"], **shaped}
        for nav, chosen in expands.items():
            value: Any = item.get(nav)
            if isinstance(value, dict) and chosen:
                value = {k: v for k, v in value.items() if k in set(chosen) | {"MetadataId"}}
            shaped[nav] = value
        out_items.append(shaped)
    context = (
        f"{emu.api_root}/$metadata#EntityDefinitions('{table.logical_name}')/Attributes"
        + (f"/Microsoft.Dynamics.CRM.{cast}" if cast else "")
        + (f"({select})" if select else "")
    )
    return Reply(200, {"@odata.context": context, "value": out_items})


def _split_top(text: str) -> list[str]:
    """Split ``$expand`` on commas outside parentheses."""
    items, current, depth = [], "", 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current)
    return [item.strip() for item in items if item.strip()]
