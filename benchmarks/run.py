"""crmsync benchmark: API calls and time per changed record, and how a cycle scales with
links.

    uv run python -m benchmarks.run                       # N = 10,000, 3 runs,
    everything
    uv run python -m benchmarks.run --sizes 10000,100000,1000000 --runs 3 --json
    bench.json
    uv run python -m benchmarks.run --only engine,idle --sizes 500 --runs 1

Each scenario and size runs in a child process of its own (peak RSS is that child's
``ru_maxrss``); the Salesforce emulator runs on a loopback port in a grandchild, and
every API call is counted from the emulator's request log. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ALL = (
    "initial",
    "incremental",
    "idle",
    "raw",
    "engine",
    "replay",
    "floor",
    "echo",
    "scaling",
)
ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def reference_seconds() -> float:
    """Seconds for a fixed pure-Python loop (best of 3): this machine's speed *now*.

    Shared and virtual machines change speed by tens of per cent from hour to hour;
    printed beside the figures, it lets two runs (or two machines) be compared.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


# -- the child side
# -----------------------------------------------------------------------------
def child(scenario: str, sizes: list[int], runs: int, parts: list[str]) -> None:
    from benchmarks import _scenarios as S

    if scenario == "linked":
        result = S.linked(sizes[0], runs, parts)
    elif scenario == "scaling":
        result = S.scaling(sizes, runs)
    else:
        result = S.SCENARIOS[scenario](sizes[0], runs)
    print("BENCH-RESULT " + json.dumps(result), flush=True)


def spawn(
    scenario: str, size: int | list[int], runs: int, parts: list[str] | None = None
) -> dict[str, Any]:
    sizes = size if isinstance(size, list) else [size]
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--child",
        scenario,
        "--sizes",
        ",".join(str(n) for n in sizes),
        "--runs",
        str(runs),
        "--only",
        ",".join(parts or ALL),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            result: dict[str, Any] = json.loads(line[len("BENCH-RESULT ") :])
            result["child_seconds"] = round(time.perf_counter() - started, 1)
            return result
    errors = [
        line[:600]
        for line in done.stderr.splitlines()
        if "Error" in line or "error" in line
    ][-8:]
    raise RuntimeError(
        f"{scenario} {size} failed (exit {done.returncode}):\n"
        + "\n".join(errors)
        + f"\n{done.stderr[-1500:]}"
    )


# -- the table
# -----------------------------------------------------------------------------------
def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def _calls(calls: dict[str, int]) -> str:
    parts = [
        f"{calls.get(k, 0)} {k}"
        for k in ("read", "deleted", "write", "readback", "token", "describe", "other")
        if calls.get(k)
    ]
    text = f"{calls.get('total', 0)} ({', '.join(parts)})" if parts else "0"
    if "emulator_ms" in calls:
        text += f"; emulator busy {calls['emulator_ms']:.0f} ms"
    return text


