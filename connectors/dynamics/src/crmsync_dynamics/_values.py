"""Column metadata and values: Dataverse's wire forms <-> crmsync's canonical ones.

Choices, state and status columns travel as integers and are canonical labels
(``"Web"``, ``"Qualified"``): a mapping sees the words a CRM user sees, and a label
outside the option set is refused per record before sending. Lookups are GUIDs, read
from ``_<name>_value`` and written with ``<name>@odata.bind``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmsync.contract import FieldSpec, FieldType, RecordError

__all__ = [
    "Attribute",
    "WireProblem",
    "attributes_from_metadata",
    "field_spec",
    "format_datetime",
    "from_wire",
    "parse_datetime",
    "record_error",
    "to_wire",
]

# Tables whose entity set crmsync knows, for writing single-target lookups.
ENTITY_SETS = {
    "lead": "leads",
    "contact": "contacts",
    "account": "accounts",
    "systemuser": "systemusers",
    "team": "teams",
    "campaign": "campaigns",
}
_TYPES = {
    "StringType": FieldType.STRING,
    "MemoType": FieldType.TEXT,
    "IntegerType": FieldType.INTEGER,
    "BigIntType": FieldType.INTEGER,
    "DecimalType": FieldType.NUMBER,
    "DoubleType": FieldType.NUMBER,
    "MoneyType": FieldType.NUMBER,
    "BooleanType": FieldType.BOOLEAN,
    "DateTimeType": FieldType.DATETIME,
    "PicklistType": FieldType.PICKLIST,
    "StateType": FieldType.PICKLIST,
    "StatusType": FieldType.PICKLIST,
    "MultiSelectPicklistType": FieldType.MULTIPICKLIST,
    "LookupType": FieldType.REFERENCE,
    "CustomerType": FieldType.REFERENCE,
    "OwnerType": FieldType.REFERENCE,
    "UniqueidentifierType": FieldType.ID,
}
_STRING_FORMATS = {"Email": FieldType.EMAIL, "Phone": FieldType.PHONE, "Url": FieldType.URL}
_CHOICES = {"PicklistType", "StateType", "StatusType", "MultiSelectPicklistType"}
_DEFAULTED_SYSTEM = {"UniqueidentifierType", "StateType", "StatusType", "OwnerType"}
_SKIPPED = {
    "VirtualType",
    "EntityNameType",
    "ManagedPropertyType",
    "CalendarRulesType",
    "PartyListType",
    "ImageType",
    "FileType",
}


class WireProblem(ValueError):
    """A value Dataverse would refuse, with the code it would answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Attribute:
    """What crmsync needs of one column's metadata."""

    name: str
    type_name: str
    label: str
    required: str = "None"
    create: bool = True
    update: bool = True
    max_length: int | None = None
    format_name: str | None = None
    options: tuple[tuple[int, str], ...] = ()
    targets: tuple[str, ...] = ()
    date_only: bool = False
    state_of_status: Mapping[int, int] = field(default_factory=dict)

    @property
    def is_lookup(self) -> bool:
        return self.type_name in {"LookupType", "CustomerType", "OwnerType"}

    @property
    def wire_name(self) -> str:
        """The property a read selects (lookups as ``_x_value``)."""
        return f"_{self.name}_value" if self.is_lookup else self.name

    @property
    def bind_set(self) -> str | None:
        """The entity set a single-target lookup binds to (``None``: not writable)."""
        if not self.is_lookup or len(self.targets) != 1:
            return None
        return ENTITY_SETS.get(self.targets[0])

    @property
    def kind(self) -> FieldType:
        if self.type_name == "StringType" and self.format_name in _STRING_FORMATS:
            return _STRING_FORMATS[self.format_name]
        return _TYPES.get(self.type_name, FieldType.OTHER)

    def writable(self, op: str) -> bool:
        """Whether crmsync may write the column on ``op`` (``create``/``update``)."""
        if self.is_lookup and self.bind_set is None:
            return False
        if self.type_name == "StateType":
            # State moves through its own transitions (qualify, disqualify, reopen) with
            # a matching status; a synced field must never close or reopen a record.
            return False
        return self.create if op == "create" else self.update


