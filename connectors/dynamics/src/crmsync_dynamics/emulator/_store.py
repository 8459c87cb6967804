"""The emulated organisation's rows: validation, writes, versions, change tracking.

Everything here answers with :class:`DataverseError` (status, code, message) where
Dataverse refuses, with the codes and messages of the fact sheet's section 6 (two spaces
after "A validation error occurred.").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from crmsync_dynamics.emulator._schema import (
    CONTACT_DEFAULT_STATUS,
    LEAD_DEFAULT_STATUS,
    SCHEMAS,
    Column,
    Table,
)

__all__ = ["DataverseError", "OrgStore", "Row", "format_datetime", "sql_guid_key"]

Row = dict[str, Any]
_GUID_TEXT = "0123456789abcdef-"


class DataverseError(Exception):
    """A refusal as Dataverse words it: HTTP status, hex code, message."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def format_datetime(value: dt.datetime) -> str:
    """Dataverse's wire form: UTC, whole seconds, ``Z``."""
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_guid(text: Any) -> bool:
    if not isinstance(text, str) or len(text) != 36:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def sql_guid_key(text: str) -> tuple[str, ...]:
    """The order SQL Server gives ``uniqueidentifier`` values: the last group first,
    then the fourth, then the first three byte-swapped. Not string order."""
    a, b, c, d, e = text.lower().split("-")

    def swap(group: str) -> str:
        return "".join(reversed([group[i : i + 2] for i in range(0, len(group), 2)]))

    return (e, d, swap(c), swap(b), swap(a))


def not_found(table: Table, record_id: str) -> DataverseError:
    return DataverseError(
        404, "0x80040217", f"{table.logical_name} With Id = {record_id} Does Not Exist"
    )


def unknown_property(table: Table, name: str) -> DataverseError:
    return DataverseError(
        400,
        "0x0",
        f"Could not find a property named '{name}' on type "
        f"'Microsoft.Dynamics.CRM.{table.logical_name}'.",
    )


@dataclass
class Tombstone:
    record_id: str
    version: int
    at: dt.datetime


@dataclass
class Transaction:
    """The rows a unit of work replaced, to put back on :meth:`rollback`."""

    store: OrgStore
    deleted_counts: dict[str, int]
    before: dict[tuple[str, str], Row | None] = field(default_factory=dict)

    def rollback(self) -> None:
        with self.store.lock:
            for (name, record_id), row in self.before.items():
                rows = self.store.tables[name].rows
                if row is None:
                    rows.pop(record_id, None)
                else:
                    rows[record_id] = row
            for name, count in self.deleted_counts.items():
                del self.store.tables[name].deleted[count:]
            self.before.clear()


@dataclass
class TableData:
    table: Table
    rows: dict[str, Row] = field(default_factory=dict)
    deleted: list[Tombstone] = field(default_factory=list)
    change_tracking: bool = True


