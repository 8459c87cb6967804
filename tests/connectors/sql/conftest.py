"""Fixtures of the ``sql`` connector's tests: real PostgreSQL and MariaDB databases,
and a fresh prospect table in them for each test.

One database per server for the session (created through ``CRMSYNC_TEST_PG_ADMIN`` /
``CRMSYNC_TEST_MARIADB_ADMIN``, dropped at the end); each test gets tables of its own.
A server that is down is started the way ``.ci/run`` starts it; when that fails the
test is skipped with the reason (failed on CI, where ``CI=true``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from crmsync.testing import Fault, ManualClock, SandboxBase, SandboxUnsupported

PG_ADMIN_URL = os.environ.get(
    "CRMSYNC_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN = os.environ.get(
    "CRMSYNC_TEST_MARIADB_ADMIN", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def _driver_url(url: str) -> str:
    for bare, full in (("postgresql://", "postgresql+psycopg://"),):
        if url.startswith(bare):
            return full + url[len(bare) :]
    return url


def _reachable(url: str) -> bool:
    engine = sa.create_engine(_driver_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _start(command: list[str], url: str, what: str) -> None:
    """Start a service that is down (as `.ci/run` does); skip, or fail on CI, if it
    cannot be reached."""
    if _reachable(url):
        return
    if shutil.which(command[0]):
        subprocess.run(command, check=False, capture_output=True)
        for _ in range(30):
            if _reachable(url):
                return
            time.sleep(1)
    reason = f"{what} is not reachable at {url} and could not be started"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _ensure_postgres() -> None:
    versions = os.listdir("/etc/postgresql") if os.path.isdir("/etc/postgresql") else []
    command = [
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        *versions[:1],
        "main",
        "start",
    ]
    _start(command if versions else ["false"], PG_ADMIN_URL, "PostgreSQL")


def _ensure_mariadb() -> None:
    command = [
        "start-stop-daemon",
        "--start",
        "--oknodo",
        "--background",
        "--exec",
        "/usr/sbin/mariadbd",
    ]
    _start(command, MARIADB_ADMIN, "MariaDB")


@pytest.fixture(scope="session")
def pg_test_url() -> Iterator[str]:
    """One PostgreSQL database for the session's sql tests (tables are per test)."""
    _ensure_postgres()
    name = f"crmsync_sql_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_driver_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield _driver_url(PG_ADMIN_URL).rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def mariadb_test_url() -> Iterator[str]:
    """One MariaDB database for the session's sql tests (tables are per test)."""
    _ensure_mariadb()
    name = f"crmsync_sql_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(MARIADB_ADMIN)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}`"))
    yield MARIADB_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


# -- prospect tables -------------------------------------------------------------------
POSTGRES_TABLE = """
CREATE TYPE {table}_status AS ENUM ('new', 'engaged', 'qualified');
CREATE TABLE {table} (
    id serial PRIMARY KEY,
    email varchar(254),
    first_name varchar(40),
    last_name varchar(80) NOT NULL,
    company varchar(255),
    phone varchar(40),
    score integer,
    opted_out boolean,
    status {table}_status,
    birthday date,
    last_activity_at timestamptz,
    revenue numeric(14, 2),
    interests text[],
    full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX {table}_feed ON {table} (updated_at, id);
CREATE INDEX {table}_email ON {table} (lower(trim(email)));
"""

MARIADB_TABLE = """
CREATE TABLE {table} (
    id bigint AUTO_INCREMENT PRIMARY KEY,
    email varchar(254),
    first_name varchar(40),
    last_name varchar(80) NOT NULL,
    company varchar(255),
    phone varchar(40),
    score int,
    opted_out boolean,
    status enum('new', 'engaged', 'qualified'),
    birthday date,
    last_activity_at datetime(6),
    revenue decimal(14, 2),
    created_at datetime(6) DEFAULT CURRENT_TIMESTAMP(6),
    updated_at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    is_deleted tinyint(1) NOT NULL DEFAULT 0,
    INDEX {table}_feed (updated_at, id)
)
"""


@dataclass(frozen=True)
class Database:
    """A database holding a ``prospects`` table, as the platform's owner sees it."""

    dialect: str  # "postgresql" or "mysql"
    url: str  # with the driver, without a password
    deleted_column: str | None
    table: str = "prospects"

    def engine(self, **options: Any) -> sa.Engine:
        return sa.create_engine(self.url, **options)

    def settings(self, **extra: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "url": self.url,
            "table": self.table,
            "modified_column": "updated_at",
        }
        if self.deleted_column is not None:
            values["deleted_column"] = self.deleted_column
        values.update(extra)
        return values


