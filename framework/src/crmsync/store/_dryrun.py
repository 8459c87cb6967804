"""A dry run's store: the real store read-only, with this integration's working state in
temporary tables of one connection.

A dry run must decide exactly what the real run would (so it writes what the real run
writes: links, staged rows, pending creates, errors), and it must never block or fail a
real cycle (so it writes none of it where a real cycle would wait). Both hold here:

* One connection, with a ``TEMPORARY`` copy of every table a cycle writes (links and
  their counts, cursors, inbox, pending creates, write intents, record errors, events,
  runs, leases, the decision log), holding only this integration's rows (the decision
  log's copy starts empty: a cycle only appends to it). Unqualified names resolve to a
  connection's temporary tables first (SQLite's ``temp`` schema, PostgreSQL's
  ``pg_temp``), so the store's own statements run unchanged against the copies.
* Nothing else is written: the copies shadow every table a cycle writes, so SQLite
  never takes the file's write lock, and PostgreSQL's session is ``READ ONLY`` once the
  copies exist (writes to temporary tables stay allowed there).

The copies go when the connection closes. Copying costs one ``INSERT ... SELECT`` per
table, in the database, for this integration's rows.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    create_engine,
    text,
)
from sqlalchemy.pool import StaticPool

from crmsync.errors import StateError
from crmsync.store._schema import (
    cursors,
    events,
    field_decisions,
    inbox,
    leases,
    link_counts,
    links,
    pending_creates,
    record_errors,
    runs,
    write_intents,
)

if TYPE_CHECKING:
    from crmsync.store import StateStore

__all__ = ["dry_run_store"]

# Every table a cycle writes. The rest (integrations, pairs, mappings) is only read.
SHADOWED = (
    links,
    link_counts,
    cursors,
    inbox,
    pending_creates,
    write_intents,
    record_errors,
    events,
    runs,
    leases,
    field_decisions,
)
# Shadowed but not copied: a cycle only appends to them and never reads them back.
EMPTY_COPIES = frozenset({field_decisions.name})


def _temporary_copy(table: Table, metadata: MetaData) -> Table:
    """``table``'s columns, keys and indexes as a TEMPORARY table of the same name.

    Foreign keys are left out: a temporary table may not reference a permanent one
    (PostgreSQL), and the rows copied already satisfy them.
    """
    columns = [
        Column(
            column.name,
            column.type,
            primary_key=column.primary_key,
            nullable=column.nullable,
            autoincrement=column.autoincrement,
            default=column.default,
            server_default=column.server_default,
        )
        for column in table.columns
    ]
    uniques = [
        UniqueConstraint(*[column.name for column in constraint.columns])
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    copy = Table(table.name, metadata, *columns, *uniques, prefixes=["TEMPORARY"])
    for index in table.indexes:
        Index(
            index.name, *[copy.c[column.name] for column in index.columns],
            unique=bool(index.unique),
        )
    return copy


def _copy_rows(
    connection: Connection, table: Table, source_schema: str, integration_id: int
) -> None:
    names = ", ".join(f'"{column.name}"' for column in table.columns)
    where = (
        " WHERE integration_id = :iid" if "integration_id" in table.columns else ""
    )
    connection.execute(
        text(
            f'INSERT INTO "{table.name}" ({names}) '  # names from the schema
            f'SELECT {names} FROM "{source_schema}"."{table.name}"{where}'
        ),
        {"iid": integration_id},
    )


def _align_sequences(connection: Connection) -> None:
    """New rows of a copied PostgreSQL table get ids after the copied ones."""
    for table in SHADOWED:
        key = table.c.get("id")
        if key is None or not key.autoincrement:
            continue
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f'COALESCE(MAX(id), 0) + 1, false) FROM "{table.name}"'
            )
        )


@contextlib.contextmanager
def dry_run_store(store: StateStore, integration_id: int) -> Iterator[StateStore]:
    """A store for one dry run of ``integration_id``: see the module docstring."""
    from crmsync.store import StateStore

    url = store.database.engine.url
    if store.database.dialect == "sqlite":
        database = url.database
        if not database or database == ":memory:":
            raise StateError(
                "a dry run needs a state store in a file or on a server",
                hint="an in-memory SQLite store cannot be opened a second time",
            )

        def connect() -> sqlite3.Connection:
            # Read-write only because SQLite refuses temporary tables to a read-only
            # connection; nothing here writes the file's own tables, so no write lock
            # is ever taken on it.
            connection = sqlite3.connect(database, check_same_thread=False)
            connection.execute("PRAGMA temp_store=MEMORY")
            return connection

        engine = create_engine("sqlite://", creator=connect, poolclass=StaticPool)
        source_schema = "main"
    else:
        engine = create_engine(
            url.render_as_string(hide_password=False),
            poolclass=StaticPool,
            connect_args={"connect_timeout": 10},
        )
        source_schema = ""
    shadow = StateStore(url.render_as_string(hide_password=True), engine=engine)
    try:
        with engine.connect() as connection:
            if store.database.dialect != "sqlite":
                found = connection.execute(text("SELECT current_schema()")).scalar()
                source_schema = str(found)
            metadata = MetaData()
            copies = [_temporary_copy(table, metadata) for table in SHADOWED]
            metadata.create_all(connection, checkfirst=False)
            for copy in copies:
                if copy.name not in EMPTY_COPIES:
                    _copy_rows(connection, copy, source_schema, integration_id)
            if store.database.dialect != "sqlite":
                _align_sequences(connection)
                connection.execute(
                    text("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                )
            connection.commit()
        yield shadow
    finally:
        engine.dispose()
