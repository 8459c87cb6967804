"""Keeping links correct: conversions and merges relink, deletions unlink."""

from __future__ import annotations

import structlog

from crmsync.engine._books import Bookkeeper
from crmsync.engine._context import CycleContext, id_of
from crmsync.models import CRM, PLATFORM, Side
from crmsync.store import InboxRow, LinkRow

log = structlog.get_logger("crmsync.engine")


class Linker:
    """Moving and removing links as records convert, merge and vanish."""

    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx
        self.books = Bookkeeper(ctx)

    def relink_moves(self) -> None:
        """Move the links of converted and merged records to what they became, before
        any record is decided.

        The record a lead became (a contact), or a merge's survivor, is read in the
        same cycle, often before the record that moved (contacts match first), and
        carries its latest values. Its link must be in place when it is decided, or it
        would look linked elsewhere, be dropped, and an edit made around the move would
        never reach the other side. A chain of merges in one cycle (A into B, B into C)
        moves the link to the last survivor.
        """
        ctx = self.ctx
        for side in (PLATFORM, CRM):
            with ctx.tx() as tx:
                rows = ctx.store.inbox.moves(tx, ctx.iid, side.value)
            survivors = {
                (row.object_name, row.record_id): row.merged_into
                for row in rows
                if row.merged_into
            }
            for row in rows:
                if row.merged_into:
                    target = _last_survivor(survivors, row.object_name, row.merged_into)
                    move = (row.object_name, target, "merged")
                elif side is CRM and row.converted_id is not None:
                    move = (
                        row.converted_object or row.object_name,
                        row.converted_id,
                        "converted",
                    )
                else:
                    continue
                # One at a time: moves are rare, and the next one must see this one
                # (two records merged into one survivor cannot both take its link).
                with ctx.tx() as tx:
                    links = ctx.store.links.find(
                        tx, ctx.iid, side.value, [(row.object_name, row.record_id)]
                    )
                link = links.get((row.object_name, row.record_id))
                if link is None:
                    continue  # unlinked: the settler drops it; its successor stands
                changes: list[LinkRow] = []
                deletes: list[int] = []
                target_object, target_id, why = move
                self.relink(link, side, target_object, target_id, changes, deletes, why)
                with ctx.tx() as tx:
                    self.books.store_links(tx, changes, deletes)
                    self.books.settle_rows(tx, [row])
                ctx.skip_rows.add(row.id)

    def on_tombstone(
        self,
        row: InboxRow,
        link: LinkRow,
        side: Side,
        changes: list[LinkRow],
        deletes: list[int],
    ) -> None:
        if row.merged_into:
            self.relink(
                link, side, row.object_name, row.merged_into, changes, deletes, "merged"
            )
            return
        ctx = self.ctx
        deletes.append(link.id or 0)
        ctx.report.unlinked += 1
        log.info(
            "unlinked",
            reason=f"deleted in {side.value}",
            record=row.record_id,
            other=id_of(link, side.other),
        )
        ctx.report.note("unlink", row.object_name, row.record_id, detail="deleted")
        ctx.store.history.log_event(
            ctx.iid,
            "unlinked",
            {
                "reason": f"deleted in {side.value}",
                "side": side.value,
                "object": row.object_name,
                "record": row.record_id,
                "other": id_of(link, side.other),
            },
        )

    def relink(
        self,
        link: LinkRow,
        side: Side,
        object_name: str,
        record_id: str,
        changes: list[LinkRow],
        deletes: list[int],
        why: str,
    ) -> None:
        ctx = self.ctx
        with ctx.tx() as tx:
            taken = ctx.store.links.find(
                tx, ctx.iid, side.value, [(object_name, record_id)]
            )
        unpaired = False
        if taken:
            # The surviving record already has its own link: this one has nothing left
            # to sync.
            deletes.append(link.id or 0)
            ctx.report.unlinked += 1
            reason = f"{why} into a record that is already linked"
        else:
            old = id_of(link, side)
            if side is Side.PLATFORM:
                link.platform_object, link.platform_id = object_name, record_id
            else:
                link.crm_object, link.crm_id = object_name, record_id
            changes.append(link)
            ctx.report.relinked += 1
            reason = f"{why}: {old} -> {record_id}"
            unpaired = ctx.pair(link.platform_object, link.crm_object) is None
            if unpaired:
                # Kept, so that adding the pair later resumes this record's sync; said
                # aloud, because until then nothing of it moves.
                reason += (
                    f" ({link.platform_object} <-> {link.crm_object} is no object pair "
                    "of this integration: not synced until one is added)"
                )
        say = log.warning if not taken and unpaired else log.info
        say("relinked" if not taken else "unlinked", reason=reason)
        ctx.report.note(
            "relink" if not taken else "unlink", object_name, record_id, detail=why
        )
        ctx.store.history.log_event(
            ctx.iid,
            "relinked" if not taken else "unlinked",
            {"side": side.value, "reason": reason},
        )


def _last_survivor(
    survivors: dict[tuple[str, str], str], object_name: str, record_id: str
) -> str:
    """Follow merges read in one cycle (A into B, B into C) to the one that stands."""
    seen = {record_id}
    while (object_name, record_id) in survivors:
        record_id = survivors[(object_name, record_id)]
        if record_id in seen:  # a loop no vendor should report: stop where it closes
            break
        seen.add(record_id)
    return record_id
