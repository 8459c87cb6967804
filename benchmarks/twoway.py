"""The two-sided raw loop: what a simple two-way sync script does, as the yardstick for
crmsync's initial sync and for the cycle after it (the echo cycle).

It is the loop issue 20 defines: read both sides in full, match by email, create what is
missing on both sides, store the links durably in SQLite; with the same connectors, the
same batch sizes (each connector's ``max_batch_size``), page sizes (``max_page_size``)
and concurrency (``max_concurrency`` threads per side) as the engine. It keeps no
cursor, no baseline, no pending-create record and no decision log, decides no field and
reconciles no values of pairs it finds already matching: that is what crmsync does on
top, and what the "within 2x" target allows for. Its second run on the same data reads
both sides in full again, finds every record linked and creates nothing: the reference
for crmsync's echo cycle.

Run standalone (in-memory connectors, N records a side, 10% of them on both sides):

    uv run python -m benchmarks.twoway [N]
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from crmsync.contract import ChangedRecord, WriteRequest, WriteResult
from crmsync.plugins import Connection

PLATFORM_OBJECT, CRM_OBJECT = "prospect", "Lead"
# The benchmark's mapping (``_scenarios._mappings``): four fields both ways, the company
# to the CRM only, where it is required ("[not provided]" when the prospect has none).
PLATFORM_TO_CRM = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "phone": "Phone",
    "company": "Company",
}
CRM_TO_PLATFORM = {
    crm: platform for platform, crm in PLATFORM_TO_CRM.items() if platform != "company"
}
COMPANY_DEFAULT = "[not provided]"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS links (platform_id TEXT NOT NULL UNIQUE, "
    "crm_id TEXT NOT NULL UNIQUE, email TEXT NOT NULL)"
)
INSERT = "INSERT INTO links (platform_id, crm_id, email) VALUES (?, ?, ?)"


def _key(value: Any) -> str | None:
    """The match key crmsync uses for an email: trimmed, case-folded; blank: none."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().casefold()


def read_all(
    connection: Connection, object_name: str, fields: Sequence[str]
) -> list[ChangedRecord]:
    """Every record of ``object_name``, page by page (the connector's largest page)."""
    records: list[ChangedRecord] = []
    page: str | None = None
    while True:
        answer = connection.fetch_changed(
            object_name, fields=fields, cursor=None, page=page
        )
        records += answer.records
        if answer.next_page is None:
            return records
        page = answer.next_page


def _batches(
    requests: Sequence[WriteRequest], size: int
) -> Iterable[Sequence[WriteRequest]]:
    for start in range(0, len(requests), size):
        yield requests[start : start + size]


def two_sided_raw_loop(
    platform: Connection, crm: Connection, db_path: str
) -> dict[str, int]:
    """One run of the simple two-way script; returns what it read, matched, created.

    Links go to SQLite as the answers come: the matched pairs in one transaction, each
    answered create batch in one transaction of its own (WAL, ``synchronous=NORMAL``,
    as crmsync's store).
    """
    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=True)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(SCHEMA)
    prospects = read_all(platform, PLATFORM_OBJECT, list(PLATFORM_TO_CRM))
    leads = read_all(crm, CRM_OBJECT, list(PLATFORM_TO_CRM.values()))
    linked_platform, linked_crm = set(), set()
    for platform_id, crm_id in db.execute("SELECT platform_id, crm_id FROM links"):
        linked_platform.add(platform_id)
        linked_crm.add(crm_id)

    unmatched_leads: dict[str, ChangedRecord] = {}
    for lead in leads:
        key = _key(lead.values.get("Email"))
        if key is not None and lead.record_id not in linked_crm:
            unmatched_leads.setdefault(key, lead)
    matched: list[tuple[str, str, str]] = []
    missing_in_crm: list[tuple[str, ChangedRecord]] = []
    for prospect in prospects:
        key = _key(prospect.values.get("email"))
        if key is None or prospect.record_id in linked_platform:
            continue
        lead = unmatched_leads.pop(key, None)
        if lead is None:
            missing_in_crm.append((key, prospect))
        else:
            matched.append((prospect.record_id, lead.record_id, key))
    db.execute("BEGIN")
    db.executemany(INSERT, matched)
    db.execute("COMMIT")

    to_crm = [
        WriteRequest(
            ref=prospect.record_id,
            op="create",
            values={
                crm_field: prospect.values.get(field)
                or (COMPANY_DEFAULT if field == "company" else None)
                for field, crm_field in PLATFORM_TO_CRM.items()
            },
        )
        for _, prospect in missing_in_crm
    ]
    to_platform = [
        WriteRequest(
            ref=lead.record_id,
            op="create",
            values={
                field: lead.values.get(crm_field)
                for crm_field, field in CRM_TO_PLATFORM.items()
            },
        )
        for lead in unmatched_leads.values()
    ]
    keys = {prospect.record_id: key for key, prospect in missing_in_crm}
    keys.update((lead.record_id, key) for key, lead in unmatched_leads.items())

    created = {"crm": 0, "platform": 0}
    pools = {
        "crm": ThreadPoolExecutor(crm.description.max_concurrency),
        "platform": ThreadPoolExecutor(platform.description.max_concurrency),
    }
    futures: dict[Future[list[WriteResult]], str] = {}
    try:
        for side, connection, object_name, requests in (
            ("crm", crm, CRM_OBJECT, to_crm),
            ("platform", platform, PLATFORM_OBJECT, to_platform),
        ):
            size = connection.description.max_batch_size
            for batch in _batches(requests, size):
                future = pools[side].submit(connection.push_updates, object_name, batch)
                futures[future] = side
        for future in as_completed(futures):
            side = futures[future]
            answers = [result for result in future.result() if result.ok]
            rows = [
                (result.ref, result.record_id or "", keys[result.ref])
                if side == "crm"
                else (result.record_id or "", result.ref, keys[result.ref])
                for result in answers
            ]
            db.execute("BEGIN")
            db.executemany(INSERT, rows)
            db.execute("COMMIT")
            created[side] += len(rows)
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True)
    (links,) = db.execute("SELECT count(*) FROM links").fetchone()
    db.close()
    return {
        "read_platform": len(prospects),
        "read_crm": len(leads),
        "matched": len(matched),
        "created_crm": created["crm"],
        "created_platform": created["platform"],
        "links": links,
    }


def main() -> None:
    import tempfile

    from benchmarks._scenarios import memory_job

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    job = memory_job(size, seed=1, shared=size // 10)
    with tempfile.TemporaryDirectory() as tmp:
        for run in ("first", "second"):
            platform, crm = job.connections()
            started, cpu = time.perf_counter(), time.process_time()
            counts = two_sided_raw_loop(platform, crm, f"{tmp}/links.db")
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(f"{run} run: {wall:.3f} s wall, {cpu:.3f} CPU-s; {counts}")


if __name__ == "__main__":
    main()
