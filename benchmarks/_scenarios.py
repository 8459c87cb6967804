"""The measured scenarios. Each runs in a child process of its own (see ``run.py``), so
its peak resident memory is its own; the emulator runs in a grandchild (``_emu``).
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._emu import CLIENT_ID, CLIENT_SECRET, T0, EmulatorProcess, people

PAGE = 2000  # Salesforce query page (batchSize) the connector asks for
BATCH = 200  # sObject Collections records per write call
FIXED_EDITS = 100  # the "same change set" at every size: 1% of 10,000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mappings() -> tuple[Any, ...]:
    from crmsync.contract import FieldType
    from crmsync.models import Direction, Mapping

    return (
        Mapping(
            platform_field="first_name", crm_field="FirstName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="last_name", crm_field="LastName", direction=Direction.SYNC
        ),
        Mapping(
            platform_field="email",
            crm_field="Email",
            direction=Direction.SYNC,
            platform_type=FieldType.EMAIL,
            crm_type=FieldType.EMAIL,
        ),
        Mapping(platform_field="phone", crm_field="Phone", direction=Direction.SYNC),
        Mapping(
            platform_field="company",
            crm_field="Company",
            direction=Direction.TO_CRM,
            default="[not provided]",
        ),
    )


class _Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at


class SalesforceWorld:
    """A state store, a local platform file and the emulator on a loopback port."""

    def __init__(self, workdir: Path, emu: EmulatorProcess, *, create: bool) -> None:
        from crmsync.connectors.local import LocalStore
        from crmsync.models import CreationMode, CreationRule, Integration, ObjectPair
        from crmsync.store import open_store

        self.emu = emu
        self.clock = _Clock()
        self.local = LocalStore(
            workdir / "platform.db", clock=self.clock, busy_timeout=0.0
        )
        self.store = open_store(f"sqlite:///{workdir}/state.db")
        rule = CreationRule(mode=CreationMode.ALL if create else CreationMode.NEVER)
        self.integration = self.store.config.create_integration(
            Integration(
                name="bench",
                platform_connector="local",
                crm_connector="salesforce",
                object_pairs=(
                    ObjectPair(
                        platform_object="prospect",
                        crm_object="Lead",
                        mappings=_mappings(),
                    ),
                ),
                create_in_crm=rule,
                create_in_platform=rule,
            )
        )
        self.platform, self.crm = self._connections()

    def _connections(self) -> tuple[Any, Any]:
        from crmsync.plugins import Connection, build_settings, discover_connectors

        catalog = discover_connectors()
        local = catalog.get("local")
        platform = Connection(
            local,
            build_settings(local, {"path": str(self.local.path)}),
            factory_kwargs={"store": self.local},
        )
        sf = catalog.get("salesforce")
        crm = Connection(
            sf,
            build_settings(
                sf,
                {
                    "login_url": self.emu.url,
                    "auth_flow": "client_credentials",
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                },
            ),
        )
        return platform, crm

    def seed_prospects(self, n: int, seed: int) -> None:
        with self.local.write() as moment:
            for rows in people(n, seed):
                self.local.insert_rows(rows, moment)

    def edit_prospects(self, offset: int, count: int, prefix: str) -> None:
        ids = [
            row[0]
            for row in self.local.query(
                "SELECT id FROM prospect ORDER BY seq LIMIT ? OFFSET ?", (count, offset)
            )
        ]
        with self.local.write() as moment:
            for index, record_id in enumerate(ids):
                self.local.update_row(record_id, {"phone": f"{prefix}{index}"}, moment)

    def advance(self, seconds: float) -> None:
        self.clock.at += dt.timedelta(seconds=seconds)
        self.emu.call("advance", seconds)

    def cycle(self) -> tuple[float, dict[str, int], Any]:
        """One cycle, with reused (warm) connections as a long-running scheduler keeps
        them, and the heap frozen before it as ``crmsync sync`` does.
        """
        from crmsync.engine import SyncEngine, freeze_long_lived_objects

        integration = self.store.config.get_integration("bench")
        engine = SyncEngine(self.store, integration, self.platform, self.crm)
        self.emu.log()  # drop earlier requests
        freeze_long_lived_objects()
        started = time.perf_counter()
        report = engine.run_cycle()
        elapsed = time.perf_counter() - started
        calls = self.emu.log()
        if report.status not in ("succeeded",):
            raise RuntimeError(
                f"cycle {report.status}: {report.message} {report.counts()}"
            )
        return elapsed, calls, report

    def close(self) -> None:
        self.platform.close()
        self.crm.close()
        self.store.dispose()
        self.local.close()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- 1. initial sync
# ---------------------------------------------------------------------
def initial(size: int, runs: int) -> dict[str, Any]:
    """N prospects into an empty CRM and N leads into an empty platform: one cycle."""
    samples: list[dict[str, Any]] = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp, EmulatorProcess() as emu:
            emu.call("seed_people", (size, 20 + run))
            world = SalesforceWorld(Path(tmp), emu, create=True)
            world.seed_prospects(size, 10 + run)
            elapsed, calls, report = world.cycle()
            assert report.crm.created == size and report.platform.created == size, (
                report.counts()
            )
            samples.append({"seconds": elapsed, "calls": calls})
            world.close()
    seconds = _median([s["seconds"] for s in samples])
    calls = samples[len(samples) // 2]["calls"]
    return {
        "size": size,
        "runs": runs,
        "seconds": seconds,
        "samples": [round(s["seconds"], 3) for s in samples],
        "records_per_second": 2 * size / seconds,
        "calls": calls,
        "min_reads": math.ceil(size / PAGE),
        "min_writes": math.ceil(size / BATCH),
        "peak_rss_mb": _peak_mb(),
    }


# -- 2/3. incremental and idle cycles on N linked pairs
# -----------------------------------
def linked(size: int, runs: int, parts: list[str]) -> dict[str, Any]:
    """Link N pairs (untimed), then time incremental (1% and a fixed 100 per side) and
    idle.
    """
    out: dict[str, Any] = {"size": size, "runs": runs}
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess() as emu:
        emu.call("seed_people", (size, 1))
        world = SalesforceWorld(Path(tmp), emu, create=False)
        world.seed_prospects(size, 1)
        started = time.perf_counter()
        _, _, report = world.cycle()
        assert report.linked == size, report.counts()
        world.advance(3600)
        world.cycle()  # settles any echo of the linking cycle
        out["setup_seconds"] = time.perf_counter() - started
        out["setup_peak_rss_mb"] = _peak_mb()

        def changes(count: int, tag: str) -> dict[str, Any]:
            samples = []
            echoes = []
            for run in range(runs):
                world.advance(3600)
                # Different records on each side: `count` platform edits, `count` CRM
                # edits.
                world.edit_prospects(run * count, count, f"+1-555-{tag}{run}-")
                emu.call(
                    "touch",
                    (size // 2 + run * count, count, "FirstName", f"E{tag}{run}-"),
                )
                elapsed, calls, report = world.cycle()
                assert (
                    report.crm.updated == count and report.platform.updated == count
                ), report.counts()
                samples.append({"seconds": elapsed, "calls": calls})
                world.advance(3600)
                _, echo_calls, _ = (
                    world.cycle()
                )  # re-reads what crmsync wrote (SF gives no stamp)
                echoes.append(echo_calls)
            return {
                "changed_per_side": count,
                "seconds": _median([s["seconds"] for s in samples]),
                "samples": [round(s["seconds"], 3) for s in samples],
                "calls": samples[len(samples) // 2]["calls"],
                "echo_calls": echoes[len(echoes) // 2],
                "min_reads": math.ceil(count / PAGE),
                "min_writes": math.ceil(count / BATCH),
            }

        if "incremental" in parts:
            out["incremental"] = changes(max(1, size // 100), "p")
            out["fixed"] = changes(FIXED_EDITS, "f")
        if "idle" in parts:
            samples = []
            for _ in range(runs):
                world.advance(3600)
                elapsed, calls, report = world.cycle()
                assert report.writes == 0, report.counts()
                samples.append({"seconds": elapsed, "calls": calls})
            out["idle"] = {
                "seconds": _median([s["seconds"] for s in samples]),
                "samples": [round(s["seconds"], 4) for s in samples],
                "calls": samples[len(samples) // 2]["calls"],
            }
        out["peak_rss_mb"] = _peak_mb()
        out["emulator_rss_mb"] = emu.call("rss_mb")
        world.close()
    return out


# -- 4. the raw limit
# ------------------------------------------------------------------------
def raw(size: int, runs: int, concurrency: int = 4) -> dict[str, Any]:
    """The Salesforce half of the initial sync by a bare httpx loop: read N leads page
    by page, create N leads in batches of 200 with the connector's concurrency (4)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    samples = []
    for run in range(runs):
        with EmulatorProcess() as emu:
            emu.call("seed_people", (size, 20 + run))
            bodies = [
                [{"attributes": {"type": "Lead"}, **_lead(r)} for r in rows]
                for rows in people(size, 10 + run, chunk=BATCH)
            ]
            client = httpx.Client(timeout=60)
            token = client.post(
                f"{emu.url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                },
            ).json()
            base = token["instance_url"]
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            emu.log()
            started = time.perf_counter()
            soql = (
                "SELECT Id, SystemModstamp, IsDeleted, FirstName, LastName, Email, "
                "Phone, Company FROM Lead ORDER BY SystemModstamp ASC, Id ASC"
            )
            page = client.get(
                f"{base}/services/data/v60.0/queryAll",
                params={"q": soql},
                headers={**headers, "Sforce-Query-Options": "batchSize=2000"},
            ).json()
            read = len(page["records"])
            while not page.get("done", True):
                page = client.get(base + page["nextRecordsUrl"], headers=headers).json()
                read += len(page["records"])

            url = f"{base}/services/data/v60.0/composite/sobjects"

            def post(
                batch: list[dict[str, Any]],
                client: httpx.Client = client,
                url: str = url,
                headers: dict[str, str] = headers,
            ) -> int:
                answer = client.post(
                    url, json={"allOrNone": False, "records": batch}, headers=headers
                ).json()
                return sum(1 for item in answer if item.get("success"))

            with ThreadPoolExecutor(concurrency) as pool:
                created = sum(pool.map(post, bodies))
            elapsed = time.perf_counter() - started
            calls = emu.log()
            assert read == size and created == size, (read, created)
            client.close()
            samples.append({"seconds": elapsed, "calls": calls})
    return {
        "size": size,
        "runs": runs,
        "seconds": _median([s["seconds"] for s in samples]),
        "samples": [round(s["seconds"], 3) for s in samples],
        "calls": samples[len(samples) // 2]["calls"],
        "peak_rss_mb": _peak_mb(),
    }


def _lead(row: dict[str, Any]) -> dict[str, Any]:
    from benchmarks._emu import lead_from_prospect

    return lead_from_prospect(row)


# -- 5. engine only
# ---------------------------------------------------------------------------
def engine(size: int, runs: int) -> dict[str, Any]:
    """Record pairs decided and stored per second, both connectors in memory."""
    from crmsync.engine import SyncEngine, freeze_long_lived_objects
    from crmsync.models import Integration, ObjectPair
    from crmsync.plugins import Connection, InstalledConnector, describe
    from crmsync.store import open_store
    from crmsync.testing.memory import (
        MemoryBackend,
        MemoryConnector,
        MemoryPlatformConnector,
        MemorySettings,
        platform_backend,
    )

    def installed(factory: Any) -> InstalledConnector:
        description = describe(factory.describe_connector().id, factory)
        return InstalledConnector(description.id, factory, description, None, None)

    link_rates, update_rates, link_cpu, update_cpu = [], [], [], []
    for run in range(runs):
        clock = _Clock()
        platform_be, crm_be = platform_backend(now=clock), MemoryBackend(now=clock)
        for rows in people(size, 1 + run):
            for r in rows:
                platform_be.put(
                    "prospect",
                    {
                        k: r[k]
                        for k in (
                            "email",
                            "first_name",
                            "last_name",
                            "phone",
                            "company",
                        )
                    },
                )
                crm_be.put("Lead", _lead(r))
        # As `crmsync sync` does before a cycle. This also freezes the fake vendors'
        # records, which live in this process where a real vendor's live in its own:
        # the collector walking them on every full collection cost 20% of a cycle.
        freeze_long_lived_objects()
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{tmp}/state.db")
            store.config.create_integration(
                Integration(
                    name="engine",
                    platform_connector="memory_platform",
                    crm_connector="memory",
                    object_pairs=(
                        ObjectPair(
                            platform_object="prospect",
                            crm_object="Lead",
                            mappings=_mappings(),
                        ),
                    ),
                )
            )

            def run_cycle(
                store: Any = store, platform_be: Any = platform_be, crm_be: Any = crm_be
            ) -> tuple[float, float, Any]:
                platform = Connection(
                    installed(MemoryPlatformConnector),
                    MemorySettings(),
                    factory_kwargs={"backend": platform_be},
                )
                crm = Connection(
                    installed(MemoryConnector),
                    MemorySettings(),
                    factory_kwargs={"backend": crm_be},
                )
                eng = SyncEngine(
                    store, store.config.get_integration("engine"), platform, crm
                )
                started, cpu = time.perf_counter(), time.process_time()
                report = eng.run_cycle()
                cpu_seconds = time.process_time() - cpu
                return time.perf_counter() - started, cpu_seconds, report

            seconds, cpu_seconds, report = run_cycle()
            assert report.linked == size and report.writes == 0, report.counts()
            link_rates.append(size / seconds)
            link_cpu.append(size / cpu_seconds)
            clock.at += dt.timedelta(hours=1)
            for record_id in platform_be.live("prospect"):
                platform_be.put(
                    "prospect", {"first_name": "Changed"}, record_id=record_id
                )
            seconds, cpu_seconds, report = run_cycle()
            assert report.crm.updated == size, report.counts()
            update_rates.append(size / seconds)
            update_cpu.append(size / cpu_seconds)
            store.dispose()
        gc.unfreeze()  # this run's vendors may go now
    return {
        "size": size,
        "runs": runs,
        "link_pairs_per_second": _median(link_rates),
        "update_pairs_per_second": _median(update_rates),
        # per CPU-second of this process: the rate on one core, whatever else the
        # machine was doing (the wall-clock rate is the figure the target is set on)
        "link_pairs_per_cpu_second": _median(link_cpu),
        "update_pairs_per_cpu_second": _median(update_cpu),
        "samples": {
            "link": [round(r) for r in link_rates],
            "update": [round(r) for r in update_rates],
        },
        "peak_rss_mb": _peak_mb(),
    }


def store_only(size: int, runs: int) -> dict[str, Any]:
    """The state store's share of the engine-only link cycle: the same store calls the
    engine makes for N pairs (stage both feeds, read the inbox by chunk and by match
    key, look links up, insert links, settle, purge), with no engine logic and no
    connector. The engine-only rate can never beat this one."""
    from crmsync.contract import ChangedRecord, Cursor
    from crmsync.models import Integration, ObjectPair
    from crmsync.store import LinkRow, open_store

    rates = []
    for run in range(runs):
        stamp = T0 + dt.timedelta(minutes=run)
        feeds = {"platform": [], "crm": []}
        for rows in people(size, 1 + run):
            for r in rows:
                values = {k: r[k] for k in ("email", "first_name", "last_name")}
                feeds["platform"].append(
                    ChangedRecord(
                        record_id=f"P{len(feeds['platform'])}",
                        modified_at=stamp,
                        values={**values, "phone": r["phone"], "company": r["company"]},
                    )
                )
                feeds["crm"].append(
                    ChangedRecord(
                        record_id=f"L{len(feeds['crm'])}",
                        modified_at=stamp,
                        values=_lead(r),
                    )
                )
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{tmp}/state.db")
            iid = store.config.create_integration(
                Integration(
                    name="store",
                    platform_connector="memory_platform",
                    crm_connector="memory",
                    object_pairs=(
                        ObjectPair(platform_object="prospect", crm_object="Lead"),
                    ),
                )
            ).id
            from crmsync.policy import match_key_of

            objects = {"platform": ("prospect", "email"), "crm": ("Lead", "Email")}
            started = time.perf_counter()
            for side, records in feeds.items():
                name, match_field = objects[side]
                for start in range(0, size, PAGE):
                    page = records[start : start + PAGE]
                    with store.database.transaction() as tx:
                        store.inbox.stage(
                            tx, iid, side, name, page, [], match_key_of(match_field)
                        )
                        store.cursors.save(
                            tx, iid, side, name, Cursor(modified_at=stamp)
                        )
            after = 0
            while True:
                with store.database.transaction() as tx:
                    rows = store.inbox.chunk(
                        tx, iid, "platform", "prospect", after, 1000
                    )
                    if not rows:
                        break
                    after = rows[-1].id
                    store.links.find(
                        tx,
                        iid,
                        "platform",
                        [(r.object_name, r.record_id) for r in rows],
                    )
                    found = store.inbox.by_match_keys(
                        tx, iid, "crm", ["Lead"], [r.match_key or "" for r in rows]
                    )
                    store.links.find(
                        tx, iid, "crm", [(f.object_name, f.record_id) for f in found]
                    )
                by_key = {f.match_key: f for f in found}
                links = []
                for r in rows:
                    match = by_key[r.match_key]
                    links.append(
                        LinkRow(
                            None,
                            "prospect",
                            r.record_id,
                            "Lead",
                            match.record_id,
                            {f"{k}>{k}": [v, v] for k, v in r.values.items()},
                            r.modified_at,
                            match.modified_at,
                        )
                    )
                with store.database.transaction() as tx:
                    store.links.upsert(tx, iid, links)
                    store.inbox.settle(tx, [r.id for r in rows] + [f.id for f in found])
            with store.database.transaction() as tx:
                store.inbox.purge_settled(tx, iid)
            rates.append(size / (time.perf_counter() - started))
            store.dispose()
    return {
        "size": size,
        "runs": runs,
        "link_pairs_per_second": _median(rates),
        "samples": [round(r) for r in rates],
    }


def sqlite_floor(size: int, runs: int) -> dict[str, Any]:
    """The store-only statements made with bare ``sqlite3`` (``sqlite_floor.py``): the
    rate SQLite alone allows on this machine, with no Python of crmsync's."""
    from benchmarks.sqlite_floor import floor

    spent = [floor(size) for _ in range(runs)]
    totals = [sum(phases.values()) for phases in spent]
    return {
        "size": size,
        "runs": runs,
        "link_pairs_per_second": _median([size / total for total in totals]),
        "phase_seconds": {
            phase: _median([phases[phase] for phases in spent]) for phase in spent[0]
        },
        "samples": [round(size / total) for total in totals],
    }


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "initial": initial,
    "raw": raw,
    "engine": engine,
    "store": store_only,
    "floor": sqlite_floor,
}
