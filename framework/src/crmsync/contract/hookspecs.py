"""The hooks a connector implements: the reference for connector authors.

A connector is a class found through the entry-point group ``crmsync.connectors``; the
entry point's name is the connector id. The framework calls ``describe_connector()`` on
the class, then builds one instance per configured connection with ``cls(settings=...)``
(``settings`` an instance of the description's ``settings_model``) and registers that
instance, alone, in a plugin manager of its own. Every hook is therefore answered by
exactly one connector, and hooks are always called with keyword arguments.

Rules every hook follows:

* Raise only the :mod:`crmsync.errors` ``ConnectorError`` family for vendor failures:
  ``RateLimited`` (with ``retry_after``), ``TransientError``, ``AuthenticationExpired``,
  ``AuthenticationFailed``, ``QuotaExhausted`` (the vendor's allocation for its period
  is spent: the cycle stops and resumes next time), ``PermanentError``, and from
  ``push_updates`` ``OutcomeUnknown``. Never sleep, retry or loop on a failure: the
  framework owns retries, backoff and re-authentication.
* Never put a secret in an exception message or a log line.
* Values are in canonical form (see :mod:`crmsync.contract.models`).

Opening a connection (the constructor), since 1.2:

* A connector whose opening would create something (a file, a schema) declares a
  ``bool`` setting ``create_missing`` (default true). Where the framework must write
  nothing (a dry run, ``crmsync doctor``) it opens the connector with it false: the
  connector then opens only what exists, and reports what does not.
* A setting the connector cannot open with is raised as
  ``ConfigurationError(message, hint=..., setting=<its field name>)``, the hint saying
  only what is wrong with the value: the framework leads it with where the setting is
  changed (its environment variable, or the command that changes a value stored with
  an integration).
* A constructor that takes a ``metadata_cache`` keyword gets, for cycles, a
  ``crmsync.authoring.MetadataCache``: vendor metadata (a describe) kept across
  processes, so an idle cycle in a new process asks only for what changed.
* A constructor that takes a ``token_cache`` keyword gets, for every connection, a
  ``crmsync.authoring.TokenCache`` to pass to its auth object
  (``TokenAuth(token_cache=...)``): access tokens kept across processes, encrypted
  under the grant's own credential, so a new process asks for no token.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from crmsync.contract.models import (
    ApiBudget,
    ChangedRecord,
    ChangePage,
    ClockOffset,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    RecordPage,
    WriteRequest,
    WriteResult,
)

PROJECT_NAME = "crmsync"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def describe_connector() -> ConnectorDescription:  # type: ignore[empty-body]
    """Describe the connector: id, objects, batch and page limits, capabilities,
    settings.

    Called on the connector class before any instance exists (implement it as a
    ``staticmethod``), so it must not depend on settings or make network calls.

    :returns: the connector's :class:`~crmsync.contract.models.ConnectorDescription`;
        its ``contract_version`` must share its major number with
        :data:`CONTRACT_VERSION`, and its minor number must be no greater. Since 1.1
        its ``emulator`` may name the factory of the connector's emulator
        (``"crmsync_acme.emulator:serve"``, returning a
        ``crmsync.testing.emulator.ServedEmulator``), which ``crmsync demo --crm <id>``
        and ``crmsync emulator <id>`` start; the framework imports it only then.
    :since: 1.0
    """


@hookspec(firstresult=True)
def authenticate() -> None:
    """Obtain fresh credentials (an OAuth token, a session) and keep them for later
    calls.

    The framework calls it once before the first data call of a cycle and once more
    after a hook raised ``AuthenticationExpired``, then repeats the failed call exactly
    once. Connectors that need no authentication may leave it unimplemented.

    :raises AuthenticationFailed: the credentials were refused (wrong, revoked, not
        permitted).
    :raises TransientError | RateLimited: the token endpoint failed in passing.
    :since: 1.0
    """


@hookspec(firstresult=True)
def list_fields(object_name: str) -> list[FieldSpec]:  # type: ignore[empty-body]
    """List the fields of ``object_name`` as the connection's user sees them.

    :param object_name: one of the description's ``objects``.
    :returns: one :class:`~crmsync.contract.models.FieldSpec` per readable field: name,
        label, type, length, required on create, read-only, picklist values. The same
        connection asked twice gives the same answer.
    :raises PermanentError: the object is unknown (code ``UNKNOWN_OBJECT``).
    :since: 1.0
    """


@hookspec(firstresult=True)
def fetch_changed(  # type: ignore[empty-body]
    object_name: str,
    fields: Sequence[str],
    cursor: Cursor | None,
    page: str | None,
    page_size: int,
) -> ChangePage:
    """Read one page of the records of ``object_name`` changed after ``cursor``.

    The feed is ordered by ``(modified_at, record_id)``. With ``cursor`` ``None`` the
    feed starts at the beginning (every record). A cursor with a ``record_id`` resumes
    strictly after that record; one without resumes at ``cursor.modified_at`` inclusive.
    ``page`` is ``None`` for the first page of a read and the previous page's
    ``next_page`` after that.

    :param object_name: one of the description's ``objects``.
    :param fields: the field names to return in each record's ``values``; nothing else.
    :param cursor: where to resume, as returned in an earlier page's ``cursor``.
    :param page: the previous page's ``next_page`` token, or ``None``.
    :param page_size: the most records to return in this page (a hint the vendor may
        round).
    :returns: a :class:`~crmsync.contract.models.ChangePage` whose ``cursor`` is the
        position after its last record (never before the ``cursor`` passed in), with
        ``tombstones`` for deleted or merged records where the connector declares
        ``deletions``/``merges``.
    :since: 1.0
    """


@hookspec(firstresult=True)
def push_updates(  # type: ignore[empty-body]
    object_name: str, requests: Sequence[WriteRequest]
) -> list[WriteResult]:
    """Create and update records of ``object_name``, at most ``max_batch_size`` at a
    time.

    Answers record by record, in the order of ``requests``: a success carries the record
    id and its new modification time; a failure carries a :class:`RecordError` with the
    vendor's code, a message, the field at fault and whether a later retry may succeed.
    One bad record never fails the others. Only the fields in each request's ``values``
    are written.

    Called from the engine's push threads: up to ``max_concurrency`` calls at once, and
    while the engine's own thread goes on with other hooks of the same instance
    (``lookup_records``, ``api_budget``). State shared between calls (a session, a
    budget reading, a cache) must be safe to use from several threads.

    :raises RateLimited | TransientError | AuthenticationExpired: the whole call failed
        and may be repeated (the framework repeats the whole batch).
    :raises OutcomeUnknown: the call was sent but its answer was lost (a read timeout,
        a dropped connection) and repeating it could duplicate records: raise it for
        creates that are not idempotent. The framework does not repeat the call; the
        next cycle looks the created records up by match key before creating again.
    :raises PermanentError: the whole call was refused.
    :since: 1.0
    """


@hookspec(firstresult=True)
def lookup_records(  # type: ignore[empty-body]
    object_name: str,
    field: str,
    values: Sequence[str],
    fields: Sequence[str],
    page: str | None,
) -> list[ChangedRecord] | RecordPage:
    """Find records whose ``field`` equals one of ``values`` (trimmed,
    case-insensitively).

    Why a hook of its own: matching an unlinked record needs the other side's records
    that did *not* change, which ``fetch_changed`` never returns. The engine calls it in
    batches (one call per page of unmatched records), so its cost follows the changed
    records. Declared by the ``lookup`` capability; without it the engine matches only
    among changed records.

    :param page: ``None`` for the first page; after that, the ``next_page`` of the
        :class:`~crmsync.contract.models.RecordPage` answered before (since 1.1; a
        connector that answers a list never receives it).
    :returns: every matching record (several per value where they exist), with
        ``fields``, as a list; or, for a vendor that pages its answers, one page as a
        :class:`~crmsync.contract.models.RecordPage` (since 1.1): the framework asks for
        each following page in a call of its own, so a fault retries that page alone.
    :since: 1.0
    """


@hookspec(firstresult=True)
def missing_records(  # type: ignore[empty-body]
    object_name: str, record_ids: Sequence[str]
) -> list[str]:
    """Which of ``record_ids`` no longer exist in ``object_name``: deleted (in a
    recycle bin too), merged away or purged.

    Why a hook of its own: a change feed shows a deletion only while the vendor still
    remembers it (Salesforce's getDeleted: 15 days). When a page's
    ``deletions_unknown_before`` says that deletions may have been lost, links to such
    records would otherwise stay until a write to them fails. The engine then reads the
    ids this side links for the object, in keyset order, and asks this hook about them
    in batches of at most the description's ``missing_records_batch_size`` ids (200 by
    default): one call per batch, each retried on its own, so the sweep's cost grows
    with the object's links, once, and only when a page asks for it. Each id answered
    is handled exactly as a tombstone from the feed (the link is removed, and why is
    recorded). A connector that never sets ``deletions_unknown_before`` need not
    implement it.

    :param object_name: one of the description's ``objects``.
    :param record_ids: distinct ids of ``object_name`` that the integration links, at
        most ``missing_records_batch_size`` of them.
    :returns: the ids among ``record_ids`` that no longer exist, in any order; a record
        that still exists (converted or not) is not answered, and an id not asked about
        is a :class:`~crmsync.errors.ContractError`.
    :raises RateLimited | TransientError | AuthenticationExpired: the call failed and
        may be repeated (the framework repeats this batch alone).
    :since: 1.2
    """


@hookspec(firstresult=True)
def api_budget() -> ApiBudget | None:
    """The vendor's API allocation as last seen on a response, or ``None`` if unknown.

    Why a hook of its own: the framework decides when a cycle must stop to leave API
    calls for the customer's other integrations; the connector only reports what the
    vendor said (for example Salesforce's ``Sforce-Limit-Info``). Must not make a
    network call.

    :since: 1.0
    """


@hookspec(firstresult=True)
def clock_offset() -> ClockOffset | None:
    """How far the vendor's clock is from this machine's, or ``None`` if unmeasured.

    Why a hook of its own: when both sides changed a field, the later change wins, and
    a vendor whose clock runs 90 s behind would lose every such conflict it should win.
    The connector measures the offset from its answers' ``Date`` headers (the authoring
    kit's ``ConnectorHttp.clock_offset()`` does it) and reports it; the engine corrects
    the vendor's times by it when it compares them, records it in the cycle report, and
    calls changes closer than the measured uncertainty a tie (DESIGN's tie rule). Must
    not make a network call: it reports what the cycle's requests already measured.

    :returns: a :class:`~crmsync.contract.models.ClockOffset`, or ``None``.
    :since: 1.1
    """


@hookspec
def close() -> None:
    """Release the connection's resources (HTTP clients, files). Called once, at the
    end.

    :since: 1.0
    """
