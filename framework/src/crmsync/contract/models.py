"""The models that cross the plugin boundary.

Connectors receive and return these; the engine never hands a connector anything else.
They are frozen pydantic models, so a value cannot be changed behind the engine's back,
and they validate what a connector returns (a malformed answer is a
:class:`~crmsync.errors.ContractError`, not a crash three modules later).

Field values crossing the boundary are plain Python values in their canonical form:

============== ==========================================================
field type      value
============== ==========================================================
string-like     ``str`` (string, text, email, phone, url, picklist, id, reference)
multipicklist   ``list[str]``
boolean         ``bool``
integer         ``int``
number          ``int``, ``float`` or ``decimal.Decimal``
date            ``datetime.date``
datetime        ``datetime.datetime``, always time-zone aware
any             ``None`` for blank
============== ==========================================================

Each connector converts between these and its vendor's wire format (Salesforce's
``2024-05-01T12:00:00.000+0000``, Dynamics' option-set integers, ``"a;b"``
multi-selects).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings

__all__ = [
    "ApiBudget",
    "Capability",
    "ChangePage",
    "ChangedRecord",
    "ClockOffset",
    "ConnectorDescription",
    "Cursor",
    "FieldSpec",
    "FieldType",
    "RecordError",
    "RecordPage",
    "RecordRef",
    "Tombstone",
    "WriteRequest",
    "WriteResult",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldType(enum.StrEnum):
    """The framework's field types; each connector maps its vendor's types here."""

    STRING = "string"
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    PICKLIST = "picklist"
    MULTIPICKLIST = "multipicklist"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    ID = "id"
    REFERENCE = "reference"
    OTHER = "other"


class Capability(enum.StrEnum):
    """What a connector can report or do beyond the required hooks."""

    DELETIONS = "deletions"
    """``fetch_changed`` reports deleted records as tombstones."""
    MERGES = "merges"
    """Tombstones of merged-away records name the surviving record."""
    CONVERSIONS = "conversions"
    """Records converted to another object (Lead to Contact) carry ``converted_to``."""
    LOOKUP = "lookup"
    """``lookup_records`` finds records by a match key value."""
    IDEMPOTENT_CREATE = "idempotent_create"
    """Creating the same ``WriteRequest.ref`` twice yields one record (upsert by a key).
    """
    FAULT_INJECTION = "fault_injection"
    """The connector's emulator can inject rate limits, server errors and session
    expiry.
    """
    API_BUDGET = "api_budget"
    """``api_budget`` reports the vendor's API allocation and use."""


class FieldSpec(_Frozen):
    """Metadata of one field of an object, as ``list_fields`` returns it."""

    name: str = Field(min_length=1, description="API name used in reads and writes.")
    label: str = Field(description="What the vendor's UI calls the field.")
    type: FieldType
    length: int | None = Field(
        default=None, ge=0, description="Maximum characters, if bounded."
    )
    required_on_create: bool = False
    read_only: bool = False
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    vendor_type: str | None = Field(
        default=None, description="The vendor's own type name."
    )


class RecordRef(_Frozen):
    """A record of a named object on one side."""

    object_name: str
    record_id: str


class ChangedRecord(_Frozen):
    """A record as it is now, read by ``fetch_changed`` or ``lookup_records``.

    ``values`` holds only the fields the engine asked for, each in canonical form (see
    the module docstring). ``converted_to`` names the record this one became (a
    converted Salesforce lead names its contact), for connectors that declare
    ``conversions``.
    """

    record_id: str = Field(min_length=1)
    modified_at: AwareDatetime
    values: dict[str, Any]
    converted_to: RecordRef | None = None


class Tombstone(_Frozen):
    """A record that was deleted, or merged away into ``merged_into``."""

    record_id: str = Field(min_length=1)
    deleted_at: AwareDatetime
    merged_into: str | None = None


class Cursor(_Frozen):
    """A position in an object's change feed: everything up to here has been read.

    The order of a change feed is ``(modified_at, record_id)``. A cursor that names a
    ``record_id`` resumes strictly after that record; one without a ``record_id``
    resumes at ``modified_at`` inclusive, which is how the engine re-reads an overlap
    window. A connector whose vendor hands out opaque resume tokens (Dynamics delta
    links) may keep one in ``token``; the engine stores it and gives it back, never
    reading it.
    """

    modified_at: AwareDatetime | None = None
    record_id: str | None = None
    token: str | None = None

    def sort_key(self) -> tuple[dt.datetime, str]:
        """The position as a comparable ``(modified_at, record_id)`` pair."""
        moment = self.modified_at or dt.datetime.min.replace(tzinfo=dt.UTC)
        return (moment, self.record_id or "")


