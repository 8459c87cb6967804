"""Field metadata of an entity (standard fields and UDFs) and value conversion.

Standard fields keep their Autotask names (matched case-insensitively, since metadata
and records have been seen to disagree on casing). User-defined fields are named
``udf:<UDF name>`` so that a UDF can never be taken for a standard field of the same
name; they are read from and written to the record's ``userDefinedFields`` list.
Contacts also offer ``companyName``, the name of the contact's company: read by one
Companies query per read, and used on create to choose the company.

Picklists are integers on records and strings in metadata: crmsync sees the labels
(``"Prospect"``) and writes the integer behind a label (a value such as ``"3"`` is
accepted too). Contact ``isActive`` is an integer 1/0 on the wire and a boolean here;
Company ``isActive`` is a JSON boolean.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any, Literal

from crmsync.contract import FieldSpec, FieldType
from crmsync_autotask._values import FIELD_TYPES, format_datetime, is_blank, parse_datetime

__all__ = ["COMPANY_NAME", "UDF_PREFIX", "EntityMeta", "ValueProblem", "WireField"]

UDF_PREFIX = "udf:"
COMPANY_NAME = "companyName"
_EMAIL = ("emailaddress",)
_PHONE = {"phone", "mobilephone", "alternatephone", "faxnumber", "fax"}
_URL = {"webaddress", "linkedinurl", "facebookurl", "twitterurl"}


class ValueProblem(ValueError):
    """A canonical value that cannot be written to a field (the message says why)."""


@dataclass(frozen=True)
class WireField:
    """One field as crmsync names it, and how it sits on the wire."""

    name: str
    wire: str
    kind: Literal["standard", "udf", "company"]
    data_type: str
    field_type: FieldType
    label: str
    length: int | None
    required: bool
    read_only: bool
    queryable: bool
    picklist: tuple[tuple[str, str], ...] | None = None  # (value, label)
    flag_as_int: bool = False

    def spec(self) -> FieldSpec:
        return FieldSpec(
            name=self.name,
            label=self.label,
            type=self.field_type,
            length=self.length or None,
            required_on_create=self.required,
            read_only=self.read_only,
            picklist_values=tuple(label for _, label in self.picklist or ()),
            restricted_picklist=self.picklist is not None,
            vendor_type=self.data_type,
        )

    # -- reading -------------------------------------------------------------------------
    def from_wire(self, value: Any) -> Any:
        """A record's value in canonical form (``null`` and ``""`` are both blank)."""
        if is_blank(value):
            return None
        if self.picklist is not None:
            text = str(value)
            return next((label for v, label in self.picklist if v == text), text)
        kind = self.field_type
        if kind is FieldType.BOOLEAN:
            if isinstance(value, str):
                return value.strip().lower() in {"true", "1"}
            return bool(value)
        if kind is FieldType.DATETIME:
            return parse_datetime(str(value))
        if kind is FieldType.DATE:
            return parse_datetime(str(value)).date()
        if kind in {FieldType.REFERENCE, FieldType.ID}:
            # Ids are text in crmsync (integers on Autotask's wire).
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return str(value)
        if kind is FieldType.INTEGER:
            try:
                return int(value)
            except (TypeError, ValueError):
                return value
        if kind is FieldType.NUMBER:
            try:
                number = decimal.Decimal(str(value))
            except decimal.InvalidOperation:
                return value
            return int(number) if number == number.to_integral_value() else number
        return value if isinstance(value, str) else str(value)

    # -- writing -------------------------------------------------------------------------
    def to_wire(self, value: Any) -> Any:
        """A canonical value as this field's JSON (UDFs: a string or ``null``).

        :raises ValueProblem: the value does not fit (wrong type, too long, not a
            choice of the picklist).
        """
        if is_blank(value) and not isinstance(value, bool):
            return None
        wire = self._standard_wire(value)
        if self.kind == "udf":
            if isinstance(wire, bool):
                return "True" if wire else "False"
            return None if wire is None else str(wire)
        return wire

    def _standard_wire(self, value: Any) -> Any:
        if self.picklist is not None:
            text = str(value).strip()
            for choice, label in self.picklist:
                if text.lower() == label.lower() or text == choice:
                    return int(choice) if self.kind == "standard" else choice
            labels = ", ".join(label for _, label in self.picklist[:10])
            raise ValueProblem(f"{text!r} is not a choice of {self.name} ({labels})")
        kind = self.field_type
        if kind is FieldType.BOOLEAN:
            if not isinstance(value, bool):
                raise ValueProblem(f"{self.name} takes true or false, not {value!r}")
            return int(value) if self.flag_as_int else value
        if kind in {FieldType.INTEGER, FieldType.REFERENCE, FieldType.ID} and self.data_type in {
            "integer",
            "long",
            "short",
        }:
            if isinstance(value, bool):
                raise ValueProblem(f"{self.name} takes a whole number, not {value!r}")
            try:
                number = decimal.Decimal(str(value).strip())
            except decimal.InvalidOperation:
                raise ValueProblem(f"{self.name} takes a whole number, not {value!r}") from None
            if number != number.to_integral_value():
                raise ValueProblem(f"{self.name} takes a whole number, not {value!r}")
            return int(number)
        if kind is FieldType.NUMBER:
            if isinstance(value, bool):
                raise ValueProblem(f"{self.name} takes a number, not {value!r}")
            try:
                number = decimal.Decimal(str(value).strip())
            except decimal.InvalidOperation:
                raise ValueProblem(f"{self.name} takes a number, not {value!r}") from None
            return int(number) if number == number.to_integral_value() else float(number)
        if kind is FieldType.DATETIME:
            if isinstance(value, dt.datetime):
                return format_datetime(value)
            if isinstance(value, dt.date):
                return f"{value.isoformat()}T00:00:00.000000Z"
            try:
                return format_datetime(parse_datetime(str(value)))
            except ValueError:
                raise ValueProblem(f"{self.name} takes a date and time, not {value!r}") from None
        if kind is FieldType.DATE:
            if isinstance(value, dt.datetime):
                return value.date().isoformat()
            if isinstance(value, dt.date):
                return value.isoformat()
            raise ValueProblem(f"{self.name} takes a date, not {value!r}")
        if isinstance(value, dict | list | tuple | set):
            raise ValueProblem(f"{self.name} takes text, not {type(value).__name__}")
        text = value if isinstance(value, str) else str(value)
        if self.length and len(text) > self.length:
            raise ValueProblem(
                f"{self.name} holds at most {self.length} characters, got {len(text)}"
            )
        return text


