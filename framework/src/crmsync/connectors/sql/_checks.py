"""What makes a table safe to sync, checked when the connector connects (and so by
``crmsync doctor``), and the DDL that fixes what is missing.

A **problem** stops the connector: without a usable modification-time column there is
no change feed at all. A **warning** is logged (``sql_table_warning``) and shown by
``crmsync doctor``: the sync works, but can miss changes or cost more than it should
(no index for the keyset feed; a modification time that nothing in the database
maintains, so an application that forgets to set it hides its changes).

crmsync never runs this DDL itself: :func:`modification_time_ddl` and
:func:`feed_index_ddl` only print it, for the table's owner to review and apply
(``python -m crmsync.connectors.sql ddl``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.sql._table import TableModel

__all__ = [
    "DDL_HINT",
    "Finding",
    "feed_index_ddl",
    "modification_time_ddl",
    "table_findings",
]

DDL_HINT = (
    "`python -m crmsync.connectors.sql ddl` prints the DDL for a database-maintained "
    "modification time (crmsync never changes your table; see "
    "docs/own-prospect-table.md)"
)
DEFAULT_COLUMN = "crmsync_modified_at"


@dataclass(frozen=True)
class Finding:
    """One thing the table check found."""

    level: str  # "problem" or "warning"
    message: str
    hint: str = ""


def _quote(dialect: str, name: str) -> str:
    if dialect == "postgresql":
        return '"' + name.replace('"', '""') + '"'
    return "`" + name.replace("`", "``") + "`"


def _qualified(dialect: str, table: str) -> str:
    return ".".join(_quote(dialect, part) for part in table.split("."))


def modification_time_ddl(
    dialect: str, table: str, *, id_column: str = "id", column: str | None = None
) -> str:
    """DDL that gives ``table`` a modification time the database maintains, and the
    index the keyset feed reads.

    :param dialect: ``postgresql`` or ``mysql`` (MariaDB too).
    :param table: ``name`` or ``schema.name``.
    :param column: an existing column to maintain; ``None`` adds
        ``crmsync_modified_at``.
    """
    new = column is None
    name = column or DEFAULT_COLUMN
    q_table, q_col = _qualified(dialect, table), _quote(dialect, name)
    base = table.split(".")[-1]
    if dialect == "postgresql":
        function = _qualified(
            dialect, ".".join([*table.split(".")[:-1], f"{base}_touch_{name}"])
        )
        lines = [
            "-- A modification time PostgreSQL maintains on every insert and update."
        ]
        if new:
            lines.append(
                f"ALTER TABLE {q_table} ADD COLUMN {q_col} timestamptz NOT NULL "
                "DEFAULT clock_timestamp();"
            )
        lines += [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger "
            "LANGUAGE plpgsql AS $$",
            f"BEGIN NEW.{q_col} := clock_timestamp(); RETURN NEW; END $$;",
            f"CREATE TRIGGER {_quote(dialect, f'{base}_touch_{name}')} "
            f"BEFORE INSERT OR UPDATE ON {q_table}",
            f"    FOR EACH ROW EXECUTE FUNCTION {function}();",
        ]
    else:
        verb = "ADD COLUMN" if new else "MODIFY COLUMN"
        lines = [
            "-- A modification time MySQL/MariaDB maintains on each insert and update.",
            f"ALTER TABLE {q_table} {verb} {q_col} DATETIME(6) NOT NULL",
            "    DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6);",
        ]
    lines.append(feed_index_ddl(dialect, table, name, id_column))
    return "\n".join(lines) + "\n"


def feed_index_ddl(dialect: str, table: str, column: str, id_column: str) -> str:
    """The index the keyset feed needs: ``(modification time, id)``."""
    base = table.split(".")[-1]
    index = _quote(dialect, f"{base}_crmsync_feed")
    return (
        f"CREATE INDEX {index} ON {_qualified(dialect, table)} "
        f"({_quote(dialect, column)}, {_quote(dialect, id_column)});"
    )


def _leading(index_columns: list[str | None], wanted: list[str | None]) -> bool:
    return index_columns[: len(wanted)] == wanted


def _has_feed_index(
    inspector: sa.Inspector, model: TableModel, schema: str | None, table: str
) -> bool:
    wanted = [model.modified_name, model.id_name]
    indexes = inspector.get_indexes(table, schema=schema)
    if any(_leading(list(ix["column_names"]), wanted) for ix in indexes):
        return True
    pk = inspector.get_pk_constraint(table, schema=schema)
    return _leading(list(pk.get("constrained_columns") or []), wanted)


def _maintained(
    connection: sa.Connection, model: TableModel, schema: str | None, table: str
) -> bool:
    """Whether the database itself sets the modification time on update (a trigger
    that names the column, or MySQL's ``ON UPDATE CURRENT_TIMESTAMP``)."""
    column = (model.modified_name or "").lower()
    if model.dialect == "postgresql":
        relation = f"{schema}.{table}" if schema else table
        bodies = connection.execute(
            sa.text(
                "SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = to_regclass(:relation) AND NOT t.tgisinternal "
                "AND (t.tgtype & 2) = 2 AND (t.tgtype & 16) = 16"
            ),
            {"relation": relation},
        ).scalars()
        return any(column in str(body).lower() for body in bodies)
    extra = connection.execute(
        sa.text(
            "SELECT EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
            "coalesce(:schema, DATABASE()) AND TABLE_NAME = :table "
            "AND COLUMN_NAME = :column"
        ),
        {"schema": schema, "table": table, "column": model.modified_name},
    ).scalar()
    if extra and "on update" in str(extra).lower():
        return True
    statements = connection.execute(
        sa.text(
            "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE "
            "EVENT_OBJECT_SCHEMA = coalesce(:schema, DATABASE()) AND "
            "EVENT_OBJECT_TABLE = :table AND ACTION_TIMING = 'BEFORE' AND "
            "EVENT_MANIPULATION = 'UPDATE'"
        ),
        {"schema": schema, "table": table},
    ).scalars()
    return any(column in str(body).lower() for body in statements)


def table_findings(
    connection: sa.Connection,
    model: TableModel,
    *,
    table: str,
    schema: str | None,
    qualified: str,
) -> list[Finding]:
    """Warnings about a table whose special columns exist and have usable types: the
    index, who maintains the modification time, rows without one, creates."""
    findings: list[Finding] = []
    inspector = sa.inspect(connection)
    modified = model.modified_name or ""
    if not _has_feed_index(inspector, model, schema, table):
        findings.append(
            Finding(
                "warning",
                f"{qualified} has no index on ({modified}, {model.id_name}): every "
                "read of the change feed scans and sorts the table",
                "create it: "
                + feed_index_ddl(model.dialect, qualified, modified, model.id_name),
            )
        )
    if not _maintained(connection, model, schema, table):
        findings.append(
            Finding(
                "warning",
                f"nothing in the database maintains {qualified}.{modified}: a row "
                "changed without setting it is never synced, and crmsync cannot trust "
                "it to see every change",
                DDL_HINT + f" (for this column: add --column {modified})",
            )
        )
    column = model.read.c[modified]
    unstamped = connection.execute(
        sa.select(sa.literal(1))
        .select_from(model.read)
        .where(column.is_(None))
        .limit(1)
    ).first()
    if unstamped is not None:
        findings.append(
            Finding(
                "warning",
                f"some rows of {qualified} have no {modified}: they are never synced",
                f"give them one (UPDATE ... SET {modified} = CURRENT_TIMESTAMP WHERE "
                f"{modified} IS NULL); " + DDL_HINT,
            )
        )
    if not model.id_generated and model.id_width is not None:
        findings.append(
            Finding(
                "warning",
                f"{qualified}.{model.id_name} has no default: crmsync cannot create "
                "rows (creates in the platform fail record by record)",
                "give the id column a sequence or identity, or create no records in "
                "the platform (--create-in-platform never)",
            )
        )
    return findings


def column_problem(
    model_read: sa.Table, name: str | None, setting: str, qualified: str
) -> Finding | None:
    """Why the column a setting names cannot serve, or ``None``."""
    if name is None:
        return None
    if name not in model_read.c:
        columns = ", ".join(column.name for column in model_read.columns)
        return Finding(
            "problem",
            f"{qualified} has no column {name!r} (CRMSYNC_SQL_{setting.upper()})",
            f"its columns: {columns}",
        )
    return None


def type_problem(column: Any, setting: str, qualified: str) -> Finding | None:
    """The modification-time column must be a timestamp; the soft-delete column a
    boolean, a number or a timestamp."""
    kind = column.type
    if setting == "modified_column" and not isinstance(kind, sa.DateTime):
        return Finding(
            "problem",
            f"{qualified}.{column.name} is {kind}, not a timestamp: it cannot order "
            "changes",
            DDL_HINT,
        )
    if setting == "deleted_column" and not isinstance(
        kind, sa.Boolean | sa.Integer | sa.DateTime
    ):
        return Finding(
            "problem",
            f"{qualified}.{column.name} is {kind}: a soft-delete column is a boolean "
            "(or 0/1) or a deleted-at timestamp",
            "set CRMSYNC_SQL_DELETED_COLUMN to such a column, or unset it",
        )
    return None
