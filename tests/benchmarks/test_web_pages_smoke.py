"""The web pages benchmark still runs (a small store: 3 integrations, 300 links)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_pages_benchmark_runs(tmp_path):
    out = tmp_path / "web.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.web_pages",
            "--integrations",
            "3",
            "--links",
            "300",
            "--repeat",
            "2",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["links"] == 300
    paths = {row["path"]: row for row in results["results"]}
    assert {"/", "/integrations/int-000", "/api/v1/integrations", "/api/v1/status"} <= (
        set(paths)
    )
    assert all(row["median_ms"] > 0 for row in paths.values())
