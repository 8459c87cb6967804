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
        self.last_cpu = 0.0  # CPU seconds of the last cycle (this process)
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
        started, cpu = time.perf_counter(), time.process_time()
        report = engine.run_cycle()
        elapsed = time.perf_counter() - started
        # This process's CPU: crmsync's (the emulator runs in a process of its own).
        self.last_cpu = time.process_time() - cpu
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
            cpu = world.last_cpu
            # The echo cycle, right after: it re-reads the 2N records crmsync just
            # wrote (the emulator's clock stands still, so no late-commit re-read).
            echo_seconds, echo_calls, echo_report = world.cycle()
            assert echo_report.writes == 0, echo_report.counts()
            samples.append(
                {
                    "seconds": elapsed,
                    "cpu": cpu,
                    "calls": calls,
                    "echo_seconds": echo_seconds,
                    "echo_cpu": world.last_cpu,
                    "echo_calls": echo_calls,
                }
            )
            world.close()
    seconds = _median([s["seconds"] for s in samples])
    calls = samples[len(samples) // 2]["calls"]
    return {
        "size": size,
        "runs": runs,
        "seconds": seconds,
        "cpu_seconds": _median([s["cpu"] for s in samples]),
        "echo_seconds": _median([s["echo_seconds"] for s in samples]),
        "echo_cpu_seconds": _median([s["echo_cpu"] for s in samples]),
        "echo_of_initial": _median([s["echo_seconds"] / s["seconds"] for s in samples]),
        "echo_calls": samples[len(samples) // 2]["echo_calls"],
        "samples": [round(s["seconds"], 3) for s in samples],
        "echo_samples": [round(s["echo_seconds"], 3) for s in samples],
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
                # re-reads what crmsync wrote (SF gives no stamp)
                echo_seconds, echo_calls, _ = world.cycle()
                echoes.append({"seconds": echo_seconds, "calls": echo_calls})
            return {
                "changed_per_side": count,
                "seconds": _median([s["seconds"] for s in samples]),
                "samples": [round(s["seconds"], 3) for s in samples],
                "calls": samples[len(samples) // 2]["calls"],
                "echo_calls": echoes[len(echoes) // 2]["calls"],
                "echo_seconds": _median([e["seconds"] for e in echoes]),
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


# -- 3b. scaling, interleaved
# ------------------------------------------------------------------
def scaling(sizes: list[int], runs: int) -> dict[str, Any]:
    """The same change set (100 records a side) at every size, the sizes alive in one
    process and their cycles alternating, round after round; medians per size.

    Run apart, two sizes' figures differ by whatever the shared machine did between
    them (x1.64 apart, x0.99 interleaved, for the same sizes in issue 20). Here every
    round measures each size within seconds of the other, in the same process, and
    the order alternates. Each round and size: an incremental cycle (100 + 100 edits),
    the echo cycle after it, and an idle cycle. Wall, this process's CPU (crmsync's:
    the emulators run in processes of their own) and crmsync's own time (wall minus
    the emulator's busy time).
    """
    import contextlib

    sizes = sorted(sizes)
    out: dict[str, Any] = {"sizes": sizes, "runs": runs, "per_size": {}}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        # Every emulator forks before any world exists (no threads, no open files).
        emus = {n: stack.enter_context(EmulatorProcess()) for n in sizes}
        worlds: dict[int, SalesforceWorld] = {}
        for n in sizes:
            emus[n].call("seed_people", (n, 1))
            workdir = Path(tmp) / str(n)
            workdir.mkdir()
            world = SalesforceWorld(workdir, emus[n], create=False)
            world.seed_prospects(n, 1)
            started = time.perf_counter()
            _, _, report = world.cycle()
            assert report.linked == n, report.counts()
            world.advance(3600)
            world.cycle()  # settles any echo of the linking cycle
            out["per_size"][n] = {"setup_seconds": time.perf_counter() - started}
            worlds[n] = world
        samples: dict[int, dict[str, list[float]]] = {
            n: {
                k: []
                for k in (
                    "wall",
                    "cpu",
                    "own",
                    "echo_wall",
                    "echo_cpu",
                    "idle_wall",
                    "idle_cpu",
                )
            }
            for n in sizes
        }
        for run in range(runs):
            order = sizes if run % 2 == 0 else sizes[::-1]
            for n in order:
                world, emu = worlds[n], emus[n]
                world.advance(3600)
                # Prospects from the first half, leads from the second: 200 pairs,
                # other ones each round while the size allows (N >= 200).
                offset = (run * FIXED_EDITS) % max(1, n // 2 - FIXED_EDITS + 1)
                world.edit_prospects(offset, FIXED_EDITS, f"+1-555-s{run}-")
                emu.call(
                    "touch",
                    (n // 2 + offset, FIXED_EDITS, "FirstName", f"S{run}-"),
                )
                elapsed, calls, report = world.cycle()
                assert (
                    report.crm.updated == FIXED_EDITS
                    and report.platform.updated == FIXED_EDITS
                ), report.counts()
                got = samples[n]
                got["wall"].append(elapsed)
                got["cpu"].append(world.last_cpu)
                got["own"].append(elapsed - calls.get("emulator_ms", 0) / 1000)
                world.advance(3600)
                elapsed, _, _ = world.cycle()
                got["echo_wall"].append(elapsed)
                got["echo_cpu"].append(world.last_cpu)
                world.advance(3600)
                elapsed, calls, report = world.cycle()
                assert report.writes == 0, report.counts()
                got["idle_wall"].append(elapsed)
                got["idle_cpu"].append(world.last_cpu)
        base = sizes[0]
        for n in sizes:
            figures = out["per_size"][n]
            figures.update({key: _median(values) for key, values in samples[n].items()})
            figures["samples"] = {
                key: [round(v, 4) for v in values] for key, values in samples[n].items()
            }
            # Per round, the ratio of two cycles taken seconds apart; then the median.
            for key in ("wall", "cpu", "own"):
                figures[f"{key}_ratio"] = _median(
                    [
                        mine / theirs
                        for mine, theirs in zip(
                            samples[n][key], samples[base][key], strict=True
                        )
                    ]
                )
            figures["emulator_rss_mb"] = emus[n].call("rss_mb")
        out["peak_rss_mb"] = _peak_mb()
        for world in worlds.values():
            world.close()
    out["per_size"] = {str(n): v for n, v in out["per_size"].items()}
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
class VendorClock:
    """A hookwrapper that sums the time spent inside a connector's hooks.

    The in-memory "vendors" run in the benchmark's own process, so its CPU time counts
    theirs too (building each page's records, applying each write). Thread CPU time
    (``time.thread_time``) is summed per call, so ``process CPU - vendor CPU`` is what
    the caller (crmsync, or the raw loop) spent; wall time is summed over threads (two
    push threads at once count twice).
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self.cpu = 0.0
        self.wall = 0.0

    def reset(self) -> None:
        with self._lock:
            self.cpu = self.wall = 0.0

    def _timed(self) -> Any:
        cpu, wall = time.thread_time(), time.perf_counter()
        yield
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        with self._lock:
            self.cpu += cpu
            self.wall += wall

    def plugin(self) -> Any:
        from crmsync.contract import hookimpl

        timed = self._timed

        class _Wrapper:
            @hookimpl(hookwrapper=True)
            def fetch_changed(self) -> Any:
                yield from timed()

            @hookimpl(hookwrapper=True)
            def push_updates(self) -> Any:
                yield from timed()

            @hookimpl(hookwrapper=True)
            def lookup_records(self) -> Any:
                yield from timed()

        return _Wrapper()


def _installed(factory: Any) -> Any:
    from crmsync.plugins import InstalledConnector, describe

    description = describe(factory.describe_connector().id, factory)
    return InstalledConnector(description.id, factory, description, None, None)


def _late_committing_crm() -> Any:
    """The memory CRM declaring Salesforce's 300 s late-commit window, so every cycle
    re-reads the last 300 s of its feed as a Salesforce cycle does."""
    from crmsync.contract import hookimpl
    from crmsync.testing.memory import MemoryConnector

    class LateCommittingMemoryCrm(MemoryConnector):
        @staticmethod
        @hookimpl
        def describe_connector() -> Any:
            return MemoryConnector.describe_connector().model_copy(
                update={"late_commit_seconds": 300.0}
            )

    return LateCommittingMemoryCrm


class MemoryJob:
    """Both "vendors" in memory, seeded: N prospects, N leads, ``shared`` of them the
    same person on both sides (same email and values)."""

    def __init__(
        self,
        size: int,
        seed: int,
        *,
        shared: int = 0,
        now: Callable[[], dt.datetime] | None = None,
        late_commit: bool = False,
    ) -> None:
        from crmsync.testing.memory import (
            MemoryBackend,
            MemoryConnector,
            MemoryPlatformConnector,
            platform_backend,
        )

        kwargs: dict[str, Any] = {"now": now} if now is not None else {}
        # On the real clock, the seeded records were last edited a day ago: a sync's
        # existing records are older than any re-read window, as in real life (seeded
        # "now", the cycles after the initial sync would re-read them as recent).
        at = (
            None
            if now is not None
            else dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
        )
        self.platform_be = platform_backend(**kwargs)
        self.crm_be = MemoryBackend(**kwargs)
        for rows in people(size, seed):
            for r in rows:
                self.platform_be.put(
                    "prospect", {k: r[k] for k in _PROSPECT_FIELDS}, at=at
                )
        for rows in people(size - shared, seed + 500):
            for r in rows:
                self.crm_be.put("Lead", _lead(r), at=at)
        if shared:
            # The first `shared` prospects exist in the CRM too, with equal values.
            for rows in people(shared, seed):
                for r in rows:
                    self.crm_be.put("Lead", _lead(r), at=at)
        self.size, self.shared = size, shared
        self.vendor = VendorClock()
        self.crm_factory = _late_committing_crm() if late_commit else MemoryConnector
        self.platform_factory = MemoryPlatformConnector

    def connections(self) -> tuple[Any, Any]:
        from crmsync.plugins import Connection
        from crmsync.testing.memory import MemorySettings

        platform = Connection(
            _installed(self.platform_factory),
            MemorySettings(),
            factory_kwargs={"backend": self.platform_be},
            extra_plugins=[self.vendor.plugin()],
        )
        crm = Connection(
            _installed(self.crm_factory),
            MemorySettings(),
            factory_kwargs={"backend": self.crm_be},
            extra_plugins=[self.vendor.plugin()],
        )
        return platform, crm


_PROSPECT_FIELDS = ("email", "first_name", "last_name", "phone", "company")


def memory_job(size: int, seed: int, **kwargs: Any) -> MemoryJob:
    """The in-memory job of the echo scenario (and ``benchmarks.twoway``)."""
    return MemoryJob(size, seed, **kwargs)


def _memory_integration(store: Any, name: str, *, create: bool) -> Any:
    from crmsync.models import CreationMode, CreationRule, Integration, ObjectPair

    rule = CreationRule(mode=CreationMode.ALL if create else CreationMode.NEVER)
    return store.config.create_integration(
        Integration(
            name=name,
            platform_connector="memory_platform",
            crm_connector="memory",
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


class Timed:
    """Wall, process CPU and the vendors' CPU of one timed call."""

    def __init__(self, vendor: VendorClock) -> None:
        self.vendor = vendor
        self.wall = self.cpu = self.vendor_cpu = 0.0

    def __enter__(self) -> Timed:
        # As `crmsync sync` does before a cycle; it also freezes the in-memory vendors'
        # records, which a real vendor keeps in its own process (see README).
        from crmsync.engine import freeze_long_lived_objects

        freeze_long_lived_objects()
        self.vendor.reset()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self.vendor_cpu = self.vendor.cpu

    def as_dict(self) -> dict[str, float]:
        return {
            "wall": self.wall,
            "cpu": self.cpu,
            "vendor_cpu": self.vendor_cpu,
            "own_cpu": self.cpu - self.vendor_cpu,
        }


def _engine_cycle(store: Any, name: str, job: MemoryJob) -> tuple[Timed, Any]:
    from crmsync.engine import SyncEngine

    platform, crm = job.connections()
    engine = SyncEngine(store, store.config.get_integration(name), platform, crm)
    with Timed(job.vendor) as timed:
        report = engine.run_cycle()
    if report.status != "succeeded":
        raise RuntimeError(f"cycle {report.status}: {report.message} {report.counts()}")
    return timed, report


def engine(size: int, runs: int) -> dict[str, Any]:
    """Record pairs decided and stored per wall and CPU second, both connectors in
    memory; each run is followed, in the same process, by the SQLite floor at the
    same N (the machine's reference loop), so their ratio is taken at one moment."""
    from benchmarks.sqlite_floor import floor_with_cpu
    from crmsync.store import open_store

    link: list[dict[str, float]] = []
    update: list[dict[str, float]] = []
    floors: list[dict[str, float]] = []
    for run in range(runs):
        # Every prospect has its lead (same email and values): the first cycle links
        # them all and writes nothing.
        job = MemoryJob(size, 1 + run, shared=size, now=_Clock())
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{tmp}/state.db")
            _memory_integration(store, "engine", create=False)
            timed, report = _engine_cycle(store, "engine", job)
            assert report.linked == size and report.writes == 0, report.counts()
            link.append(timed.as_dict())
            clock = job.platform_be.now
            assert isinstance(clock, _Clock)
            clock.at += dt.timedelta(hours=1)
            for record_id in job.platform_be.live("prospect"):
                job.platform_be.put(
                    "prospect", {"first_name": "Changed"}, record_id=record_id
                )
            timed, report = _engine_cycle(store, "engine", job)
            assert report.crm.updated == size, report.counts()
            update.append(timed.as_dict())
            store.dispose()
        del job
        gc.unfreeze()  # this run's vendors may go now
        gc.collect()
        phases, cpu = floor_with_cpu(size)
        floors.append({"wall": sum(phases.values()), "cpu": cpu})

    def rate(samples: list[dict[str, float]], key: str) -> float:
        return _median([size / s[key] for s in samples])

    def ratio(samples: list[dict[str, float]]) -> float:
        # Per run, engine and floor were measured back to back: the ratio's median.
        return _median(
            [f["cpu"] / s["cpu"] for s, f in zip(samples, floors, strict=True)]
        )

    return {
        "size": size,
        "runs": runs,
        "link_pairs_per_second": rate(link, "wall"),
        "update_pairs_per_second": rate(update, "wall"),
        # per CPU-second of this process (the in-memory vendors' CPU included, as the
        # target counts it): the rate on one core, whatever else the machine was doing
        "link_pairs_per_cpu_second": rate(link, "cpu"),
        "update_pairs_per_cpu_second": rate(update, "cpu"),
        # the same without the vendors' share (crmsync's own CPU)
        "link_pairs_per_own_cpu_second": rate(link, "own_cpu"),
        "update_pairs_per_own_cpu_second": rate(update, "own_cpu"),
        "floor_pairs_per_second": rate(floors, "wall"),
        "floor_pairs_per_cpu_second": rate(floors, "cpu"),
        "link_of_floor_cpu": ratio(link),
        "update_of_floor_cpu": ratio(update),
        "samples": {
            "link": [{k: round(v, 4) for k, v in s.items()} for s in link],
            "update": [{k: round(v, 4) for k, v in s.items()} for s in update],
            "floor": [{k: round(v, 4) for k, v in s.items()} for s in floors],
        },
        "peak_rss_mb": _peak_mb(),
    }


# -- 6. the echo cycle, against the two-sided raw loop
# -------------------------------------------
ECHO_SHARED = 0.1  # of the records exist on both sides (matched, not created)


def echo(size: int, runs: int) -> dict[str, Any]:
    """crmsync's initial sync, the echo cycle right after it and a back-to-back idle
    cycle, on a real clock; and the two-sided raw loop's first and second run on the
    same job (``benchmarks/twoway.py``). In-memory connectors, SQLite.

    Job: N prospects and N leads, 10% of them the same person on both sides (matched
    by email), the rest created on the other side (creation rule *all* both ways). The
    CRM declares Salesforce's 300 s late-commit window, so the two cycles after the
    initial sync each re-read the whole of what it wrote. crmsync and the raw loop
    alternate which goes first, run by run, each on a fresh copy of the job.
    """
    from benchmarks.twoway import two_sided_raw_loop
    from crmsync.store import open_store

    shared = int(size * ECHO_SHARED)
    expected_links = 2 * size - shared
    samples: dict[str, list[dict[str, float]]] = {
        k: [] for k in ("initial", "echo", "idle", "raw_first", "raw_second")
    }
    counts: dict[str, Any] = {}

    def crmsync_runs(run: int) -> None:
        job = MemoryJob(size, 1 + run, shared=shared, late_commit=True)
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{tmp}/state.db")
            _memory_integration(store, "echo", create=True)
            for cycle in ("initial", "echo", "idle"):
                timed, report = _engine_cycle(store, "echo", job)
                samples[cycle].append(timed.as_dict())
                counts[cycle] = report.counts()
                for side in ("platform", "crm"):
                    counts[cycle][side].pop("failed", None)
            store.dispose()
            import sqlite3

            db = sqlite3.connect(f"{tmp}/state.db")
            (links,) = db.execute("SELECT count(*) FROM links").fetchone()
            db.close()
        assert links == expected_links, (links, expected_links, counts)
        del job
        gc.unfreeze()

    def raw_runs(run: int) -> None:
        job = MemoryJob(size, 1 + run, shared=shared, late_commit=True)
        with tempfile.TemporaryDirectory() as tmp:
            for label in ("raw_first", "raw_second"):
                platform, crm = job.connections()
                with Timed(job.vendor) as timed:
                    answer = two_sided_raw_loop(platform, crm, f"{tmp}/links.db")
                samples[label].append(timed.as_dict())
                counts[label] = answer
        assert counts["raw_first"]["links"] == expected_links, counts["raw_first"]
        assert counts["raw_second"]["created_crm"] == 0, counts["raw_second"]
        del job
        gc.unfreeze()

    for run in range(runs):
        order = (crmsync_runs, raw_runs) if run % 2 == 0 else (raw_runs, crmsync_runs)
        for part in order:
            part(run)

    medians = {
        name: {key: _median([s[key] for s in values]) for key in values[0] if values}
        for name, values in samples.items()
    }
    return {
        "size": size,
        "runs": runs,
        "shared": shared,
        "links": expected_links,
        "late_commit_seconds": 300.0,
        **medians,
        "counts": counts,
        "samples": {
            name: [{k: round(v, 4) for k, v in s.items()} for s in values]
            for name, values in samples.items()
        },
        "peak_rss_mb": _peak_mb(),
    }


def store_replay(size: int, runs: int) -> dict[str, Any]:
    """A replay of the link cycle's state-store calls through the ``StateStore`` API
    (stage both feeds, read the inbox by chunk and by match key, look links up, insert
    links, settle, purge), with no engine logic and no connector.

    It measures what those calls cost when made one after another through the store's
    public methods; it is not a ceiling for the engine, which makes some of them
    differently (it beat this replay per CPU-second in interleaved runs)."""
    from crmsync.contract import ChangedRecord, Cursor
    from crmsync.models import Integration, ObjectPair
    from crmsync.store import LinkRow, open_store

    rates, cpu_rates = [], []
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
            started, cpu = time.perf_counter(), time.process_time()
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
            cpu_rates.append(size / (time.process_time() - cpu))
            store.dispose()
    return {
        "size": size,
        "runs": runs,
        "link_pairs_per_second": _median(rates),
        "link_pairs_per_cpu_second": _median(cpu_rates),
        "samples": [round(r) for r in rates],
    }


def sqlite_floor(size: int, runs: int) -> dict[str, Any]:
    """The link cycle's store statements made with bare ``sqlite3``
    (``sqlite_floor.py``): the machine's reference loop, with no Python of crmsync's."""
    from benchmarks.sqlite_floor import floor_with_cpu

    spent = [floor_with_cpu(size) for _ in range(runs)]
    totals = [sum(phases.values()) for phases, _ in spent]
    return {
        "size": size,
        "runs": runs,
        "link_pairs_per_second": _median([size / total for total in totals]),
        "link_pairs_per_cpu_second": _median([size / cpu for _, cpu in spent]),
        "phase_seconds": {
            phase: _median([phases[phase] for phases, _ in spent])
            for phase in spent[0][0]
        },
        "samples": [round(size / total) for total in totals],
    }


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "initial": initial,
    "raw": raw,
    "engine": engine,
    "replay": store_replay,
    "floor": sqlite_floor,
    "echo": echo,
}
