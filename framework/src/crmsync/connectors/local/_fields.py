"""The ``prospect`` object: its fields, and the conversions between canonical values and
SQLite.

Every check a write must pass lives here, shared by the connector's ``push_updates`` and
the :class:`~crmsync.connectors.local.LocalStore` API, so a value refused through one
door is refused through the other with the same code and message.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from crmsync.authoring._values import FieldProblem, check_value
from crmsync.contract import FieldSpec, FieldType

__all__ = [
    "OBJECT_NAME",
    "PROSPECT_FIELDS",
    "STATUS_VALUES",
    "FieldProblem",
    "check_values",
    "from_sql",
    "normalize_email",
    "to_sql",
    "utc_text",
]

OBJECT_NAME = "prospect"
STATUS_VALUES = ("new", "engaged", "qualified", "disqualified")
LEAD_SOURCES = ("web form", "webinar", "event", "referral", "purchased list", "partner")
INTERESTS = ("email", "webinar", "events", "product updates", "pricing")


def _spec(name: str, label: str, kind: FieldType, **extra: Any) -> FieldSpec:
    return FieldSpec(name=name, label=label, type=kind, vendor_type=kind.value, **extra)


PROSPECT_FIELDS: tuple[FieldSpec, ...] = (
    _spec("id", "Prospect ID", FieldType.ID, read_only=True),
    _spec("email", "Email", FieldType.EMAIL, length=254),
    _spec("first_name", "First Name", FieldType.STRING, length=40),
    _spec("last_name", "Last Name", FieldType.STRING, length=80),
    _spec("company", "Company", FieldType.STRING, length=255),
    _spec("title", "Job Title", FieldType.STRING, length=128),
    _spec("phone", "Phone", FieldType.PHONE, length=40),
    _spec("score", "Score", FieldType.INTEGER),
    # Unrestricted: the listed values are suggestions; any text up to the length is
    # kept.
    _spec(
        "lead_source",
        "Lead Source",
        FieldType.PICKLIST,
        length=255,
        picklist_values=LEAD_SOURCES,
    ),
    _spec(
        "status",
        "Status",
        FieldType.PICKLIST,
        length=40,
        picklist_values=STATUS_VALUES,
        restricted_picklist=True,
    ),
    _spec("opted_out", "Opted Out", FieldType.BOOLEAN),
    _spec("last_activity_at", "Last Activity", FieldType.DATETIME),
    _spec("birthday", "Birthday", FieldType.DATE),
    _spec("interests", "Interests", FieldType.MULTIPICKLIST, picklist_values=INTERESTS),
    _spec("revenue", "Annual Revenue", FieldType.NUMBER),
    _spec("created_at", "Created", FieldType.DATETIME, read_only=True),
)
SPECS: dict[str, FieldSpec] = {spec.name: spec for spec in PROSPECT_FIELDS}
COLUMNS: tuple[str, ...] = tuple(spec.name for spec in PROSPECT_FIELDS)
WRITABLE: tuple[str, ...] = tuple(
    spec.name for spec in PROSPECT_FIELDS if not spec.read_only
)





def utc_text(moment: dt.datetime) -> str:
    """A stored timestamp: UTC, microseconds, no offset, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("datetime must be time-zone aware")
    utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds")


def parse_utc_text(text: str) -> dt.datetime:
    """The inverse of :func:`utc_text` (``fromisoformat``: strptime is ten times
    slower, and every row of every feed page passes here)."""
    return dt.datetime.fromisoformat(text + "+00:00")


def normalize_email(value: object) -> str | None:
    """The match key of an email: trimmed and case-folded; ``None`` when blank."""
    if not isinstance(value, str):
        return None
    key = value.strip().casefold()
    return key or None


def check_values(values: Mapping[str, Any]) -> FieldProblem | None:
    """The first reason ``values`` cannot be written, or ``None`` when all are
    acceptable.

    Unknown and read-only fields are refused rather than ignored: a write that silently
    drops a field makes the engine believe both sides agree when they do not.
    """
    for name, value in values.items():
        spec = SPECS.get(name)
        if spec is None:
            return FieldProblem(
                "UNKNOWN_FIELD", f"prospect has no field {name!r}", name
            )
        if spec.read_only:
            return FieldProblem("READ_ONLY_FIELD", f"{name} is read-only", name)
        problem = check_value(spec, value)
        if problem is not None:
            return problem
    return None


def to_sql(name: str, value: Any) -> Any:
    """A checked canonical value as stored in its SQLite column."""
    if value is None:
        return None
    kind = SPECS[name].type
    if kind is FieldType.BOOLEAN:
        return 1 if value else 0
    if kind is FieldType.MULTIPICKLIST:
        unique = list(dict.fromkeys(value))
        return json.dumps(unique, ensure_ascii=False)
    if kind is FieldType.NUMBER:
        return float(value)
    if kind is FieldType.DATE:
        return value.isoformat()
    if kind is FieldType.DATETIME:
        return utc_text(value)
    return value


def from_sql(name: str, stored: Any) -> Any:
    """A stored column value in canonical form (aware UTC datetimes, dates, lists,
    bools)."""
    if stored is None:
        return None
    kind = SPECS[name].type
    if kind is FieldType.BOOLEAN:
        return bool(stored)
    if kind is FieldType.MULTIPICKLIST:
        loaded: list[str] = json.loads(stored)
        return loaded
    if kind is FieldType.NUMBER:
        return float(stored)
    if kind is FieldType.DATE:
        return dt.date.fromisoformat(stored)
    if kind is FieldType.DATETIME:
        return parse_utc_text(stored)
    return stored
