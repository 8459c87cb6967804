"""The change feed over the table: keyset pages, page tokens, id reconciliation.

A page is one statement: rows after a position in ``(modification time, id)`` order,
``LIMIT page_size + 1`` (the extra row only says whether another page follows). With an
index on ``(modification time, id)`` it is a range scan that reads what it returns,
whatever the table's size, so an idle cycle costs one short query.

Without a soft-delete column a deleted row simply vanishes; the feed finds such rows by
**reconciliation**: every ``reconcile_seconds`` it reads the table's ids (an index-only
scan, in chunks) and compares them with the ids of the previous reconciliation, which
travel compressed in the cursor's ``token`` (the engine stores it with the cursor and
hands it back; no table of crmsync's own is needed in the platform database). Each id
gone since then is reported as a tombstone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.sql._table import TableModel

__all__ = [
    "Reconciliation",
    "Snapshot",
    "decode_page",
    "encode_page",
    "page_statement",
    "scan_ids",
]

ID_CHUNK = 100_000
"""Ids read per statement of a reconciliation scan."""


class BadToken(ValueError):
    """A page or cursor token this connector did not issue."""


def encode_page(moment: dt.datetime, record_id: str, snapshot: str | None) -> str:
    """The token of the next page: the position of this page's last row (and the
    snapshot the read is carrying, so every page of it returns the same one)."""
    raw = json.dumps([moment.isoformat(), record_id, snapshot]).encode()
    return "v1." + base64.urlsafe_b64encode(raw).decode()


def decode_page(token: str) -> tuple[dt.datetime, str, str | None]:
    try:
        if not token.startswith("v1."):
            raise ValueError(token)
        moment, record_id, snapshot = json.loads(base64.urlsafe_b64decode(token[3:]))
        found = dt.datetime.fromisoformat(str(moment))
        if found.tzinfo is None:
            raise ValueError(moment)
        return found, str(record_id), (None if snapshot is None else str(snapshot))
    except (ValueError, TypeError, binascii.Error):
        raise BadToken("page token was not issued by the sql connector") from None


def _after(model: TableModel, moment: dt.datetime, record_id: Any) -> Any:
    """``(modified, id) > (moment, record_id)``, in the form each database's planner
    turns into one index range (PostgreSQL: a row comparison; MySQL/MariaDB, which
    does not range-scan row comparisons, the equivalent OR)."""
    modified = model.read.c[model.modified_name or ""]
    key = model.read.c[model.id_name]
    stored = model.stored_moment(modified.name, moment)
    moment_param = sa.bindparam(None, stored, type_=modified.type)
    id_param = sa.bindparam(None, record_id, type_=key.type)
    if model.dialect == "postgresql":
        return sa.tuple_(modified, key) > sa.tuple_(moment_param, id_param)
    return sa.or_(
        modified > moment_param, sa.and_(modified == moment_param, key > id_param)
    )


def page_statement(
    model: TableModel,
    fields: Iterable[str],
    *,
    after: tuple[dt.datetime, Any] | None,
    since: dt.datetime | None,
    limit: int,
) -> sa.Select[Any]:
    """One page of the feed: rows after ``after`` (exclusive) or from ``since``
    (inclusive), in ``(modified, id)`` order."""
    read = model.read
    modified = read.c[model.modified_name or ""]
    key = read.c[model.id_name]
    wanted = [key, modified]
    if model.deleted_name is not None:
        wanted.append(read.c[model.deleted_name])
    wanted += [
        read.c[name] for name in dict.fromkeys(fields) if read.c[name] not in wanted
    ]
    statement = sa.select(*wanted)
    if after is not None:
        statement = statement.where(_after(model, *after))
    elif since is not None:
        statement = statement.where(
            modified >= model.stored_moment(modified.name, since)
        )
    else:
        statement = statement.where(modified.is_not(None))
    return statement.order_by(modified, key).limit(limit)


def is_deleted(value: Any) -> bool:
    """Whether a soft-delete column's value marks the row deleted (set, or true)."""
    if value is None or value is False:
        return False
    return not (isinstance(value, int | float) and value == 0)


# -- reconciliation --------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """The ids seen by a reconciliation, and when it ran."""

    taken_at: dt.datetime
    ids: list[Any]

    def encode(self, numeric: bool) -> str:
        """Compact text: integers as delta varints, other ids as lines, zlib, base64."""
        if numeric:
            out = bytearray()
            previous = 0
            for value in self.ids:
                delta = int(value) - previous
                previous = int(value)
                # zigzag, so that a negative id (rare) still encodes
                number = delta * 2 if delta >= 0 else -delta * 2 - 1
                while True:
                    low, number = number & 0x7F, number >> 7
                    out.append(low | (0x80 if number else 0))
                    if not number:
                        break
            body = bytes(out)
        else:
            body = "\n".join(str(value) for value in self.ids).encode()
        packed = base64.b64encode(zlib.compress(body, 6)).decode()
        kind = "i" if numeric else "s"
        return json.dumps({"v": 1, "at": self.taken_at.isoformat(), kind: packed})

    @classmethod
    def decode(cls, token: str | None) -> Snapshot | None:
        """The snapshot in a cursor token; ``None`` if there is none or it is not
        ours (then the next reconciliation only records a new one)."""
        if not token:
            return None
        try:
            loaded = json.loads(token)
            taken_at = dt.datetime.fromisoformat(loaded["at"])
            if "i" in loaded:
                body = zlib.decompress(base64.b64decode(loaded["i"]))
                ids: list[Any] = []
                number, shift, previous = 0, 0, 0
                for byte in body:
                    number |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        delta = number >> 1 if not number & 1 else -((number + 1) >> 1)
                        previous += delta
                        ids.append(previous)
                        number, shift = 0, 0
            else:
                text = zlib.decompress(base64.b64decode(loaded["s"])).decode()
                ids = text.split("\n") if text else []
        except (ValueError, KeyError, TypeError, zlib.error, binascii.Error):
            return None
        return cls(taken_at=taken_at, ids=ids)


@dataclass
class Reconciliation:
    """What one reconciliation cost and found (logged as ``sql_reconciliation``)."""

    ids_scanned: int = 0
    queries: int = 0
    deleted: int = 0
    snapshot_bytes: int = 0
    seconds: float = 0.0
    kept: bool = True


def scan_ids(
    connection: sa.Connection, model: TableModel, cost: Reconciliation
) -> list[Any]:
    """Every id of the read relation, ascending, by keyset chunks of ``ID_CHUNK``."""
    key = model.read.c[model.id_name]
    found: list[Any] = []
    last: Any = None
    started = time.perf_counter()
    while True:
        statement = sa.select(key).order_by(key).limit(ID_CHUNK)
        if last is not None:
            statement = statement.where(key > last)
        chunk = list(connection.execute(statement).scalars())
        cost.queries += 1
        found += chunk
        if len(chunk) < ID_CHUNK:
            break
        last = chunk[-1]
    cost.ids_scanned = len(found)
    cost.seconds += time.perf_counter() - started
    return found


def missing_ids(before: list[Any], now: list[Any], model: TableModel) -> list[Any]:
    """Ids of ``before`` that are not in ``now`` (compared as record ids)."""
    if model.id_width is not None:  # integers on both sides: compare them as they are
        numbers = set(now)
        return [value for value in before if value not in numbers]
    present = {model.encode_id(value) for value in now}
    return [value for value in before if model.encode_id(value) not in present]
