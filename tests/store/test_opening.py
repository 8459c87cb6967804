"""Opening a state store: what is refused before anything is written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from crmsync.errors import StateError
from crmsync.models import Integration
from crmsync.store import open_store


def test_a_reader_finds_no_state_rather_than_making_one(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    store = open_store(f"sqlite:///{path}", migrate=False)
    try:
        with pytest.raises(StateError, match=r"no state database at .*typo\.db"):
            store.ensure_schema(create=False)
        assert not path.exists()
        store.ensure_schema()  # a command that creates may make it
        store.ensure_schema(create=False)
    finally:
        store.dispose()


def test_a_database_with_other_tables_gets_no_crmsync_tables(tmp_path: Path) -> None:
    path = tmp_path / "platform.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE prospect (id TEXT)")
    with pytest.raises(StateError) as refused:
        open_store(f"sqlite:///{path}")
    assert str(refused.value) == (
        f"{path} is not a crmsync state database: it has other tables (prospect) "
        "and no crmsync schema (point --database-url or CRMSYNC_DATABASE_URL at "
        "crmsync's own database, or at a new file)"
    )
    with sqlite3.connect(path) as db:
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master")]
    assert names == ["prospect"]


def test_a_locked_store_says_what_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = open_store(f"sqlite:///{path}")
    # Registered after the store's own tuning, so the lock is reported at once.
    event.listen(
        store.database.engine,
        "connect",
        lambda connection, _record: connection.execute("PRAGMA busy_timeout=0"),
    )
    store.database.engine.dispose()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StateError) as refused:
            store.config.create_integration(
                Integration(name="acme", platform_connector="local", crm_connector="x")
            )
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.dispose()
    assert str(refused.value) == (
        "state store error: database is locked (another crmsync process is writing "
        "to the state store; wait for it to finish, or stop it, then try again)"
    )
