"""The Integrations page's one read: every integration with its state, last run and
open errors, in one statement whatever the number of integrations.

ops gap: the operations layer reads one integration at a time (``list_integrations``
loads every pair and mapping, ``integration_status`` counts links), about a dozen
queries per integration; a page of 100 integrations needs one query. This belongs in
:mod:`crmsync.operations` (and its store query in the store's history module); it is
here, read-only and over the store's own tables, until it moves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import desc, func, select

from crmsync.store import StateStore
from crmsync.store._schema import integrations, record_errors, runs

__all__ = ["IntegrationRow", "integrations_overview"]


@dataclass(frozen=True, slots=True)
class IntegrationRow:
    """One line of the Integrations page."""

    name: str
    active: bool
    platform: str
    crm: str
    open_errors: int
    last_status: str | None
    last_at: dt.datetime | None
    last_dry_run: bool


def integrations_overview(store: StateStore) -> list[IntegrationRow]:
    """Every integration by name, with its last run and its open error count; the
    run is found by the (integration, started) index, the count by the error table's
    integration index."""
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
    statement = (
        select(
            integrations.c.name,
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
    with store.database.engine.connect() as connection:
        return [
            IntegrationRow(
                name=row.name,
                active=bool(row.active),
                platform=row.platform_connector,
                crm=row.crm_connector,
                open_errors=int(row.open_errors or 0),
                last_status=row.status,
                last_at=row.finished_at or row.started_at,
                last_dry_run=bool(row.dry_run),
            )
            for row in connection.execute(statement)
        ]
