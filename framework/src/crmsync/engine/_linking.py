"""Keeping links correct: conversions and merges relink, deletions unlink."""

from __future__ import annotations

import structlog

from crmsync.engine._base import EngineBase
from crmsync.models import Side
from crmsync.store import InboxRow, LinkRow

log = structlog.get_logger("crmsync.engine")


class LinkingMixin(EngineBase):
    """Moving and removing links as records convert, merge and vanish."""

    def _on_tombstone(
        self,
        row: InboxRow,
        link: LinkRow,
        side: Side,
        changes: list[LinkRow],
        deletes: list[int],
    ) -> None:
        if row.merged_into:
            self._relink(
                link, side, row.object_name, row.merged_into, changes, deletes, "merged"
            )
            return
        deletes.append(link.id or 0)
        self._report.unlinked += 1
        log.info(
            "unlinked",
            reason=f"deleted in {side.value}",
            record=row.record_id,
            other=self._id_of(link, side.other),
        )
        self._report.note("unlink", row.object_name, row.record_id, detail="deleted")
        self.store.history.log_event(
            self.iid,
            "unlinked",
            {
                "reason": f"deleted in {side.value}",
                "side": side.value,
                "object": row.object_name,
                "record": row.record_id,
                "other": self._id_of(link, side.other),
            },
        )

    def _relink(
        self,
        link: LinkRow,
        side: Side,
        object_name: str,
        record_id: str,
        changes: list[LinkRow],
        deletes: list[int],
        why: str,
    ) -> None:
        with self._tx() as tx:
            taken = self.store.links.find(
                tx, self.iid, side.value, [(object_name, record_id)]
            )
        unpaired = False
        if taken:
            # The surviving record already has its own link: this one has nothing left
            # to sync.
            deletes.append(link.id or 0)
            self._report.unlinked += 1
            reason = f"{why} into a record that is already linked"
        else:
            old = self._id_of(link, side)
            if side is Side.PLATFORM:
                link.platform_object, link.platform_id = object_name, record_id
            else:
                link.crm_object, link.crm_id = object_name, record_id
            changes.append(link)
            self._report.relinked += 1
            reason = f"{why}: {old} -> {record_id}"
            unpaired = self._pair(link.platform_object, link.crm_object) is None
            if unpaired:
                # Kept, so that adding the pair later resumes this record's sync; said
                # aloud, because until then nothing of it moves.
                reason += (
                    f" ({link.platform_object} <-> {link.crm_object} is no object pair "
                    "of this integration: not synced until one is added)"
                )
        say = log.warning if not taken and unpaired else log.info
        say("relinked" if not taken else "unlinked", reason=reason)
        self._report.note(
            "relink" if not taken else "unlink", object_name, record_id, detail=why
        )
        self.store.history.log_event(
            self.iid,
            "relinked" if not taken else "unlinked",
            {"side": side.value, "reason": reason},
        )