def rows_of(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(scenario, size, figure, target, verdict) rows."""
    rows: list[tuple[str, str, str, str, str]] = []
    for r in results.get("initial", []):
        n = f"{r['size']:,}"
        calls = r["calls"]
        rows += [
            (
                "initial",
                n,
                f"{r['seconds']:.2f} s, {r['records_per_second']:,.0f} rec/s "
                f"(2N records)",
                "",
                "",
            ),
            (
                "initial",
                n,
                f"reads {calls.get('read', 0)} / min {r['min_reads']}",
                "one per page",
                _mark(calls.get("read", 0) <= r["min_reads"]),
            ),
            (
                "initial",
                n,
                f"writes {calls.get('write', 0)} / min {r['min_writes']}",
                "ceil(N/200)",
                _mark(calls.get("write", 0) == r["min_writes"]),
            ),
            (
                "initial",
                n,
                f"other calls: {calls.get('readback', 0)} write read-backs, "
                f"{calls.get('token', 0)} token, {calls.get('describe', 0)} describe; "
                f"total {_calls(calls)}",
                "no call the work does not need",
                _mark(calls.get("other", 0) == 0 and calls.get("readback", 0) == 0),
            ),
            (
                "initial",
                n,
                f"peak RSS {r['peak_rss_mb']:.0f} MB",
                "< 500 MB at 1M",
                _mark(r["peak_rss_mb"] < 500),
            ),
        ]
        if "echo_seconds" in r:
            rows.append(
                (
                    "initial: echo",
                    n,
                    f"the cycle right after: {r['echo_seconds']:.2f} s "
                    f"({r['echo_cpu_seconds']:.2f} CPU-s; initial "
                    f"{r['cpu_seconds']:.2f} CPU-s), x{r['echo_of_initial']:.2f} "
                    f"of the initial sync; calls {_calls(r['echo_calls'])}",
                    "<= 0.2x the initial sync",
                    _mark(r["echo_of_initial"] <= 0.2),
                )
            )
    base_inc = base_fix = None
    for r in results.get("linked", []):
        n = f"{r['size']:,}"
        if "incremental" in r:
            inc, fix = r["incremental"], r["fixed"]
            base_inc = base_inc or inc
            base_fix = base_fix or fix
            ratio_t = inc["seconds"] / base_inc["seconds"]
            ratio_c = inc["calls"].get("total", 0) / max(
                1, base_inc["calls"].get("total", 0)
            )
            rows += [
                (
                    "incremental 1%",
                    n,
                    f"{inc['changed_per_side']:,}/side: {inc['seconds']:.3f} s "
                    f"(x{ratio_t:.2f} of 10k), calls {_calls(inc['calls'])} "
                    f"(x{ratio_c:.2f})",
                    "",
                    "",
                ),
                (
                    "incremental 1%",
                    n,
                    f"writes {inc['calls'].get('write', 0)} / min {inc['min_writes']}; "
                    f"reads {inc['calls'].get('read', 0)} / min {inc['min_reads']}",
                    "writes ceil(changed/200), reads one per page, nothing else",
                    _mark(
                        inc["calls"].get("write", 0) == inc["min_writes"]
                        and inc["calls"].get("read", 0) <= inc["min_reads"]
                        and inc["calls"].get("total", 0)
                        == inc["calls"].get("write", 0) + inc["calls"].get("read", 0)
                    ),
                ),
                (
                    "incremental 1%",
                    n,
                    f"echo cycle after it: {inc.get('echo_seconds', 0):.3f} s, "
                    f"calls {_calls(inc['echo_calls'])}",
                    "",
                    "",
                ),
            ]
            ratio_f = fix["seconds"] / base_fix["seconds"]
            rows.append(
                (
                    "incremental 100/side",
                    n,
                    f"{fix['seconds']:.3f} s (x{ratio_f:.2f} of 10k), "
                    f"calls {_calls(fix['calls'])}",
                    "<= 1.2x the 10k time",
                    _mark(ratio_f <= 1.2) if fix is not base_fix else "base",
                )
            )
            if "emulator_ms" in fix["calls"]:
                # The engine waits while the emulator answers (one call at a time here),
                # so wall time minus the emulator's busy time is crmsync's own share.
                own = fix["seconds"] - fix["calls"]["emulator_ms"] / 1000
                own_base = base_fix["seconds"] - base_fix["calls"]["emulator_ms"] / 1000
                rows.append(
                    (
                        "incremental 100/side",
                        n,
                        f"crmsync's own time (wall - emulator busy): {own:.3f} s "
                        f"(x{own / own_base:.2f} of 10k)",
                        "<= 1.2x the 10k time",
                        _mark(own / own_base <= 1.2) if fix is not base_fix else "base",
                    )
                )
        if "idle" in r:
            idle = r["idle"]
            rows.append(
                (
                    "idle",
                    n,
                    f"{idle['seconds'] * 1000:.1f} ms, calls {_calls(idle['calls'])}",
                    "<= 1 per object and side (CRM: 1)",
                    _mark(idle["calls"].get("total", 0) <= 1),
                )
            )
        rows.append(
            (
                "linked setup",
                n,
                f"peak RSS {r['peak_rss_mb']:.0f} MB, emulator "
                f"{r['emulator_rss_mb']:.0f} MB, setup {r['setup_seconds']:.1f} s",
                "",
                "",
            )
        )
    initial = {r["size"]: r for r in results.get("initial", [])}
    for r in results.get("raw", []):
        n = f"{r['size']:,}"
        mine = initial.get(r["size"])
        ratio = mine["seconds"] / r["seconds"] if mine else None
        rows.append(
            (
                "raw httpx",
                n,
                f"{r['seconds']:.2f} s ({_calls(r['calls'])})"
                + (f"; crmsync initial x{ratio:.2f}" if ratio else ""),
                "crmsync <= 1.3x",
                _mark(ratio <= 1.3 if ratio else None),
            )
        )
    for r in results.get("engine", []):
        n = f"{r['size']:,}"
        for cycle, what in (
            ("link", "link and decide"),
            ("update", "decide, write, store"),
        ):
            cpu_rate = r[f"{cycle}_pairs_per_cpu_second"]
            rows.append(
                (
                    f"engine only, {cycle}",
                    n,
                    f"{cpu_rate:,.0f} pairs per CPU-second "
                    f"({r[f'{cycle}_pairs_per_own_cpu_second']:,.0f} without the "
                    f"in-memory vendors' CPU); {r[f'{cycle}_pairs_per_second']:,.0f} "
                    f"per wall second; x{r[f'{cycle}_of_floor_cpu']:.2f} of the "
                    f"SQLite floor per CPU-second ({what})",
                    ">= 20,000 per CPU-second",
                    _mark(cpu_rate >= 20_000),
                )
            )
        rows.append(
            (
                "engine only, floor",
                n,
                "the machine's reference loop, interleaved with the engine runs in "
                "the same process: SQLite floor "
                f"{r['floor_pairs_per_cpu_second']:,.0f} pairs per CPU-second, "
                f"{r['floor_pairs_per_second']:,.0f} per wall second",
                "",
                "",
            )
        )
    for r in results.get("replay", []):
        rows.append(
            (
                "store replay",
                f"{r['size']:,}",
                "the link cycle's state-store calls replayed through the StateStore "
                f"API, no engine, no connector: {r['link_pairs_per_second']:,.0f} "
                f"pairs/s, {r.get('link_pairs_per_cpu_second', 0):,.0f} per CPU-second "
                "(what those calls cost made one by one; not a ceiling: the engine "
                "makes some of them differently)",
                "",
                "",
            )
        )
    for r in results.get("floor", []):
        rows.append(
            (
                "sqlite floor",
                f"{r['size']:,}",
                "the machine's reference loop, the link cycle's statements with bare "
                f"sqlite3: {r['link_pairs_per_second']:,.0f} pairs/s, "
                f"{r.get('link_pairs_per_cpu_second', 0):,.0f} per CPU-second (no "
                "Python of crmsync's)",
                "",
                "",
            )
        )
    for r in results.get("echo", []):
        n = f"{r['size']:,}"

        def figure(part: dict[str, float]) -> str:
            return (
                f"{part['wall']:.3f} s wall, {part['cpu']:.3f} CPU-s "
                f"({part['own_cpu']:.3f} without the vendors')"
            )

        initial, echo, idle = r["initial"], r["echo"], r["idle"]

        def reads(cycle: str, r: dict[str, Any] = r) -> str:
            counts = r["counts"][cycle]
            return ", ".join(
                f"{side} read {counts[side]['read']:,} "
                f"({counts[side]['unchanged']:,} unchanged)"
                for side in ("platform", "crm")
            )

        first, second = r["raw_first"], r["raw_second"]
        echo_ratio = echo["wall"] / initial["wall"]
        raw_ratio = initial["wall"] / first["wall"]
        second_ratio = echo["wall"] / second["wall"]
        rows += [
            (
                "echo: initial",
                n,
                f"crmsync initial sync ({r['links']:,} links, "
                f"{r['shared']:,} matched): {figure(initial)}",
                "",
                "",
            ),
            (
                "echo: raw loop",
                n,
                f"two-sided raw loop, first run: {figure(first)}; crmsync initial "
                f"x{raw_ratio:.2f} (CPU x{initial['cpu'] / first['cpu']:.2f})",
                "crmsync initial <= 2x",
                _mark(raw_ratio <= 2),
            ),
            (
                "echo: echo cycle",
                n,
                f"the cycle right after: {figure(echo)}; x{echo_ratio:.2f} of the "
                f"initial sync (CPU x{echo['cpu'] / initial['cpu']:.2f}); "
                f"{reads('echo')}",
                "<= 0.2x the initial sync",
                _mark(echo_ratio <= 0.2),
            ),
            (
                "echo: echo cycle",
                n,
                f"raw loop's second run: {figure(second)}; crmsync's echo cycle "
                f"x{second_ratio:.2f} of it (CPU x{echo['cpu'] / second['cpu']:.2f})",
                "crmsync <= 1x",
                _mark(second_ratio <= 1),
            ),
            (
                "echo: idle",
                n,
                f"a back-to-back idle cycle after it (real clock, within the 300 s "
                f"late-commit window): {figure(idle)}; {reads('idle')}",
                "",
                "",
            ),
        ]
    scaling = results.get("scaling")
    if scaling:
        per_size = scaling["per_size"]
        base = str(min(scaling["sizes"]))
        for size in scaling["sizes"]:
            f = per_size[str(size)]
            is_base = str(size) == base
            rows.append(
                (
                    "scaling, interleaved",
                    f"{size:,}",
                    f"same 100 + 100 change set: {f['wall']:.3f} s wall "
                    f"(x{f['wall_ratio']:.2f}), {f['cpu']:.3f} CPU-s "
                    f"(x{f['cpu_ratio']:.2f}), own {f['own']:.3f} s "
                    f"(x{f['own_ratio']:.2f}); echo {f['echo_wall']:.3f} s, idle "
                    f"{f['idle_wall'] * 1000:.1f} ms; median of {scaling['runs']} "
                    "alternating rounds",
                    "<= 1.2x the smallest size (CPU)",
                    "base" if is_base else _mark(f["cpu_ratio"] <= 1.2),
                )
            )
    return rows


def render(results: dict[str, Any]) -> None:
    info = results["machine"]
    title = (
        f"crmsync benchmark - {info['cpu']}, {info['cores']} cores, "
        f"{info['ram_gb']} GB, "
        f"Python {info['python']}; median of {results['runs']} run(s)"
    )
    reference = results.get("reference_seconds")
    if reference:
        title += "; reference loop (10M additions) " + " / ".join(
            f"{v:.2f} s {k}" for k, v in reference.items()
        )
    rows = rows_of(results)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(title)
        for row in rows:
            print(" | ".join(row))
        return
    table = Table(title=title, show_lines=False)
    for name in ("scenario", "N", "figure", "target", ""):
        table.add_column(name, overflow="fold")
    for row in rows:
        style = "red" if row[4] == "MISS" else ("green" if row[4] == "PASS" else None)
        table.add_row(*row, style=style)
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="10000",
        help="comma-separated N (10000 is always included as the baseline "
        "for incremental ratios); e.g. 10000,100000,1000000",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--json", type=Path, default=None, help="write the results here"
    )
    parser.add_argument(
        "--only",
        default=",".join(ALL),
        help=f"comma-separated subset of {','.join(ALL)}",
    )
    parser.add_argument(
        "--engine-size",
        type=int,
        default=None,
        help="N for the engine-only scenario (default: the smallest size)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s})
    only = [part for part in args.only.split(",") if part]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.child:
        child(args.child, sizes, args.runs, only)
        return 0

    results: dict[str, Any] = {
        "machine": machine(),
        "runs": args.runs,
        "sizes": sizes,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "reference_seconds": {"before": reference_seconds()},
    }
    linked_parts = [p for p in ("incremental", "idle") if p in only]
    linked_sizes = (
        sorted({10_000, *sizes})
        if "incremental" in only and min(sizes) >= 10_000
        else sizes
    )
    for size in sizes:
        for scenario in ("initial", "raw"):
            if scenario in only:
                print(f"... {scenario} N={size:,}", file=sys.stderr, flush=True)
                results.setdefault(scenario, []).append(
                    spawn(scenario, size, args.runs)
                )
    for size in linked_sizes:
        if linked_parts:
            print(
                f"... {'+'.join(linked_parts)} N={size:,}", file=sys.stderr, flush=True
            )
            results.setdefault("linked", []).append(
                spawn("linked", size, args.runs, linked_parts)
            )
    if "engine" in only:
        size = args.engine_size or min(sizes)
        print(f"... engine N={size:,}", file=sys.stderr, flush=True)
        results["engine"] = [spawn("engine", size, args.runs)]
    if "replay" in only:
        size = args.engine_size or min(sizes)
        print(f"... store replay N={size:,}", file=sys.stderr, flush=True)
        results["replay"] = [spawn("replay", size, args.runs)]
    if "floor" in only:
        size = args.engine_size or min(sizes)
        print(f"... sqlite floor N={size:,}", file=sys.stderr, flush=True)
        results["floor"] = [spawn("floor", size, args.runs)]
    if "echo" in only:
        for size in sizes:
            print(f"... echo N={size:,}", file=sys.stderr, flush=True)
            results.setdefault("echo", []).append(spawn("echo", size, args.runs))
    if "scaling" in only:
        print(
            f"... scaling, interleaved, N={','.join(f'{n:,}' for n in sizes)}",
            file=sys.stderr,
            flush=True,
        )
        results["scaling"] = spawn("scaling", sizes, args.runs)
    results["reference_seconds"]["after"] = reference_seconds()
    results["rows"] = rows_of(results)
    render(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
