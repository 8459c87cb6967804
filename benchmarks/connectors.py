"""Every installed CRM connector against its own emulator: one row each.

    uv run python -m benchmarks.connectors                      # N = 1,000
    uv run python -m benchmarks.connectors --records 30 --json out.json
    uv run python -m benchmarks.connectors --only salesforce,zoho

The connectors are found through the ``crmsync.connectors`` entry points and their
``ConnectorDescription.emulator`` only: this file names none of them. For each, in a
child process of its own (so peak RSS is that child's and one broken connector cannot
take the others down), the demo's job runs against the connector's emulator on a
loopback port: an integration built from ``ServedEmulator.settings`` (secrets through
the environment) and ``demo_fields``, the ``local`` platform, every person object
paired and matched by email, creation *all* both ways. Three timed cycles:

* **initial** - N prospects on the platform and N other people in the CRM's create
  object: one cycle creates N on each side.
* **incremental** - 5% of the records edited on each side (a phone on the platform,
  a first name in the CRM, different pairs), one cycle.
* **idle** - nothing changed, one cycle.

An untimed cycle after the initial and the incremental one reads back the echo of
crmsync's own writes, as the next scheduled cycle would. Requests are counted from the
emulator's request log (every request it answered, token and metadata calls included),
or from the connection's hook counts when the served emulator exposes no log. The
vendor minimum comes from the description: ``ceil(records / max_page_size)`` reads
per object read (one for an object with nothing to read) and
``ceil(writes / max_batch_size)`` writes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.run import machine

ROOT = Path(__file__).resolve().parent.parent
RESULT = "BENCH-RESULT "
CYCLES = ("initial", "incremental", "idle")
EDITED_SHARE = 0.05
SEED_CHUNK = 500
# A path segment that is a record id: digits, a GUID, or a
# long token of letters and digits that contains a digit; and an OData key in
# parentheses.
_ID_SEGMENT = re.compile(
    r"/(?:\d+|[0-9a-fA-F-]{32,36}|(?=[A-Za-z]*\d)[A-Za-z0-9]{15,18})(?=/|$)"
)
_KEY_IN_PARENTHESES = re.compile(r"\([^)/]+\)")


# -- what is installed
# ---------------------------------------------------------------------------
def crm_connectors() -> list[tuple[str, str | None]]:
    """(id, why it cannot be benchmarked or None) of every installed CRM connector."""
    from crmsync.plugins import discover_connectors

    catalog = discover_connectors()
    found: list[tuple[str, str | None]] = []
    for connector_id, installed in sorted(catalog.loaded.items()):
        if installed.description.role == "platform":
            continue
        why = (
            None
            if installed.description.emulator
            else "its description names no emulator"
        )
        found.append((connector_id, why))
    for connector_id, failure in sorted(catalog.failed.items()):
        found.append((connector_id, f"does not load: {failure.error}"))
    return found


# -- the child: one connector
# ---------------------------------------------------------------------------
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """The emulator's secret settings for this process only, as the demo hands them."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _request_log(served: Any) -> Any | None:
    """The served emulator's request log (a ``RequestLog``-like list that can be
    cleared), on the served object or on the emulator it wraps; None without one."""
    for owner in (served, getattr(served, "emulator", None)):
        for name in ("log", "request_log"):
            log = getattr(owner, name, None)
            if log is not None and callable(getattr(log, "clear", None)):
                try:
                    len(log)
                    iter(log)
                except TypeError:
                    continue
                return log
    return None


def _route(method: str, path: str) -> str:
    """``method path`` with record ids (numbers, GUIDs, long hex or vendor ids) as
    ``{id}``, so that a breakdown groups requests by the route they took."""
    path = _KEY_IN_PARENTHESES.sub("({id})", path)
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


def _wait_out(precision: float) -> None:
    """Sleep into the vendor's next timestamp tick, so that edits made now are later
    than everything the last cycle read (nothing to wait for a fine clock)."""
    if precision >= 0.01:
        time.sleep(precision - (time.time() % precision) + 0.01)