def _field_type(name: str, data_type: str, info: dict[str, Any], flag: bool) -> FieldType:
    lowered = name.lower()
    if flag:
        return FieldType.BOOLEAN
    if info.get("isPickList"):
        return FieldType.PICKLIST
    if lowered == "id":
        return FieldType.ID
    if info.get("isReference"):
        return FieldType.REFERENCE
    if data_type == "string":
        if lowered.startswith(_EMAIL):
            return FieldType.EMAIL
        if lowered in _PHONE:
            return FieldType.PHONE
        if lowered in _URL:
            return FieldType.URL
        if (info.get("length") or 0) > 255:
            return FieldType.TEXT
    return FIELD_TYPES.get(data_type, FieldType.OTHER)


def _picklist(info: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    if not info.get("isPickList"):
        return None
    values = info.get("picklistValues") or []
    return tuple(
        (str(entry.get("value")), str(entry.get("label") or entry.get("value")))
        for entry in values
        if isinstance(entry, dict) and entry.get("isActive", True) is not False
    )


class EntityMeta:
    """The fields of one entity, as ``entityInformation/fields`` and
    ``userDefinedFields`` describe them for the connection's user."""

    def __init__(
        self,
        entity: str,
        fields: list[dict[str, Any]],
        udfs: list[dict[str, Any]],
        *,
        company_name: bool = False,
    ) -> None:
        self.entity = entity
        self._by_lower: dict[str, WireField] = {}
        self.ordered: list[WireField] = []
        for info in fields:
            name = str(info.get("name") or "")
            if not name:
                continue
            data_type = str(info.get("dataType") or "string").lower()
            flag = entity == "Contacts" and name.lower() == "isactive"
            required = bool(info.get("isRequired"))
            if entity == "Contacts" and name.lower() == "companyid":
                required = False  # the connector chooses the company (settings)
            self._add(
                WireField(
                    name=name,
                    wire=name,
                    kind="standard",
                    data_type=data_type,
                    field_type=_field_type(name, data_type, info, flag),
                    label=_label(name),
                    length=int(info.get("length") or 0) or None,
                    required=required and not (flag or name.lower() == "id"),
                    read_only=bool(info.get("isReadOnly")),
                    queryable=bool(info.get("isQueryable", True)),
                    picklist=_picklist(info),
                    flag_as_int=flag,
                )
            )
        for info in udfs:
            udf_name = str(info.get("name") or "")
            if not udf_name:
                continue
            data_type = str(info.get("type") or info.get("dataType") or "string").lower()
            self._add(
                WireField(
                    name=f"{UDF_PREFIX}{udf_name}",
                    wire=udf_name,
                    kind="udf",
                    data_type=data_type,
                    field_type=_field_type(udf_name, data_type, info, False),
                    label=str(info.get("label") or udf_name),
                    length=int(info.get("length") or 0) or None,
                    required=bool(info.get("isRequired")),
                    read_only=bool(info.get("isReadOnly")),
                    queryable=bool(info.get("isQueryable", True)),
                    picklist=_picklist(info),
                )
            )
        if company_name:
            self._add(
                WireField(
                    name=COMPANY_NAME,
                    wire=COMPANY_NAME,
                    kind="company",
                    data_type="string",
                    field_type=FieldType.STRING,
                    label="Company name (finds or creates the contact's company)",
                    length=100,
                    required=False,
                    read_only=False,
                    queryable=False,
                )
            )

    def _add(self, wire_field: WireField) -> None:
        if wire_field.name.lower() not in self._by_lower:
            self._by_lower[wire_field.name.lower()] = wire_field
            self.ordered.append(wire_field)

    def get(self, name: str) -> WireField | None:
        return self._by_lower.get(name.lower())

    def name_of(self, vendor_name: str) -> str:
        """Our name for a field an error text names (a standard field or a UDF)."""
        found = self.get(vendor_name) or self.get(f"{UDF_PREFIX}{vendor_name}")
        return found.name if found is not None else vendor_name

    def specs(self) -> list[FieldSpec]:
        return [f.spec() for f in self.ordered]


def _label(name: str) -> str:
    words: list[str] = []
    for char in name:
        if char.isupper() and words and not words[-1][-1:].isupper():
            words.append(char)
        elif words:
            words[-1] += char
        else:
            words.append(char.upper())
    return " ".join(words)


def read_value(record: dict[str, Any], wire_field: WireField) -> Any:
    """The wire value of ``wire_field`` in ``record`` (keys matched
    case-insensitively; a UDF missing from the list is unknown, read as blank)."""
    if wire_field.kind == "udf":
        for entry in record.get("userDefinedFields") or []:
            if isinstance(entry, dict) and str(entry.get("name", "")).lower() == (
                wire_field.wire.lower()
            ):
                return entry.get("value")
        return None
    if wire_field.wire in record:
        return record[wire_field.wire]
    lowered = wire_field.wire.lower()
    return next((v for k, v in record.items() if str(k).lower() == lowered), None)
