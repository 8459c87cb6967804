"""The SQLite floor of the engine-only linking cycle: the state store's statements for N
pairs made with bare ``sqlite3``, no crmsync code around them.

    uv run python -m benchmarks.sqlite_floor [N]

Prints the seconds per phase (stage both feeds, read them back by chunk and by match
key, insert the links, mark settled, commit, purge) and the pairs per second SQLite
alone allows on this machine: the engine-only rate can never beat it. The schema, the
pragmas and the staging statement are the store's own; the rows mimic the engine-only
scenario's.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections import Counter

import orjson

from crmsync.models import Integration, ObjectPair
from crmsync.store import open_store

STAMP = "2026-01-01 00:00:00.000000"
COLUMNS = (
    "id, side, object_name, record_id, modified_at, kind, record_values, match_key, "
    "converted_object, converted_id, merged_into, attempts, parked"
)


def person_values(i: int) -> str:
    """Record ``i``'s values as the store keeps them (JSON text), as the engine-only
    scenario's people look."""
    return orjson.dumps(
        {
            "email": f"user{i}@example.com",
            "first_name": "Ann",
            "last_name": f"Smith{i}",
            "phone": "+1 555 0100",
            "company": "Acme Inc",
        }
    ).decode()


def _marks(count: int) -> str:
    return ",".join("?" * count)


def floor(size: int) -> dict[str, float]:
    """Wall seconds per phase for N pairs."""
    return floor_with_cpu(size)[0]


def floor_with_cpu(size: int) -> tuple[dict[str, float], float]:
    """Wall seconds per phase for N pairs, and the CPU seconds of those phases (the
    store's creation before them not counted)."""
    with tempfile.TemporaryDirectory() as workdir:
        return _floor_in(workdir, size)


def _floor_in(workdir: str, size: int) -> tuple[dict[str, float], float]:
    store = open_store(f"sqlite:///{workdir}/state.db")
    integration = store.config.create_integration(
        Integration(
            name="floor",
            platform_connector="memory_platform",
            crm_connector="memory",
            object_pairs=(ObjectPair(platform_object="prospect", crm_object="Lead"),),
        )
    )
    iid, stage_sql = integration.id, store.inbox._stage_sql
    store.dispose()
    db = sqlite3.connect(f"{workdir}/state.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    spent: Counter[str] = Counter()

    values = person_values

    cpu_started = time.process_time()
    started = time.perf_counter()
    for side, name in (("platform", "prospect"), ("crm", "Lead")):
        for start in range(0, size, 200):
            db.execute("BEGIN")
            db.executemany(
                stage_sql,
                [
                    (
                        *(iid, side, name, f"{side[0]}{i:07d}", STAMP, "record"),
                        *(values(i), f"user{i}@example.com", None, None, None),
                    )
                    for i in range(start, min(start + 200, size))
                ],
            )
            db.execute("COMMIT")
    spent["stage"] += time.perf_counter() - started
    after = 0
    while True:
        started = time.perf_counter()
        db.execute("BEGIN")
        rows = db.execute(
            f"SELECT {COLUMNS} FROM inbox WHERE integration_id + 0 = ? AND side = ? "
            "AND object_name = ? AND parked = 0 AND settled = 0 AND id > ? "
            "ORDER BY id LIMIT 1000",
            (iid, "platform", "prospect", after),
        ).fetchall()
        if not rows:
            db.execute("COMMIT")
            break
        after = rows[-1][0]
        found: list[tuple[object, ...]] = []
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            ids = [row[3] for row in chunk]
            db.execute(
                "SELECT id FROM links WHERE integration_id = ? AND platform_object = ? "
                f"AND platform_id IN ({_marks(len(ids))})",
                (iid, "prospect", *ids),
            ).fetchall()
            keys = [row[7] for row in chunk]
            found += db.execute(
                f"SELECT {COLUMNS} FROM inbox WHERE integration_id = ? AND side = ? "
                "AND +object_name IN (?) AND kind = 'record' "
                f"AND match_key IN ({_marks(len(keys))})",
                (iid, "crm", "Lead", *keys),
            ).fetchall()
        for start in range(0, len(found), 500):
            ids = [row[3] for row in found[start : start + 500]]
            db.execute(
                "SELECT id FROM links WHERE integration_id = ? AND crm_object = ? "
                f"AND crm_id IN ({_marks(len(ids))})",
                (iid, "Lead", *ids),
            ).fetchall()
        spent["read back"] += time.perf_counter() - started
        started = time.perf_counter()
        db.executemany(
            "INSERT INTO links (integration_id, platform_object, platform_id, "
            "crm_object, crm_id, baseline, platform_modified_at, crm_modified_at, "
            "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (iid, "prospect", row[3], "Lead", match[3], row[6], *[STAMP] * 4)
                for row, match in zip(rows, found, strict=True)
            ],
        )
        spent["link inserts"] += time.perf_counter() - started
        started = time.perf_counter()
        settled = [row[0] for row in rows] + [row[0] for row in found]
        for start in range(0, len(settled), 500):
            chunk = settled[start : start + 500]
            db.execute(
                f"UPDATE inbox SET settled = 1 WHERE id IN ({_marks(len(chunk))})",
                chunk,
            )
        spent["settled marks"] += time.perf_counter() - started
        started = time.perf_counter()
        db.execute("COMMIT")
        spent["commits"] += time.perf_counter() - started
    started = time.perf_counter()
    db.execute("BEGIN")
    db.execute("DELETE FROM inbox WHERE integration_id = ? AND settled = 1", (iid,))
    db.execute("COMMIT")
    spent["purge"] += time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    db.close()
    return dict(spent), cpu


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    spent, cpu = floor_with_cpu(size)
    total = sum(spent.values())
    for phase, seconds in spent.items():
        print(f"{phase:14s} {seconds:7.3f} s")
    print(f"{'total':14s} {total:7.3f} s: {size / total:,.0f} pairs/s for SQLite alone")
    print(f"{'CPU':14s} {cpu:7.3f} s: {size / cpu:,.0f} pairs per CPU-second")


if __name__ == "__main__":
    main()