def _label(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    user = item.get("UserLocalizedLabel")
    if isinstance(user, dict) and user.get("Label"):
        return str(user["Label"])
    for local in item.get("LocalizedLabels") or []:
        if isinstance(local, dict) and local.get("Label"):
            return str(local["Label"])
    return None


def _options(entry: Mapping[str, Any]) -> tuple[tuple[tuple[int, str], ...], dict[int, int]]:
    found: list[tuple[int, str]] = []
    states: dict[int, int] = {}
    for key in ("OptionSet", "GlobalOptionSet"):
        option_set = entry.get(key)
        if not isinstance(option_set, dict):
            continue
        for option in option_set.get("Options") or []:
            value = option.get("Value")
            if isinstance(value, int) and not isinstance(value, bool):
                found.append((value, _label(option.get("Label")) or str(value)))
                if isinstance(option.get("State"), int):
                    states[value] = option["State"]
        if found:
            break
    return tuple(found), states


def attributes_from_metadata(
    base: list[Mapping[str, Any]], extras: Mapping[str, list[Mapping[str, Any]]]
) -> dict[str, Attribute]:
    """Attributes from the base ``/Attributes`` answer and the casts' answers
    (``extras``: metadata type -> elements), keyed by logical name."""
    by_name: dict[str, dict[str, Any]] = {}
    for entry in base:
        type_name = (entry.get("AttributeTypeName") or {}).get("Value") or ""
        if (
            entry.get("AttributeOf")
            or type_name in _SKIPPED
            or entry.get("IsValidForRead") is False
        ):
            continue
        name = str(entry.get("LogicalName"))
        by_name[name] = {
            "name": name,
            "type_name": str(type_name),
            "label": _label(entry.get("DisplayName")) or name,
            "required": str((entry.get("RequiredLevel") or {}).get("Value") or "None"),
            "create": bool(entry.get("IsValidForCreate")),
            "update": bool(entry.get("IsValidForUpdate")),
        }
    for cast, entries in extras.items():
        for entry in entries:
            found = by_name.get(str(entry.get("LogicalName")))
            if found is None:
                continue
            if "MaxLength" in entry and isinstance(entry["MaxLength"], int):
                found["max_length"] = entry["MaxLength"]
            format_name = entry.get("FormatName")
            if isinstance(format_name, dict):
                found["format_name"] = format_name.get("Value")
            if cast == "DateTimeAttributeMetadata":
                found["date_only"] = entry.get("Format") == "DateOnly"
            if "Targets" in entry:
                found["targets"] = tuple(str(t) for t in entry.get("Targets") or ())
            if "OptionSet" in entry or "GlobalOptionSet" in entry:
                found["options"], found["state_of_status"] = _options(entry)
    return {name: Attribute(**values) for name, values in by_name.items()}


def field_spec(attribute: Attribute) -> FieldSpec:
    """The contract's :class:`FieldSpec` of a column."""
    kind = attribute.kind
    required = (
        attribute.type_name == "StatusType"
        or attribute.required == "ApplicationRequired"
        or (
            attribute.required == "SystemRequired"
            and attribute.create
            and attribute.type_name not in _DEFAULTED_SYSTEM
        )
    )
    text_like = kind in {
        FieldType.STRING,
        FieldType.TEXT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
    }
    return FieldSpec(
        name=attribute.name,
        label=attribute.label,
        type=kind,
        length=attribute.max_length if text_like else None,
        required_on_create=required,
        # A sync writes a mapped field on every change: a column only valid on create
        # cannot take them.
        read_only=not attribute.writable("update"),
        picklist_values=tuple(label for _, label in attribute.options),
        restricted_picklist=attribute.type_name in _CHOICES,
        vendor_type=attribute.type_name,
    )


def parse_datetime(text: str) -> dt.datetime:
    """``2025-03-14T09:26:53Z`` (or with an offset) as an aware UTC datetime."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    """A DateTimeOffset literal: UTC, whole seconds, ``Z`` (fact sheet 2 and 4a)."""
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_wire(value: Any, attribute: Attribute | None) -> Any:
    """A JSON value of a column in canonical form."""
    if value is None or attribute is None:
        return value
    kind = attribute.type_name
    if kind in {"PicklistType", "StateType", "StatusType"}:
        return dict(attribute.options).get(value, str(value))
    if kind == "MultiSelectPicklistType":
        labels = dict(attribute.options)
        return [
            labels.get(int(v), v) for v in str(value).split(",") if v.strip().lstrip("-").isdigit()
        ]
    if kind in {"MoneyType", "DecimalType", "DoubleType"}:
        return decimal.Decimal(str(value))
    if kind in {"IntegerType", "BigIntType"}:
        return int(value)
    if kind == "DateTimeType" and isinstance(value, str):
        if "T" not in value:
            return dt.date.fromisoformat(value)
        return parse_datetime(value)
    if kind in {"LookupType", "CustomerType", "OwnerType", "UniqueidentifierType"}:
        return str(value).lower()
    return value


def _choice(attribute: Attribute, value: Any) -> int:
    by_label = {label.casefold(): number for number, label in attribute.options}
    numbers = {number for number, _ in attribute.options}
    if isinstance(value, bool):
        raise _out_of_range(attribute, value)
    if isinstance(value, int) and value in numbers:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.casefold() in by_label:
            return by_label[text.casefold()]
        if text.lstrip("-").isdigit() and int(text) in numbers:
            return int(text)
    raise _out_of_range(attribute, value)


def _out_of_range(attribute: Attribute, value: Any) -> WireProblem:
    choices = ", ".join(label for _, label in attribute.options)
    return WireProblem(
        "0x8004431A",
        f"{value!r} is not a choice of '{attribute.name}' ({choices})",
    )


def to_wire(value: Any, attribute: Attribute) -> Any:
    """A canonical value as the column's JSON value; :class:`WireProblem` when
    Dataverse would refuse it (checked here so that only its record fails)."""
    kind = attribute.type_name
    if value is None:
        if kind == "StatusType":
            raise WireProblem("0x8004431A", f"'{attribute.name}' (a status reason) cannot be blank")
        return None
    if kind in {"StringType", "MemoType"}:
        if not isinstance(value, str):
            raise WireProblem("0x0", f"'{attribute.name}' takes text, not {type(value).__name__}")
        if attribute.max_length is not None and len(value) > attribute.max_length:
            raise WireProblem(
                "0x80044331",
                f"the length of '{attribute.name}' ({len(value)}) exceeds its maximum "
                f"allowed length of {attribute.max_length}",
            )
        return value
    if kind == "BooleanType":
        if not isinstance(value, bool):
            raise WireProblem("0x0", f"'{attribute.name}' takes true or false, not {value!r}")
        return value
    if kind in {"IntegerType", "BigIntType"}:
        if isinstance(value, bool) or not isinstance(value, int):
            raise WireProblem("0x0", f"'{attribute.name}' takes a whole number, not {value!r}")
        return value
    if kind in {"MoneyType", "DecimalType", "DoubleType"}:
        if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
            raise WireProblem("0x0", f"'{attribute.name}' takes a number, not {value!r}")
        return int(value) if isinstance(value, int) else float(value)
    if kind == "DateTimeType":
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise WireProblem("0x0", f"'{attribute.name}' needs a time-zone aware datetime")
            return format_datetime(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        raise WireProblem("0x0", f"'{attribute.name}' takes a date or datetime, not {value!r}")
    if kind in {"PicklistType", "StateType", "StatusType"}:
        return _choice(attribute, value)
    if kind == "MultiSelectPicklistType":
        items = value if isinstance(value, list | tuple) else [value]
        return ",".join(str(_choice(attribute, item)) for item in items) or None
    if attribute.is_lookup:
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise WireProblem(
                "0x0", f"'{attribute.name}' takes a record id (GUID), not {value!r}"
            ) from None
    raise WireProblem("0x0", f"'{attribute.name}' ({kind}) cannot be written by crmsync")


def record_error(problem: WireProblem, attribute: str) -> RecordError:
    """The per-record error of a value refused before sending."""
    return RecordError(code=problem.code, message=str(problem), field=attribute)
