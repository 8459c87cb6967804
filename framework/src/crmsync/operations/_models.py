"""What operations take and return: pydantic models a face parses into or renders.

Requests carry what an administrator typed, in the product's small languages (a
filter such as ``score>=50``, a pair such as ``prospect:Contact``); the operations
parse and check them, so that every face refuses the same input with the same line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crmsync.models import CreationMode, Direction, Mapping, SourceOfTruth

__all__ = [
    "ConnectorFailure",
    "ConnectorInfo",
    "ConnectorListing",
    "CycleSummary",
    "DoctorCheck",
    "DoctorReport",
    "ErrorListing",
    "EventEntry",
    "IntegrationStatus",
    "IntegrationSummary",
    "IntegrationUpdate",
    "MappingChange",
    "MappingEdit",
    "MappingPlan",
    "MappingSpec",
    "NewIntegration",
    "OpenError",
    "PairRef",
    "RunEntry",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class PairRef(_Request):
    """One object pair of an integration, named by its two objects."""

    platform_object: str = Field(min_length=1)
    crm_object: str = Field(min_length=1)

    def __str__(self) -> str:
        return f"{self.platform_object}:{self.crm_object}"


class NewIntegration(_Request):
    """An integration to create (paused, with no mappings yet).

    ``platform`` defaults to the installed self-contained platform connector (see
    :func:`~crmsync.operations.default_platform`); ``pairs`` default to the
    platform's person object with each CRM person object;
    ``crm_filter`` / ``platform_filter`` are filter texts such as ``score>=50``, needed
    with (and only with) creation mode ``filter``; settings are non-secret connector
    settings stored with the integration.
    """

    name: str
    crm: str
    platform: str | None = None
    source_of_truth: SourceOfTruth = SourceOfTruth.BOTH
    interval_seconds: int | None = None
    create_in_crm: CreationMode = CreationMode.NEVER
    crm_filter: str | None = None
    crm_create_as: str | None = None
    create_in_platform: CreationMode = CreationMode.NEVER
    platform_filter: str | None = None
    pairs: tuple[PairRef, ...] = ()
    platform_settings: dict[str, str] = Field(default_factory=dict)
    crm_settings: dict[str, str] = Field(default_factory=dict)


class IntegrationUpdate(_Request):
    """Changes to an integration; ``None`` (or empty) leaves a value as it is.

    A filter alone replaces the condition of a stored ``filter`` rule. Settings given
    are stored (merged over the stored ones); ``unset_*`` keys are removed.
    """

    interval_seconds: int | None = None
    source_of_truth: SourceOfTruth | None = None
    create_in_crm: CreationMode | None = None
    crm_filter: str | None = None
    create_in_platform: CreationMode | None = None
    platform_filter: str | None = None
    platform_settings: dict[str, str] = Field(default_factory=dict)
    crm_settings: dict[str, str] = Field(default_factory=dict)
    unset_platform_settings: tuple[str, ...] = ()
    unset_crm_settings: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """Whether no change is asked for."""
        return not any(
            value not in (None, {}, ())
            for value in (
                self.interval_seconds,
                self.source_of_truth,
                self.create_in_crm,
                self.crm_filter,
                self.create_in_platform,
                self.platform_filter,
                self.platform_settings,
                self.crm_settings,
                self.unset_platform_settings,
                self.unset_crm_settings,
            )
        )


class MappingSpec(_Request):
    """A mapping to add; field types come from ``list_fields`` of both sides."""

    platform_field: str = Field(min_length=1)
    crm_field: str = Field(min_length=1)
    direction: Direction = Direction.SYNC
    default: Any = None
    conflict_rule: SourceOfTruth | None = None


class MappingEdit(_Request):
    """Changes to an existing mapping; ``None`` keeps the stored value."""

    platform_field: str = Field(min_length=1)
    crm_field: str = Field(min_length=1)
    direction: Direction | None = None
    default: Any = None
    clear_default: bool = False
    conflict_rule: SourceOfTruth | None = None


class MappingChange(_Answer):
    """One mapping stored, replaced or deleted on one pair (``old`` is ``None`` for
    an addition, ``new`` for a deletion)."""

    pair: PairRef
    old: Mapping | None = None
    new: Mapping | None = None

    @property
    def kind(self) -> Literal["add", "change", "delete"]:
        if self.old is None:
            return "add"
        return "delete" if self.new is None else "change"


class MappingPlan(_Answer):
    """How a mapping document differs from the stored mappings, checked against
    the live fields; :func:`~crmsync.operations.apply_mapping_plan` stores it whole."""

    integration: str
    changes: tuple[MappingChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes


class ConnectorInfo(_Answer):
    """An installed connector as listed (``crmsync connectors``)."""

    id: str
    name: str
    version: str | None
    distribution: str | None
    role: str
    contract_version: str
    objects: list[str]
    person_objects: list[str]
    capabilities: list[str]
    max_batch_size: int
    max_concurrency: int


class ConnectorFailure(_Answer):
    """An installed connector that failed to load."""

    id: str
    distribution: str | None
    version: str | None
    error: str


class ConnectorListing(_Answer):
    """What is installed: loaded connectors and load failures, each by id."""

    connectors: list[ConnectorInfo]
    failed: list[ConnectorFailure]


class RunEntry(_Answer):
    """One recorded run (cycle) of an integration."""

    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    dry_run: bool
    counts: dict[str, Any]
    message: str | None


class EventEntry(_Answer):
    """One logged operation (mapping change, pause, rebaseline...)."""

    at: dt.datetime
    kind: str
    detail: dict[str, Any]


class IntegrationStatus(_Answer):
    """Where an integration stands."""

    name: str
    platform: str
    crm: str
    active: bool
    source_of_truth: SourceOfTruth
    locked: bool
    interval_seconds: int
    links: int
    waiting: int
    parked: int
    open_errors: int
    last_run: RunEntry | None


class IntegrationSummary(_Answer):
    """One integration in the list of all: state, links, last run and open errors."""

    name: str
    platform: str
    crm: str
    active: bool
    links: int
    open_errors: int
    last_status: str | None
    last_at: dt.datetime | None
    last_dry_run: bool


class OpenError(_Answer):
    """A record that failed and is not resolved yet."""

    side: str
    object_name: str
    record_id: str
    code: str
    message: str
    field: str | None
    retryable: bool
    attempts: int
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class ErrorListing(_Answer):
    """The newest open errors of an integration, and how many there are in all."""

    integration: str
    total: int
    errors: list[OpenError]


class DoctorCheck(_Answer):
    """One line of a doctor report."""

    level: Literal["ok", "warn", "fail"]
    what: str
    detail: str = ""


class DoctorReport(_Answer):
    """A preflight of one integration; ``ready`` when no check failed."""

    integration: str
    checks: list[DoctorCheck]

    @property
    def failures(self) -> int:
        return sum(1 for check in self.checks if check.level == "fail")

    @property
    def ready(self) -> bool:
        return self.failures == 0


class CycleSummary(_Answer):
    """The stable JSON shape of one cycle's outcome (``crmsync sync --json``)."""

    integration: str
    run_id: int | None
    dry_run: bool
    status: str
    message: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_seconds: float
    platform: dict[str, int]
    crm: dict[str, int]
    linked: int
    relinked: int
    unlinked: int
    ambiguous: int
    writes: int
    errors: int
    decisions: dict[str, int]
    api_calls: dict[str, dict[str, int]]
    planned: list[dict[str, Any]] = Field(default_factory=list)
    outcomes: list[dict[str, str]] = Field(
        default_factory=list,
        description="A dry run's plan record by record: create, update, link, relink, "
        "unlink and error, each naming the record (empty for a real run).",
    )
    deferred: int = Field(
        default=0,
        description="Records whose create is in doubt (sent by a cycle that died, not "
        "found yet): left for a later cycle instead of being created twice.",
    )
