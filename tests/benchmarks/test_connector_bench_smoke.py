"""The per-connector benchmark still runs: every installed CRM connector against its
emulator at N=30, with its requests at or above the vendor minimum (below it would mean
the count is wrong, not that the connector is clever).

The full-size run (``uv run python -m benchmarks.connectors``, N=1,000) is never part
of the test run; this only keeps it from rotting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crmsync.plugins import discover_connectors

ROOT = Path(__file__).resolve().parents[2]
N = 30
CYCLES = ("initial", "incremental", "idle")


def _crm_connectors() -> list[str]:
    """What the benchmark should find: every installed connector but platform ones."""
    catalog = discover_connectors()
    loaded = [
        connector_id
        for connector_id, installed in catalog.loaded.items()
        if installed.description.role != "platform"
    ]
    return sorted([*loaded, *catalog.failed])


def test_every_installed_crm_connector_gets_a_row_at_or_above_the_minimum(tmp_path):
    out = tmp_path / "connectors.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.connectors",
            "--records",
            str(N),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["records"] == N and results["machine"]["cores"]
    rows = {row["id"]: row for row in results["connectors"]}
    installed = _crm_connectors()
    assert installed, "no CRM connector is installed"
    assert sorted(rows) == installed
    edited = 2  # 5% of 30, rounded up
    for connector_id, row in rows.items():
        assert "error" not in row, f"{connector_id}: {row['error']}"
        for name in CYCLES:
            cycle = row[name]
            assert cycle["minimum"] >= 1, (connector_id, name)
            assert cycle["calls"] >= cycle["minimum"], (connector_id, name, cycle)
            assert cycle["failed_calls"] == 0, (connector_id, name, cycle)
            assert cycle["seconds"] > 0 and cycle["rss_mb"] > 0
        initial, incremental, idle = (row[name] for name in CYCLES)
        assert initial["crm"]["created"] == initial["platform"]["created"] == N
        assert incremental["crm"]["updated"] == edited, (connector_id, incremental)
        assert incremental["platform"]["updated"] == edited, (connector_id, incremental)
        assert idle["crm"]["updated"] == idle["crm"]["created"] == 0
        assert idle["minimum_parts"]["writes"] == 0
        # One line per connector, each cycle as calls/minimum.
        (line,) = [
            text for text in done.stdout.splitlines() if text.startswith(connector_id)
        ]
        assert f"{initial['calls']}/{initial['minimum']} " in line


def test_a_connector_that_fails_becomes_an_error_row():
    # The platform connector offers no emulator: the child fails, the parent reports
    # the failure as the row's error instead of stopping.
    script = (
        "import json; from benchmarks.connectors import spawn; "
        f"print(json.dumps(spawn('local', {N}, timeout=120)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.splitlines()[-1])
    assert "offers no emulator" in row["error"], row
