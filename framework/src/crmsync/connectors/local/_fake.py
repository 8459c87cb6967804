"""Deterministic fake prospects for demos, tests and benchmarks: the emulator kit's
fake people with the ``local`` connector's picklists."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmsync.connectors.local._fields import INTERESTS, LEAD_SOURCES, STATUS_VALUES
from crmsync.testing.emulator import fake_people

__all__ = ["fake_prospects"]


def fake_prospects(n: int, *, seed: int = 0, now: dt.datetime) -> list[dict[str, Any]]:
    """``n`` prospects in canonical form; the same ``seed`` always gives the same
    list."""
    return fake_people(
        n,
        seed=seed,
        now=now,
        picklists={
            "lead_source": LEAD_SOURCES,
            "status": STATUS_VALUES,
            "interests": INTERESTS,
        },
    )
