"""The ``sql`` connector's own rules, beyond the contract kit: settings and secrets,
the table checks ``doctor`` shows, the DDL it offers, writes that fail record by record,
read views, id reconciliation, and statements confined to the configured table.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy import event

from crmsync.connectors.sql import SqlConnector, SqlSettings, modification_time_ddl
from crmsync.connectors.sql.__main__ import main as ddl_main
from crmsync.contract import Cursor, WriteRequest
from crmsync.errors import AuthenticationFailed, ConfigurationError
from crmsync.plugins import build_settings, discover_connectors
from crmsync.testing import ManualClock

from .conftest import MARIADB_ADMIN, Database, _ensure_mariadb

FIELDS = ["email", "first_name", "last_name"]


def connector(database: Database, **extra: Any) -> SqlConnector:
    return SqlConnector(SqlSettings(**database.settings(**extra)))


def update(record_id: str, **values: Any) -> WriteRequest:
    return WriteRequest(
        ref=f"u-{record_id}-{uuid.uuid4().hex[:4]}",
        op="update",
        record_id=record_id,
        values=values,
    )


def create(**values: Any) -> WriteRequest:
    return WriteRequest(ref=f"c-{uuid.uuid4().hex[:6]}", op="create", values=values)


def execute(database: Database, *statements: str) -> None:
    engine = database.engine()
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    engine.dispose()


@pytest.fixture
def opened(database: Database) -> Iterator[SqlConnector]:
    built = connector(database)
    built.authenticate()
    yield built
    built.close()


# -- settings --------------------------------------------------------------------------
def test_a_password_in_the_url_is_refused_with_the_variable_to_use() -> None:
    installed = discover_connectors().get("sql")
    with pytest.raises(ConfigurationError) as caught:
        build_settings(
            installed,
            {"url": "postgresql://crm:hunter22@db/shop", "table": "prospects"},
        )
    text = str(caught.value) + (caught.value.hint or "")
    assert "CRMSYNC_SQL_PASSWORD" in text and "hunter22" not in text


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"url": "sqlite:///x.db"}, "not supported"),
        ({"url": "postgresql://u@h/db?sslpassword=x"}, "sslpassword"),
        ({"url": "postgresql://u@h"}, "must name the database"),
        ({"table": "prospects; drop table x"}, "is not a table name"),
        ({"modified_column": "updated at"}, "not a column name"),
        ({"timezone": "Mars/Olympus"}, "not a time zone"),
    ],
)
def test_bad_settings_are_one_clear_line(values: dict[str, str], expected: str) -> None:
    installed = discover_connectors().get("sql")
    given = {"url": "postgresql://u@h/db", "table": "prospects", **values}
    with pytest.raises(ConfigurationError, match=expected):
        build_settings(installed, given)


def test_a_bare_scheme_uses_the_installed_driver_and_the_secret_password() -> None:
    from crmsync.connectors.sql._settings import engine_url

    settings = SqlSettings(
        url="postgresql://crm@db:5432/shop", table="p", password="pw-secret-1"
    )
    url = engine_url(settings)
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "pw-secret-1"
    assert "pw-secret-1" not in repr(settings)
    mysql = SqlSettings(url="mariadb://crm@db/shop", table="p")
    assert engine_url(mysql).drivername == "mariadb+pymysql"


def test_a_refused_password_never_shows(mariadb_test_url: str) -> None:
    _ensure_mariadb()
    url = mariadb_test_url.replace("root@", "crmsync_nobody@")
    built = SqlConnector(
        SqlSettings(url=url, table="prospects", password="wrong-s3cret-pw")
    )
    with (
        structlog.testing.capture_logs() as logs,
        pytest.raises(AuthenticationFailed) as caught,
    ):
        built.authenticate()
    built.close()
    assert "wrong-s3cret-pw" not in str(caught.value) + repr(logs)
    assert "CRMSYNC_SQL_PASSWORD" in (caught.value.hint or "")


# -- the table checks (what doctor shows) ----------------------------------------------
def test_no_modification_time_column_stops_the_connector_with_the_ddl(
    database: Database,
) -> None:
    built = connector(database, modified_column=None)
    with pytest.raises(ConfigurationError) as caught:
        built.authenticate()
    built.close()
    assert "no modification-time column" in str(caught.value)
    assert "python -m crmsync.connectors.sql ddl" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("setting", "column", "expected"),
    [
        ("modified_column", "birthday", "not a timestamp"),
        ("modified_column", "nowhere", "has no column 'nowhere'"),
        ("deleted_column", "email", "soft-delete column is a boolean"),
        ("table", "no_such_table", "no table or view 'no_such_table'"),
    ],
)
def test_unusable_columns_are_refused(
    database: Database, setting: str, column: str, expected: str
) -> None:
    built = connector(database, **{setting: column})
    with pytest.raises(ConfigurationError, match=expected):
        built.authenticate()
    built.close()


def test_doctor_warnings_then_the_offered_ddl_silences_them(database: Database) -> None:
    table = database.table
    execute(
        database,
        f"DROP INDEX {table}_feed"
        + ("" if database.dialect == "postgresql" else f" ON {table}"),
    )
    with structlog.testing.capture_logs() as logs:
        first = connector(database)
        first.authenticate()
    first.close()
    messages = [e["message"] for e in logs if e["event"] == "sql_table_warning"]
    assert any("has no index on (updated_at, id)" in m for m in messages), messages
    assert any("nothing in the database maintains" in m for m in messages), messages
    ddl = modification_time_ddl(
        database.dialect, table, id_column="id", column="updated_at"
    )
    engine = database.engine()
    with engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.exec_driver_sql(ddl)
        else:
            for statement in ddl.split(";\n"):
                if statement.strip() and not statement.strip().startswith("--"):
                    connection.exec_driver_sql(statement)
                elif "\n" in statement.strip():
                    connection.exec_driver_sql(statement.split("\n", 1)[1])
    engine.dispose()
    with structlog.testing.capture_logs() as logs:
        built = connector(database)
        built.authenticate()
    assert not [e for e in logs if e["event"] == "sql_table_warning"], logs
    # The application edits a row without a thought for the modification time; the
    # database stamps it and the feed sees the change.
    execute(
        database,
        f"INSERT INTO {table} (email, last_name) VALUES ('ann@example.com', 'Ann')",
    )
    position = built.fetch_changed("prospect", FIELDS, None, None, 100).cursor
    execute(database, f"UPDATE {table} SET first_name = 'Annie'")
    changed = built.fetch_changed("prospect", FIELDS, position, None, 100)
    assert [r.values["first_name"] for r in changed.records] == ["Annie"]
    built.close()


def test_the_ddl_command_prints_and_never_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ddl_main(["ddl", "--dialect", "postgresql", "--table", "app.prospects"]) == 0
    printed = capsys.readouterr().out
    assert 'ALTER TABLE "app"."prospects" ADD COLUMN "crmsync_modified_at"' in printed
    assert "BEFORE INSERT OR UPDATE" in printed
    assert 'ON "app"."prospects" ("crmsync_modified_at", "id");' in printed
    monkeypatch.setenv("CRMSYNC_SQL_URL", "mysql://u@h/db")
    monkeypatch.setenv("CRMSYNC_SQL_TABLE", "prospects")
    assert ddl_main(["ddl", "--column", "updated_at"]) == 0
    printed = capsys.readouterr().out
    assert "MODIFY COLUMN `updated_at` DATETIME(6)" in printed
    assert "ON UPDATE CURRENT_TIMESTAMP(6)" in printed
    monkeypatch.delenv("CRMSYNC_SQL_URL")
    assert ddl_main(["ddl"]) == 2


# -- writes ----------------------------------------------------------------------------
def test_a_constraint_violation_fails_its_record_not_its_batch(
    database: Database, opened: SqlConnector
) -> None:
    table = database.table
    execute(database, f"CREATE UNIQUE INDEX {table}_email_unique ON {table} (email)")
    first = opened.push_updates(
        "prospect",
        [
            create(email="a@example.com", last_name="A"),
            create(email="b@example.com", last_name="B"),
        ],
    )
    assert all(result.ok for result in first)
    a_id, b_id = (result.record_id or "" for result in first)
    results = opened.push_updates(
        "prospect",
        [
            create(email="c@example.com", last_name="C"),
            create(email="a@example.com", last_name="Duplicate"),
            create(email="d@example.com", last_name="D"),
            update(b_id, email="a@example.com"),
            update(a_id, first_name="Still written"),
        ],
    )
    assert [result.ok for result in results] == [True, False, True, False, True]
    for failed in (results[1], results[3]):
        assert failed.error is not None and failed.error.code == "DUPLICATE_VALUE"
        assert failed.error.field is not None and "email" in failed.error.field
        assert not failed.error.retryable
    read = opened.fetch_changed("prospect", FIELDS, None, None, 100)
    by_email = {r.values["email"]: r for r in read.records}
    assert set(by_email) == {
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    }
    assert by_email["a@example.com"].values["first_name"] == "Still written"
    # Each success carries the time the feed now shows: crmsync recognises its write.
    moments = {r.record_id: r.modified_at for r in read.records}
    for result in (results[0], results[2], results[4]):
        assert moments[result.record_id or ""] == result.modified_at


def test_writes_are_stamped_by_the_database_clock(
    database: Database, opened: SqlConnector
) -> None:
    engine = database.engine()
    with engine.connect() as connection:
        now = "now()" if database.dialect == "postgresql" else "UTC_TIMESTAMP(6)"
        before = connection.execute(sa.text(f"SELECT {now}")).scalar_one()
    engine.dispose()
    (result,) = opened.push_updates("prospect", [create(last_name="Stamped")])
    assert result.modified_at is not None
    if before.tzinfo is None:
        before = before.replace(tzinfo=dt.UTC)
    assert result.modified_at >= before - dt.timedelta(seconds=1)


# -- read views ------------------------------------------------------------------------
def test_a_read_view_feeds_reads_and_writes_go_to_the_table(database: Database) -> None:
    table = database.table
    view = f"{table}_v"
    deleted = database.deleted_column
    execute(
        database,
        f"CREATE VIEW {view} AS SELECT id, email, first_name, last_name, updated_at, "
        f"{deleted}, upper(last_name) AS shout FROM {table}",
    )
    built = connector(database, read_from=view)
    specs = {spec.name: spec for spec in built.list_fields("prospect")}
    assert "company" not in specs  # not in the view
    assert specs["shout"].read_only and not specs["first_name"].read_only
    (made,) = built.push_updates("prospect", [create(last_name="Viewed")])
    assert made.ok
    read = built.fetch_changed("prospect", ["last_name", "shout"], None, None, 10)
    assert [r.values for r in read.records] == [
        {"last_name": "Viewed", "shout": "VIEWED"}
    ]
    built.close()
    execute(database, f"DROP VIEW {view}")


# -- reconciliation --------------------------------------------------------------------
def test_hard_deletes_are_found_when_a_reconciliation_is_due(
    database: Database,
) -> None:
    clock = ManualClock(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    built = SqlConnector(
        SqlSettings(**database.settings(deleted_column=None, reconcile_seconds=600)),
        clock=clock,
    )
    made = built.push_updates("prospect", [create(last_name=f"R{n}") for n in range(5)])
    ids = [result.record_id or "" for result in made]
    with structlog.testing.capture_logs() as logs:
        first = built.fetch_changed("prospect", FIELDS, None, None, 100)
    assert first.cursor.token and not first.tombstones
    (event_,) = [e for e in logs if e["event"] == "sql_reconciliation"]
    assert event_["ids_scanned"] == 5 and event_["first"] is True
    execute(database, f"DELETE FROM {database.table} WHERE id = {int(ids[1])}")
    # Not due yet: nothing is scanned.
    with structlog.testing.capture_logs() as logs:
        early = built.fetch_changed("prospect", FIELDS, first.cursor, None, 100)
    assert not early.tombstones and early.cursor.token == first.cursor.token
    assert not [e for e in logs if e["event"] == "sql_reconciliation"]
    assert first.costs == {"reconciliation": 1} and early.costs == {}
    clock.advance(601)
    with structlog.testing.capture_logs() as logs:
        due = built.fetch_changed("prospect", FIELDS, early.cursor, None, 100)
    assert [t.record_id for t in due.tombstones] == [ids[1]]
    (event_,) = [e for e in logs if e["event"] == "sql_reconciliation"]
    assert (event_["ids_scanned"], event_["deleted"], event_["queries"]) == (4, 1, 1)
    assert due.costs == {"reconciliation": 1}  # reaches the cycle report's api_calls
    assert due.cursor.sort_key() >= max(
        (t.deleted_at, t.record_id) for t in due.tombstones
    )
    # Once reported, never again.
    clock.advance(601)
    again = built.fetch_changed("prospect", FIELDS, due.cursor, None, 100)
    assert not again.tombstones
    built.close()


def test_a_snapshot_over_its_limit_is_not_kept_and_says_why(database: Database) -> None:
    built = SqlConnector(
        SqlSettings(
            **database.settings(
                deleted_column=None, reconcile_seconds=0, reconcile_max_kb=1
            )
        )
    )
    # Ids far apart at random: their list does not compress below the limit.
    ids = random.Random(3).sample(range(1, 2_000_000_000), 3000)
    engine = database.engine()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"INSERT INTO {database.table} (id, last_name, updated_at) VALUES "
                "(:id, :name, :at)"
            ),
            [
                {"id": key, "name": f"N{key}", "at": dt.datetime(2024, 1, 1)}
                for key in ids
            ],
        )
    engine.dispose()
    with structlog.testing.capture_logs() as logs:
        page = built.fetch_changed("prospect", FIELDS, None, None, 10)
    assert page.cursor.token is None
    (warning,) = [e for e in logs if e["event"] == "sql_reconciliation_too_large"]
    assert "CRMSYNC_SQL_DELETED_COLUMN" in warning["hint"]
    built.close()


# -- confinement -----------------------------------------------------------------------
def test_every_statement_names_only_the_configured_table(database: Database) -> None:
    other = f"other_{uuid.uuid4().hex[:8]}"
    execute(database, f"CREATE TABLE {other} (id int PRIMARY KEY, secret_value text)")
    engine = database.engine()
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    built = SqlConnector(SqlSettings(**database.settings()), engine=engine)
    built.authenticate()
    made = built.push_updates(
        "prospect", [create(email="x@example.com", last_name="X")]
    )
    built.push_updates("prospect", [update(made[0].record_id or "", first_name="Y")])
    built.fetch_changed("prospect", FIELDS, None, None, 10)
    built.lookup_records("prospect", "email", ["X@example.com "], FIELDS)
    built.close()
    engine.dispose()
    execute(database, f"DROP TABLE {other}")
    data = [s for s in seen if database.table in s]
    assert data, seen
    assert not [s for s in seen if other in s]
    writes = [
        s for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes and all(database.table in s for s in writes)
    assert not [s for s in seen if s.lstrip().upper().startswith("DELETE")]


def test_naive_timestamps_are_read_in_the_configured_zone(
    pg_database: Database,
) -> None:
    table = pg_database.table
    execute(
        pg_database,
        f"ALTER TABLE {table} ALTER COLUMN updated_at TYPE timestamp",
        f"ALTER TABLE {table} ALTER COLUMN last_activity_at TYPE timestamp",
    )
    built = SqlConnector(SqlSettings(**pg_database.settings(timezone="Europe/Paris")))
    moment = dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.UTC)
    (made,) = built.push_updates(
        "prospect", [create(last_name="Zoned", last_activity_at=moment)]
    )
    engine = pg_database.engine()
    with engine.connect() as connection:
        stored = connection.execute(
            sa.text(f"SELECT last_activity_at FROM {table}")
        ).scalar_one()
    engine.dispose()
    assert stored == dt.datetime(2024, 7, 1, 14, 0)  # Paris wall time, as the zone says
    (record,) = built.fetch_changed(
        "prospect", ["last_activity_at"], None, None, 5
    ).records
    assert record.values["last_activity_at"] == moment
    assert record.modified_at == made.modified_at
    built.close()


def test_mariadb_admin_url_is_configurable() -> None:
    assert MARIADB_ADMIN.startswith("mysql+pymysql://")
    assert Cursor().sort_key()[1] == ""
