"""The framework's own settings, read from ``CRMSYNC_*`` environment variables and
``.env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_CACHE_MB = 64


class CrmsyncSettings(BaseSettings):
    """Where state lives, how to log, and the defaults a new integration starts with."""

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_", env_file=".env", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///crmsync.db",
        description="SQLAlchemy URL of the state store: SQLite file (default) or "
        "PostgreSQL.",
    )
    sqlite_cache_mb: int = Field(
        default=DEFAULT_SQLITE_CACHE_MB,
        ge=1,
        le=65536,
        description="Page cache of each SQLite connection to the state store, in MB "
        "(PostgreSQL ignores it). Filled only as pages are read: a small store never "
        "uses it all. A store of 1,000,000 links is far larger than SQLite's 2 MB "
        "default, which made every changed record read its link from the OS.",
    )
    describe_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long a cycle uses a vendor's object metadata (describe) read "
        "by an earlier process, so that a `crmsync sync` on an idle integration costs "
        "one read per object and no describe. 0 asks the vendor every time. A mapping "
        "of a field newer than the kept metadata makes the connector read it again.",
    )
    token_cache_seconds: float = Field(
        default=600.0,
        ge=0,
        description="The longest a process uses an access token an earlier process "
        "got (kept encrypted under the credential that got it), so that a `crmsync "
        "sync` on an idle integration asks for no token. A token the vendor says "
        "expires sooner is kept only that long; one it refuses early (revoked, "
        "session timed out) is dropped and renewed once. Well under Salesforce's "
        "shortest session timeout (15 minutes). 0 asks for a token in every process.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Where that metadata and those tokens are kept (files only their "
        "owner reads; a token is encrypted, no secret is kept in clear). Default: "
        "$XDG_CACHE_HOME/crmsync, else ~/.cache/crmsync.",
    )
    log_format: Literal["console", "json"] = Field(
        default="console", description="console or json, in any case."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO",
        description="DEBUG, INFO, WARNING or ERROR, in any case. The CLI logs at "
        "WARNING unless this or `--log-level` is set.",
    )
    default_interval_seconds: int = Field(default=300, ge=10)
    overlap_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How far back each cycle re-reads a change feed, for late commits. "
        "A connector that declares a longer late-commit window (Salesforce: 300 s) "
        "gets that one.",
    )
    write_in_doubt_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long a create whose answer never came (a killed process, a "
        "lost connection) may still be carried out by the vendor: within it, a record "
        "whose create is in doubt and cannot be found yet waits for a later cycle "
        "instead of being created again (Salesforce runs a call up to 10 minutes "
        "after the client gave up). Updates a cycle sent but never recorded are "
        "remembered as long (write intents): a record holding their values is "
        "crmsync's own write, not an edit.",
    )
    decision_log_days: float = Field(
        default=30.0,
        ge=0,
        description="How long the per-field decision log keeps which rule wrote which "
        "value in which run (`crmsync explain`, a record's story page). Each cycle "
        "purges what is older, a bounded amount at a time; 0 keeps no log.",
    )

    # The command-line options take any case; the variables behind them do too.
    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_in_any_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value
