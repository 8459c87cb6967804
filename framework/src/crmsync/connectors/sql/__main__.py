"""``python -m crmsync.connectors.sql ddl``: print the DDL that gives the prospect
table a modification time the database maintains, and the feed's index.

It prints and never runs: the table's owner reviews the statements and applies them.
The dialect and table come from the options, or from ``CRMSYNC_SQL_URL`` and
``CRMSYNC_SQL_TABLE``.
"""

from __future__ import annotations

import argparse
import os
import sys

from crmsync.connectors.sql._checks import modification_time_ddl
from crmsync.connectors.sql._settings import DRIVERS


def _dialect_of(url: str | None) -> str | None:
    if not url:
        return None
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in DRIVERS:
        return None
    return "postgresql" if DRIVERS[scheme].startswith("postgresql") else "mysql"


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and print the DDL; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m crmsync.connectors.sql",
        description="Print (never run) DDL for crmsync's sql platform connector.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ddl = commands.add_parser(
        "ddl",
        help="a database-maintained modification time and the feed's index",
    )
    ddl.add_argument(
        "--dialect",
        choices=("postgresql", "mysql"),
        help="default: from CRMSYNC_SQL_URL (MariaDB is mysql)",
    )
    ddl.add_argument("--table", help="default: CRMSYNC_SQL_TABLE")
    ddl.add_argument(
        "--id-column", default=os.environ.get("CRMSYNC_SQL_ID_COLUMN", "id")
    )
    ddl.add_argument(
        "--column",
        help="an existing timestamp column to maintain (default: add "
        "crmsync_modified_at)",
    )
    args = parser.parse_args(argv)
    dialect = args.dialect or _dialect_of(os.environ.get("CRMSYNC_SQL_URL"))
    table = args.table or os.environ.get("CRMSYNC_SQL_TABLE")
    if dialect is None or not table:
        missing = "--dialect (or CRMSYNC_SQL_URL)" if dialect is None else "--table"
        print(f"error: give {missing}", file=sys.stderr)
        return 2
    sys.stdout.write(
        modification_time_ddl(
            dialect, table, id_column=args.id_column, column=args.column
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
