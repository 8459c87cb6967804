"""``LocalStore``: the SQLite file that holds the platform's prospects.

This is the "vendor" of the ``local`` connector and, at the same time, the Python API a
platform team uses to put prospects in it (import a CSV, upsert, delete). The connector
is a thin translation layer over it, which is the shape we recommend for any platform
connector: keep the database code in one place, and keep the hooks about the contract.

Storage choices, and why:

* WAL mode, so the sync can read while the platform writes.
* ``modified_at`` is UTC text with microseconds (``2024-05-01T12:00:00.000000``): text
  order is time order, so the feed index ``(modified_at, id)`` serves the keyset query
  directly.
* Every write transaction stamps its rows with one moment that is strictly after every
  ``modified_at`` already stored (the clock, bumped by a microsecond when it is not).
  Writers are serialized by SQLite's write lock, so commit order is feed order: a reader
  that has read up to some position can never later find a row committed behind it. Rows
  written by one transaction share their moment, which is why the feed breaks ties by
  ``id``.
* Deleted prospects stay as tombstones (``deleted_at`` set, match key cleared), so the
  change feed can report them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from crmsync.connectors.local import _fields as F
from crmsync.connectors.local._csv import ImportReport
from crmsync.errors import ConfigurationError

__all__ = ["Clock", "LocalStore", "StoredRow"]

Clock = Callable[[], dt.datetime]
"""Returns "now" as an aware datetime; replaced in tests to freeze or step time."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prospect (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    email TEXT, first_name TEXT, last_name TEXT, company TEXT, title TEXT, phone TEXT,
    score INTEGER, lead_source TEXT, status TEXT, opted_out INTEGER,
    last_activity_at TEXT, birthday TEXT, interests TEXT, revenue REAL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    deleted_at TEXT,
    email_key TEXT
);
CREATE INDEX IF NOT EXISTS prospect_feed ON prospect (modified_at, id);
CREATE INDEX IF NOT EXISTS prospect_email_key ON prospect (email_key)
    WHERE email_key IS NOT NULL;
