"""Web pages and API reads with a large store: server time per request.

    uv run python -m benchmarks.web_pages            # 100 integrations, 1M links
    uv run python -m benchmarks.web_pages --integrations 100 --links 1000000 --repeat 20
    uv run python -m benchmarks.web_pages --json web.json
    uv run python -m benchmarks.web_pages --database-url postgresql+psycopg://.../empty

Builds a SQLite state store (the embedded default) with N integrations (the `local`
platform and the in-memory CRM), their links inserted directly (half of them in one
integration, the rest spread evenly), 20 runs and 10 open errors each, then asks the
signed-in pages and the API for each read many times through the ASGI app in process
(no network) and prints the median and 95th percentile. Link counts are kept by the
store (migration 0003): the bulk insert counts its links once, as the migration does.
Pages of an active integration ask no connector anything, so the figures are the app's
and the store's alone. The bar the issue sets: the integrations and status pages under
100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from starlette.exceptions import StarletteDeprecationWarning

from crmsync import operations as ops
from crmsync.connectors.local import LocalConnector
from crmsync.plugins import ConnectorCatalog, InstalledConnector, describe
from crmsync.settings import CrmsyncSettings
from crmsync.testing.memory import MemoryBackend, MemoryConnector
from crmsync.web import Backend, WebSettings, create_app, hash_password, hash_token

with warnings.catch_warnings():
    # Starlette deprecates httpx for its TestClient (for httpx2, not installed here).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "benchmark password 1"
TOKEN = "cst_benchmark"


def _catalog() -> ConnectorCatalog:
    return ConnectorCatalog(
        loaded={
            "local": InstalledConnector(
                "local",
                LocalConnector,
                describe("local", LocalConnector),
                "crmsync",
                "0",
            ),
            "memory": InstalledConnector(
                "memory",
                MemoryConnector,
                describe("memory", MemoryConnector),
                "crmsync",
                "0",
            ),
        },
        failed={},
    )


def build(
    folder: Path, integrations: int, links: int, database_url: str | None = None
) -> CrmsyncSettings:
    """The store: integrations made by the operations, bulk rows by SQL (on SQLite in
    ``folder``, or in the empty PostgreSQL database ``database_url``)."""
    settings = CrmsyncSettings(
        database_url=database_url or f"sqlite:///{folder / 'state.db'}"
    )
    backend = MemoryBackend()
    with ops.Workspace(
        catalog=_catalog(),
        connector_kwargs={"memory": {"backend": backend}},
        settings=settings,
    ) as ws:
        for index in range(integrations):
            name = f"int-{index:03d}"
            ops.create_integration(
                ws,
                ops.NewIntegration(
                    name=name,
                    crm="memory",
                    platform_settings={"path": str(folder / "platform.db")},
                ),
            )
            ops.add_mapping(
                ws, name, ops.MappingSpec(platform_field="email", crm_field="Email")
            )
            ops.resume_integration(ws, name)
    big = links // 2
    rest = (links - big) // max(integrations - 1, 1)
    postgres = database_url is not None and database_url.startswith("postgresql")
    now: Any = dt.datetime.now(dt.UTC)
    if postgres:
        engine = create_engine(str(database_url))
        db: Any = engine.raw_connection()
    else:
        now = now.isoformat()
        db = sqlite3.connect(folder / "state.db")

    def run(statement: str, rows: Any) -> None:
        cursor = db.cursor()
        marked = statement.replace("?", "%s") if postgres else statement
        cursor.executemany(marked, rows)
        cursor.close()

    cursor = db.cursor()
    cursor.execute("SELECT id FROM integrations ORDER BY name")
    ids = [row[0] for row in cursor.fetchall()]
    cursor.close()
    for position, iid in enumerate(ids):
        count = big if position == 0 else rest
        run(
            "INSERT INTO links (integration_id, platform_object, platform_id, "
            "crm_object, crm_id, baseline, created_at, updated_at) "
            "VALUES (?, 'prospect', ?, 'Lead', ?, '{}', ?, ?)",
            ((iid, f"P{n:09d}", f"L{n:09d}", now, now) for n in range(count)),
        )
        counts = json.dumps(
            {
                "platform": {"read": 10, "created": 1, "updated": 2, "failed": 0},
                "crm": {"read": 12, "created": 3, "updated": 4, "failed": 1},
                "decisions": {"crm_wins": 4, "to_crm": 2},
                "duration_seconds": 0.5,
            }
        )
        run(
            "INSERT INTO runs (integration_id, started_at, finished_at, status, "
            "dry_run, counts) VALUES (?, ?, ?, 'succeeded', false, ?)",
            ((iid, now, now, counts) for _ in range(20)),
        )
        run(
            "INSERT INTO record_errors (integration_id, side, object_name, record_id, "
            "code, message, field, retryable, attempts, first_seen_at, last_seen_at) "
            "VALUES "
            "(?, 'crm', 'Lead', ?, 'REQUIRED_FIELD_MISSING', 'Company is required', "
            "'Company', false, 1, ?, ?)",
            ((iid, f"E{n}", now, now) for n in range(10)),
        )
        db.commit()
    # The links went in by SQL, past the store: count them as migration 0003 does.
    cursor = db.cursor()
    cursor.execute(
        "INSERT INTO link_counts (integration_id, platform_object, crm_object, links) "
        "SELECT integration_id, platform_object, crm_object, COUNT(*) FROM links "
        "GROUP BY integration_id, platform_object, crm_object"
    )
    db.commit()
    cursor.execute("ANALYZE")
    cursor.close()
    db.commit()
    db.close()
    if postgres:
        engine.dispose()
    return settings


def measure(
    client: TestClient, path: str, repeat: int, **kwargs: Any
) -> dict[str, Any]:
    client.get(path, **kwargs)  # warm the caches once
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    times.sort()
    return {
        "path": path,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, math.ceil(len(times) * 0.95) - 1)], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=100)
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty PostgreSQL database to build the store in (default: SQLite)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crmsync-web-bench-") as scratch:
        started = time.perf_counter()
        settings = build(
            Path(scratch), args.integrations, args.links, args.database_url
        )
        print(
            f"store: {args.integrations} integrations, {args.links:,} links, built in "
            f"{time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
        app = create_app(
            Backend(settings=settings, catalog=_catalog()),
            WebSettings(
                password_hash=hash_password(PASSWORD),
                token_hash=hash_token(TOKEN),
                session_key="b" * 40,
            ),
        )
        with TestClient(app) as client:
            page = client.get("/login").text
            csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
            client.post("/login", data={"csrf_token": csrf, "password": PASSWORD})
            api = {"headers": {"Authorization": f"Bearer {TOKEN}"}}
            results = [
                measure(client, "/", args.repeat),
                measure(client, "/integrations/int-000", args.repeat),
                measure(client, "/integrations/int-001", args.repeat),
                measure(client, "/integrations/int-000/runs", args.repeat),
                measure(client, "/integrations/int-000/errors", args.repeat),
                measure(client, "/api/v1/integrations", args.repeat, **api),
                measure(client, "/api/v1/status", args.repeat, **api),
                measure(
                    client,
                    "/api/v1/integrations/int-000/explain?record=P000000001",
                    args.repeat,
                    **api,
                ),
                measure(
                    client, "/api/v1/integrations/int-000/status", args.repeat, **api
                ),
                measure(
                    client, "/api/v1/integrations/int-001/status", args.repeat, **api
                ),
            ]
        app.state.backend.close()
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (figures scale with it)")
    print(f"{'path':45} {'median ms':>10} {'p95 ms':>8}")
    for row in results:
        print(f"{row['path']:45} {row['median_ms']:>10} {row['p95_ms']:>8}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "integrations": args.integrations,
                    "links": args.links,
                    "database": "postgresql"
                    if args.database_url
                    else "sqlite",
                    "load_average": load,
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
