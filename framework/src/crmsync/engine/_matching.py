"""Linking unlinked records: by match key, by lookup, or by creating them."""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import Connection as DbConnection

from crmsync.contract.models import Capability
from crmsync.engine._books import Bookkeeper
from crmsync.engine._context import CycleContext
from crmsync.engine._units import (
    Failure,
    Unit,
    decide_fields,
    plan_create,
)
from crmsync.models import CRM, PLATFORM, ObjectPair, Side
from crmsync.policy import creation_pair, match_key, should_create
from crmsync.store import InboxRow, LinkRow

log = structlog.get_logger("crmsync.engine")


class Matcher:
    """Finding or creating the other side of an unlinked record."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx
        self.books = Bookkeeper(ctx)

    def match_or_create(
        self,
        tx: DbConnection,
        side: Side,
        object_name: str,
        rows: list[InboxRow],
        failures: list[Failure],
        done_rows: list[InboxRow],
    ) -> list[Unit]:
        """Link unlinked rows by match key; create where the rules say; else drop."""
        ctx = self.ctx
        other = side.other
        pairs = [
            pair
            for pair in ctx.integration.pairs_in_match_order()
            if (pair.platform_object if side is PLATFORM else pair.crm_object)
            == object_name
        ]
        keys = sorted({row.match_key for row in rows if row.match_key})
        # A create pushed by a cycle that died (or whose answer was lost) was made with
        # the key the record had then; if the record's key changed since, the made
        # record is found by that earlier key, not created a second time.
        earlier: dict[str, str] = {}
        if ctx.force_lookup:
            earlier = {
                record_id: key
                for record_id, key in ctx.store.pending.match_keys(
                    tx, ctx.iid, other.value, object_name, [r.record_id for r in rows]
                ).items()
                if key not in keys
            }
        # Creates sent within the in-doubt window by a cycle that died or lost the
        # answer: the vendor may still be carrying them out (a lookup cannot see them
        # yet), so a record among them that is not found waits; it is not created again.
        in_doubt: set[str] = set()
        if ctx.force_lookup and ctx.settings.write_in_doubt_seconds:
            in_doubt = ctx.store.pending.sources_since(
                tx,
                ctx.iid,
                other.value,
                object_name,
                [r.record_id for r in rows],
                since=dt.datetime.now(dt.UTC)
                - dt.timedelta(seconds=ctx.settings.write_in_doubt_seconds),
            )
        candidates = self._candidates(
            tx, side, pairs, sorted({*keys, *earlier.values()})
        )
        rivals = self._rivals(tx, side, object_name, rows, keys)
        rule = (
            ctx.integration.create_in_crm
            if side is PLATFORM
            else ctx.integration.create_in_platform
        )
        units: list[Unit] = []
        other_side = other.value
        for row in rows:
            unit = None
            claimed = False
            for pair in pairs:
                other_object = (
                    pair.crm_object if side is PLATFORM else pair.platform_object
                )
                found = candidates.get((other_object, row.match_key or ""), ([], False))
                if not found[0] and not found[1] and row.record_id in earlier:
                    found = candidates.get(
                        (other_object, earlier[row.record_id]), ([], False)
                    )
                free, linked_elsewhere = found
                # A candidate another row of this cycle just claimed counts as linked.
                if free:
                    claimable = [
                        c
                        for c in free
                        if (other_side, c.object_name, c.record_id) not in ctx.in_flight
                    ]
                    if len(claimable) < len(free):
                        linked_elsewhere = True
                    free = claimable
                if len(free) >= 2:
                    ids = sorted(c.record_id for c in free)
                    self._ambiguous(
                        tx,
                        row,
                        failures,
                        f"{len(ids)} {other_object} records share the match key",
                        ids,
                    )
                    claimed = True
                    break
                if len(free) == 1:
                    # One candidate, but is this row its only one? Another record of
                    # this side with the same key makes it a guess either way.
                    same_key = rivals.get(row.match_key or "", ())
                    if len(same_key) > 1 or (
                        same_key and row.record_id not in same_key
                    ):
                        ids = sorted({row.record_id, *same_key})
                        self._ambiguous(
                            tx,
                            row,
                            failures,
                            f"{len(ids)} {row.object_name} records share the match "
                            f"key of {other_object} {free[0].record_id}",
                            ids,
                        )
                        claimed = True
                        break
                    unit = self._new_link_unit(side, row, pair, free[0])
                    break
                if linked_elsewhere:
                    claimed = True
                    done_rows.append(row)
                    break
            if claimed:
                continue
            if unit is not None:
                units.append(unit)
                continue
            if not pairs or not should_create(rule, row.values):
                done_rows.append(row)
                continue
            if row.record_id in in_doubt:
                ctx.skip_rows.add(row.id)  # stays in the inbox for a later cycle
                ctx.deferred_creates.add((other.value, object_name, row.record_id))
                ctx.report.deferred += 1
                log.info("create_deferred_in_doubt", record=row.record_id)
                continue
            unit = self._create_unit(side, row, pairs, failures)
            if unit is None:
                self.books.park(tx, row, "cannot create")
            else:
                units.append(unit)
        return units

    def _ambiguous(
        self,
        tx: DbConnection,
        row: InboxRow,
        failures: list[Failure],
        what: str,
        ids: list[str],
    ) -> None:
        """Record ``row`` as an ambiguous match and park it: never a guess."""
        ctx = self.ctx
        failures.append(
            Failure(
                row.side,
                row.object_name,
                row.record_id,
                "AMBIGUOUS_MATCH",
                f"{what}: {', '.join(ids[:5])}",
            )
        )
        ctx.report.ambiguous += 1
        self.books.park(tx, row, "ambiguous match")

    def _rivals(
        self,
        tx: DbConnection,
        side: Side,
        object_name: str,
        rows: list[InboxRow],
        keys: list[str],
    ) -> dict[str, set[str]]:
        """Per match key, the unlinked records of this side and object that carry it
        (among the records this cycle read or that wait in the inbox).

        Two of them sharing the key of one candidate make linking either a guess: both
        are recorded as ambiguous instead. Records of another object of this side are
        no rivals: the object pairs' match order settles those.
        """
        ctx = self.ctx
        if not keys:
            return {}
        unlinked = {row.record_id for row in rows}  # the caller's rows have no link
        in_flight, side_name = ctx.in_flight, side.value
        found = [
            (record_id, key)
            for record_id, key in ctx.store.inbox.ids_by_match_keys(
                tx, ctx.iid, side_name, object_name, keys
            )
            if (side_name, object_name, record_id) not in in_flight
        ]
        unknown = [(object_name, rid) for rid, _ in found if rid not in unlinked]
        linked = (
            ctx.store.links.find(tx, ctx.iid, side_name, unknown) if unknown else {}
        )
        rivals: dict[str, set[str]] = {}
        for record_id, key in found:
            if (object_name, record_id) not in linked:
                rivals.setdefault(key, set()).add(record_id)
        return rivals

    def _candidates(
        self, tx: DbConnection, side: Side, pairs: list[ObjectPair], keys: list[str]
    ) -> dict[tuple[str, str], tuple[list[InboxRow], bool]]:
        """Per (other object, match key): the unlinked candidates and whether a linked
        one exists.
        """
        ctx = self.ctx
        other = side.other
        found: dict[tuple[str, str], tuple[list[InboxRow], bool]] = {}
        if not keys:
            return found
        for pair in pairs:
            other_object = pair.crm_object if side is PLATFORM else pair.platform_object
            match_field = (
                pair.crm_match_field if side is PLATFORM else pair.platform_match_field
            )
            rows: dict[str, InboxRow] = {
                row.record_id: row
                for row in ctx.store.inbox.by_match_keys(
                    tx, ctx.iid, other.value, [other_object], keys
                )
            }
            connection = ctx.connections[other]
            if (
                (other, other_object) not in ctx.full_read or ctx.force_lookup
            ) and Capability.LOOKUP in connection.description.capabilities:
                fields = ctx.fields(other, other_object)
                for record in connection.lookup_records(
                    other_object, field=match_field, values=keys, fields=fields
                ):
                    if record.record_id not in rows:
                        rows[record.record_id] = InboxRow(
                            id=0,
                            side=other.value,
                            object_name=other_object,
                            record_id=record.record_id,
                            modified_at=record.modified_at,
                            kind="record",
                            values=record.values,
                            match_key=match_key(record.values.get(match_field)),
                            converted_object=None,
                            converted_id=None,
                            merged_into=None,
                            attempts=0,
                            parked=False,
                        )
            linked = ctx.store.links.find(
                tx, ctx.iid, other.value, [(other_object, rid) for rid in rows]
            )
            for row in rows.values():
                if row.match_key is None:
                    continue
                free, any_linked = found.get((other_object, row.match_key), ([], False))
                # A row parked or failed (an ambiguous match among them) is no
                # candidate:
                # linking it would be the guess its own ambiguity forbade.
                if (
                    (other_object, row.record_id) in linked
                    or row.parked
                    or row.id in ctx.skip_rows
                ):
                    any_linked = True
                else:
                    free = [*free, row]
                found[(other_object, row.match_key)] = (free, any_linked)
        return found

    def _new_link_unit(
        self, side: Side, row: InboxRow, pair: ObjectPair, match: InboxRow
    ) -> Unit:
        ctx = self.ctx
        platform_row, crm_row = (row, match) if side is PLATFORM else (match, row)
        link = LinkRow(
            id=None,
            platform_object=platform_row.object_name,
            platform_id=platform_row.record_id,
            crm_object=crm_row.object_name,
            crm_id=crm_row.record_id,
            baseline={},
            platform_modified_at=platform_row.modified_at,
            crm_modified_at=crm_row.modified_at,
        )
        unit = Unit(
            pair=pair,
            link=link,
            is_new_link=True,
            rows=[r for r in (row, match) if r.id > 0],
        )
        decide_fields(
            unit,
            ctx.integration,
            platform_row.values,
            crm_row.values,
            platform_row.modified_at,
            crm_row.modified_at,
            decisions=ctx.report.decisions,
            planned=ctx.report.planned if ctx.report.record_plan else None,
            times=ctx.times,
        )
        ctx.report.linked += 1
        if ctx.report.record_plan:
            ctx.report.note(
                "link",
                platform_row.object_name,
                platform_row.record_id,
                crm_row.object_name,
                crm_row.record_id,
            )
        ctx.in_flight.add((match.side, match.object_name, match.record_id))
        return unit

    def _create_unit(
        self,
        side: Side,
        row: InboxRow,
        pairs: list[ObjectPair],
        failures: list[Failure],
    ) -> Unit | None:
        ctx = self.ctx
        rule = (
            ctx.integration.create_in_crm
            if side is PLATFORM
            else ctx.integration.create_in_platform
        )
        target = side.other
        pair = creation_pair(pairs, target, rule.target_object)
        target_object = pair.crm_object if target is CRM else pair.platform_object
        if row.match_key is None:
            failures.append(
                Failure(
                    side.value,
                    row.object_name,
                    row.record_id,
                    "NO_MATCH_KEY",
                    "not created: the record has no match key value, so a "
                    "retry could not tell whether it was already created",
                )
            )
            return None
        link = LinkRow(
            id=None,
            platform_object=pair.platform_object,
            platform_id="",
            crm_object=pair.crm_object,
            crm_id="",
            baseline={},
            platform_modified_at=None,
            crm_modified_at=None,
        )
        if side is PLATFORM:
            link.platform_id, link.platform_modified_at = row.record_id, row.modified_at
        else:
            link.crm_id, link.crm_modified_at = row.record_id, row.modified_at
        unit = Unit(pair=pair, link=link, is_new_link=True, rows=[row])
        try:
            plan_create(
                unit,
                side,
                row.values,
                target_object,
                planned=ctx.report.planned if ctx.report.record_plan else None,
            )
        except ValueError as error:
            failures.append(
                Failure(
                    side.value, row.object_name, row.record_id, "CONVERSION", str(error)
                )
            )
            return None
        unit.ref = f"{ctx.iid}:{side.value}:{row.object_name}:{row.record_id}"
        return unit
