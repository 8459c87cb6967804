"""The ``local`` connector's user-facing API and its SQLite-specific behaviour.

The contract itself is checked by the kit (tests/testing/test_reference_contracts.py);
these tests pin what the kit cannot see: CSV import, upsert by email, tombstones, the
clock, locks.
"""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
import time
from pathlib import Path

import pytest

from crmsync.connectors.local import LocalConnector, LocalSettings, LocalStore
from crmsync.contract import Cursor, WriteRequest
from crmsync.errors import ConfigurationError, PermanentError, TransientError
from crmsync.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> LocalStore:
    opened = LocalStore(tmp_path / "p.db", clock=clock)
    yield opened
    opened.close()


def connector(store: LocalStore) -> LocalConnector:
    return LocalConnector(LocalSettings(path=store.path), store=store)


CSV = """Email,First Name,last_name,score,opted_out,birthday,last_activity_at,interests
ada@example.com,Ada,Lovelace,90,yes,1815-12-10,2024-05-01T12:00:00Z,email; webinar
 GRACE@example.com ,Grace,Hopper,85,no,,,
"""


def test_import_csv_creates_then_updates_by_email(store: LocalStore) -> None:
    report = store.import_csv(io.StringIO(CSV))
    assert report.ok and (report.created, report.updated) == (2, 0), str(report)
    again = store.import_csv(io.StringIO(CSV.replace("Ada,", "Augusta,")))
    assert (again.created, again.updated) == (0, 2)
    assert store.count() == 2
    (ada,) = [store.get(f"P{n:010d}") for n in (1,)]
    assert ada is not None
    assert ada["first_name"] == "Augusta"
    assert ada["opted_out"] is True
    assert ada["birthday"] == dt.date(1815, 12, 10)
    assert ada["interests"] == ["email", "webinar"]
    assert ada["last_activity_at"] == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def test_import_csv_reports_every_bad_line_and_writes_nothing(
    store: LocalStore,
) -> None:
    bad = (
        "email,status,score,nickname\n"
        "a@example.com,new,1,x\n"
        "b@example.com,hot,2,y\n"
        "c@example.com,new,many,z\n"
        ",new,3,w\n"
    )
    report = store.import_csv(io.StringIO(bad))
    assert not report.ok
    text = str(report)
    assert "nothing imported" in text
    assert "line 1, nickname: unknown column" in text
    assert "line 3, status" in text and "'hot' is not one of" in text
    assert "line 4, score" in text
    assert "line 5, email: email is required" in text
    assert store.count() == 0


