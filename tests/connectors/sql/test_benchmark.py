"""The ``sql`` platform benchmark still runs (on a small table; the figures in
docs/own-prospect-table.md come from ``--rows 1000000``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.postgres
def test_the_benchmark_reports_idle_and_incremental_figures(
    tmp_path: Path, pg_test_url: str
) -> None:
    out = tmp_path / "sql.json"
    admin = pg_test_url  # any database of the server will do to create its own
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "benchmarks.sql_platform", "--admin-url", admin),
            *("--rows", "3000", "--changed", "500", "--deleted", "10"),
            *("--json", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = {f["name"]: f for f in json.loads(out.read_text())["figures"]}
    assert (figures["idle"]["rows"], figures["idle"]["statements"]) == (0, 1)
    assert figures["incremental"]["rows"] == 500
    assert figures["incremental"]["statements"] == 1
    assert figures["reconciliation"]["rows"] == 10
    assert "incremental" in done.stdout
