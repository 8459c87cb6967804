"""What a cycle tells its caller: counts, decisions by rule, planned writes and
progress.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["succeeded", "partial", "stopped", "failed"]


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One field a cycle writes (or, in a dry run, would write), and the rule that
    decided it.
    """

    side: str
    object_name: str
    record_id: str | None
    op: Literal["create", "update"]
    field: str
    old: Any
    new: Any
    rule: str


OutcomeKind = Literal["create", "update", "link", "relink", "unlink", "error"]


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What a cycle did (or, in a dry run, would do) to one record: the plan as data.

    ``object_name``/``record_id`` name the record; ``other_object``/``other_id`` the
    record across the link where there is one (a link's CRM record, a create's new
    object); ``detail`` the fields of an update, an error's code, why a link moved.
    """

    kind: OutcomeKind
    object_name: str
    record_id: str
    other_object: str = ""
    other_id: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "object": self.object_name,
            "record": self.record_id,
            "other_object": self.other_object,
            "other_record": self.other_id,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress tick: ``done`` of ``stage`` for one side and object (``total`` if
    known).
    """

    stage: Literal["read", "decide", "write"]
    side: str
    object_name: str
    done: int
    total: int | None = None


@dataclass
class SideCounts:
    read: int = 0
    # Read but not news: every mapped field held its link's baseline (an echo of
    # crmsync's own write, an overlap re-read), so nothing was staged or decided.
    unchanged: int = 0
    deleted: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
        }


@dataclass
class CycleReport:
    """The outcome of one cycle; stored as the run's record."""

    integration: str
    run_id: int | None = None
    dry_run: bool = False
    # Keep the plan record by record (``planned`` field writes and ``outcomes``):
    # always for a dry run, on request for a real one.
    record_plan: bool = False
    status: Status = "succeeded"
    message: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    platform: SideCounts = field(default_factory=SideCounts)
    crm: SideCounts = field(default_factory=SideCounts)
    linked: int = 0
    relinked: int = 0
    unlinked: int = 0
    ambiguous: int = 0
    # Records whose create is in doubt (sent by a cycle that died, not found yet):
    # left for a later cycle instead of being created twice.
    deferred: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    planned: list[PlannedWrite] = field(default_factory=list)
    outcomes: list[RecordOutcome] = field(default_factory=list)
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    retry_waits: dict[str, int] = field(default_factory=dict)
    # Per side, the vendor clock's measured offset and its uncertainty (seconds), for a
    # connector that reports them (the ``clock_offset`` hook).
    clock_offsets: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.record_plan = self.record_plan or self.dry_run

    def note(
        self,
        kind: OutcomeKind,
        object_name: str,
        record_id: str,
        other_object: str = "",
        other_id: str = "",
        detail: str = "",
    ) -> None:
        """Keep one record's outcome, when the plan is kept."""
        if self.record_plan:
            self.outcomes.append(
                RecordOutcome(
                    kind, object_name, record_id, other_object, other_id, detail
                )
            )

    def plan(self) -> dict[str, Any]:
        """The plan as data (JSON-ready): every field write and record outcome."""
        return {
            "dry_run": self.dry_run,
            "writes": [
                {
                    "side": write.side,
                    "object": write.object_name,
                    "record": write.record_id,
                    "op": write.op,
                    "field": write.field,
                    "old": write.old,
                    "new": write.new,
                    "rule": write.rule,
                }
                for write in self.planned
            ],
            "outcomes": [outcome.as_dict() for outcome in self.outcomes],
        }

    def side(self, name: str) -> SideCounts:
        return self.platform if name == "platform" else self.crm

    @property
    def writes(self) -> int:
        return (
            self.platform.created
            + self.platform.updated
            + self.crm.created
            + self.crm.updated
        )

    @property
    def errors(self) -> int:
        return self.platform.failed + self.crm.failed + self.ambiguous

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at or dt.datetime.now(dt.UTC)
        return (end - self.started_at).total_seconds()

    def counts(self) -> dict[str, Any]:
        """The JSON form kept in the run history."""
        return {
            "platform": self.platform.as_dict(),
            "crm": self.crm.as_dict(),
            "linked": self.linked,
            "relinked": self.relinked,
            "unlinked": self.unlinked,
            "ambiguous": self.ambiguous,
            "deferred": self.deferred,
            "decisions": dict(self.decisions),
            "api_calls": self.api_calls,
            "retry_waits": self.retry_waits,
            "clock_offsets": self.clock_offsets,
            "duration_seconds": round(self.duration_seconds, 3),
        }
