"""What the decision log and the write intents cost an update cycle (issue 20).

The engine-only scenario (both connectors in memory, SQLite) run with the decision
log on (the default: ``CRMSYNC_DECISION_LOG_DAYS`` 30) and off
(``CRMSYNC_DECISION_LOG_DAYS=0``), alternating in one process, the order reversed every
other round, so that the machine's drift falls on both alike. Beside each run, the
thread CPU spent inside the decision log's and the write intents' own calls (inclusive;
write intents have no setting to turn them off, so this is how their cost is seen).

    uv run python -m benchmarks.decision_log_ab 10000 4 --json out.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

SETTING = "CRMSYNC_DECISION_LOG_DAYS"


def _instrument(spent: dict[str, float]) -> None:
    from crmsync.engine.cycle import SyncEngine
    from crmsync.store._decisions import DecisionLog
    from crmsync.store._intents import WriteIntents

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            # Thread CPU: the answers are applied on the push threads too.
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - started

        setattr(owner, name, timed)

    wrap(SyncEngine, "_record_intents", "intents: record (with the store's add)")
    wrap(SyncEngine, "_intents_done", "intents: done")
    wrap(WriteIntents, "remove", "intents: store remove")
    wrap(WriteIntents, "left_behind", "intents: store left_behind")
    wrap(WriteIntents, "clear", "intents: store clear")
    wrap(DecisionLog, "record", "decisions: store record")
    wrap(DecisionLog, "purge", "decisions: store purge")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def compare(size: int, rounds: int) -> dict[str, Any]:
    """Both modes ``rounds`` times each at ``size`` pairs: per-run CPU, medians."""
    from benchmarks._scenarios import engine

    spent: dict[str, float] = defaultdict(float)
    _instrument(spent)
    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    previous = os.environ.get(SETTING)
    try:
        for round_number in range(rounds):
            order = ("on", "off") if round_number % 2 == 0 else ("off", "on")
            for mode in order:
                if mode == "off":
                    os.environ[SETTING] = "0"
                else:
                    os.environ.pop(SETTING, None)
                spent.clear()
                samples = engine(size, 1)["samples"]
                runs[mode].append(
                    {
                        "round": round_number,
                        "link_cpu": samples["link"][0]["cpu"],
                        "update_cpu": samples["update"][0]["cpu"],
                        "update_own_cpu": samples["update"][0]["own_cpu"],
                        "floor_cpu": samples["floor"][0]["cpu"],
                        # both cycles of the run (link and update)
                        "inside_calls_cpu": {k: round(v, 4) for k, v in spent.items()},
                    }
                )
    finally:
        if previous is None:
            os.environ.pop(SETTING, None)
        else:
            os.environ[SETTING] = previous
    summary: dict[str, Any] = {
        mode: {
            "update_pairs_per_cpu_second": _median(
                [size / r["update_cpu"] for r in runs[mode]]
            ),
            "update_pairs_per_own_cpu_second": _median(
                [size / r["update_own_cpu"] for r in runs[mode]]
            ),
            "link_pairs_per_cpu_second": _median(
                [size / r["link_cpu"] for r in runs[mode]]
            ),
        }
        for mode in runs
    }
    # Per round, the two modes were measured back to back: the ratio's median.
    summary["update_cpu_on_over_off"] = _median(
        [
            on["update_cpu"] / off["update_cpu"]
            for on, off in zip(runs["on"], runs["off"], strict=True)
        ]
    )
    return {"size": size, "rounds": rounds, "runs": runs, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int, nargs="?", default=10_000)
    parser.add_argument("rounds", type=int, nargs="?", default=4)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    result = compare(args.size, args.rounds)
    print(json.dumps(result["summary"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
