"""The benchmark script still runs: engine-only, store-only, SQLite-floor and idle
scenarios at N=500, one run.

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
        timeout=120,
        check=False,
    )


def test_engine_and_idle_scenarios_run(tmp_path):
    out = tmp_path / "bench.json"
    done = _run_module(
        "benchmarks.run",
        "--only",
        "engine,store,floor,idle",
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
    (store,) = results["store"]
    assert store["link_pairs_per_second"] > 0
    (floor,) = results["floor"]
    assert floor["link_pairs_per_second"] > 0 and "stage" in floor["phase_seconds"]
    assert results["reference_seconds"]["before"] > 0
    (linked,) = results["linked"]
    idle = linked["idle"]
    # Counted from the emulator's request log: a warm idle cycle reads one page of
    # Leads.
    assert idle["calls"]["total"] == idle["calls"].get("read", 0) == 1
    assert "idle" in done.stdout and "engine only" in done.stdout


def test_the_sqlite_floor_script_runs():
    done = _run_module("benchmarks.sqlite_floor", "300")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pairs/s for SQLite alone" in done.stdout


def test_the_staging_shapes_script_runs():
    done = _run_module("benchmarks.staging_shapes", "400", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.endswith("us per row")]
    # The store's own shape and its variants: one line each, none of them free.
    assert len(lines) == 5
    assert all(float(line.split()[-4]) > 0 for line in lines)
