"""The ``sql`` platform connector on a large table: what an idle and an incremental
cycle read, how many statements they send, and how long they take.

    uv run python -m benchmarks.sql_platform          # 1,000,000 rows, PostgreSQL
    uv run python -m benchmarks.sql_platform --rows 100000 --changed 500
    uv run python -m benchmarks.sql_platform \\
        --admin-url mysql+pymysql://root@127.0.0.1:3306/test       # MariaDB
    uv run python -m benchmarks.sql_platform --json sql.json

A database of its own is created through ``--admin-url`` (dropped at the end), filled
with ``--rows`` prospects stamped long ago, and read through a framework
``Connection`` exactly as the engine reads a feed: from the cursor the previous cycle
saved, page after page. Every statement the connector sends is counted by a SQLAlchemy
event listener; rows are what the feed returned.

Figures:

* **initial** - the first read of the whole table (cursor ``None``).
* **idle** - a cycle with nothing changed: one read from the saved cursor.
* **incremental** - ``--changed`` rows edited by the platform, then one read.
* **overlap re-read** - the next idle cycle, whose start the engine moves back by the
  overlap window (``CRMSYNC_OVERLAP_SECONDS``) because the last change is that recent.
* **writes** - one batch of 500 updates through ``push_updates``.
* **reconciliation** - the same table without a soft-delete column: the id scan that
  finds hard-deleted rows (``--deleted`` of them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from crmsync.contract import Cursor, WriteRequest
from crmsync.plugins import Connection, build_settings, discover_connectors

FIELDS = ["email", "first_name", "last_name", "company", "score"]
OLD = "2024-01-01 00:00:00"


@dataclass
class Figure:
    name: str
    rows: int = 0
    statements: int = 0
    pages: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Counter:
    def __init__(self, engine: sa.Engine) -> None:
        self.statements = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.statements += 1


@contextmanager
def measured(figures: list[Figure], name: str, counter: Counter) -> Iterator[Figure]:
    figure = Figure(name)
    before = counter.statements
    started = time.perf_counter()
    yield figure
    figure.seconds = round(time.perf_counter() - started, 3)
    figure.statements = counter.statements - before
    figures.append(figure)


def create_database(admin_url: str) -> tuple[str, str]:
    """A fresh database next to ``admin_url``'s; returns ``(url, name)``."""
    name = f"crmsync_sql_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    quote = '"' if admin.dialect.name == "postgresql" else "`"
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {quote}{name}{quote}"))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(admin_url: str, name: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    postgres = admin.dialect.name == "postgresql"
    with admin.connect() as connection:
        if postgres:
            connection.execute(
                sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )
        else:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