def test_import_csv_from_a_file_path(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8-sig")
    assert store.import_csv(path).created == 2


def test_upsert_matches_email_trimmed_and_case_insensitively(store: LocalStore) -> None:
    first = store.upsert({"email": "Ann@Example.com", "first_name": "Ann"})
    second = store.upsert({"email": "  ann@example.COM ", "last_name": "Lee"})
    assert first == second
    found = store.get(first)
    assert found is not None and (found["first_name"], found["last_name"]) == (
        "Ann",
        "Lee",
    )


def test_invalid_values_are_refused_with_the_field(store: LocalStore) -> None:
    with pytest.raises(
        ConfigurationError, match="first_name: 41 characters, at most 40"
    ):
        store.upsert({"email": "x@example.com", "first_name": "x" * 41})
    with pytest.raises(ConfigurationError, match="created_at is read-only"):
        store.upsert({"email": "x@example.com", "created_at": dt.datetime.now(dt.UTC)})
    with pytest.raises(ConfigurationError, match="time-zone aware"):
        store.upsert(
            {"email": "x@example.com", "last_activity_at": dt.datetime(2024, 1, 1)}
        )


def test_delete_leaves_a_tombstone_in_the_feed(store: LocalStore) -> None:
    record_id = store.upsert({"email": "gone@example.com"})
    assert store.delete(record_id) and not store.delete(record_id)
    assert store.get(record_id) is None and store.count() == 0
    assert store.count(include_deleted=True) == 1
    page = connector(store).fetch_changed("prospect", ["email"], None, None, 10)
    assert [t.record_id for t in page.tombstones] == [record_id] and not page.records
    # the email is free again: a new prospect, not a resurrection
    assert store.upsert({"email": "gone@example.com"}) != record_id


def test_each_write_is_stamped_after_everything_stored(
    store: LocalStore, clock: ManualClock
) -> None:
    """A clock that stands still or steps back never puts a commit behind a read
    cursor."""
    with clock.freeze():
        a, b = store.insert([{"email": "a@example.com"}, {"email": "b@example.com"}])
        c = store.upsert({"email": "c@example.com"})
    rows = {r: store.get(r) for r in (a, b, c)}
    assert rows[a]["modified_at"] == rows[b]["modified_at"]  # type: ignore[index]
    assert rows[c]["modified_at"] > rows[a]["modified_at"]  # type: ignore[index]


def test_seed_fake_is_deterministic(tmp_path: Path) -> None:
    # Its speed is the demo's and the benchmarks' to show, not a timed unit test's.
    with LocalStore(tmp_path / "a.db") as one, LocalStore(tmp_path / "b.db") as two:
        ids = one.seed_fake(10_000, seed=7)
        two.seed_fake(10_000, seed=7)
        assert len(ids) == 10_000 == one.count()
        strip = ("created_at", "modified_at", "last_activity_at")
        first = {k: v for k, v in (one.get(ids[42]) or {}).items() if k not in strip}
        second = {k: v for k, v in (two.get(ids[42]) or {}).items() if k not in strip}
        assert first == second and first["email"]


def test_lookup_uses_the_normalized_email(store: LocalStore) -> None:
    record_id = store.upsert({"email": "Mixed.Case@Example.com", "first_name": "M"})
    found = connector(store).lookup_records(
        "prospect", "email", ["  mixed.case@EXAMPLE.com"], ["first_name"]
    )
    assert [(r.record_id, r.values) for r in found] == [
        (record_id, {"first_name": "M"})
    ]


def test_a_locked_database_is_transient_and_never_waited_on(tmp_path: Path) -> None:
    settings = LocalSettings(path=tmp_path / "p.db")
    local = LocalConnector(settings)
    blocker = sqlite3.connect(settings.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.perf_counter()
        with pytest.raises(TransientError, match=r"busy|locked"):
            local.push_updates(
                "prospect",
                [WriteRequest(ref="r", op="create", values={"email": "a@b.c"})],
            )
        assert time.perf_counter() - started < 0.5
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        local.close()


def test_unknown_field_and_page_token_are_permanent(store: LocalStore) -> None:
    local = connector(store)
    with pytest.raises(PermanentError, match="no field 'nope'"):
        local.fetch_changed("prospect", ["nope"], None, None, 10)
    with pytest.raises(PermanentError, match="page token"):
        local.fetch_changed("prospect", ["email"], Cursor(), "garbage", 10)


def test_push_answers_each_record_in_one_transaction(store: LocalStore) -> None:
    local = connector(store)
    results = local.push_updates(
        "prospect",
        [
            WriteRequest(ref="1", op="create", values={"email": "one@example.com"}),
            WriteRequest(ref="2", op="create", values={"status": "hot"}),
            WriteRequest(
                ref="3", op="update", record_id="P9999999999", values={"title": "x"}
            ),
            WriteRequest(ref="4", op="create", values={"nickname": "x"}),
        ],
    )
    assert [r.ok for r in results] == [True, False, False, False]
    assert [r.error.code for r in results[1:] if r.error] == [
        "INVALID_PICKLIST_VALUE",
        "NOT_FOUND",
        "UNKNOWN_FIELD",
    ]
    assert store.count() == 1


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRMSYNC_LOCAL_PATH", str(tmp_path / "env.db"))
    monkeypatch.setenv("CRMSYNC_LOCAL_API_KEY", "not-shown-anywhere")
    settings = LocalSettings()
    assert settings.path == tmp_path / "env.db"
    assert "not-shown-anywhere" not in repr(settings)


def test_the_page_cache_follows_the_setting(tmp_path: Path) -> None:
    settings = LocalSettings(path=tmp_path / "cached.db", cache_mb=5)
    opened = LocalConnector(settings)
    try:
        size = opened.store._db.execute("PRAGMA cache_size").fetchone()[0]
        assert size == -5 * 1024
    finally:
        opened.close()
