"""Reading and writing by key in batches: the chunking every collaborator shares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from crmsync.store._database import Database
from crmsync.store._schema import loads

IN_CHUNK = 500  # ids per IN (...) clause: well under SQLite's and PostgreSQL's limits


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def by_object(keys: Sequence[tuple[str, str]]) -> Iterable[tuple[str, Sequence[str]]]:
    """(object, ids) chunks of (object, id) keys.

    ``object = ? AND id IN (...)`` is a range of the (integration, object, id) unique
    index; SQLite answers a row-value ``(object, id) IN (VALUES ...)`` by scanning every
    row of the integration instead, which made each chunk cost O(links).
    """
    ids: dict[str, list[str]] = {}
    for object_name, record_id in keys:
        ids.setdefault(object_name, []).append(record_id)
    for object_name, record_ids in ids.items():
        for chunk in chunks(record_ids):
            yield object_name, chunk


def json_dict(raw: Any) -> dict[str, Any]:
    """A JSON column read through the driver: text on SQLite, decoded on PostgreSQL."""
    if isinstance(raw, str | bytes):  # the common case first: SQLite's text
        decoded: dict[str, Any] = loads(raw)
        return decoded
    if raw is None:
        return {}
    return dict(raw)


def for_keys(
    database: Database, tx: Connection, statement: str, keys: Sequence[Any]
) -> None:
    """Run ``statement`` (ending in ``IN``) for ``keys``, one chunk at a time."""
    for chunk in chunks(list(keys)):
        tx.exec_driver_sql(f"{statement} ({database.marks(len(chunk))})", tuple(chunk))


__all__ = ["IN_CHUNK", "by_object", "chunks", "for_keys", "json_dict"]