"""
_ONE_MICROSECOND = dt.timedelta(microseconds=1)
DEFAULT_CACHE_MB = 64
StoredRow = dict[str, Any]


def _system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LocalStore:
    """Prospects in a SQLite file: the platform side that crmsync ships with.

    >>> store = LocalStore("platform.db")
    >>> report = store.import_csv("prospects.csv")
    >>> store.upsert({"email": "ada@example.com", "first_name": "Ada"})

    :param path: the SQLite file (created with its schema if missing).
    :param clock: returns the current time; tests pass a controllable one.
    :param busy_timeout: seconds to wait for another writer's lock. People-facing code
        may wait; the connector passes ``0`` because a connector never waits on its own
        (a lock becomes a ``TransientError`` and the framework backs off).
    :param cache_mb: SQLite's page cache for this file, in MB (filled as pages are
        read).
    :param create: create the file and its schema when missing. ``False`` opens only
        a file that exists, and changes nothing in it (a preflight such as
        ``crmsync doctor`` writes nothing).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        busy_timeout: float = 5.0,
        cache_mb: int = DEFAULT_CACHE_MB,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        self.clock: Clock = clock or _system_clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path if create else f"{self.path.resolve().as_uri()}?mode=rw",
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            uri=not create,
        )
        self._db.row_factory = sqlite3.Row
        try:
            # The first statements are where SQLite finds the file is no database.
            if create:
                self._db.execute("PRAGMA journal_mode=WAL")
            else:
                self._db.execute("PRAGMA schema_version")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # In KiB when negative; SQLite's 2 MB default re-reads a large file's index
            # pages from the OS on every lookup by id or email.
            self._db.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
            if create:
                with self._lock:
                    self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the file. The store cannot be used afterwards."""
        self._db.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[dt.datetime]:
        """One write transaction; yields the moment every row it touches is stamped
        with.

        ``BEGIN IMMEDIATE`` takes the write lock first, so the moment computed next is
        after every committed row (see the module docstring for why that matters).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                latest = self._db.execute(
                    "SELECT max(modified_at) FROM prospect"
                ).fetchone()[0]
                moment = self.clock().astimezone(dt.UTC)
                if latest is not None and moment <= F.parse_utc_text(latest):
                    moment = F.parse_utc_text(latest) + _ONE_MICROSECOND
                yield moment
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit inside :meth:`write`: undone alone if the record fails."""
        self._db.execute("SAVEPOINT record")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO record")
            self._db.execute("RELEASE record")
            raise
        self._db.execute("RELEASE record")

    # -- rows (inside write())
    # -----------------------------------------------------------
    def _next_seq(self) -> int:
        found = self._db.execute(
            "SELECT coalesce(max(seq), 0) FROM prospect"
        ).fetchone()[0]
        return int(found) + 1

    def insert_rows(
        self, rows: Sequence[Mapping[str, Any]], moment: dt.datetime
    ) -> list[str]:
        """Insert checked canonical ``rows`` stamped ``moment``; inside
        :meth:`write`."""
        first = self._next_seq()
        stamp = F.utc_text(moment)
        ids = [f"P{first + offset:010d}" for offset in range(len(rows))]
        params = []
        for offset, (record_id, row) in enumerate(zip(ids, rows, strict=True)):
            values = [F.to_sql(name, row.get(name)) for name in F.WRITABLE]
            params.append(
                (
                    first + offset,
                    record_id,
                    *values,
                    stamp,
                    stamp,
                    F.normalize_email(row.get("email")),
                )
            )
        columns = ", ".join(
            ("seq", "id", *F.WRITABLE, "created_at", "modified_at", "email_key")
        )
        marks = ", ".join("?" * (len(F.WRITABLE) + 5))
        self._db.executemany(
            f"INSERT INTO prospect ({columns}) VALUES ({marks})", params
        )
        return ids

    def update_row(
        self, record_id: str, values: Mapping[str, Any], moment: dt.datetime
    ) -> bool:
        """Set ``values`` on a live prospect; ``False`` when there is none. Inside
        :meth:`write`."""
        assignments = [f"{name} = ?" for name in values]
        params: list[Any] = [F.to_sql(name, value) for name, value in values.items()]
        if "email" in values:
            assignments.append("email_key = ?")
            params.append(F.normalize_email(values["email"]))
        assignments.append("modified_at = ?")
        params.append(F.utc_text(moment))
        sets = ", ".join(assignments)
        cursor = self._db.execute(
            f"UPDATE prospect SET {sets} WHERE id = ? AND deleted_at IS NULL",
            (*params, record_id),
        )
        return cursor.rowcount == 1

    def find_by_email(self, email: str) -> str | None:
        """The id of the live prospect with this email (the most recent if several)."""
        key = F.normalize_email(email)
        if key is None:
            return None
        found = self._db.execute(
            "SELECT id FROM prospect WHERE email_key = ? ORDER BY seq DESC LIMIT 1",
            (key,),
        ).fetchone()
        return None if found is None else str(found[0])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query (a consistent snapshot: one statement)."""
        with self._lock:
            return list(self._db.execute(sql, params))

    # -- the public API ----------------------------------------------------------------
    def insert(self, records: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create one prospect per record (no matching), in one transaction; returns the
        ids.

        :raises ConfigurationError: a record has an unknown, read-only or invalid value;
            then nothing is written.
        """
        rows = [dict(record) for record in records]
        for position, row in enumerate(rows):
            _refuse(F.check_values(row), f"record {position}")
        with self.write() as moment:
            return self.insert_rows(rows, moment)

    def upsert(self, values: Mapping[str, Any]) -> str:
        """Update the live prospect with the same email, or create one; returns its id.

        Emails match trimmed and case-insensitively, as crmsync's matching does.
        """
        _refuse(F.check_values(values), "upsert")
        with self.write() as moment:
            existing = self.find_by_email(values.get("email") or "")
            if existing is not None:
                self.update_row(existing, values, moment)
                return existing
            return self.insert_rows([values], moment)[0]

    def update(self, record_id: str, values: Mapping[str, Any]) -> None:
        """Set ``values`` on prospect ``record_id``.

        :raises ConfigurationError: unknown prospect, or a value that cannot be written.
        """
        _refuse(F.check_values(values), record_id)
        with self.write() as moment:
            if not self.update_row(record_id, values, moment):
                raise ConfigurationError(f"no live prospect {record_id!r}")

    def get(self, record_id: str) -> StoredRow | None:
        """A prospect's canonical values plus ``modified_at``; ``None`` if unknown or
        deleted."""
        rows = self.query(
            "SELECT * FROM prospect WHERE id = ? AND deleted_at IS NULL", (record_id,)
        )
        if not rows:
            return None
        found = {name: F.from_sql(name, rows[0][name]) for name in F.COLUMNS}
        found["modified_at"] = F.parse_utc_text(rows[0]["modified_at"])
        return found

    def delete(self, record_id: str) -> bool:
        """Delete a prospect, keeping a tombstone for the change feed; ``False`` if
        none."""
        with self.write() as moment:
            stamp = F.utc_text(moment)
            cursor = self._db.execute(
                "UPDATE prospect SET deleted_at = ?, modified_at = ?, email_key = NULL "
                "WHERE id = ? AND deleted_at IS NULL",
                (stamp, stamp, record_id),
            )
            return cursor.rowcount == 1

    def count(self, *, include_deleted: bool = False) -> int:
        """How many prospects are stored (live ones unless ``include_deleted``)."""
        where = "" if include_deleted else " WHERE deleted_at IS NULL"
        return int(self.query(f"SELECT count(*) FROM prospect{where}")[0][0])

    def import_csv(self, source: str | Path | IO[str]) -> ImportReport:
        """Import prospects from a CSV file (see :func:`~._csv.import_csv` for the
        format)."""
        from crmsync.connectors.local._csv import import_csv

        return import_csv(self, source)

    def seed_fake(self, n: int, *, seed: int = 0) -> list[str]:
        """Create ``n`` realistic fake prospects, deterministic for a given ``seed``."""
        from crmsync.connectors.local._fake import fake_prospects

        with self.write() as moment:
            return self.insert_rows(fake_prospects(n, seed=seed, now=moment), moment)


def _refuse(problem: F.FieldProblem | None, where: str) -> None:
    if problem is not None:
        raise ConfigurationError(f"{where}: {problem.message}")