def create_table(url: str, dialect: str, table: str, script: str | None = None) -> None:
    """Create ``table`` from ``script`` (the test prospect table by default)."""
    engine = sa.create_engine(url)
    script = script or (POSTGRES_TABLE if dialect == "postgresql" else MARIADB_TABLE)
    with engine.begin() as connection:
        for statement in script.format(table=table).split(";\n"):
            if statement.strip():
                connection.execute(sa.text(statement))
    engine.dispose()


def drop_table(url: str, dialect: str, table: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        if dialect == "postgresql":
            connection.execute(sa.text(f"DROP TYPE IF EXISTS {table}_status"))
    engine.dispose()


def _database(url: str, dialect: str, deleted: str) -> Iterator[Database]:
    table = f"prospects_{uuid.uuid4().hex[:10]}"
    create_table(url, dialect, table)
    yield Database(dialect, url, deleted, table)
    drop_table(url, dialect, table)


@pytest.fixture
def pg_database(pg_test_url: str) -> Iterator[Database]:
    """A fresh prospect table in PostgreSQL (soft-delete column ``deleted_at``)."""
    yield from _database(pg_test_url, "postgresql", "deleted_at")


@pytest.fixture
def maria_database(mariadb_test_url: str) -> Iterator[Database]:
    """A fresh prospect table in MariaDB (soft-delete flag ``is_deleted``)."""
    yield from _database(mariadb_test_url, "mysql", "is_deleted")


@pytest.fixture(
    params=[pytest.param("postgresql", marks=pytest.mark.postgres), "mariadb"]
)
def database(request: pytest.FixtureRequest) -> Database:
    """Each test runs on PostgreSQL and on MariaDB."""
    name = "pg_database" if request.param == "postgresql" else "maria_database"
    found: Database = request.getfixturevalue(name)
    return found


class SqlSandbox(SandboxBase):
    """The platform's own table, written directly (as the platform's application
    does), its modification times from a :class:`ManualClock`."""

    object_name = "prospect"
    page_size = 2
    match_field = "email"

    def __init__(
        self,
        database: Database,
        *,
        soft_delete: bool = True,
        url: str | None = None,
        password: str | None = None,
        login_role: str | None = None,
    ) -> None:
        self.database = database
        self.login_role = login_role
        self.clock = ManualClock()
        self.engine = database.engine()
        self.table = sa.Table(database.table, sa.MetaData(), autoload_with=self.engine)
        self.soft_delete = soft_delete
        deleted = database.deleted_column if soft_delete else None
        settings = database.settings(
            deleted_column=deleted, reconcile_seconds=0, url=url or database.url
        )
        if deleted is None:
            settings.pop("deleted_column")
        if password is not None:
            settings["password"] = password
        self.settings: Mapping[str, Any] = settings
        self.factory_kwargs: Mapping[str, Any] = {}

    def _moment(self) -> dt.datetime:
        moment = self.clock()
        if self.database.dialect == "mysql":
            return moment.replace(tzinfo=None)  # datetime(6) in the session's UTC
        return moment

    def new_record(self, index: int) -> dict[str, Any]:
        return {
            "email": f"person{index}@example.com",
            "first_name": "Pat",
            "last_name": f"Tester{index}",
            "company": "Acme",
            "status": "new",
        }

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids = []
        with self.engine.begin() as connection:
            for record in records:
                moment = self._moment()
                row = {**record, "updated_at": moment, "created_at": moment}
                key = connection.execute(
                    sa.insert(self.table).values(row).returning(self.table.c.id)
                ).scalar_one()
                ids.append(key)
        width = 10 if self.database.dialect == "postgresql" else 19
        return [str(key).zfill(width) for key in ids]

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def freeze_clock(self) -> AbstractContextManager[None]:
        return self.clock.freeze()

    def delete(self, object_name: str, record_id: str) -> None:
        key = self.table.c.id == int(record_id)
        with self.engine.begin() as connection:
            if not self.soft_delete:
                connection.execute(sa.delete(self.table).where(key))
                return
            moment = self._moment()
            column = self.database.deleted_column or ""
            flag = moment if self.database.dialect == "postgresql" else 1
            connection.execute(
                sa.update(self.table)
                .where(key)
                .values({column: flag, "updated_at": moment})
            )

    def inject(self, fault: Fault, *, hook: str) -> None:
        raise SandboxUnsupported(
            "a real database cannot be made to rate-limit or fail one call on demand"
        )

    def expire_credentials(self) -> None:
        raise SandboxUnsupported(
            "a database session does not expire; the pool reconnects a dropped one"
        )

    def refuse_credentials(self) -> None:
        if self.login_role is None:
            raise SandboxUnsupported(
                "the sandbox connects as the server's administrator, whose login it "
                "must not revoke"
            )
        with self.engine.begin() as connection:
            connection.execute(sa.text(f'ALTER ROLE "{self.login_role}" NOLOGIN'))

    def close(self) -> None:
        self.engine.dispose()
