"""The state store's database: engine, SQLite tuning, migrations, transactions, and
what every collaborator needs to speak to the driver directly (placeholders, stamps)."""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from crmsync.errors import StateError
from crmsync.logs import redact_text
from crmsync.settings import DEFAULT_SQLITE_CACHE_MB
from crmsync.store._schema import dumps, loads, metadata

HEAD_REVISION = "0001"  # the first revision; the newest is head_revision()


@functools.cache
def head_revision() -> str:
    """The newest migration's revision, read from the migration scripts themselves
    (so that a new migration needs no second, hand-kept constant)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    location = resources.files("crmsync.store") / "migrations"
    config.set_main_option("script_location", str(location))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise StateError("crmsync's migration scripts have no head revision")
    return head


def _tune_sqlite(dbapi_connection: Any, _record: Any, *, cache_mb: int) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (crmsync status) run beside a cycle; NORMAL sync is durable in
    # WAL mode across application crashes, which is the failure the engine must survive.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Negative: a size in KiB rather than in pages. With SQLite's 2 MB default, a cycle
    # over 1,000,000 links read most index pages from the OS on every lookup
    # (docs/performance.md, fix 25).
    cursor.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
    cursor.close()


# SQLite's primary result codes for a file that is not a database, or one whose pages
# are damaged (truncated, overwritten); the extended codes carry them in the low byte.
_DAMAGED = frozenset({sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT})


def _refuse_damaged_sqlite(context: ExceptionContext, *, path: str) -> None:
    """Raise a one-line :class:`StateError` for a file SQLite cannot read as a
    database.

    SQLAlchemy calls this for every failure of this engine, also while connecting, so
    no query anywhere (migrations, the CLI, the engine) surfaces such a file as a raw
    driver error.
    """
    original = context.original_exception
    code = getattr(original, "sqlite_errorcode", None)
    if (
        isinstance(original, sqlite3.DatabaseError)
        and code is not None
        and code & 0xFF in _DAMAGED
    ):
        raise StateError(
            f"{path} is not a crmsync state database or is damaged",
            hint="restore it from a backup or point --database-url elsewhere",
        ) from None


# How long opening a PostgreSQL connection may take: a URL pointing at a port where
# something else listens (Redis, a web server) would otherwise hang for good.
PG_CONNECT_TIMEOUT_SECONDS = 10


def _operational_error(prefix: str, error: OperationalError) -> StateError:
    """A driver's operational failure as one line, with the way out of a lock."""
    reason = " ".join(str(error.orig).split())
    if "timeout expired" in reason or "server closed the connection" in reason:
        return StateError(
            f"{prefix}: no PostgreSQL server answered at that address in time",
            hint="check the host and port of --database-url / CRMSYNC_DATABASE_URL; "
            "another service may be listening there",
        )
    if "locked" in reason or "could not obtain lock" in reason:
        hint = (
            "another crmsync process is writing to the state store; wait for it to "
            "finish, or stop it, then try again"
        )
    else:
        hint = "is the database reachable and writable?"
    return StateError(f"{prefix}: {reason}", hint=hint)


def _connect_args(url: str) -> dict[str, Any]:
    """Driver options: a connect timeout on PostgreSQL unless the URL sets one."""
    if url.startswith("postgresql") and "connect_timeout=" not in url:
        return {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS}
    return {}


_STAMPS_KEPT = 20_000  # remembered timestamp texts (a few chunks' worth; ~4 MB)


