"""The intent ledger: crmsync knows its own updates, even across a crash.

An update is recorded (side, record, and the baseline its write leads to) in the
transaction that queues it, before it is pushed, and cleared in the transaction that
stores its answer's baseline. A process killed in between leaves the intent behind: the
next cycle reads the written record, sees values that differ from the old baseline, and
without the intent would call it an edit. With it, a record that holds what crmsync
meant to write is taken as crmsync's write: its side's baseline becomes the intended
values, so only the other side's newer edit counts (issue 12: without it, an edit made
on the other side meanwhile lost to crmsync's own older write).

The cost follows the writes: one multi-row insert per chunk that writes, one delete per
batch answered; intents are looked up only in a cycle that began with some left over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.engine._base import EngineBase
from crmsync.engine._units import Unit, _comparable, _same
from crmsync.errors import OutcomeUnknown
from crmsync.models import CRM, PLATFORM, Mapping, Side
from crmsync.store import InboxRow, LinkRow

log = structlog.get_logger("crmsync.engine")

IntentKey = tuple[str, str, str]  # (side written, object, record id)


class IntentsMixin(EngineBase):
    """Record updates before they leave; recognise them after a crash."""

    # Intents left by an earlier cycle (one that died between a write and its
    # baseline): only then are records' intents looked up.
    _intents_waiting: bool = False
    # Records whose intent this cycle adopted: cleared with their unit's baseline.
    _intents_adopted: set[IntentKey]

    def _start_intents(self, tx: DbConnection) -> None:
        self._intents_adopted = set()
        self._intents_waiting = self.store.has_write_intents(tx, self.iid)

    def _end_intents(self, tx: DbConnection, started: dt.datetime) -> None:
        """Drop the intents this cycle found left over, once expired: recorded before
        it began, and longer ago than a write can stay in doubt
        (``write_in_doubt_seconds``: a vendor may carry out a call the client gave up
        on that much later, and its record must still be known as crmsync's then)."""
        if not self._intents_waiting:
            return
        expired = dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=self.settings.write_in_doubt_seconds
        )
        self.store.clear_write_intents(tx, self.iid, before=min(started, expired))

    def _intent_rows(
        self, units: Sequence[Unit]
    ) -> list[tuple[str, str, str, dict[str, list[Any]]]]:
        """The intents of ``units``' updates to linked records (a new link's pair is
        matched afresh after a crash, and a create has its pending record)."""
        rows = []
        for unit in units:
            if unit.is_new_link:
                continue
            baseline = unit.link.baseline
            for side in unit.writes:
                if side is unit.creates:
                    continue
                entries = {
                    key: baseline[key]
                    for key, target in unit.field_targets.items()
                    if target is side and key in baseline
                }
                if entries:
                    rows.append(
                        (
                            side.value,
                            self._object_of(unit.link, side),
                            self._id_of(unit.link, side),
                            entries,
                        )
                    )
        return rows

    def _load_intents(
        self,
        tx: DbConnection,
        side: Side,
        links: dict[tuple[str, str], LinkRow],
        counterparts: dict[tuple[str, str], InboxRow],
    ) -> dict[IntentKey, dict[str, list[Any]]]:
        """Left-over intents of a chunk's linked records and of their counterparts."""
        if not self._intents_waiting or not links:
            return {}
        found: dict[IntentKey, dict[str, list[Any]]] = {}
        other_keys = [
            key
            for key in (self._other_key(link, side) for link in links.values())
            if key in counterparts
        ]
        for which, keys in ((side, list(links)), (side.other, other_keys)):
            if not keys:
                continue
            for (object_name, record_id), entries in self.store.write_intents_for(
                tx, self.iid, which.value, keys
            ).items():
                found[(which.value, object_name, record_id)] = entries
        return found

    def _adopt_intents(
        self,
        unit: Unit,
        intents: dict[IntentKey, dict[str, list[Any]]],
        platform_values: dict[str, Any] | None,
        crm_values: dict[str, Any] | None,
    ) -> None:
        """Take each field a record holds as crmsync intended as crmsync's write: its
        baseline becomes the one that write led to. A field that differs (edited since,
        or the write never landed) keeps its baseline and is decided as before."""
        link = unit.link
        for side, values in ((PLATFORM, platform_values), (CRM, crm_values)):
            if values is None:
                continue
            key = unit.record_key(side)
            entries = intents.get(key)
            if entries is None:
                continue
            at = 0 if side is PLATFORM else 1
            adopted = 0
            for mapping in unit.pair.mappings:
                entry = entries.get(mapping.key)
                name = mapping.platform_field if side is PLATFORM else mapping.crm_field
                if entry is None or name not in values:
                    continue
                if _holds(mapping, side, values[name], entry[at]):
                    link.baseline[mapping.key] = list(entry)
                    adopted += 1
            if adopted:
                self._intents_adopted.add(key)
                log.info("own_write_recognised", record=key[2], fields=adopted)

    def _intents_done(self, units: Iterable[Unit]) -> list[IntentKey]:
        """Intents whose baselines ``units`` store now: their updates answered (not one
        whose answer was lost: the vendor may still carry it out) and those they
        adopted."""
        keys: list[IntentKey] = []
        adopted = self._intents_adopted
        for unit in units:
            if not unit.is_new_link:
                for side in unit.writes:
                    if side is unit.creates or _answer_lost(unit, side):
                        continue
                    keys.append(unit.record_key(side))
            if adopted:
                for side in (PLATFORM, CRM):
                    key = unit.record_key(side)
                    if key in adopted:
                        adopted.discard(key)
                        keys.append(key)
        return keys


def _holds(mapping: Mapping, side: Side, value: Any, intended: Any) -> bool:
    """Whether ``value`` read back is ``intended`` (raw, or as the vendor normalizes
    it: a phone reformatted, an email lower-cased)."""
    if _same(value, intended):
        return True
    comparable = _comparable(mapping, side, intended)
    return bool(_comparable(mapping, side, value) == comparable)


def _answer_lost(unit: Unit, side: Side) -> bool:
    return any(
        failure.code == OutcomeUnknown.code and failure.side == side.value
        for failure in unit.failures
    )
