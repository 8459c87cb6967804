"""Running cycles (and dry runs), and retrying what failed."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING

from crmsync.engine import (
    CycleReport,
    Progress,
    SyncEngine,
    freeze_long_lived_objects,
)
from crmsync.errors import ConfigurationError
from crmsync.models import Integration
from crmsync.operations._checks import LiveFields, filter_problems
from crmsync.operations._models import CycleSummary
from crmsync.operations._workspace import Workspace
from crmsync.plugins import Connection
from crmsync.store import stored_id

if TYPE_CHECKING:
    from crmsync.workers._enqueue import Enqueued

__all__ = ["cycle_summary", "enqueue_if_on_workers", "retry_errors", "run_cycle"]

#: Open connections kept between the cycles of a long-running caller, by integration.
ConnectionCache = MutableMapping[str, tuple[Connection, Connection]]


def run_cycle(
    ws: Workspace,
    name: str,
    *,
    dry_run: bool = False,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    connections: ConnectionCache | None = None,
) -> CycleReport:
    """Run one cycle of ``name`` (a dry run reads and decides, and writes nothing,
    not even a missing ``local`` platform file) and return its report.

    ``progress`` receives the engine's ticks; ``should_stop`` is asked between
    batches (a true answer ends the cycle early, status ``stopped``).
    ``connections`` keeps an integration's two connections open between the cycles
    of a long-running caller (one session, renewed only on expiry); without it they
    are opened for this cycle and closed after it.

    A cycle that fails on a connector error returns a report with status
    ``failed``; the caller decides how to show it.

    :raises ConfigurationError: the integration is paused (and this is no dry run),
        or a creation filter tests a field its object does not have.
    :raises CycleBusy: another process runs a cycle of this integration.
    """
    integration = ws.existing_store().config.get_integration(name)
    if not integration.active and not dry_run:
        raise ConfigurationError(
            f"integration {name!r} is paused",
            hint=f"resume it with `crmsync integration resume {name}`, "
            "or preview with --dry-run",
        )
    if connections is None:
        platform, crm = ws.open_integration(
            integration, create=not dry_run, metadata_cache=True
        )
        try:
            return _cycle(
                ws, integration, platform, crm, dry_run, progress, should_stop
            )
        finally:
            platform.close()
            crm.close()
    if name not in connections:
        connections[name] = ws.open_integration(
            integration, create=not dry_run, metadata_cache=True
        )
    platform, crm = connections[name]
    return _cycle(ws, integration, platform, crm, dry_run, progress, should_stop)


def enqueue_if_on_workers(ws: Workspace, name: str) -> Enqueued | None:
    """"Run now" for an integration that runs on the Celery workers (``crmsync
    workers add``): hand a cycle to them and return the receipt. ``None`` for any other
    integration, whose caller runs the cycle itself (:func:`run_cycle`).

    :raises ConfigurationError: the integration is unknown or paused, or it runs on the
        workers and Celery is not installed here.
    """
    # The workers are a face above this layer; only their schedule is read here, and
    # Celery is imported only to enqueue.
    from crmsync.workers._enqueue import Enqueued, enqueue_or_run

    result = enqueue_or_run(ws.existing_store(), name, lambda: None)
    return result if isinstance(result, Enqueued) else None


def _cycle(
    ws: Workspace,
    integration: Integration,
    platform: Connection,
    crm: Connection,
    dry_run: bool,
    progress: Callable[[Progress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> CycleReport:
    problems = filter_problems(integration, LiveFields(platform, crm).known)
    if problems:
        raise problems[0]
    freeze_long_lived_objects()
    engine = SyncEngine(
        ws.existing_store(),
        integration,
        platform,
        crm,
        settings=ws.get_settings(),
        progress=progress,
        should_stop=should_stop,
    )
    return engine.run_cycle(dry_run=dry_run)


def cycle_summary(report: CycleReport) -> CycleSummary:
    """The stable, JSON-ready summary of a cycle's report."""
    return CycleSummary(
        integration=report.integration,
        run_id=report.run_id,
        dry_run=report.dry_run,
        status=report.status,
        message=report.message,
        started_at=report.started_at,
        finished_at=report.finished_at,
        duration_seconds=round(report.duration_seconds, 3),
        platform=report.platform.as_dict(),
        crm=report.crm.as_dict(),
        linked=report.linked,
        relinked=report.relinked,
        unlinked=report.unlinked,
        ambiguous=report.ambiguous,
        writes=report.writes,
        errors=report.errors,
        decisions=dict(report.decisions),
        api_calls=report.api_calls,
        planned=[
            {
                "side": write.side,
                "object": write.object_name,
                "record_id": write.record_id,
                "op": write.op,
                "field": write.field,
                "old": write.old,
                "new": write.new,
                "rule": write.rule,
            }
            for write in report.planned
        ],
        outcomes=[outcome.as_dict() for outcome in report.outcomes],
        deferred=report.deferred,
    )


def retry_errors(
    ws: Workspace, name: str, records: Sequence[str] | None = None
) -> int:
    """Unpark the parked records of ``name`` (only ``records``, by id, when given) so
    that the next cycle tries them again; returns how many were unparked."""
    store = ws.existing_store()
    integration = store.config.get_integration(name)
    with store.database.transaction() as tx:
        return store.inbox.unpark(
            tx, stored_id(integration), list(records) if records else None
        )
