"""The Salesforce emulator in a process of its own, served on a loopback port.

The emulator is pure Python. Running it in the benchmark's own process would make it
share the GIL with the engine and add its records to the engine's peak memory, so it
runs in a forked child, driven over a pipe: seed, touch, clock, and a summary of its
request log (the API calls are counted here, from what the emulator answered, never from
the engine's own counters).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import resource
import time
import unicodedata
from collections import Counter
from typing import Any

CLIENT_ID = "3MVG9crmsync.bench.client"
CLIENT_SECRET = "bench-secret-value-123456"
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def lead_from_prospect(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "FirstName": row["first_name"],
        "LastName": row["last_name"],
        "Company": row["company"],
        "Email": row["email"],
        "Phone": row["phone"],
    }


def people(n: int, seed: int, *, chunk: int = 20_000):
    """``n`` fake people in chunks (never all at once), deterministic per ``seed``."""
    from crmsync.connectors.local._fake import fake_prospects

    done = 0
    part = 0
    while done < n:
        size = min(chunk, n - done)
        rows = fake_prospects(size, seed=seed * 1000 + part, now=T0)
        for (
            row
        ) in rows:  # Salesforce refuses non-ASCII local parts; keep both sides equal
            row["email"] = _ascii(row["email"])
        yield rows
        done += size
        part += 1


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def classify(method: str, path: str) -> str:
    if path.rstrip("/").endswith("/oauth2/token"):
        return "token"
    if path.endswith("/describe"):
        return "describe"
    if method == "GET" and "/deleted/" in path:
        return "deleted"  # getDeleted: the deletions feed
    if "/composite/sobjects" in path and method in ("POST", "PATCH"):
        return "write"
    if method == "GET" and path.endswith("/query"):
        return (
            "readback"  # the connector's SystemModstamp read-back after each write call
        )
    if method == "GET" and ("/queryAll" in path or "/query/" in path):
        # The change feed: the first page (queryAll) and its nextRecordsUrl pages.
        return "read"
    return "other"


def _serve(conn: Any) -> None:
    from crmsync_salesforce.emulator import EmulatorServer, SalesforceEmulator

    emu = SalesforceEmulator(daily_limit=10**12)
    emu.register_app(CLIENT_ID, client_secret=CLIENT_SECRET)
    emu.clock.freeze(T0)
    ids: dict[str, list[str]] = {"Lead": []}
    busy = [0.0]  # seconds the emulator spent answering requests (its own cost)
    handle = emu.handle

    def timed(request: Any) -> Any:
        started = time.perf_counter()
        try:
            return handle(request)
        finally:
            busy[0] += time.perf_counter() - started

    emu.handle = timed  # type: ignore[method-assign]
    with EmulatorServer(emu) as server:
        conn.send(server.url)
        while True:
            command, args = conn.recv()
            try:
                if command == "stop":
                    conn.send(None)
                    return
                if command == "seed_people":  # n leads from people(n, seed)
                    n, seed = args
                    for rows in people(n, seed):
                        ids["Lead"] += emu.seed(
                            "Lead", [lead_from_prospect(r) for r in rows]
                        )
                    conn.send(len(ids["Lead"]))
                elif command == "touch":  # (offset, count, field, value prefix)
                    offset, count, field, prefix = args
                    lead_ids = ids["Lead"][offset : offset + count]
                    for index, lead_id in enumerate(lead_ids):
                        emu.touch("Lead", lead_id, **{field: f"{prefix}{index}"})
                    conn.send(len(lead_ids))
                elif command == "advance":
                    conn.send(emu.clock.advance(args))
                elif command == "count":
                    conn.send(
                        sum(
                            1
                            for r in emu.records["Lead"].values()
                            if not r["IsDeleted"]
                        )
                    )
                elif (
                    command == "log"
                ):  # summary of requests since the last "log", then clear
                    with emu._lock:
                        requests = emu.requests
                        emu.log.clear()
                    kinds = Counter(classify(r.method, r.path) for r in requests)
                    kinds["total"] = len(requests)
                    kinds["failed"] = sum(1 for r in requests if r.status >= 300)
                    answer: dict[str, Any] = dict(kinds)
                    # What the "other" calls were (method and path, query left out).
                    others = Counter(
                        f"{r.method} {r.path.split('?')[0]}"
                        for r in requests
                        if classify(r.method, r.path) == "other"
                    )
                    if others:
                        answer["other_calls"] = dict(others.most_common(5))
                    answer["emulator_ms"] = round(busy[0] * 1000, 1)
                    busy[0] = 0.0
                    conn.send(answer)
                elif command == "rss_mb":
                    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
                else:
                    conn.send(RuntimeError(f"unknown command {command}"))
            except Exception as error:  # pragma: no cover - reported to the driver
                conn.send(RuntimeError(f"{command}: {error!r}"))


class EmulatorProcess:
    """``with EmulatorProcess() as emu: emu.call("seed_people", (n, seed))``."""

    def __init__(self) -> None:
        context = mp.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)

    def __enter__(self) -> EmulatorProcess:
        self._process.start()
        self.url: str = self._conn.recv()
        return self

    def call(self, command: str, args: Any = None) -> Any:
        self._conn.send((command, args))
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def log(self) -> dict[str, int]:
        return dict(self.call("log"))

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("stop")
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