class OrgStore:
    """Rows of every emulated table, one version counter (``versionnumber`` and the
    ETag), and the log of deletions that change tracking reports."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.tables = {name: TableData(table) for name, table in SCHEMAS.items()}
        self.version = 8_120_000
        # Closed leads are read-only in the UI; whether the API refuses edits is
        # unconfirmed (fact sheet 8), so refusing them is a test switch.
        self.strict_closed_leads = False
        self._journal: Transaction | None = None

    # -- lookups ---------------------------------------------------------------------------
    def table_for_set(self, entity_set: str) -> Table | None:
        return next(
            (d.table for d in self.tables.values() if d.table.entity_set == entity_set), None
        )

    def data(self, logical_name: str) -> TableData:
        return self.tables[logical_name]

    def get(self, logical_name: str, record_id: str) -> Row | None:
        return self.tables[logical_name].rows.get(record_id.lower())

    def require(self, table: Table, record_id: str) -> Row:
        row = self.get(table.logical_name, record_id)
        if row is None:
            raise not_found(table, record_id)
        return row

    def now(self) -> dt.datetime:
        return self.clock().astimezone(dt.UTC).replace(microsecond=0)

    def _bump(self, row: Row, at: dt.datetime | None = None) -> None:
        self.version += 1
        row["versionnumber"] = self.version
        row["modifiedon"] = (at or self.now()).astimezone(dt.UTC).replace(microsecond=0)

    # -- values ------------------------------------------------------------------------------
    def _coerce(self, table: Table, column: Column, value: Any) -> Any:
        """A JSON value checked against the column, in stored form."""
        kind = column.type_name
        if value is None:
            return None
        entity = table.logical_name
        if kind in {"StringType", "MemoType"}:
            if not isinstance(value, str):
                raise DataverseError(
                    400,
                    "0x0",
                    f"Cannot convert the literal '{value}' to the expected type 'Edm.String'.",
                )
            if column.max_length is not None and len(value) > column.max_length:
                raise DataverseError(
                    400,
                    "0x80044331",
                    "A validation error occurred.  The length of the "
                    f"'{column.name}' attribute of the '{entity}' entity exceeded the "
                    f"maximum allowed length of '{column.max_length}'.",
                )
            return value
        if kind == "BooleanType":
            if not isinstance(value, bool):
                raise DataverseError(
                    400,
                    "0x0",
                    f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.",
                )
            return value
        if kind in {"IntegerType", "BigIntType", "PicklistType", "StateType", "StatusType"}:
            if isinstance(value, bool) or not isinstance(value, int):
                raise DataverseError(
                    400,
                    "0x0",
                    f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'.",
                )
            if column.options and value not in {v for v, _ in column.options}:
                raise DataverseError(
                    400,
                    "0x8004431A",
                    f"A validation error occurred.  The value {value} of '{column.name}' "
                    f"on record of type '{entity}' is outside the valid range.",
                )
            return value
        if kind in {"MoneyType", "DecimalType", "DoubleType"}:
            if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
                raise DataverseError(
                    400,
                    "0x0",
                    f"Cannot convert the literal '{value}' to the expected type 'Edm.Decimal'.",
                )
            return decimal.Decimal(str(value))
        if kind == "DateTimeType":
            try:
                parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                raise DataverseError(
                    400,
                    "0x0",
                    f"Cannot convert the literal '{value}' to the expected type "
                    "'Edm.DateTimeOffset'.",
                )
            return parsed.astimezone(dt.UTC).replace(microsecond=0)
        return value

    def _bind(self, table: Table, name: str, value: Any) -> tuple[str, str | None, str | None]:
        """``nav@odata.bind: "/contacts(<id>)"`` -> (column, target table, id)."""
        nav = name.removesuffix("@odata.bind")
        found = table.navigation.get(nav)
        if found is None:
            raise DataverseError(
                400,
                "0x0",
                f"An undeclared property '{nav}' which only has property annotations in "
                "the payload but no property value was found in the payload.",
            )
        column, target = found
        if value is None:
            return column, None, None
        text = str(value)
        set_name, _, rest = text.rsplit("/", 1)[-1].partition("(")
        record_id = rest.rstrip(")")
        target_table = SCHEMAS.get(target)
        if target_table is not None:
            if set_name != target_table.entity_set or not is_guid(record_id):
                raise DataverseError(400, "0x0", f"Bad Request - Error in query syntax: '{text}'.")
            if self.get(target, record_id) is None:
                raise not_found(target_table, record_id)
        elif not is_guid(record_id):
            raise DataverseError(400, "0x0", f"Bad Request - Error in query syntax: '{text}'.")
        return column, target, record_id.lower()

    def apply(self, table: Table, row: Row, body: Mapping[str, Any], *, creating: bool) -> Row:
        """Check ``body`` against ``table`` and return the changes for ``row``.

        Columns that are not valid for create/update are ignored, as Dataverse ignores
        them (documented); unknown names are refused.
        """
        changes: Row = {}
        for name, value in body.items():
            if name.startswith("@odata.") or name == "@odata.type":
                continue
            if name.endswith("@odata.bind"):
                column, target, record_id = self._bind(table, name, value)
                changes[column] = record_id
                changes.setdefault("__targets", {})[column] = target
                continue
            column_meta = table.column(name)
            if column_meta is None or column_meta.is_lookup:
                raise unknown_property(table, name)
            valid = column_meta.create if creating else column_meta.update
            if not valid and not (creating and name == table.primary_key):
                continue
            changes[name] = self._coerce(table, column_meta, value)
        self._check_state(table, row, changes)
        if (
            self.strict_closed_leads
            and not creating
            and table.logical_name == "lead"
            and row.get("statecode", 0) != 0
            and changes.get("statecode", row.get("statecode")) != 0
        ):
            raise DataverseError(
                400,
                "0x80040265",
                "This record is closed (read-only). Reactivate it before editing it.",
            )
        return changes

    @staticmethod
    def _check_state(table: Table, row: Row, changes: Row) -> None:
        state_col = table.column("statecode")
        status_col = table.column("statuscode")
        if state_col is None or status_col is None:
            return
        defaults = LEAD_DEFAULT_STATUS if table.logical_name == "lead" else CONTACT_DEFAULT_STATUS
        if "statecode" in changes and changes["statecode"] is None:
            raise DataverseError(400, "0x80040278", "statecode cannot be null.")
        state = int(changes.get("statecode", row.get("statecode", 0)) or 0)
        if "statecode" in changes and "statuscode" not in changes:
            changes["statuscode"] = defaults[state]
        status = changes.get("statuscode", row.get("statuscode"))
        if status is None:
            changes["statuscode"] = defaults[state]
        elif status_col.option_state.get(status) != state:
            raise DataverseError(
                400,
                "0x8004431A",
                f"A validation error occurred.  The value {status} of 'statuscode' on "
                f"record of type '{table.logical_name}' is outside the valid range for "
                f"statecode {state}.",
            )

    # -- writes ------------------------------------------------------------------------------
    def _blank_row(self, table: Table, record_id: str) -> Row:
        row: Row = {column.name: column.default for column in table.columns}
        row[table.primary_key] = record_id
        row["__targets"] = {}
        return row

    def _finish(self, table: Table, row: Row, changes: Row) -> None:
        targets = changes.pop("__targets", {})
        row["__targets"].update(targets)
        row.update(changes)
        if table.column("fullname") is not None:
            row["fullname"] = (
                " ".join(part for part in (row.get("firstname"), row.get("lastname")) if part)
                or None
            )

    def create(
        self,
        table: Table,
        body: Mapping[str, Any],
        *,
        record_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> Row:
        with self.lock:
            given = record_id or body.get(table.primary_key)
            if given is not None and not is_guid(given):
                raise DataverseError(
                    400,
                    "0x0",
                    f"Cannot convert the literal '{given}' to the expected type 'Edm.Guid'.",
                )
            new_id = str(given).lower() if given else str(uuid.uuid4())
            if self.get(table.logical_name, new_id) is not None:
                raise DataverseError(
                    412, "0x80040237", "A record with matching key values already exists."
                )
            row = self._blank_row(table, new_id)
            changes = self.apply(table, row, body, creating=True)
            self._remember(table.logical_name, new_id)
            changes.pop(table.primary_key, None)
            self._finish(table, row, changes)
            self._bump(row, at)
            row["createdon"] = row["modifiedon"]
            self.tables[table.logical_name].rows[new_id] = row
            return row

    def update(
        self,
        table: Table,
        record_id: str,
        body: Mapping[str, Any],
        *,
        at: dt.datetime | None = None,
        force: bool = False,
    ) -> Row:
        """Apply ``body``; ``force`` lets the control API set read-only columns."""
        with self.lock:
            row = self.require(table, record_id)
            self._remember(table.logical_name, row[table.primary_key])
            if force:
                changes = {k: v for k, v in body.items()}
            else:
                changes = self.apply(table, row, body, creating=False)
            self._finish(table, row, changes)
            self._bump(row, at)
            return row

    def delete(self, table: Table, record_id: str) -> None:
        with self.lock:
            data = self.tables[table.logical_name]
            self._remember(table.logical_name, record_id.lower())
            if data.rows.pop(record_id.lower(), None) is None:
                raise not_found(table, record_id)
            self.version += 1
            data.deleted.append(Tombstone(record_id.lower(), self.version, self.now()))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A unit of work that :meth:`Transaction.rollback` undoes (a changeset, a
        bulk message): writes inside it journal what they replace."""
        with self.lock:
            outer = self._journal
            journal = Transaction(self, {n: len(d.deleted) for n, d in self.tables.items()})
            self._journal = journal
            try:
                yield journal
            finally:
                self._journal = outer

    def _remember(self, logical_name: str, record_id: str) -> None:
        if self._journal is None:
            return
        key = (logical_name, record_id)
        if key in self._journal.before:
            return
        row = self.tables[logical_name].rows.get(record_id)
        copy = None if row is None else {**row, "__targets": dict(row["__targets"])}
        self._journal.before[key] = copy

    # -- change tracking ---------------------------------------------------------------------
    def changes_since(self, logical_name: str, version: int) -> tuple[list[Row], list[Tombstone]]:
        """Rows written after ``version`` (by version), then deletions after it of rows
        that do not exist now (a row created and deleted between polls is a delete)."""
        with self.lock:
            data = self.tables[logical_name]
            rows = sorted(
                (r for r in data.rows.values() if r["versionnumber"] > version),
                key=lambda r: r["versionnumber"],
            )
            gone = [t for t in data.deleted if t.version > version and t.record_id not in data.rows]
            return rows, gone

    def all_rows(self, logical_name: str) -> Iterable[Row]:
        return list(self.tables[logical_name].rows.values())
