"""Rows and metadata as the Web API writes them (fact sheet sections 2, 3 and 10)."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from typing import Any

from crmsync_dynamics.emulator._schema import Column, Table, metadata_id
from crmsync_dynamics.emulator._store import DataverseError, Row, format_datetime

__all__ = [
    "attribute_json",
    "column_for_property",
    "row_json",
    "selected_columns",
]

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAV_PROPERTY = "Microsoft.Dynamics.CRM.associatednavigationproperty"


def property_name(column: Column) -> str:
    """How a column appears in JSON and queries (lookups as ``_x_value``)."""
    return f"_{column.name}_value" if column.is_lookup else column.name


def column_for_property(table: Table, name: str) -> Column | None:
    """The column a query property names (``_x_value`` for lookups), or ``None``."""
    if name.startswith("_") and name.endswith("_value"):
        column = table.column(name[1:-6])
        return column if column is not None and column.is_lookup else None
    column = table.column(name)
    return column if column is not None and not column.is_lookup else None


def selected_columns(table: Table, select: str | None) -> list[Column]:
    """The columns of ``$select`` (every column when absent); unknown -> 400 0x0."""
    if not select:
        return [c for c in table.columns if c.read]
    out: list[Column] = []
    for name in select.split(","):
        name = name.strip()
        column = column_for_property(table, name)
        if column is None:
            raise DataverseError(
                400,
                "0x0",
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{table.logical_name}'.",
            )
        if column not in out:
            out.append(column)
    return out


def wire_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    return value


def _label(column: Column, value: Any) -> str | None:
    if column.options:
        return dict(column.options).get(value)
    if column.type_name == "BooleanType":
        if column.name.startswith("donot"):
            return "Do Not Allow" if value else "Allow"
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return value.strftime("%-m/%-d/%Y %-I:%M %p")
    return None


def row_json(
    table: Table,
    row: Row,
    columns: Sequence[Column],
    *,
    annotations: bool = False,
    etag: bool = True,
) -> dict[str, Any]:
    """A row as the Web API returns it: ETag, selected columns, the primary key always."""
    out: dict[str, Any] = {}
    if etag:
        out["@odata.etag"] = f'W/"{row["versionnumber"]}"'
    for column in columns:
        value = row.get(column.name)
        name = property_name(column)
        if annotations and value is not None:
            if column.is_lookup:
                target = row["__targets"].get(column.name) or (column.targets or ("",))[0]
                out[f"{name}@{LOOKUP_NAME}"] = target
                nav = column.name if len(column.targets) == 1 else f"{column.name}_{target}"
                out[f"{name}@{NAV_PROPERTY}"] = nav
            else:
                label = _label(column, value)
                if label is not None:
                    out[f"{name}@{FORMATTED}"] = label
        out[name] = wire_value(column, value)
    out[table.primary_key] = row[table.primary_key]
    return out


def _labels(text: str | None, owner: str) -> dict[str, Any]:
    if text is None:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    label = {
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": metadata_id(owner, "label"),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [label], "UserLocalizedLabel": dict(label)}


def _options(table: Table, column: Column) -> dict[str, Any]:
    options = []
    for value, label in column.options:
        option: dict[str, Any] = {
            "Value": value,
            "Color": None,
            "IsManaged": True,
            "ExternalValue": None,
            "Label": _labels(label, f"{table.logical_name}.{column.name}.{value}"),
            "Description": _labels(None, ""),
        }
        if column.type_name == "StatusType":
            option["State"] = column.option_state.get(value)
            option["TransitionData"] = None
        if column.type_name == "StateType":
            option["DefaultStatus"] = column.option_state.get(value)
            option["InvariantName"] = label.replace(" ", "")
        options.append(option)
    return {
        "MetadataId": metadata_id(table.logical_name, column.name, "optionset"),
        "Name": f"{table.logical_name}_{column.name}",
        "Options": options,
    }


def _boolean_options(table: Table, column: Column) -> dict[str, Any]:
    def option(value: bool) -> dict[str, Any]:
        return {
            "Value": int(value),
            "Label": _labels(_label(column, value), f"{table.logical_name}.{column.name}.{value}"),
        }

    return {
        "MetadataId": metadata_id(table.logical_name, column.name, "optionset"),
        "TrueOption": option(True),
        "FalseOption": option(False),
    }


# Properties each derived metadata type adds (what a cast makes selectable).
CAST_PROPERTIES: dict[str, set[str]] = {
    "StringAttributeMetadata": {"MaxLength", "FormatName", "Format", "DatabaseLength"},
    "MemoAttributeMetadata": {"MaxLength", "Format"},
    "MoneyAttributeMetadata": {"Precision", "MinValue", "MaxValue"},
    "DecimalAttributeMetadata": {"Precision", "MinValue", "MaxValue"},
    "IntegerAttributeMetadata": {"MinValue", "MaxValue", "Format"},
    "PicklistAttributeMetadata": {"OptionSet", "GlobalOptionSet", "DefaultFormValue"},
    "MultiSelectPicklistAttributeMetadata": {"OptionSet", "GlobalOptionSet", "DefaultFormValue"},
    "StatusAttributeMetadata": {"OptionSet", "DefaultFormValue"},
    "StateAttributeMetadata": {"OptionSet", "DefaultFormValue"},
    "BooleanAttributeMetadata": {"OptionSet", "DefaultValue"},
    "LookupAttributeMetadata": {"Targets"},
    "DateTimeAttributeMetadata": {"Format", "DateTimeBehavior"},
    "BigIntAttributeMetadata": {"MinValue", "MaxValue"},
}
BASE_PROPERTIES = {
    "LogicalName",
    "SchemaName",
    "AttributeType",
    "AttributeTypeName",
    "RequiredLevel",
    "IsValidForCreate",
    "IsValidForUpdate",
    "IsValidForRead",
    "DisplayName",
    "MetadataId",
    "IsPrimaryId",
    "IsPrimaryName",
    "IsCustomAttribute",
    "AttributeOf",
    "EntityLogicalName",
}


def attribute_json(table: Table, column: Column) -> dict[str, Any]:
    """Every property of the column's metadata (base and derived)."""
    out: dict[str, Any] = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{column.metadata_type}",
        "LogicalName": column.name,
        "SchemaName": "".join(part.title() for part in column.name.split("_")),
        "EntityLogicalName": table.logical_name,
        "AttributeType": column.attribute_type,
        "AttributeTypeName": {"Value": column.type_name},
        "AttributeOf": None,
        "IsCustomAttribute": False,
        "IsPrimaryId": column.name == table.primary_key,
        "IsPrimaryName": column.name == "fullname",
        "RequiredLevel": {
            "Value": column.required,
            "CanBeChanged": column.required != "SystemRequired",
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        },
        "IsValidForCreate": column.create,
        "IsValidForUpdate": column.update,
        "IsValidForRead": column.read,
        "DisplayName": _labels(column.label, f"{table.logical_name}.{column.name}"),
        "MetadataId": metadata_id(table.logical_name, column.name),
    }
    kind = column.metadata_type
    if kind in {"StringAttributeMetadata", "MemoAttributeMetadata"}:
        out["MaxLength"] = column.max_length
        out["DatabaseLength"] = (column.max_length or 0) * 2
        out["FormatName"] = {"Value": column.format_name or "Text"}
        out["Format"] = column.format_name or "Text"
    elif kind in {"MoneyAttributeMetadata", "DecimalAttributeMetadata"}:
        out["Precision"] = column.precision
        out["MinValue"] = -100000000000000
        out["MaxValue"] = 100000000000000
    elif kind in {"IntegerAttributeMetadata", "BigIntAttributeMetadata"}:
        out["MinValue"] = -2147483648
        out["MaxValue"] = 2147483647
        out["Format"] = "None"
    elif kind in {
        "PicklistAttributeMetadata",
        "StatusAttributeMetadata",
        "StateAttributeMetadata",
    }:
        out["OptionSet"] = _options(table, column)
        out["GlobalOptionSet"] = None
        out["DefaultFormValue"] = column.default if column.default is not None else -1
    elif kind == "BooleanAttributeMetadata":
        out["OptionSet"] = _boolean_options(table, column)
        out["DefaultValue"] = bool(column.default)
    elif kind == "LookupAttributeMetadata":
        out["Targets"] = list(column.targets)
    elif kind == "DateTimeAttributeMetadata":
        out["Format"] = "DateAndTime"
        out["DateTimeBehavior"] = {"Value": "UserLocal"}
    return out
