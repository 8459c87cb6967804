"""The intent ledger: crmsync knows its own updates, even across a crash.

A chunk's updates (each: the record written and the baseline its write leads to) are
recorded as one row in the transaction that queues them, before any is pushed, and the
row is dropped in the transaction that stores the last of their answers' baselines. A
process killed in between leaves the row behind: the next cycle reads the written
record, sees values that differ from the old baseline, and without the row would call
them an edit. With it, a field whose baseline is still the one the write was decided
on, and whose record holds what crmsync meant to write, is taken as crmsync's write:
its baseline becomes the one the write led to, so only the other side's newer edit
counts (issue 12: without it, an edit made on the other side meanwhile lost to
crmsync's own older write). A baseline stored since (the answer was recorded after all,
or a later cycle settled the field) says the intent is spent: a user who later sets
the same value again is not mistaken for crmsync.

The cost follows the writes and stays small: one insert per chunk that writes, one
delete once its answers are in; left-over rows are read once, at the start of a cycle,
and only then are records compared with them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.engine._context import CycleContext
from crmsync.engine._units import Unit, _comparable, _same
from crmsync.errors import OutcomeUnknown
from crmsync.models import CRM, PLATFORM, Mapping, Side

log = structlog.get_logger("crmsync.engine")


class Intents:
    """Record updates before they leave; recognise them after a crash."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx

    def start(self, tx: DbConnection) -> None:
        """Read the intents an earlier cycle left, at the start of a cycle."""
        ctx = self.ctx
        ctx.intents_left = ctx.store.intents.left_behind(tx, ctx.iid)
        ctx.intent_rows = {}
        ctx.intent_row_of = {}

    def end(self, tx: DbConnection, started: dt.datetime) -> None:
        """Drop the rows this cycle found left over, once expired: recorded before it
        began, and longer ago than a write can stay in doubt
        (``write_in_doubt_seconds``: a vendor may carry out a call the client gave up on
        that much later, and its record must still be known as crmsync's write then)."""
        ctx = self.ctx
        if not ctx.intents_left:
            return
        expired = dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=ctx.settings.write_in_doubt_seconds
        )
        ctx.store.intents.clear(tx, ctx.iid, before=min(started, expired))

    def record(self, tx: DbConnection, units: Sequence[Unit]) -> None:
        """One row for the updates of ``units`` to linked records (a new link's pair is
        matched afresh after a crash, and a create has its pending record)."""
        intents: list[tuple[str, str, str, dict[str, Any]]] = []
        carriers: list[Unit] = []
        for unit in units:
            if unit.is_new_link:
                continue
            link, creates = unit.link, unit.creates
            baseline, before = link.baseline, unit.old_baseline
            by_side: dict[Side, dict[str, Any]] = {}
            for key, target in unit.field_targets.items():
                if target is not creates and key in baseline:
                    entries = by_side.get(target)
                    if entries is None:
                        entries = by_side[target] = {}
                    entries[key] = [before.get(key), baseline[key]]
            if not by_side:
                continue
            for side, entries in by_side.items():
                if side is PLATFORM:
                    intents.append(
                        ("platform", link.platform_object, link.platform_id, entries)
                    )
                else:
                    intents.append(("crm", link.crm_object, link.crm_id, entries))
            carriers.append(unit)
        ctx = self.ctx
        row_id = ctx.store.intents.add(tx, ctx.iid, intents)
        if row_id is None:
            return
        ctx.intent_rows[row_id] = [len(carriers), False]
        for unit in carriers:
            ctx.intent_row_of[id(unit)] = (unit, row_id)

    def done(self, units: Iterable[Unit]) -> list[int]:
        """Intent rows whose every unit's baseline is stored with ``units`` (none whose
        answer was lost: the vendor may still carry the write out)."""
        done: list[int] = []
        rows, row_of = self.ctx.intent_rows, self.ctx.intent_row_of
        if not row_of:
            return done
        for unit in units:
            found = row_of.pop(id(unit), None)
            if found is None:
                continue
            row_id = found[1]
            left = rows[row_id]
            left[0] -= 1
            left[1] = left[1] or _answer_lost(unit)
            if left[0] == 0:
                del rows[row_id]
                if not left[1]:
                    done.append(row_id)
        return done

    def adopt(
        self,
        unit: Unit,
        platform_values: dict[str, Any] | None,
        crm_values: dict[str, Any] | None,
    ) -> None:
        """Take each field a record holds as a dead cycle intended as crmsync's write:
        its baseline becomes the one that write led to. A field that differs (edited
        since, or the write never landed), or whose baseline was stored since the write
        was decided, is decided as before. A record's intents apply oldest first (a
        cycle that died while recovering from another's death)."""
        link = unit.link
        for side, values in ((PLATFORM, platform_values), (CRM, crm_values)):
            if values is None:
                continue
            intents = self.ctx.intents_left.get(unit.record_key(side))
            if intents is None:
                continue
            at = 0 if side is PLATFORM else 1
            adopted = 0
            for entries in intents:
                for mapping in unit.pair.mappings:
                    entry = entries.get(mapping.key)
                    name = mapping.crm_field if at else mapping.platform_field
                    if entry is None or name not in values:
                        continue
                    before, after = entry
                    if link.baseline.get(mapping.key) == before and _holds(
                        mapping, side, values[name], after[at]
                    ):
                        link.baseline[mapping.key] = list(after)
                        adopted += 1
            if adopted:
                log.info(
                    "own_write_recognised",
                    side=side.value,
                    record=unit.record_key(side)[2],
                    fields=adopted,
                )


def _holds(mapping: Mapping, side: Side, value: Any, intended: Any) -> bool:
    """Whether ``value`` read back is ``intended`` (raw, or as the vendor normalizes
    it: a phone reformatted, an email lower-cased)."""
    if _same(value, intended):
        return True
    comparable = _comparable(mapping, side, intended)
    return bool(_comparable(mapping, side, value) == comparable)


def _answer_lost(unit: Unit) -> bool:
    return any(failure.code == OutcomeUnknown.code for failure in unit.failures)
