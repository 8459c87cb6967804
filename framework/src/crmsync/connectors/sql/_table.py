"""The reflected prospect table: its fields, its special columns, and value conversion.

``list_fields`` is the table as the database describes it: each column's type becomes
a :class:`~crmsync.contract.FieldType`, its length, nullability and default say whether
a create needs it, and primary-key, generated and identity columns (and the columns
crmsync itself maintains: the modification time and the soft-delete flag) are
read-only. Nothing here is configured by hand, so a column added to the table appears
in ``crmsync fields`` on the next connection.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from crmsync.authoring._values import FieldProblem, check_value
from crmsync.contract import FieldSpec, FieldType

__all__ = [
    "OBJECT_NAME",
    "TEXT_TYPES",
    "ColumnInfo",
    "FieldProblem",
    "TableModel",
    "build_model",
]

OBJECT_NAME = "prospect"
TEXT_TYPES = frozenset(
    {
        FieldType.STRING,
        FieldType.TEXT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
        FieldType.PICKLIST,
    }
)
_STRINGS = TEXT_TYPES | {FieldType.ID}
# Zero-padded widths of integer ids: the contract orders a feed by record id *as
# text*, so 42 travels as "0000000042" and sorts before 100 as it does in the table.
_INT_WIDTHS = ((sa.SmallInteger, 5), (sa.BigInteger, 19), (sa.Integer, 10))




@dataclass(frozen=True)
class ColumnInfo:
    """One readable column: its field spec and what converting its values needs."""

    name: str
    spec: FieldSpec
    naive: bool = False
    """A timestamp without time zone: its values are in the configured zone."""


def _label(column: sa.Column[Any]) -> str:
    comment = column.comment
    if comment:
        return comment.strip().splitlines()[0][:80]
    return column.name.replace("_", " ").strip().title() or column.name


def _string_kind(name: str, column_type: Any) -> FieldType:
    lowered = name.lower()
    # A column's name is the only hint a plain varchar gives of what it holds; these
    # three are what CRMs type differently (and match on, for email).
    if "email" in lowered:
        return FieldType.EMAIL
    if "phone" in lowered or lowered in ("mobile", "fax"):
        return FieldType.PHONE
    if lowered in ("url", "website", "web_site", "homepage"):
        return FieldType.URL
    if isinstance(column_type, sa.Text) or getattr(column_type, "length", None) is None:
        return FieldType.TEXT
    return FieldType.STRING


def classify(name: str, column_type: Any) -> tuple[FieldType, dict[str, Any]] | None:
    """The field type of a reflected column type (``None``: not offered, e.g.
    binary)."""
    extra: dict[str, Any] = {}
    if isinstance(column_type, sa.Enum):
        values = tuple(str(v) for v in column_type.enums)
        extra.update(picklist_values=values, restricted_picklist=True)
        return FieldType.PICKLIST, extra
    if isinstance(column_type, sa.Boolean):
        return FieldType.BOOLEAN, extra
    if isinstance(column_type, mysql.TINYINT) and column_type.display_width == 1:
        return FieldType.BOOLEAN, extra  # MySQL's BOOLEAN is TINYINT(1)
    if isinstance(column_type, sa.Integer):
        return FieldType.INTEGER, extra
    if isinstance(column_type, sa.Numeric):  # Float and DOUBLE too
        return FieldType.NUMBER, extra
    if isinstance(column_type, sa.DateTime):
        return FieldType.DATETIME, extra
    if isinstance(column_type, sa.Date):
        return FieldType.DATE, extra
    if isinstance(column_type, sa.Uuid):
        return FieldType.STRING, extra
    if isinstance(column_type, postgresql.ARRAY) and isinstance(
        column_type.item_type, sa.String
    ):
        return FieldType.MULTIPICKLIST, extra
    if isinstance(column_type, sa.String):
        length = getattr(column_type, "length", None)
        if length is not None:
            extra["length"] = int(length)
        return _string_kind(name, column_type), extra
    if isinstance(column_type, sa.LargeBinary | postgresql.BYTEA):
        return None
    return FieldType.OTHER, extra


def _generated(column: sa.Column[Any]) -> bool:
    return column.computed is not None or column.identity is not None


def _has_default(column: sa.Column[Any]) -> bool:
    return (
        column.server_default is not None
        or _generated(column)
        or (column.primary_key and column.autoincrement is True)
    )


def _vendor_type(column_type: Any, dialect: sa.Dialect) -> str:
    try:
        return str(column_type.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render back: its class name will do
        return type(column_type).__name__


@dataclass
class TableModel:
    """The reflected table (and read view) with the columns that carry meaning."""

    write: sa.Table
    read: sa.Table
    id_name: str
    modified_name: str | None
    deleted_name: str | None
    columns: dict[str, ColumnInfo]
    zone: zoneinfo.ZoneInfo
    id_width: int | None
    id_is_uuid: bool
    id_generated: bool
    """The database makes ids on insert (a sequence, identity, default)."""
    dialect: str
    """``postgresql`` or ``mysql``."""

    @property
    def specs(self) -> list[FieldSpec]:
        return [info.spec for info in self.columns.values()]

    # -- ids ---------------------------------------------------------------------------
    def encode_id(self, value: Any) -> str:
        """A stored id as a record id (integers zero-padded, see ``_INT_WIDTHS``)."""
        if self.id_width is not None and isinstance(value, int) and value >= 0:
            return str(value).zfill(self.id_width)
        return str(value)

    def decode_id(self, record_id: str) -> Any:
        """A record id as the id column's value; ``ValueError`` if it cannot be one."""
        if self.id_width is not None:
            return int(record_id)
        if self.id_is_uuid:
            return uuid.UUID(record_id)
        return record_id

    def new_id(self) -> Any:
        """An id for a created row, when the database makes none (text ids only)."""
        if self.id_generated:
            return None
        if self.id_width is not None:
            raise ValueError(
                f"the id column {self.id_name} has no default and crmsync cannot "
                "choose an integer id"
            )
        return uuid.uuid4() if self.id_is_uuid else str(uuid.uuid4())

    # -- moments -----------------------------------------------------------------------
    def aware(self, value: dt.datetime) -> dt.datetime:
        """A stored timestamp as an aware UTC datetime."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(dt.UTC)

    def stored_moment(self, column: str, moment: dt.datetime) -> dt.datetime:
        """An aware moment as ``column`` compares it (naive in the zone, if naive)."""
        column_type = self.read.c[column].type
        if isinstance(column_type, sa.DateTime) and not column_type.timezone:
            return moment.astimezone(self.zone).replace(tzinfo=None)
        return moment

    # -- values ------------------------------------------------------------------------
    def to_canonical(self, name: str, value: Any) -> Any:
        """A stored value of field ``name`` in canonical form."""
        if value is None:
            return None
        info = self.columns[name]
        kind = info.spec.type
        if kind is FieldType.BOOLEAN:
            return bool(value)
        if kind is FieldType.INTEGER:
            return int(value)
        if kind is FieldType.DATETIME and isinstance(value, dt.datetime):
            return self.aware(value)
        if kind is FieldType.DATE and isinstance(value, dt.datetime):
            return value.date()
        if kind is FieldType.MULTIPICKLIST:
            return [str(item) for item in value]
        if kind is FieldType.ID:
            return self.encode_id(value)
        if kind in _STRINGS:
            return str(value)
        if kind is FieldType.OTHER and not isinstance(
            value, str | int | float | bool | dict | list
        ):
            return str(value)
        return value

    def to_stored(self, name: str, value: Any) -> Any:
        """A checked canonical value as its column stores it."""
        if value is None:
            return None
        info = self.columns[name]
        kind = info.spec.type
        if kind is FieldType.DATETIME and info.naive:
            return value.astimezone(self.zone).replace(tzinfo=None)
        if kind is FieldType.MULTIPICKLIST:
            return list(dict.fromkeys(value))
        if kind is FieldType.NUMBER and isinstance(value, float):
            return decimal.Decimal(repr(value))
        return value

    def check(self, values: Mapping[str, Any]) -> FieldProblem | None:
        """The first reason ``values`` cannot be written, or ``None``."""
        for name, value in values.items():
            info = self.columns.get(name)
            if info is None:
                return FieldProblem(
                    "UNKNOWN_FIELD", f"the table has no column {name!r}", name
                )
            if info.spec.read_only:
                return FieldProblem("READ_ONLY_FIELD", f"{name} is read-only", name)
            problem = check_value(info.spec, value)
            if problem is not None:
                return problem
        return None


def build_model(
    write: sa.Table,
    read: sa.Table,
    *,
    id_name: str,
    modified_name: str | None,
    deleted_name: str | None,
    zone: zoneinfo.ZoneInfo,
    dialect: sa.Dialect,
) -> TableModel:
    """The model of reflected tables; the special columns must exist (checked by the
    caller, which names the setting to fix)."""
    special = {name for name in (modified_name, deleted_name) if name}
    columns: dict[str, ColumnInfo] = {}
    id_column = read.c[id_name]
    for column in read.columns:
        found = classify(column.name, column.type)
        if found is None:
            continue
        kind, extra = found
        target = write.c.get(column.name)
        writable = (
            target is not None
            and column.name != id_name
            and column.name not in special
            and not _generated(target)
            and not target.primary_key
            and kind is not FieldType.OTHER
        )
        if column.name == id_name:
            kind, extra = FieldType.ID, {}
        required = (
            writable
            and target is not None
            and not target.nullable
            and not _has_default(target)
        )
        spec = FieldSpec(
            name=column.name,
            label=_label(target if target is not None else column),
            type=kind,
            read_only=not writable,
            required_on_create=required,
            vendor_type=_vendor_type(column.type, dialect),
            **extra,
        )
        naive = isinstance(column.type, sa.DateTime) and not column.type.timezone
        columns[column.name] = ColumnInfo(column.name, spec, naive=naive)
    write_id = write.c[id_name]
    width = next((w for cls, w in _INT_WIDTHS if isinstance(id_column.type, cls)), None)
    return TableModel(
        write=write,
        read=read,
        id_name=id_name,
        modified_name=modified_name,
        deleted_name=deleted_name,
        columns=columns,
        zone=zone,
        id_width=width,
        id_is_uuid=isinstance(id_column.type, sa.Uuid),
        id_generated=_has_default(write_id),
        dialect="postgresql" if dialect.name == "postgresql" else "mysql",
    )