def fill(engine: sa.Engine, rows: int) -> float:
    """The prospect table with ``rows`` rows stamped long ago, and its feed index."""
    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            connection.execute(
                sa.text(
                    "CREATE TABLE prospects (id bigserial PRIMARY KEY, email "
                    "varchar(254), first_name varchar(40), last_name varchar(80) NOT "
                    "NULL, company varchar(255), score integer, updated_at timestamptz "
                    "NOT NULL, deleted_at timestamptz)"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO prospects (email, first_name, last_name, company, "
                    "score, updated_at) SELECT 'p' || g || '@example.com', 'First' || "
                    "g, 'Last' || g, 'Acme', g % 100, timestamptz '2024-01-01 UTC' + "
                    "g * interval '1 millisecond' FROM generate_series(1, :n) g"
                ),
                {"n": rows},
            )
        else:
            connection.execute(
                sa.text(
                    "CREATE TABLE prospects (id bigint AUTO_INCREMENT PRIMARY KEY, "
                    "email varchar(254), first_name varchar(40), last_name "
                    "varchar(80) NOT NULL, company varchar(255), score int, updated_at "
                    "datetime(6) NOT NULL, is_deleted tinyint(1) NOT NULL DEFAULT 0)"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO prospects (email, first_name, last_name, company, "
                    "score, updated_at) SELECT concat('p', seq, '@example.com'), "
                    "concat('First', seq), concat('Last', seq), 'Acme', seq % 100, "
                    f"TIMESTAMP '{OLD}' + INTERVAL seq * 1000 MICROSECOND "
                    f"FROM seq_1_to_{int(rows)}"
                )
            )
        connection.execute(
            sa.text("CREATE INDEX prospects_feed ON prospects (updated_at, id)")
        )
        if postgres:
            connection.execute(sa.text("ANALYZE prospects"))
    return time.perf_counter() - started


def read(
    connection: Connection, cursor: Cursor | None, page_size: int, figure: Figure
) -> Cursor | None:
    """Read the feed from ``cursor`` to its end, as the engine does."""
    page: str | None = None
    position = cursor
    while True:
        answer = connection.fetch_changed(
            "prospect", fields=FIELDS, cursor=cursor, page=page, page_size=page_size
        )
        figure.pages += 1
        figure.rows += len(answer.records) + len(answer.tombstones)
        if position is None or answer.cursor.sort_key() >= position.sort_key():
            position = answer.cursor
        if answer.next_page is None:
            return position
        page = answer.next_page


def costs(connection: Connection) -> dict[str, Any]:
    """The connector's last reconciliation, as logged in ``sql_reconciliation``."""
    cost = connection.instance.last_reconciliation
    return asdict(cost) if cost is not None else {}


def connect(url: str, engine: sa.Engine, **settings: Any) -> Connection:
    installed = discover_connectors().get("sql")
    postgres = engine.dialect.name == "postgresql"
    values = {
        "url": url,
        "table": "prospects",
        "modified_column": "updated_at",
        "deleted_column": "deleted_at" if postgres else "is_deleted",
        **settings,
    }
    values = {key: value for key, value in values.items() if value is not None}
    connection = Connection(
        installed, build_settings(installed, values), factory_kwargs={"engine": engine}
    )
    connection.authenticate()
    return connection


def run(args: argparse.Namespace) -> dict[str, Any]:
    url, name = create_database(args.admin_url)
    figures: list[Figure] = []
    try:
        engine = sa.create_engine(url)
        load = fill(engine, args.rows)
        counter = Counter(engine)
        connection = connect(url, engine)
        with measured(figures, "initial", counter) as figure:
            saved = read(connection, None, args.page_size, figure)
        with measured(figures, "idle", counter) as figure:
            read(connection, saved, args.page_size, figure)
        chosen = random.Random(7).sample(range(1, args.rows + 1), args.changed)
        now = "now()" if engine.dialect.name == "postgresql" else "CURRENT_TIMESTAMP(6)"
        with engine.begin() as db:
            db.execute(
                sa.text(
                    f"UPDATE prospects SET score = score + 1, updated_at = {now} "
                    "WHERE id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": chosen},
            )
        started = dt.datetime.now(dt.UTC)
        with measured(figures, "incremental", counter) as figure:
            saved = read(connection, saved, args.page_size, figure)
        # The next cycle's start, as the engine computes it (FeedReader._resume_from):
        # the last change is within the overlap window, so it re-reads the window.
        window = Cursor(modified_at=started - dt.timedelta(seconds=args.overlap))
        with measured(figures, "overlap re-read", counter) as figure:
            read(connection, window, args.page_size, figure)
        requests = [
            WriteRequest(
                ref=f"w{n}",
                op="update",
                record_id=str(key).zfill(19),
                values={"first_name": f"Written{n}"},
            )
            for n, key in enumerate(chosen[:500])
        ]
        with measured(figures, "writes (500 updates)", counter) as figure:
            results = connection.push_updates("prospect", requests)
            figure.rows = sum(1 for r in results if r.ok)
        connection.close()
        reconciled = connect(url, engine, deleted_column=None, reconcile_seconds=0)
        with measured(figures, "reconciliation baseline", counter) as figure:
            first = reconciled.fetch_changed(
                "prospect", fields=FIELDS, cursor=saved, page=None, page_size=1
            )
            figure.extra = costs(reconciled)
        gone = chosen[: args.deleted]
        with engine.begin() as db:
            db.execute(
                sa.text("DELETE FROM prospects WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": gone},
            )
        with measured(figures, "reconciliation", counter) as figure:
            answer = reconciled.fetch_changed(
                "prospect", fields=FIELDS, cursor=first.cursor, page=None, page_size=1
            )
            figure.rows = len(answer.tombstones)
            figure.extra = costs(reconciled)
        reconciled.close()
        engine.dispose()
    finally:
        drop_database(args.admin_url, name)
    return {
        "rows": args.rows,
        "changed": args.changed,
        "dialect": sa.make_url(args.admin_url).get_backend_name(),
        "page_size": args.page_size,
        "load_seconds": round(load, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "figures": [asdict(figure) for figure in figures],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "CRMSYNC_BENCH_ADMIN_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
        help="a database on the server to create the benchmark's own database from",
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--deleted", type=int, default=100)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--overlap", type=float, default=60.0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not 0 < args.deleted <= args.changed <= args.rows or args.changed < 500:
        parser.error("need 500 <= --changed <= --rows and 0 < --deleted <= --changed")
    result = run(args)
    print(
        f"sql platform connector, {result['dialect']}, {args.rows:,} rows "
        f"(loaded in {result['load_seconds']} s), page size {args.page_size}"
    )
    print(
        f"{'cycle':28} {'rows read':>10} {'pages':>6} {'statements':>10} {'seconds':>8}"
    )
    for figure in result["figures"]:
        print(
            f"{figure['name']:28} {figure['rows']:>10,} {figure['pages']:>6} "
            f"{figure['statements']:>10} {figure['seconds']:>8.3f}"
        )
        if figure["extra"]:
            extra = figure["extra"]
            print(
                f"{'':28} ids scanned {extra['ids_scanned']:,}, id queries "
                f"{extra['queries']}, deleted {extra['deleted']}, cursor token "
                f"{extra['snapshot_bytes']:,} bytes"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