class ChangePage(_Frozen):
    """One page of an object's change feed.

    ``records`` are in feed order. ``cursor`` is the position after this page: the
    engine stores it once the page is durably processed and passes it back as ``cursor``
    to resume. ``next_page`` is an opaque token for the following page within the same
    read (Salesforce's ``nextRecordsUrl``, Dynamics' ``@odata.nextLink``); ``None``
    means the feed is exhausted.
    """

    records: tuple[ChangedRecord, ...] = ()
    tombstones: tuple[Tombstone, ...] = ()
    cursor: Cursor
    next_page: str | None = None
    costs: dict[str, int] = Field(
        default_factory=dict,
        description="Requests the connector made for this page beyond reading it, by "
        "kind (a deletion sweep, an id reconciliation): the engine adds them to the "
        "cycle report's api_calls for the side, so a vendor without tombstones shows "
        "what finding deletions cost. Since 1.1.",
    )
    deletions_unknown_before: AwareDatetime | None = Field(
        default=None,
        description="Set when this read may have lost deletions: the vendor no longer "
        "reports deletions older than this moment (Salesforce's getDeleted "
        "``earliestDateAvailable``) and the cursor passed in is older than it, so "
        "records deleted and purged in between appear in no page. The engine then "
        "asks ``missing_records`` about every id this side links for the object, once "
        "in the cycle and before this page's cursor is kept, and treats each id it "
        "answers as a tombstone. Leave it ``None`` when the feed saw every deletion. "
        "Since 1.2.",
    )


class RecordPage(_Frozen):
    """One page of a ``lookup_records`` answer, for vendors that page their queries.

    ``next_page`` is an opaque token for the following page (``None``: the last one).
    The framework asks for each page in its own call, so a fault on page three retries
    page three, not the whole lookup. Since 1.1.
    """

    records: tuple[ChangedRecord, ...] = ()
    next_page: str | None = None


class WriteRequest(_Frozen):
    """One create or update that the engine asks a connector to make.

    ``ref`` is the engine's key for the request (stable across retries of the same
    change); connectors that declare ``idempotent_create`` use it as an upsert key.
    ``values`` holds only the fields to set, in canonical form; ``None`` clears a field.
    """

    ref: str = Field(min_length=1)
    op: Literal["create", "update"]
    record_id: str | None = None
    values: dict[str, Any]

    @field_validator("record_id")
    @classmethod
    def _blank_id_is_none(cls, value: str | None) -> str | None:
        return value or None


class RecordError(_Frozen):
    """Why one record of a batch failed."""

    code: str
    message: str
    field: str | None = None
    retryable: bool = False
    missing: bool = Field(
        default=False,
        description="The record to update no longer exists (deleted or purged): the "
        "engine unlinks it instead of retrying. Since 1.0.",
    )


class WriteResult(_Frozen):
    """The answer for one ``WriteRequest``, in the same position as its request."""

    ref: str
    ok: bool
    record_id: str | None = None
    modified_at: AwareDatetime | None = None
    error: RecordError | None = None


class ApiBudget(_Frozen):
    """The vendor's API allocation as last reported, and the usage at which crmsync
    stops.

    ``used`` is what the vendor counts against the allocation. Most vendors report it
    for the whole account (every integration's calls, crmsync's among them), so
    ``allowed`` is a ceiling on everyone's usage that leaves the rest of the allocation
    to the account's other users; crmsync cannot count only its own calls there.
    """

    used: int = Field(ge=0)
    limit: int = Field(ge=0)
    allowed: int = Field(
        ge=0, description="The usage at which crmsync stops its cycle."
    )

    @property
    def exhausted(self) -> bool:
        """Whether the usage has reached the point where crmsync stops."""
        return self.used >= self.allowed


