"""The two-sided raw loop (``benchmarks/twoway.py``) does the job it is the yardstick
for: it reads both sides, links the records that share an email, creates the rest on
the other side, and its second run on the same data creates nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_links_matches_and_creates_what_is_missing_on_both_sides(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(ROOT))  # `benchmarks` is not an installed package
    from benchmarks._scenarios import memory_job
    from benchmarks.twoway import two_sided_raw_loop

    job = memory_job(40, seed=3, shared=10)
    platform, crm = job.connections()
    db = str(tmp_path / "links.db")

    first = two_sided_raw_loop(platform, crm, db)

    assert first == {
        "read_platform": 40,
        "read_crm": 40,
        "matched": 10,
        "created_crm": 30,
        "created_platform": 30,
        "links": 70,
    }
    assert len(job.platform_be.live("prospect")) == len(job.crm_be.live("Lead")) == 70
    # Every link joins two records holding the same email.
    with sqlite3.connect(db) as links:
        for platform_id, crm_id, email in links.execute("SELECT * FROM links"):
            prospect = job.platform_be.get("prospect", platform_id)
            lead = job.crm_be.get("Lead", crm_id)
            assert prospect["email"].casefold() == lead["Email"].casefold() == email
    # The CRM requires a company on create: every lead has one.
    assert all(job.crm_be.get("Lead", i)["Company"] for i in job.crm_be.live("Lead"))

    second = two_sided_raw_loop(*job.connections(), db)

    assert second == {
        "read_platform": 70,
        "read_crm": 70,
        "matched": 0,
        "created_crm": 0,
        "created_platform": 0,
        "links": 70,
    }