class _Run:
    """One connector's integration, emulator and platform file, and its cycles."""

    def __init__(self, connector_id: str, records: int, workdir: Path) -> None:
        from crmsync.cli._emulator_command import split_settings, start_emulator
        from crmsync.connectors.local import LocalStore
        from crmsync.logs import configure_logging
        from crmsync.operations import Workspace
        from crmsync.settings import CrmsyncSettings

        configure_logging(level="ERROR")
        self.records = records
        self.workspace = Workspace(
            settings=CrmsyncSettings(database_url=f"sqlite:///{workdir}/state.db")
        )
        self.installed = self.workspace.get_catalog().get(connector_id)
        self.description = self.installed.description
        self.served = start_emulator(self.installed)
        self.log = _request_log(self.served)
        self.local = LocalStore(workdir / "platform.db")
        objects = tuple(self.description.person_objects or self.description.objects)
        self.objects = objects
        self.create_object = str(
            getattr(self.served, "create_object", None) or objects[-1]
        )
        self.stored, self.secrets = split_settings(self.installed, self.served.settings)
        self._hooks: dict[str, int] = {}

    def close(self) -> None:
        self.served.stop()
        self.local.close()

    # -- the job ---------------------------------------------------------------------
    def _fields(self, crm_object: str) -> list[Any]:
        return [
            f
            for f in self.served.demo_fields
            if f.objects is None or crm_object in f.objects
        ]

    def _crm_field(self, platform_field: str, crm_object: str) -> str | None:
        return next(
            (
                f.crm_field
                for f in self._fields(crm_object)
                if f.platform_field == platform_field
            ),
            None,
        )

    def _integration(self) -> Any:
        from crmsync.models import CreationMode, CreationRule, Integration, ObjectPair

        pairs = []
        for index, crm_object in enumerate(self.objects):
            email = self._crm_field("email", crm_object)
            if email is None:
                raise RuntimeError(
                    f"the emulator's demo_fields map no CRM field of {crm_object} to "
                    "the platform's email, which the benchmark matches on"
                )
            pairs.append(
                ObjectPair(
                    platform_object="prospect",
                    crm_object=crm_object,
                    match_order=index,
                    crm_match_field=email,
                )
            )
        return Integration(
            name="bench",
            platform_connector="local",
            crm_connector=self.installed.id,
            platform_settings={"path": str(self.local.path)},
            crm_settings=self.stored,
            create_in_crm=CreationRule(
                mode=CreationMode.ALL, target_object=self.create_object
            ),
            create_in_platform=CreationRule(
                mode=CreationMode.ALL, target_object="prospect"
            ),
            object_pairs=tuple(pairs),
        )

    def _with_mappings(self, integration: Any, live: Any) -> Any:
        from crmsync.models import Direction

        pairs = []
        for pair in integration.object_pairs:
            mappings = tuple(
                live.build(
                    pair,
                    platform_field=f.platform_field,
                    crm_field=f.crm_field,
                    direction=Direction(f.direction),
                    default=f.default,
                )
                for f in self._fields(pair.crm_object)
            )
            pairs.append(pair.model_copy(update={"mappings": mappings}))
        return integration.model_copy(update={"object_pairs": tuple(pairs)})

    def _seed_platform(self) -> list[str]:
        from benchmarks._emu import people

        ids: list[str] = []
        with self.local.write() as moment:
            for rows in people(self.records, 1):
                ids += self.local.insert_rows(rows, moment)
        return ids

    def _seed_crm(self) -> list[str]:
        from benchmarks._emu import people

        names = ("email", "first_name", "last_name", "company", "phone")
        ids: list[str] = []
        for rows in people(self.records, 2, chunk=SEED_CHUNK):
            records = []
            for row in rows:
                # A prefix of its own: no CRM person shares an email with a prospect.
                values = {**row, "email": f"crm.{row['email']}"}
                record = {}
                for name in names:
                    crm_field = self._crm_field(name, self.create_object)
                    if crm_field is not None and values.get(name) is not None:
                        record[crm_field] = values[name]
                records.append(record)
            ids += self.served.seed(self.create_object, records)
        return ids

    def run(self) -> dict[str, Any]:
        from crmsync.engine import SyncEngine
        from crmsync.operations import LiveFields

        n = self.records
        with _environment(self.secrets):
            prospects = self._seed_platform()
            integration = self._integration()
            platform, crm = self.workspace.open_integration(integration)
            live = LiveFields(platform, crm)
            store = self.workspace.get_store()
            integration = store.config.create_integration(
                self._with_mappings(integration, live)
            )
            people = self._seed_crm()
            engine = SyncEngine(store, integration, platform, crm)

            result: dict[str, Any] = {}
            result["initial"] = self._cycle(engine, read=n, writes=n)
            self._settle(engine, result, "after_initial")
            edited = max(1, math.ceil(n * EDITED_SHARE))
            self._edit(prospects[:edited], people[:edited])
            result["incremental"] = self._cycle(engine, read=edited, writes=edited)
            result["incremental"]["edited_per_side"] = edited
            self._settle(engine, result, "after_incremental")
            result["idle"] = self._cycle(engine, read=0, writes=0)
        return result

    def _edit(self, prospects: Sequence[str], people: Sequence[str]) -> None:
        first_name = self._crm_field("first_name", self.create_object)
        if first_name is None or self._crm_field("phone", self.create_object) is None:
            raise RuntimeError(
                "the emulator's demo_fields map no first name or phone, which the "
                "incremental cycle edits"
            )
        _wait_out(self.description.timestamp_precision_seconds)
        with self.local.write() as moment:
            for index, prospect in enumerate(prospects):
                self.local.update_row(
                    prospect, {"phone": f"+1-555-{7000 + index}"}, moment
                )
        for index, record_id in enumerate(people):
            self.served.edit(
                self.create_object, record_id, {first_name: f"Edited{index}"}
            )

    def _settle(self, engine: Any, result: dict[str, Any], name: str) -> None:
        """An untimed cycle that reads back the echo of the last cycle's writes."""
        settle = self._cycle(engine, read=0, writes=0)
        result.setdefault("settle", {})[name] = {
            "calls": settle["calls"],
            "seconds": settle["seconds"],
        }

    def minimum(self, read: int, writes: int) -> dict[str, int]:
        """The vendor minimum for reading ``read`` records of the create object (every
        record of this benchmark lives there; the other person objects stay empty,
        one request each) and for ``writes`` records written."""
        page = self.description.max_page_size
        reads = sum(
            max(1, math.ceil((read if o == self.create_object else 0) / page))
            for o in self.objects
        )
        return {
            "reads": reads,
            "writes": math.ceil(writes / self.description.max_batch_size),
        }

    def _cycle(self, engine: Any, *, read: int, writes: int) -> dict[str, Any]:
        """One timed cycle; ``read`` and ``writes`` are the records it must read from
        the CRM and write to it, for the vendor minimum."""
        from crmsync.engine import freeze_long_lived_objects

        if self.log is not None:
            self.log.clear()
        freeze_long_lived_objects()  # as `crmsync sync` does before each cycle
        rss_before = _peak_mb()
        started = time.perf_counter()
        report = engine.run_cycle()
        seconds = time.perf_counter() - started
        rss_after = _peak_mb()
        if report.status != "succeeded":
            raise RuntimeError(f"cycle {report.status}: {report.message}")
        # The connection's hook counts run on from cycle to cycle: this cycle's part.
        total_hooks = dict(report.api_calls.get("crm", {}))
        hooks = {
            name: count - self._hooks.get(name, 0)
            for name, count in total_hooks.items()
            if count > self._hooks.get(name, 0)
        }
        self._hooks = total_hooks
        if self.log is not None:
            entries = list(self.log)
            calls = len(entries)
            by_route = dict(Counter(_route(e.method, e.path) for e in entries))
            failed = sum(1 for e in entries if not 200 <= e.status < 400)
            source = "request log"
        else:
            calls, by_route, failed = sum(hooks.values()), {}, 0
            source = "hook calls"
        minimum = self.minimum(read, writes)
        needed = minimum["reads"] + minimum["writes"]
        # What the connector fetched includes the engine's re-read window
        # (max(overlap_seconds, late_commit_seconds)): on the emulator's real clock
        # every record of the benchmark is seconds old, so inside it.
        fetched = self.minimum(report.crm.read, writes)
        return {
            "seconds": round(seconds, 3),
            "calls": calls,
            "calls_by_route": by_route,
            "failed_calls": failed,
            "counted_from": source,
            "hooks": hooks,
            "minimum": needed,
            "minimum_parts": minimum,
            "over_minimum": round(calls / needed, 2) if needed else None,
            "minimum_for_what_was_read": fetched["reads"] + fetched["writes"],
            "rss_mb": round(rss_after, 1),
            "rss_growth_mb": round(rss_after - rss_before, 1),
            "platform": report.platform.as_dict(),
            "crm": report.crm.as_dict(),
        }


