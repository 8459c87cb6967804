"""Every integration with its state, links, last run and open errors, in one
statement whatever the number of integrations (the Integrations page, the API's
overview): the run is found by the (integration, started) index, the error count by
the errors' integration index, the links from the counts kept with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import desc, func, select

from crmsync.store._database import Database
from crmsync.store._schema import integrations, link_counts, record_errors, runs

__all__ = ["IntegrationRow", "Overview"]


@dataclass(frozen=True, slots=True)
class IntegrationRow:
    """One line of the Integrations page."""

    name: str
    active: bool
    platform: str
    crm: str
    open_errors: int
    links: int
    last_status: str | None
    last_at: dt.datetime | None
    last_dry_run: bool


class Overview:
    """Reads across every integration at once."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def integrations(self) -> list[IntegrationRow]:
        """Every integration by name, with its links, last run and open errors."""
        return _overview(self.database)


def _overview(database: Database) -> list[IntegrationRow]:
    newest = runs.alias("newest")
    last_run = (
        select(newest.c.id)
        .where(newest.c.integration_id == integrations.c.id)
        .order_by(desc(newest.c.started_at), desc(newest.c.id))
        .limit(1)
        .correlate(integrations)
        .scalar_subquery()
    )
    open_count = (
        select(func.count())
        .select_from(record_errors)
        .where(
            record_errors.c.integration_id == integrations.c.id,
            record_errors.c.resolved_at.is_(None),
        )
        .correlate(integrations)
        .scalar_subquery()
    )
    link_count = (
        select(func.coalesce(func.sum(link_counts.c.links), 0))
        .where(link_counts.c.integration_id == integrations.c.id)
        .correlate(integrations)
        .scalar_subquery()
    )
    statement = (
        select(
            integrations.c.name,
            link_count.label("links"),
            integrations.c.active,
            integrations.c.platform_connector,
            integrations.c.crm_connector,
            open_count.label("open_errors"),
            runs.c.status,
            runs.c.started_at,
            runs.c.finished_at,
            runs.c.dry_run,
        )
        .select_from(integrations.outerjoin(runs, runs.c.id == last_run))
        .order_by(integrations.c.name)
    )
    with database.engine.connect() as connection:
        return [
            IntegrationRow(
                name=row.name,
                active=bool(row.active),
                platform=row.platform_connector,
                crm=row.crm_connector,
                open_errors=int(row.open_errors or 0),
                links=int(row.links or 0),
                last_status=row.status,
                last_at=row.finished_at or row.started_at,
                last_dry_run=bool(row.dry_run),
            )
            for row in connection.execute(statement)
        ]
