"""Reconciling one side's links by id, when its change feed may have lost deletions.

A feed reports a deletion only while its vendor remembers it (Salesforce's getDeleted
reaches back 15 days). A page that says so (``ChangePage.deletions_unknown_before``)
has the engine read the ids this side links for the object, a keyset page of the
store's unique index at a time, and ask the connector's ``missing_records`` hook about
each page. Every id it answers is staged in the inbox as a tombstone, so the settle
phase treats it exactly as a deletion read from the feed (the ``Linker``: the link is
removed and why is recorded), dry runs included.

Cost: one store read and one hook call per batch of links of that object, once in the
cycle and only when asked; each call is retried on its own by the connection, so a
fault repeats one batch, never the sweep. The calls show in the cycle report's
``api_calls`` for the side as ``missing_records``.
"""

from __future__ import annotations

import datetime as dt

import structlog

from crmsync.contract.models import Tombstone
from crmsync.engine._context import CycleContext
from crmsync.errors import StopRequested
from crmsync.models import Side

__all__ = ["reconcile_links"]

log = structlog.get_logger("crmsync.engine")

HOOK = "missing_records"


def reconcile_links(
    ctx: CycleContext, side: Side, object_name: str, unknown_before: dt.datetime
) -> None:
    """Stage a tombstone for each linked ``object_name`` record of ``side`` that its
    connector answers as missing (see the module docstring).

    Called before the page that asked is staged with its cursor: a cycle that dies
    mid-sweep leaves the cursor where it was, and the next cycle's read asks again.
    """
    connection = ctx.connections[side]
    detail = {
        "side": side.value,
        "object": object_name,
        "deletions_unknown_before": unknown_before.isoformat(),
    }
    if not connection.implements(HOOK):
        log.warning(
            "reconcile_unsupported",
            **detail,
            hint=f"connector {connection.id!r} reported that its feed may have lost "
            "deletions but does not implement missing_records: links to records "
            "deleted before then stay until a write to them fails",
        )
        ctx.store.history.log_event(ctx.iid, "reconcile_unsupported", detail)
        return
    batch = max(
        1, min(connection.description.missing_records_batch_size, ctx.chunk_size)
    )
    after, checked, missing, calls = "", 0, 0, 0
    while True:
        with ctx.tx() as tx:
            ids = ctx.store.links.linked_ids(
                tx, ctx.iid, side.value, object_name, after=after, limit=batch
            )
        if not ids:
            break
        gone = connection.missing_records(object_name, ids)
        calls += 1
        checked += len(ids)
        if gone:
            deleted_at = ctx.clock()
            with ctx.tx() as tx:
                ctx.store.inbox.stage(
                    tx,
                    ctx.iid,
                    side.value,
                    object_name,
                    (),
                    [Tombstone(record_id=i, deleted_at=deleted_at) for i in gone],
                    None,
                )
            missing += len(gone)
        after = ids[-1]
        ctx.hold_lease()
        if ctx.should_stop():
            raise StopRequested()
        if len(ids) < batch:
            break
    ctx.report.side(side.value).deleted += missing
    summary = detail | {"checked": checked, "missing": missing, "calls": calls}
    log.info("links_reconciled", **summary)
    ctx.store.history.log_event(ctx.iid, "links_reconciled", summary)