def child(connector_id: str, records: int) -> dict[str, Any]:
    """Benchmark one connector in this process; the result as a JSON-able dict."""
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        run = _Run(connector_id, records, Path(tmp))
        try:
            return run.run()
        finally:
            run.close()


# -- the parent: a child per connector, then the table
# ---------------------------------------------------------------------------
def spawn(connector_id: str, records: int, timeout: float) -> dict[str, Any]:
    """Run one connector in a child process; its result, or ``{"error": ...}``."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.connectors",
        "--child",
        connector_id,
        "--records",
        str(records),
    ]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s (--timeout)"}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            found: dict[str, Any] = json.loads(line[len(RESULT) :])
            return found
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {done.returncode}, no output"
    return {"error": last[:300], "stderr_tail": done.stderr[-3000:]}


def _cell(cycle: Mapping[str, Any]) -> str:
    window = cycle["minimum_for_what_was_read"]
    read = f" [{window}]" if window != cycle["minimum"] else ""
    return (
        f"{cycle['calls']}/{cycle['minimum']}{read} {cycle['seconds']:.2f}s "
        f"+{cycle['rss_growth_mb']:.0f}MB"
    )


def render(results: Mapping[str, Any]) -> str:
    """The table: one row per connector, each cycle as calls/minimum, time, growth of
    peak RSS."""
    info = results["machine"]
    lines = [
        f"crmsync connectors against their emulators: N = {results['records']:,} "
        f"prospects, {int(EDITED_SHARE * 100)}% edited per side "
        f"({info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"{results['date']})",
        "cells: requests/vendor minimum [minimum for the records the cycle read, "
        "re-read window included, where that differs], wall seconds, growth of peak "
        "RSS",
    ]
    header = ("connector", "page/batch", *CYCLES, "peak RSS")
    rows: list[tuple[str, ...]] = []
    for row in results["connectors"]:
        if "error" in row:
            rows.append((row["id"], "", f"ERROR: {row['error']}", "", "", ""))
            continue
        rows.append(
            (
                row["id"],
                f"{row['max_page_size']}/{row['max_batch_size']}",
                *(_cell(row[c]) for c in CYCLES),
                f"{max(row[c]['rss_mb'] for c in CYCLES):.0f}MB",
            )
        )
    widths = [
        max(len(r[i]) for r in (header, *rows) if not r[i].startswith("ERROR"))
        for i in range(len(header))
    ]
    for r in (header, *rows):
        lines.append(
            "  ".join(
                cell if cell.startswith("ERROR") else cell.ljust(width)
                for cell, width in zip(r, widths, strict=True)
            ).rstrip()
        )
    return "\n".join(lines)


def benchmark(
    records: int, *, only: Sequence[str] = (), timeout: float = 900.0
) -> dict[str, Any]:
    """Every installed CRM connector (or those in ``only``), one child each."""
    from crmsync.plugins import discover_connectors

    catalog = discover_connectors()
    rows: list[dict[str, Any]] = []
    for connector_id, why in crm_connectors():
        if only and connector_id not in only:
            continue
        row: dict[str, Any] = {"id": connector_id}
        installed = catalog.loaded.get(connector_id)
        if installed is not None:
            description = installed.description
            row |= {
                "name": description.name,
                "version": installed.version,
                "emulator": description.emulator,
                "max_page_size": description.max_page_size,
                "max_batch_size": description.max_batch_size,
            }
        if why is not None:
            row["error"] = why
        else:
            started = time.perf_counter()
            row |= spawn(connector_id, records, timeout)
            row["child_seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
    missing = sorted(set(only) - {r["id"] for r in rows})
    rows += [{"id": m, "error": "not an installed CRM connector"} for m in missing]
    return {
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "records": records,
        "edited_share": EDITED_SHARE,
        "connectors": rows,
    }


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--records must be 1 or more, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.connectors",
        description="Every installed CRM connector against its emulator: initial, "
        "incremental and idle cycles, requests against the vendor minimum.",
    )
    parser.add_argument("--records", type=_positive, default=1000, help="N (1000)")
    parser.add_argument("--only", default="", help="comma-separated connector ids")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per connector (900)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        try:
            result = child(args.child, args.records)
        except Exception as error:
            traceback.print_exc()
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
            return 1
        print(RESULT + json.dumps(result), flush=True)
        return 0
    only = [part.strip() for part in args.only.split(",") if part.strip()]
    results = benchmark(args.records, only=only, timeout=args.timeout)
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
