"""The workers' and the dispatcher's settings, read from ``CRMSYNC_*`` variables."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmsync.errors import ConfigurationError

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
CYCLE_TASK = "crmsync.cycle"


class WorkerSettings(BaseSettings):
    """Where tasks go, how long a worker's cycle lease lasts, how often the dispatcher
    looks for due integrations.

    The state store is the framework's ``CRMSYNC_DATABASE_URL``: PostgreSQL once more
    than one process runs cycles.
    """

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_", env_file=".env", extra="ignore"
    )

    broker_url: str = Field(
        default=DEFAULT_BROKER_URL,
        description="Celery broker: Redis (redis://host:port/db).",
    )
    budget_url: str | None = Field(
        default=None,
        description="Redis holding the API budgets shared by integrations of one "
        "budget group; the broker's when unset.",
    )
    worker_queue: str = Field(
        default="crmsync.cycles",
        min_length=1,
        description="The queue cycle tasks go to and workers read.",
    )
    worker_lease_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long a worker's cycle holds the integration's lease without "
        "renewing it (a cycle renews it every minute). After a worker dies mid-cycle "
        "the integration waits this long before another worker resumes it. Keep it "
        "above 120 s: a cycle stalled longer loses the lease and stops before its "
        "next push.",
    )
    worker_visibility_seconds: int = Field(
        default=3600,
        ge=60,
        description="How long Redis waits for a worker to acknowledge a task before "
        "handing it to another (acknowledged when the cycle ends): above the "
        "longest cycle, or a long cycle's task is delivered twice (the lease turns "
        "the second one away).",
    )
    scheduler_tick_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the dispatcher looks for due integrations.",
    )
    scheduler_batch: int = Field(
        default=1000,
        ge=1,
        description="The most cycles the dispatcher enqueues per tick; the rest wait "
        "for the next tick, soonest due first.",
    )
    scheduler_sweep_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often the dispatcher compares the schedule with the "
        "integrations: a resumed integration, or a changed interval, takes effect "
        "within this long. The one query that reads every enrolled integration; "
        "each tick reads only the due ones.",
    )
    scheduler_requeue_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A task still not picked up after this long was lost (a flushed "
        "broker): the integration is enqueued again.",
    )

    @property
    def shared_budget_url(self) -> str:
        """Where shared budgets live: ``budget_url``, else the broker."""
        return self.budget_url or self.broker_url


def load_worker_settings() -> WorkerSettings:
    """The worker settings from the environment and .env; a bad value is one line
    naming its variable."""
    try:
        return WorkerSettings()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "worker settings"
        raise ConfigurationError(
            f"CRMSYNC_{name}: {first['msg']}",
            hint="fix it in the environment or .env",
        ) from None


__all__ = [
    "CYCLE_TASK",
    "DEFAULT_BROKER_URL",
    "WorkerSettings",
    "load_worker_settings",
]
