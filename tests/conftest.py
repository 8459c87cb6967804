"""Fixtures shared by every test folder: databases of their own on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _own_metadata_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test keeps vendor metadata and access tokens in a folder of its own: never
    in the user's cache, never a describe or a token of another test's emulator."""
    if "CRMSYNC_CACHE_DIR" not in os.environ:
        monkeypatch.setenv(
            "CRMSYNC_CACHE_DIR", str(tmp_path_factory.mktemp("metadata-cache"))
        )


@pytest.fixture(autouse=True)
def _unfrozen_heap() -> Iterator[None]:
    """``crmsync sync`` freezes the heap before a cycle (a process-wide choice); undo
    it after each test, so the test process's own garbage is collected as usual."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


PG_ADMIN_URL = os.environ.get(
    "CRMSYNC_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _pg_connect():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def _ensure_postgres() -> None:
    """Start the machine's PostgreSQL if it is down (CI and developer machines have
    one).
    """
    try:
        _pg_connect().close()
        return
    except Exception:
        pass
    if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(
                [
                    "pg_ctlcluster",
                    "--skip-systemctl-redirect",
                    version,
                    "main",
                    "start",
                ],
                check=False,
                capture_output=True,
            )
    try:
        _pg_connect().close()
    except Exception as error:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    _ensure_postgres()
    name = f"crmsync_test_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+psycopg://"
    )
    yield f"{base}/{name}"
    with _pg_connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_url(request, tmp_path) -> str:
    """Each store test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return request.getfixturevalue("postgres_url")
