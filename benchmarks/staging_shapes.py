"""What staging one inbox row costs SQLite, by the shape of the row and its table.

    uv run python -m benchmarks.staging_shapes [ROWS] [RUNS]

Staging is the largest phase of the SQLite floor (``sqlite_floor.py``). This script
answers which part of it is the cost: the row's bytes (its JSON values), its column
count, or the B-trees each insert touches (the table, the unique (integration, side,
object, record) index, the match-key index). Every variant stages the same ROWS rows,
200 per transaction as a cycle does, with the store's own DDL and pragmas; the rows are
built before the clock starts. Prints the median microseconds per row over RUNS runs,
the variants interleaved so that a machine whose speed drifts affects them alike.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.sqlite_floor import person_values
from crmsync.models import Integration, ObjectPair
from crmsync.store import open_store

STAMP = "2026-01-01 00:00:00.000000"
PAGE = 200


def _store_ddl(workdir: Path) -> tuple[list[str], str]:
    """The inbox's DDL (table and indexes) and staging statement, from a real store."""
    store = open_store(f"sqlite:///{workdir}/model.db")
    store.config.create_integration(
        Integration(
            name="shapes",
            platform_connector="memory_platform",
            crm_connector="memory",
            object_pairs=(ObjectPair(platform_object="prospect", crm_object="Lead"),),
        )
    )
    stage_sql = store.inbox._stage_sql
    store.dispose()
    db = sqlite3.connect(workdir / "model.db")
    ddl = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'inbox' "
            "AND sql IS NOT NULL ORDER BY type DESC"  # the table before its indexes
        )
    ]
    db.close()
    # The inbox's foreign key is checked on every insert (the store sets foreign_keys
    # on): a bare integrations table with the one integration keeps that cost in.
    return ["CREATE TABLE integrations (id INTEGER PRIMARY KEY)", *ddl], stage_sql


def _rows(count: int, *, with_values: bool) -> list[list[tuple[Any, ...]]]:
    def values(i: int) -> str | None:
        return person_values(i) if with_values else None

    rows = [
        (
            *(1, "platform", "prospect", f"p{i:07d}", STAMP, "record", values(i)),
            *(f"user{i}@example.com", None, None, None),
        )
        for i in range(count)
    ]
    return [rows[start : start + PAGE] for start in range(0, count, PAGE)]


def _variants(ddl: list[str], stage_sql: str) -> dict[str, tuple[list[str], str, bool]]:
    """name -> (DDL, statement, rows carry their JSON values)."""
    integrations, table, *_indexes = ddl
    unique_free = re.sub(r",\s*CONSTRAINT \w+ UNIQUE \([^)]*\)", "", table)
    if unique_free == table:  # the DDL's spelling changed: fail loudly, not silently
        raise RuntimeError("could not find the inbox's UNIQUE clause in its DDL")
    plain_insert = stage_sql.split(" ON CONFLICT")[0]
    return {
        "as the store has it (3 B-trees)": (ddl, stage_sql, True),
        "same, values NULL (a page design's row)": (ddl, stage_sql, False),
        "no match-key index (2 B-trees)": ([integrations, table], stage_sql, True),
        "no unique index either (1 B-tree)": (
            [integrations, unique_free],
            plain_insert,
            True,
        ),
    }


def _stage(
    path: str, ddl: list[str], sql: str, pages: list[list[tuple[Any, ...]]]
) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    for statement in ddl:
        db.execute(statement)
    db.execute("INSERT INTO integrations (id) VALUES (1)")
    started = time.perf_counter()
    for page in pages:
        db.execute("BEGIN")
        db.executemany(sql, page)
        db.execute("COMMIT")
    spent = time.perf_counter() - started
    db.close()
    return spent


def shapes(count: int = 20_000, runs: int = 5) -> dict[str, float]:
    """Median microseconds per staged row, per variant."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ddl, stage_sql = _store_ddl(workdir)
        variants = _variants(ddl, stage_sql)
        rows = {flag: _rows(count, with_values=flag) for flag in (True, False)}
        samples: dict[str, list[float]] = {name: [] for name in variants}
        samples["as the store has it, in memory"] = []
        stagers: list[tuple[str, Callable[[str], float]]] = [
            (name, lambda path, v=v: _stage(path, v[0], v[1], rows[v[2]]))
            for name, v in variants.items()
        ]
        stagers.append(
            (
                "as the store has it, in memory",
                lambda _path: _stage(":memory:", ddl, stage_sql, rows[True]),
            )
        )
        for run in range(runs):
            for number, (name, stage) in enumerate(stagers):
                path = str(workdir / f"run{run}-{number}.db")
                samples[name].append(stage(path) / count * 1e6)
        return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    for name, micros in shapes(count, runs).items():
        print(f"{name:42s} {micros:6.2f} us per row")


if __name__ == "__main__":
    main()
