"""Importing prospects from a CSV file, all or nothing, with a report per line.

The header row names the fields (``email``, ``first_name``, ... as ``list_fields``
reports them; case and spaces do not matter, so ``First Name`` works). Rows are matched
to existing prospects by email (trimmed, case-insensitive) and update them; other rows
create prospects. A blank cell leaves the field as it is. Cells are text and are parsed
by field type: integers, numbers (``1234.5``), booleans (``true``/``false``,
``yes``/``no``, ``1``/``0``), dates (``2024-05-01``), datetimes with a time zone
(``2024-05-01T12:00:00Z``), multi-selects separated by ``;``.

The whole file is checked first and written in one transaction: if any line is wrong,
nothing is written and the report lists every problem with its line number, so a user
fixes the file once instead of discovering a half-imported list.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from crmsync.connectors.local import _fields as F
from crmsync.contract import FieldType

if TYPE_CHECKING:
    from crmsync.connectors.local._store import LocalStore

__all__ = ["ImportReport", "LineError", "import_csv"]

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True)
class LineError:
    """A problem on one line of the file (line 1 is the header)."""

    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    """What an import did: counts, or the problems that stopped it (then nothing was
    written)."""

    created: int = 0
    updated: int = 0
    errors: tuple[LineError, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        if self.ok:
            return f"imported: {self.created} created, {self.updated} updated"
        lines = "\n".join(f"  {error}" for error in self.errors)
        return f"nothing imported, {len(self.errors)} problem(s):\n{lines}"


def _parse(kind: FieldType, text: str) -> Any:
    if kind is FieldType.INTEGER:
        return int(text)
    if kind is FieldType.NUMBER:
        return float(decimal.Decimal(text))
    if kind is FieldType.BOOLEAN:
        lowered = text.casefold()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError("expected true/false, yes/no or 1/0")
    if kind is FieldType.DATE:
        return dt.date.fromisoformat(text)
    if kind is FieldType.DATETIME:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("add a time zone, e.g. 2024-05-01T12:00:00Z")
        return moment
    if kind is FieldType.MULTIPICKLIST:
        return [part.strip() for part in text.split(";") if part.strip()]
    return text


def _header(names: list[str]) -> tuple[list[str | None], list[LineError]]:
    columns: list[str | None] = []
    errors: list[LineError] = []
    for raw in names:
        name = raw.strip().casefold().replace(" ", "_").replace("-", "_")
        spec = F.SPECS.get(name)
        if spec is None:
            known = ", ".join(F.WRITABLE)
            errors.append(
                LineError(1, raw, f"unknown column {raw!r}; columns are: {known}")
            )
            columns.append(None)
        elif spec.read_only:
            errors.append(
                LineError(1, raw, f"{name} is read-only and cannot be imported")
            )
            columns.append(None)
        else:
            columns.append(name)
    if "email" not in columns:
        errors.append(
            LineError(1, None, "an email column is required: rows match by email")
        )
    return columns, errors


def import_csv(store: LocalStore, source: str | Path | IO[str]) -> ImportReport:
    """Check every line of ``source``, then upsert them all in one transaction."""
    opener: Callable[[], IO[str]]
    if isinstance(source, str | Path):
        path = Path(source)
        opener = lambda: path.open(newline="", encoding="utf-8-sig")  # noqa: E731
    else:
        text = source.read()
        opener = lambda: io.StringIO(text)  # noqa: E731
    with opener() as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return ImportReport(errors=(LineError(1, None, "the file is empty"),))
        columns, errors = _header(header)
        rows: list[dict[str, Any]] = []
        for line, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                errors.append(
                    LineError(
                        line, None, f"{len(cells)} cells for {len(columns)} columns"
                    )
                )
                continue
            row: dict[str, Any] = {}
            for name, cell in zip(columns, cells, strict=True):
                if name is None or not cell.strip():
                    continue
                try:
                    row[name] = _parse(F.SPECS[name].type, cell.strip())
                except (ValueError, decimal.InvalidOperation) as error:
                    errors.append(LineError(line, name, f"{cell!r}: {error}"))
            problem = F.check_values(row)
            if problem is not None:
                errors.append(LineError(line, problem.field, problem.message))
            elif not row.get("email"):
                errors.append(
                    LineError(line, "email", "email is required: rows match by email")
                )
            rows.append(row)
    if errors:
        return ImportReport(errors=tuple(errors))
    created = updated = 0
    with store.write() as moment:
        for row in rows:
            existing = store.find_by_email(row["email"])
            if existing is None:
                store.insert_rows([row], moment)
                created += 1
            else:
                store.update_row(existing, row, moment)
                updated += 1
    return ImportReport(created=created, updated=updated)