class ClockOffset(_Frozen):
    """How far the vendor's clock is from ours, as measured from its answers.

    ``offset_seconds`` is the vendor's clock minus ours (negative: the vendor is
    behind); ``uncertainty_seconds`` bounds the measurement's error (half the round trip
    plus the ``Date`` header's whole-second granularity). The engine adds neither to
    what it stores: it corrects the vendor's modification times by the offset only to
    compare them with the other side's, and treats two changes closer than the summed
    uncertainty of both sides as a tie. Since 1.1.
    """

    offset_seconds: float
    uncertainty_seconds: float = Field(ge=0)


class ConnectorDescription(_Frozen):
    """What a connector tells the engine about itself (``describe_connector``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    contract_version: str = Field(pattern=r"^\d+\.\d+$")
    objects: tuple[str, ...] = Field(min_length=1)
    person_objects: tuple[str, ...] = Field(
        default=(), description="Objects that hold people, in default match order."
    )
    max_batch_size: int = Field(
        ge=1, description="Largest number of writes in one call."
    )
    max_page_size: int = Field(
        default=2000, ge=1, description="Largest page of a fetch."
    )
    max_concurrency: int = Field(
        default=1, ge=1, description="Requests it may run at once."
    )
    capabilities: frozenset[Capability] = frozenset()
    settings_model: type[BaseSettings]
    role: Literal["crm", "platform", "any"] = "any"
    late_commit_seconds: float = Field(
        default=0.0,
        ge=0,
        description="How long after stamping a change the vendor may still commit it "
        "(a long transaction, a batch job). The engine re-reads at least this far back "
        "on every cycle, whatever the operator's overlap setting.",
    )
    timestamp_precision_seconds: float = Field(
        default=0.0,
        ge=0,
        description="The granularity of the vendor's modification times (1.0 for a "
        "vendor that stamps whole seconds). The engine compares two sides' times at "
        "the coarser of their precisions, so a whole-second stamp never loses to a "
        "finer one it cannot be told apart from. Since 1.1.",
    )
    missing_records_batch_size: int = Field(
        default=200,
        ge=1,
        description="The most ids the engine passes to one ``missing_records`` call "
        "(a vendor's query length limit: Salesforce's 4,000-character WHERE clause). "
        "Since 1.2.",
    )
    emulator: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="Where the connector's emulator is: ``module:attribute`` naming a "
        "factory ``serve(*, host='127.0.0.1', port=0)`` that starts it on a loopback "
        "port and returns a ``crmsync.testing.emulator.ServedEmulator`` (its url, the "
        "settings that point a connection at it, the demo's mappings, seed, edit). "
        "``crmsync demo --crm <id>`` and ``crmsync emulator <id>`` use it; the "
        "framework imports it only then. Since 1.1.",
    )
    demo_priority: int = Field(
        default=0,
        ge=0,
        description="How strongly ``crmsync demo`` (without ``--crm``) prefers this "
        "connector's emulator. The demo uses the only installed CRM connector that "
        "declares an emulator; among several, the one with the highest priority; a tie "
        "at the top is refused with the ids to pick from with ``--crm``. The same "
        "rule picks the default platform among self-contained platform connectors. "
        "Since 1.2.",
    )
    self_contained: bool = Field(
        default=False,
        description="Runs with no external service and no credentials (its data in "
        "local files its settings name). A platform connector that declares it can be "
        "the default platform: of ``crmsync integration create`` without "
        "``--platform``, of the web app's create form, and of ``crmsync demo``, "
        "which seeds it with fake people through ``push_updates`` (creates) and reads "
        "it back through ``fetch_changed`` and ``lookup_records``. Among several, "
        "the highest ``demo_priority``; a tie at the top is refused with the ids to "
        "pick from. Since 1.2.",
    )
    demo_files: dict[str, str] = Field(
        default_factory=dict,
        description="For a self-contained connector: the settings that name a file, "
        "each with the file name ``crmsync demo`` gives it in the demo's ``--dir`` "
        "(``{'path': 'crmsync-demo-platform.db'}``), so that a demo never writes "
        "over the files of real integrations; other settings keep their defaults. "
        "Since 1.2.",
    )

    @model_validator(mode="after")
    def _demo_files_are_settings(self) -> ConnectorDescription:
        unknown = sorted(set(self.demo_files) - set(self.settings_model.model_fields))
        if unknown:
            raise ValueError(
                f"demo_files names {', '.join(unknown)}, which "
                f"{self.settings_model.__name__} does not declare"
            )
        return self