class Database:
    """One database handle: the SQLAlchemy engine, its dialect, the schema's
    migrations, and :meth:`transaction`, through which every write goes.

    Each of the store's collaborators takes one in its constructor; they share it (and
    with it the SQLite timestamp texts remembered between reads and writes).
    """

    def __init__(
        self,
        url: str,
        *,
        engine: Engine | None = None,
        sqlite_cache_mb: int = DEFAULT_SQLITE_CACHE_MB,
    ) -> None:
        self.url = url
        try:
            self.engine = engine or create_engine(
                url,
                json_serializer=dumps,
                json_deserializer=loads,
                connect_args=_connect_args(url),
            )
        except (SQLAlchemyError, ImportError, ValueError) as error:
            raise StateError(
                f"cannot open the state store {self._safe_url()}: {error}",
                hint="check CRMSYNC_DATABASE_URL (sqlite:///file.db or postgresql+psycopg://...)",
            ) from None
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(
                self.engine,
                "connect",
                functools.partial(_tune_sqlite, cache_mb=sqlite_cache_mb),
            )
            event.listen(
                self.engine,
                "handle_error",
                functools.partial(
                    _refuse_damaged_sqlite,
                    path=self.engine.url.database or ":memory:",
                ),
            )

    def _safe_url(self) -> str:
        return redact_text(
            self.engine.url.render_as_string(hide_password=True)
            if hasattr(self, "engine")
            else "(url hidden)"
        )

    # -- migrations --------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        location = resources.files("crmsync.store") / "migrations"
        config.set_main_option("script_location", str(location))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as error:
            raise _operational_error(
                f"cannot migrate the state store {self._safe_url()}", error
            ) from None

    def is_current(self) -> bool:
        """Whether the schema exists at the newest revision."""
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return False
                version = connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).scalar()
        except OperationalError:
            return False
        return version == head_revision()

    def ensure_schema(self, *, create: bool = True) -> None:
        """Migrate to the newest revision.

        ``create=False`` (commands that only read) refuses a database that holds no
        state yet, rather than making an empty one where a path was mistyped.

        :raises StateError: no state yet (with ``create=False``), or a database with
            tables but no crmsync schema: crmsync never adds its tables to another
            application's database.
        """
        if not create and self._missing_sqlite_file():
            raise self._no_state()
        if self.is_current():
            return
        tables = self.refuse_foreign()
        if not tables and not create:
            raise self._no_state()
        self.migrate()

    def refuse_foreign(self) -> list[str]:
        """The database's tables, after making sure it is not another application's.

        :raises StateError: the database has tables but no crmsync schema.
        """
        tables = self._table_names()
        if tables and "alembic_version" not in tables:
            shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
            raise StateError(
                f"{self._where()} is not a crmsync state database: it has other "
                f"tables ({shown}) and no crmsync schema",
                hint="point --database-url or CRMSYNC_DATABASE_URL at crmsync's own "
                "database, or at a new file",
            )
        return tables

    def _where(self) -> str:
        if self.dialect == "sqlite":
            return self.engine.url.database or ":memory:"
        return self._safe_url()

    def _missing_sqlite_file(self) -> bool:
        # Checked before connecting: SQLite creates a missing file on connect.
        url = self.engine.url
        database = url.database
        if self.dialect != "sqlite" or database in (None, "", ":memory:"):
            return False
        if database.startswith("file:") or url.query.get("uri"):
            return False  # a URI filename, whose mode says whether it may create
        return not Path(database).exists()

    def _no_state(self) -> StateError:
        return StateError(
            f"no state database at {self._where()}",
            hint="check --database-url or CRMSYNC_DATABASE_URL; "
            "`crmsync integration create` makes one",
        )

    def _table_names(self) -> list[str]:
        try:
            with self.engine.connect() as connection:
                return list(inspect(connection).get_table_names())
        except OperationalError as error:
            raise _operational_error(
                f"cannot read the state store {self._safe_url()}", error
            ) from None

    # -- transactions ------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic unit of work: everything inside commits together or not at all."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as error:
            raise _operational_error("state store error", error) from None

    def insert(self, table: Any) -> Any:
        """A dialect-specific INSERT that supports ON CONFLICT (upserts)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        raise StateError(
            f"unsupported database {self.dialect!r}; use SQLite or PostgreSQL"
        )

    @staticmethod
    def new_id(result: Any) -> int:
        """The primary key an INSERT just created."""
        key = result.inserted_primary_key
        if key is None:
            raise StateError("the database returned no key for a new row")
        return int(key[0])

    # -- speaking to the driver directly -------------------------------------------
    # The hottest statements (staging, link lookups and writes) go to the driver's
    # executemany with pre-serialized values: SQLAlchemy's per-row bind and result
    # processing cost more than the database work itself.
    @functools.cached_property
    def mark(self) -> str:
        """The driver's parameter placeholder."""
        return "?" if self.engine.dialect.paramstyle == "qmark" else "%s"

    def marks(self, count: int) -> str:
        """``count`` placeholders for an ``IN (...)`` list."""
        return ", ".join([self.mark] * count)

    def to_db_time(self, moment: dt.datetime) -> Any:
        """A datetime as the driver must receive it for this schema's columns."""
        if self.dialect != "sqlite":
            return moment
        # SQLAlchemy's SQLite DATETIME storage: naive UTC text with microseconds. Most
        # stamps written are ones just read (a link keeps its records' times), so the
        # text read is remembered and reused: formatting cost 7% of a cycle.
        stamps = self._stamps
        text = stamps.get(moment)
        if text is None:
            text = moment.isoformat(sep=" ", timespec="microseconds")
            if text.endswith("+00:00"):  # already UTC (nearly always)
                text = text[:-6]
            else:
                utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
                text = utc.isoformat(sep=" ", timespec="microseconds")
            self._remember_stamp(moment, text)
        return text

    def from_db_time(self, value: Any) -> dt.datetime:
        """A datetime read through the driver (SQLite: naive UTC text)."""
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value + "+00:00")
            self._remember_stamp(parsed, value)
            return parsed
        moment: dt.datetime = value
        return moment.astimezone(dt.UTC)

    def _remember_stamp(self, moment: dt.datetime, text: str) -> None:
        if len(self._stamps) >= _STAMPS_KEPT:
            self._stamps.clear()
        self._stamps[moment] = text

    @functools.cached_property
    def _stamps(self) -> dict[dt.datetime, str]:
        """Recently read or written SQLite stamps: datetime -> stored text."""
        return {}

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def stored_id(integration: Any) -> int:
    """The id of an integration read from the store.

    :raises StateError: the integration was never stored (it has no id).
    """
    if integration.id is None:
        raise StateError(f"integration {integration.name!r} is not stored")
    return int(integration.id)


__all__ = ["HEAD_REVISION", "Database", "head_revision", "metadata", "stored_id"]
