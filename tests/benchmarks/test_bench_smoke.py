"""The benchmark script still runs: engine-only, store-replay, SQLite-floor, idle, echo
and interleaved-scaling scenarios at small N, one or two runs; the tables they print
have their rows, and their figures are positive and agree with each other (never a
timing threshold).

The benchmark itself is never part of the test run (``uv run python -m
benchmarks.run``); this only keeps it from rotting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_engine_and_idle_scenarios_run(tmp_path):
    out = tmp_path / "bench.json"
    done = _run_module(
        "benchmarks.run",
        "--only",
        "engine,replay,floor,idle",
        "--sizes",
        "500",
        "--runs",
        "1",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["machine"]["cores"]
    (engine,) = results["engine"]
    assert engine["size"] == 500 and engine["link_pairs_per_second"] > 0
    for cycle in ("link", "update"):
        cpu_rate = engine[f"{cycle}_pairs_per_cpu_second"]
        # The vendors' CPU is part of the process's: without it, the rate is higher.
        assert 0 < cpu_rate <= engine[f"{cycle}_pairs_per_own_cpu_second"]
        assert engine[f"{cycle}_of_floor_cpu"] > 0
    # The floor ran in the same process, once per engine run.
    assert engine["floor_pairs_per_cpu_second"] > 0
    assert len(engine["samples"]["floor"]) == len(engine["samples"]["link"]) == 1
    (replay,) = results["replay"]
    assert replay["link_pairs_per_second"] > 0
    assert replay["link_pairs_per_cpu_second"] > 0
    (floor,) = results["floor"]
    assert floor["link_pairs_per_second"] > 0 and "stage" in floor["phase_seconds"]
    assert floor["link_pairs_per_cpu_second"] > 0
    assert results["reference_seconds"]["before"] > 0
    (linked,) = results["linked"]
    idle = linked["idle"]
    # Counted from the emulator's request log: a warm idle cycle reads one page of
    # Leads.
    # One read; and getDeleted at most once, when two hours of the org's clock (which
    # the scenario advances an hour between cycles) passed since the last sweep.
    calls = idle["calls"]
    assert calls.get("read", 0) == 1 and calls.get("deleted", 0) <= 1
    assert calls["total"] == calls["read"] + calls.get("deleted", 0)
    for row in ("idle", "engine only, link", "engine only, update", "store replay"):
        assert row in done.stdout
    assert "store only" not in done.stdout


def _rows(results: dict, scenario: str) -> list[list[str]]:
    return [row for row in results["rows"] if row[0].startswith(scenario)]


def test_the_echo_scenario_compares_crmsync_with_the_raw_loop(tmp_path):
    out = tmp_path / "bench.json"
    done = _run_module(
        "benchmarks.run",
        *("--only", "echo", "--sizes", "300", "--runs", "1", "--json", str(out)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (echo,) = json.loads(out.read_text())["echo"]
    # 300 a side, 30 on both: 30 matched, 270 created each way, 570 links; the
    # scenario itself checks crmsync's links against this count.
    assert (echo["shared"], echo["links"]) == (30, 570)
    counts = echo["counts"]
    assert counts["raw_first"] == {
        "read_platform": 300,
        "read_crm": 300,
        "matched": 30,
        "created_crm": 270,
        "created_platform": 270,
        "links": 570,
    }
    assert counts["raw_second"]["created_crm"] == 0
    assert counts["raw_second"]["created_platform"] == 0
    assert counts["initial"]["crm"]["created"] == 270
    assert counts["initial"]["platform"]["created"] == 270
    # crmsync's own cycles after the initial sync write nothing.
    assert counts["echo"]["crm"]["created"] == counts["echo"]["crm"]["updated"] == 0
    assert counts["idle"]["platform"]["created"] == 0
    for part in ("initial", "echo", "idle", "raw_first", "raw_second"):
        figures = echo[part]
        assert figures["wall"] > 0 and figures["cpu"] > 0
        assert 0 <= figures["vendor_cpu"] <= figures["cpu"]
        assert figures["own_cpu"] == figures["cpu"] - figures["vendor_cpu"]
    rows = [row[0] for row in json.loads(out.read_text())["rows"]]
    assert rows == [
        "echo: initial",
        "echo: raw loop",
        "echo: echo cycle",
        "echo: echo cycle",
        "echo: idle",
    ]
    assert "x0." in done.stdout or "x1." in done.stdout or "x2." in done.stdout


def test_the_scaling_scenario_interleaves_the_sizes(tmp_path):
    out = tmp_path / "bench.json"
    done = _run_module(
        "benchmarks.run",
        *("--only", "scaling", "--sizes", "200,400", "--runs", "2"),
        *("--json", str(out)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    scaling = results["scaling"]
    assert scaling["sizes"] == [200, 400] and scaling["runs"] == 2
    base, other = scaling["per_size"]["200"], scaling["per_size"]["400"]
    for key in ("wall", "cpu", "own"):
        assert base[f"{key}_ratio"] == 1.0  # each round against itself
        assert other[f"{key}_ratio"] > 0
    for figures in (base, other):
        # One sample per round and size: both sizes were measured in every round.
        assert all(len(values) == 2 for values in figures["samples"].values())
        assert figures["wall"] > 0 and figures["cpu"] > 0 and figures["idle_wall"] > 0
    assert [row[1] for row in _rows(results, "scaling")] == ["200", "400"]
    assert _rows(results, "scaling")[0][4] == "base"


def test_the_initial_scenario_times_its_echo_cycle(tmp_path):
    out = tmp_path / "bench.json"
    done = _run_module(
        "benchmarks.run",
        *("--only", "initial", "--sizes", "300", "--runs", "1", "--json", str(out)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    (initial,) = results["initial"]
    assert initial["echo_seconds"] > 0 and initial["cpu_seconds"] > 0
    ratio = initial["echo_seconds"] / initial["seconds"]
    assert abs(initial["echo_of_initial"] - ratio) < 1e-9  # one run: its own ratio
    # The echo cycle reads back the feed and writes nothing.
    assert initial["echo_calls"].get("write", 0) == 0
    assert initial["echo_calls"].get("read", 0) >= 1
    assert len(_rows(results, "initial: echo")) == 1


def test_the_sqlite_floor_script_runs():
    done = _run_module("benchmarks.sqlite_floor", "300")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pairs/s for SQLite alone" in done.stdout
    assert "pairs per CPU-second" in done.stdout


def test_the_two_sided_raw_loop_script_runs():
    done = _run_module("benchmarks.twoway", "200")
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = done.stdout.splitlines()
    assert "'created_crm': 180" in first and "'links': 380" in first
    assert "'created_crm': 0" in second and "'links': 380" in second


def test_the_staging_shapes_script_runs():
    done = _run_module("benchmarks.staging_shapes", "400", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.endswith("us per row")]
    # The store's own shape and its variants: one line each, none of them free.
    assert len(lines) == 5
    assert all(float(line.split()[-4]) > 0 for line in lines)
