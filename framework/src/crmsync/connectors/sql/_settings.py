"""``SqlSettings``: where the prospect table is and which of its columns mean what.

The database URL is stored with the integration like any non-secret setting, so it must
not carry a password: the password is a setting of its own (``CRMSYNC_SQL_PASSWORD``),
a ``SecretStr`` that the state store refuses to keep and the logs mask.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DRIVERS", "SqlSettings", "engine_url"]

# The drivers crmsync's extras install (`crmsync[postgres]`, `crmsync[mysql]`): a
# bare scheme picks them, not SQLAlchemy's defaults (psycopg2, mysqldb).
DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_SUPPORTED = ("postgresql", "mysql", "mariadb")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_SECRET_QUERY = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


def _parsed(value: str) -> URL:
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            "is not a database URL; expected e.g. "
            "postgresql://crmsync@db.example.com:5432/platform"
        ) from None
    scheme = url.drivername.split("+", 1)[0]
    if scheme not in DRIVERS:
        raise ValueError(
            f"database {scheme!r} is not supported; use a postgresql:// or "
            "mysql:// (MariaDB: mariadb://) URL"
        )
    return url


class SqlSettings(BaseSettings):
    """Settings of the ``sql`` platform connector, from ``CRMSYNC_SQL_*`` variables,
    ``.env`` or the integration's stored settings (all but ``password``)."""

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_SQL_", env_file=".env", extra="ignore"
    )

    url: str = Field(
        description="SQLAlchemy URL of the platform database, without a password: "
        "postgresql://user@host:5432/db or mysql://user@host:3306/db.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="The database user's password (environment or .env only; never "
        "stored).",
    )
    table: str = Field(
        description="The prospect table crmsync writes (and reads, unless read_from "
        "names a view): name or schema.name.",
    )
    read_from: str | None = Field(
        default=None,
        description="A view (or other table) to read prospects from instead of table; "
        "it must have the id, modification-time and soft-delete columns.",
    )
    id_column: str = Field(
        default="id", description="The column holding each row's id."
    )
    modified_column: str | None = Field(
        default=None,
        description="The modification-time column the change feed pages on "
        "(timestamp); without one crmsync cannot sync and doctor says how to add one.",
    )
    deleted_column: str | None = Field(
        default=None,
        description="Soft-delete column: a row is deleted when it is true or set (a "
        "boolean or a deleted-at timestamp). Without one, deletions are found by a "
        "periodic id reconciliation.",
    )
    timezone: str = Field(
        default="UTC",
        description="Time zone of timestamp columns without one (and of the session, "
        "so the database's own clock writes them in that zone).",
    )
    reconcile_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Without a soft-delete column: how often a read compares the "
        "table's ids with the last reconciliation's to report hard-deleted rows (0: "
        "every read).",
    )
    reconcile_max_kb: int = Field(
        default=1024,
        ge=1,
        description="Largest compressed id list kept between reconciliations; a table "
        "whose ids need more gets no reconciliation (add a soft-delete column).",
    )
    connect_timeout: int = Field(
        default=10, ge=1, le=600, description="Seconds to wait for a connection."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        url = _parsed(value)
        if url.password is not None:
            raise ValueError(
                "must not contain a password (it would be stored with the "
                "integration); set CRMSYNC_SQL_PASSWORD in the environment or .env"
            )
        for key in url.query:
            if _SECRET_QUERY.search(key):
                raise ValueError(
                    f"must not carry the query parameter {key!r} (it looks like a "
                    "secret); set CRMSYNC_SQL_PASSWORD in the environment or .env"
                )
        if not url.database:
            raise ValueError("must name the database, e.g. postgresql://user@host/db")
        return value

    @field_validator("table", "read_from")
    @classmethod
    def _check_table(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a table name; expected name or schema.name "
                "(letters, digits, _)"
            )
        return value

    @field_validator("id_column", "modified_column", "deleted_column")
    @classmethod
    def _check_column(cls, value: str | None) -> str | None:
        if value is not None and not _COLUMN.match(value):
            raise ValueError(
                f"{value!r} is not a column name (letters, digits and _ only)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name such as UTC or Europe/Paris"
            ) from None
        return value

    def dialect(self) -> str:
        """``postgresql`` or ``mysql`` (MariaDB speaks the latter)."""
        scheme = _parsed(self.url).drivername.split("+", 1)[0]
        return "postgresql" if scheme in ("postgresql", "postgres") else "mysql"

    def split_table(self, name: str) -> tuple[str | None, str]:
        """``(schema, table)`` of a configured ``name``."""
        schema, _, table = name.rpartition(".")
        return (schema or None), table


def engine_url(settings: SqlSettings) -> URL:
    """The URL to connect with: the crmsync driver for a bare scheme, plus the
    password."""
    url = _parsed(settings.url)
    scheme, _, driver = url.drivername.partition("+")
    if not driver:
        url = url.set(drivername=DRIVERS[scheme])
    if settings.password is not None:
        url = url.set(password=settings.password.get_secret_value())
    return url


def supported(name: str) -> bool:
    """Whether a dialect name is one this connector speaks."""
    return name in _SUPPORTED


def describe_url(settings: SqlSettings) -> dict[str, Any]:
    """Where the connector points, for log lines: never the password."""
    url = _parsed(settings.url)
    return {"host": url.host, "database": url.database, "table": settings.table}
