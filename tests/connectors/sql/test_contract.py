"""crmsync's contract kit against the ``sql`` connector, on real databases.

Three sandboxes: PostgreSQL with a soft-delete column, connecting as a role that may
only read and write the prospect table (what the docs tell operators to grant);
PostgreSQL without one (deletions found by id reconciliation); MariaDB with a boolean
soft-delete flag.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from crmsync.connectors.sql import SqlConnector
from crmsync.testing import ConnectorContract

from .conftest import Database, SqlSandbox

SECRET = "sql-kit-s3cret-password"


def limited_role(database: Database) -> tuple[str, str]:
    """A role with SELECT, INSERT, UPDATE on the prospect table only; ``(role,
    url)``."""
    role = f"crmsync_sql_{uuid.uuid4().hex[:10]}"
    table = database.table
    engine = database.engine()
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(
            sa.text(f'GRANT SELECT, INSERT, UPDATE ON {table} TO "{role}"')
        )
        connection.execute(
            sa.text(f'GRANT USAGE ON SEQUENCE {table}_id_seq TO "{role}"')
        )
    engine.dispose()
    scheme, rest = database.url.split("://", 1)
    return role, f"{scheme}://{role}@{rest.split('@', 1)[1]}"


def drop_role(database: Database, role: str) -> None:
    engine = database.engine()
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
        connection.execute(sa.text(f'DROP ROLE "{role}"'))
    engine.dispose()


class TestSqlContract(ConnectorContract):
    connector_id = "sql"
    connector_class = SqlConnector

    @pytest.fixture(
        params=[
            pytest.param("postgresql", marks=pytest.mark.postgres),
            # Deletions by reconciliation are also pinned in test_connector.py; the
            # whole kit over them is the slow run.
            pytest.param(
                "postgresql-reconciled", marks=[pytest.mark.postgres, pytest.mark.slow]
            ),
            "mariadb",
        ]
    )
    def sandbox(self, request: pytest.FixtureRequest) -> Iterator[SqlSandbox]:
        if request.param == "mariadb":
            built = SqlSandbox(request.getfixturevalue("maria_database"))
            yield built
            built.close()
            return
        database: Database = request.getfixturevalue("pg_database")
        if request.param == "postgresql-reconciled":
            built = SqlSandbox(database, soft_delete=False)
            yield built
            built.close()
            return
        role, url = limited_role(database)
        built = SqlSandbox(database, url=url, password=SECRET, login_role=role)
        yield built
        built.close()
        drop_role(database, role)
