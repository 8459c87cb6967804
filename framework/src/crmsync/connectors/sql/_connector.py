"""``SqlConnector``: the hooks of the ``sql`` platform connector.

The connector opens no connection until the framework calls ``authenticate``; then it
reflects the table (and the read view), checks that its special columns can serve (see
:mod:`._checks`) and keeps the reflection for the connection's life. Every statement it
issues names only the configured table or view; the database user needs ``SELECT``,
``INSERT`` and ``UPDATE`` on the table (``SELECT`` on the view), nothing else.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
import zoneinfo
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event, exc

from crmsync.connectors.sql import _checks as checks
from crmsync.connectors.sql._errors import (
    CONNECTOR_ID,
    reason,
    remember_secret,
    translate,
    translated,
)
from crmsync.connectors.sql._feed import (
    BadToken,
    Reconciliation,
    Snapshot,
    decode_page,
    encode_page,
    is_deleted,
    missing_ids,
    page_statement,
    scan_ids,
)
from crmsync.connectors.sql._settings import SqlSettings, describe_url, engine_url
from crmsync.connectors.sql._table import (
    OBJECT_NAME,
    TEXT_TYPES,
    TableModel,
    build_model,
)
from crmsync.connectors.sql._writes import live_clause, push_batch
from crmsync.contract import (
    CONTRACT_VERSION,
    Capability,
    ChangedRecord,
    ChangePage,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    Tombstone,
    WriteRequest,
    WriteResult,
    hookimpl,
)
from crmsync.errors import ConfigurationError, PermanentError

__all__ = ["SqlConnector"]

log = structlog.get_logger("crmsync.connectors.sql")
Clock = Callable[[], dt.datetime]
_LOOKUP_CHUNK = 500
_ONE_MICROSECOND = dt.timedelta(microseconds=1)
_zoned: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _session_zone(engine: sa.Engine, zone: str) -> None:
    """Every connection's session in ``zone``: timestamps without a zone that the
    database's clock writes (``DEFAULT CURRENT_TIMESTAMP``, a trigger) are then in the
    zone crmsync reads them in."""
    if engine in _zoned:
        return  # an engine handed in again (a test seam) keeps its one listener
    _zoned.add(engine)
    postgres = engine.dialect.name == "postgresql"
    value = "+00:00" if zone == "UTC" and not postgres else zone

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if postgres:
                cursor.execute("SELECT set_config('TimeZone', %s, false)", (value,))
            else:
                cursor.execute("SET time_zone = %s", (value,))
        finally:
            cursor.close()
        if postgres:
            dbapi_connection.commit()


class SqlConnector:
    """Prospects in a table of your own PostgreSQL or MySQL/MariaDB database.

    :param settings: the database, the table and its special columns.
    :param engine: a SQLAlchemy engine to use instead of one built from the settings
        (a test seam, passed through ``factory_kwargs``; the connector does not dispose
        of it).
    :param clock: when a reconciliation is due (a test seam).
    """

    def __init__(
        self,
        settings: SqlSettings,
        *,
        engine: sa.Engine | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or _system_clock
        if settings.password is not None:
            remember_secret(settings.password.get_secret_value())
        self._owns_engine = engine is None
        if engine is None:
            dialect = settings.dialect()
            options: dict[str, Any] = {"connect_timeout": settings.connect_timeout}
            try:
                engine = sa.create_engine(
                    engine_url(settings),
                    pool_pre_ping=True,
                    connect_args=options,
                    hide_parameters=True,
                )
            except (exc.ArgumentError, ImportError) as error:
                extra = "postgres" if dialect == "postgresql" else "mysql"
                raise ConfigurationError(
                    f"cannot use the platform database URL: {reason(error)}",
                    hint=f"install the driver with crmsync[{extra}]",
                ) from None
        self.engine = engine
        _session_zone(engine, settings.timezone)
        self._lock = threading.Lock()
        self._model: TableModel | None = None
        self.last_reconciliation: Reconciliation | None = None
        """What the last id reconciliation cost (also logged as
        ``sql_reconciliation``)."""

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id=CONNECTOR_ID,
            name="Your own prospect table (PostgreSQL, MySQL/MariaDB)",
            contract_version=CONTRACT_VERSION,
            objects=(OBJECT_NAME,),
            person_objects=(OBJECT_NAME,),
            max_batch_size=500,
            max_page_size=5000,
            max_concurrency=1,
            capabilities=frozenset({Capability.DELETIONS, Capability.LOOKUP}),
            settings_model=SqlSettings,
            role="platform",
            # The database stamps a row when its statement runs, not when it commits:
            # a transaction still open can commit rows behind ones already read. The
            # engine re-reads CRMSYNC_OVERLAP_SECONDS (60 s by default); never less.
            late_commit_seconds=5.0,
        )

    @hookimpl
    def authenticate(self) -> None:
        """Open a fresh session (so revoked credentials show now), then, the first
        time, reflect the table and check it (problems raise; warnings log)."""
        with self._lock:
            # Pooled sessions were opened with the credentials as they were: drop
            # them, so a login that is no longer allowed fails here, where the
            # framework expects it, and not in the middle of a cycle.
            self.engine.dispose()
            if self._model is None:
                self._model = self._reflect()
                return
            try:
                with self.engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
            except exc.DBAPIError as error:
                raise translate(error) from None

    @hookimpl
    def list_fields(self, object_name: str) -> list[FieldSpec]:
        self._check_object(object_name)
        return self._ready().specs

    @hookimpl
    def fetch_changed(
        self,
        object_name: str,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
    ) -> ChangePage:
        """One keyset page; the first page of a read also reconciles ids when due."""
        self._check_object(object_name)
        model = self._ready()
        self._check_fields(model, object_name, fields)
        size = max(1, page_size)
        snapshot_token = cursor.token if cursor is not None else None
        after: tuple[dt.datetime, Any] | None = None
        since: dt.datetime | None = None
        if page is not None:
            try:
                moment, record_id, snapshot_token = decode_page(page)
            except BadToken as error:
                raise PermanentError(
                    str(error), code="INVALID_PAGE_TOKEN", connector=CONNECTOR_ID
                ) from None
            after = (moment, self._decode(model, record_id))
        elif cursor is not None and cursor.modified_at is not None:
            if cursor.record_id is None:
                since = cursor.modified_at
            else:
                after = (cursor.modified_at, self._decode(model, cursor.record_id))
        tombstones: list[Tombstone] = []
        costs: dict[str, int] = {}
        with translated(object_name=object_name), self.engine.connect() as connection:
            if page is None and model.deleted_name is None:
                before = self.last_reconciliation
                snapshot_token, tombstones = self._reconcile(
                    connection, model, cursor, snapshot_token
                )
                if self.last_reconciliation is not before and self.last_reconciliation:
                    # In the cycle report: what finding deletions cost this read.
                    costs["reconciliation"] = self.last_reconciliation.queries
            rows = connection.execute(
                page_statement(model, fields, after=after, since=since, limit=size + 1)
            ).all()
        more, rows = len(rows) > size, rows[:size]
        records: list[ChangedRecord] = []
        for row in rows:
            mapping = row._mapping
            record_id = model.encode_id(mapping[model.id_name])
            moment = model.aware(mapping[model.modified_name or ""])
            if model.deleted_name is not None and is_deleted(
                mapping[model.deleted_name]
            ):
                tombstones.append(Tombstone(record_id=record_id, deleted_at=moment))
                continue
            values = {name: model.to_canonical(name, mapping[name]) for name in fields}
            records.append(
                ChangedRecord(record_id=record_id, modified_at=moment, values=values)
            )
        if rows:
            last = rows[-1]._mapping
            position = Cursor(
                modified_at=model.aware(last[model.modified_name or ""]),
                record_id=model.encode_id(last[model.id_name]),
                token=snapshot_token,
            )
        else:
            start = cursor or Cursor()
            position = Cursor(
                modified_at=start.modified_at,
                record_id=start.record_id,
                token=snapshot_token,
            )
        next_page = (
            encode_page(
                position.modified_at or dt.datetime.min.replace(tzinfo=dt.UTC),
                position.record_id or "",
                snapshot_token,
            )
            if more
            else None
        )
        return ChangePage(
            records=tuple(records),
            tombstones=tuple(tombstones),
            cursor=position,
            next_page=next_page,
            costs=costs,
        )

    @hookimpl
    def push_updates(
        self, object_name: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        """All requests in one transaction, answered in order; a bad record fails
        alone (see :mod:`._writes`)."""
        self._check_object(object_name)
        return push_batch(self.engine, self._ready(), object_name, requests)

    @hookimpl
    def lookup_records(
        self, object_name: str, field: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[ChangedRecord]:
        """Live rows whose ``field`` equals a value, trimmed and case-insensitively
        (``lower(trim(field))``: index that expression for large tables)."""
        self._check_object(object_name)
        model = self._ready()
        self._check_fields(model, object_name, [field, *fields])
        if model.columns[field].spec.type not in TEXT_TYPES:
            raise PermanentError(
                f"{object_name}.{field} is not text: records are looked up by a text "
                "field such as an email",
                code="UNSUPPORTED_LOOKUP_FIELD",
                field=field,
                connector=CONNECTOR_ID,
                object_name=object_name,
            )
        keys = sorted({v.strip().casefold() for v in values if v and v.strip()})
        read = model.read
        column = read.c[field]
        wanted = [read.c[model.id_name], read.c[model.modified_name or ""]]
        wanted += [
            read.c[name] for name in dict.fromkeys(fields) if read.c[name] not in wanted
        ]
        found: list[ChangedRecord] = []
        with translated(object_name=object_name), self.engine.connect() as connection:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                statement = (
                    sa.select(*wanted)
                    .where(
                        sa.func.lower(sa.func.trim(column)).in_(chunk),
                        live_clause(model, read),
                        read.c[model.modified_name or ""].is_not(None),
                    )
                    .order_by(read.c[model.id_name])
                )
                for row in connection.execute(statement):
                    mapping = row._mapping
                    found.append(
                        ChangedRecord(
                            record_id=model.encode_id(mapping[model.id_name]),
                            modified_at=model.aware(mapping[model.modified_name or ""]),
                            values={
                                name: model.to_canonical(name, mapping[name])
                                for name in fields
                            },
                        )
                    )
        return found

    @hookimpl
    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    # -- reflection --------------------------------------------------------------------
    def _ready(self) -> TableModel:
        if self._model is None:
            self.authenticate()
        assert self._model is not None
        return self._model

    def _reflect(self) -> TableModel:
        settings = self.settings
        write_schema, write_name = settings.split_table(settings.table)
        read_qualified = settings.read_from or settings.table
        read_schema, read_name = settings.split_table(read_qualified)
        metadata = sa.MetaData()
        try:
            with self.engine.connect() as connection:
                if connection.dialect.name not in ("postgresql", "mysql", "mariadb"):
                    raise ConfigurationError(
                        f"the sql connector speaks PostgreSQL and MySQL/MariaDB, not "
                        f"{connection.dialect.name}",
                        hint="point CRMSYNC_SQL_URL at one of those",
                    )
                write = self._table(
                    metadata, connection, write_schema, write_name, "table"
                )
                read = (
                    write
                    if settings.read_from is None
                    else self._table(
                        metadata, connection, read_schema, read_name, "read_from"
                    )
                )
                self._check_special(read, read_qualified)
                if settings.id_column not in write.c:
                    self._raise(
                        checks.column_problem(
                            write, settings.id_column, "id_column", settings.table
                        )
                    )
                model = build_model(
                    write,
                    read,
                    id_name=settings.id_column,
                    modified_name=settings.modified_column,
                    deleted_name=settings.deleted_column,
                    zone=zoneinfo.ZoneInfo(settings.timezone),
                    dialect=connection.dialect,
                )
                findings = checks.table_findings(
                    connection,
                    model,
                    table=read_name,
                    schema=read_schema,
                    qualified=read_qualified,
                )
        except exc.DBAPIError as error:
            raise translate(error) from None
        for finding in findings:
            log.warning(
                "sql_table_warning",
                message=finding.message,
                hint=finding.hint,
                **describe_url(settings),
            )
        return model

    def _table(
        self,
        metadata: sa.MetaData,
        connection: sa.Connection,
        schema: str | None,
        name: str,
        setting: str,
    ) -> sa.Table:
        try:
            return sa.Table(name, metadata, schema=schema, autoload_with=connection)
        except exc.NoSuchTableError:
            where = f"{schema}.{name}" if schema else name
            raise ConfigurationError(
                f"the platform database has no table or view {where!r}",
                hint=f"check CRMSYNC_SQL_{setting.upper()} (and that the user may "
                "see it)",
            ) from None

    def _check_special(self, read: sa.Table, qualified: str) -> None:
        settings = self.settings
        if settings.modified_column is None:
            raise ConfigurationError(
                f"no modification-time column is configured for {qualified}: crmsync "
                "cannot tell which prospects changed",
                hint="set CRMSYNC_SQL_MODIFIED_COLUMN to a timestamp column the "
                "database keeps current; " + checks.DDL_HINT,
            )
        for name, setting in (
            (settings.id_column, "id_column"),
            (settings.modified_column, "modified_column"),
            (settings.deleted_column, "deleted_column"),
        ):
            self._raise(checks.column_problem(read, name, setting, qualified))
            if name is not None:
                self._raise(checks.type_problem(read.c[name], setting, qualified))

    @staticmethod
    def _raise(finding: checks.Finding | None) -> None:
        if finding is not None:
            raise ConfigurationError(finding.message, hint=finding.hint or None)

    # -- reconciliation ----------------------------------------------------------------
    def _reconcile(
        self,
        connection: sa.Connection,
        model: TableModel,
        cursor: Cursor | None,
        token: str | None,
    ) -> tuple[str | None, list[Tombstone]]:
        """Report rows deleted since the last reconciliation, when one is due; returns
        the token to carry on and the tombstones."""
        previous = Snapshot.decode(token)
        now = self.clock()
        interval = dt.timedelta(seconds=self.settings.reconcile_seconds)
        if previous is not None and now - previous.taken_at < interval:
            return token, []
        started = time.perf_counter()
        cost = Reconciliation()
        ids = scan_ids(connection, model, cost)
        gone = missing_ids(previous.ids, ids, model) if previous is not None else []
        cost.deleted = len(gone)
        encoded = Snapshot(now, ids).encode(numeric=model.id_width is not None)
        cost.snapshot_bytes = len(encoded)
        kept: str | None = encoded
        if len(encoded) > self.settings.reconcile_max_kb * 1024:
            cost.kept, kept = False, None
            log.warning(
                "sql_reconciliation_too_large",
                ids=len(ids),
                snapshot_bytes=len(encoded),
                limit_kb=self.settings.reconcile_max_kb,
                hint="add a soft-delete column (CRMSYNC_SQL_DELETED_COLUMN), or raise "
                "CRMSYNC_SQL_RECONCILE_MAX_KB",
            )
        # Reported at the position the read starts from (just before it), so that a
        # page's cursor is never before its own tombstones.
        start = cursor.modified_at if cursor is not None and cursor.modified_at else now
        moment = start - _ONE_MICROSECOND
        tombstones = [
            Tombstone(record_id=model.encode_id(key), deleted_at=moment) for key in gone
        ]
        cost.seconds = time.perf_counter() - started
        # Its queries reach the cycle report through the page's costs; the rest of what
        # it found is this log event.
        log.info(
            "sql_reconciliation",
            ids_scanned=cost.ids_scanned,
            queries=cost.queries,
            deleted=cost.deleted,
            snapshot_bytes=cost.snapshot_bytes,
            snapshot_kept=cost.kept,
            first=previous is None,
            seconds=round(cost.seconds, 3),
        )
        self.last_reconciliation = cost
        return kept, tombstones

    # -- checks ------------------------------------------------------------------------
    @staticmethod
    def _check_object(object_name: str) -> None:
        if object_name != OBJECT_NAME:
            raise PermanentError(
                f"unknown object {object_name!r}; the sql connector serves "
                f"{OBJECT_NAME}",
                code="UNKNOWN_OBJECT",
                connector=CONNECTOR_ID,
                object_name=object_name,
            )

    @staticmethod
    def _check_fields(
        model: TableModel, object_name: str, fields: Sequence[str]
    ) -> None:
        for name in fields:
            if name not in model.columns:
                raise PermanentError(
                    f"{object_name} has no field {name!r}",
                    code="UNKNOWN_FIELD",
                    field=name,
                    connector=CONNECTOR_ID,
                    object_name=object_name,
                )

    @staticmethod
    def _decode(model: TableModel, record_id: str) -> Any:
        try:
            return model.decode_id(record_id)
        except ValueError:
            raise PermanentError(
                f"cursor names {record_id!r}, which is not an id of this table",
                code="INVALID_CURSOR",
                connector=CONNECTOR_ID,
            ) from None
