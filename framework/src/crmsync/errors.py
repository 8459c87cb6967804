"""Every error crmsync raises, in one place.

The hierarchy::

    CrmsyncError                  anything crmsync raises on purpose
    ├── ConfigurationError        bad settings or input (unknown integration, field)
    │   ├── MappingError          a mapping that cannot be stored (active, bad types)
    │   │   └── IntegrationActive a change refused while the integration is active
    │   │                         (also a Conflict)
    │   ├── Conflict              the input conflicts with what is stored (a name
    │   │                         taken, a change while active)
    │   └── NotFound              no such thing (integration, record, run): ``field``
    │                             names the input that named it
    ├── ConversionError           a value its target field's type cannot hold (also
    │                             a ValueError): fails that record, not the cycle
    ├── ConnectorLoadError        an installed connector could not be imported
    ├── ContractError             a connector broke the plugin contract
    ├── StateError                the state store refused or is out of date
    ├── CycleBusy                 another process runs a cycle of this integration
    ├── StopRequested             the caller asked the cycle to stop after its batch
    ├── BudgetExhausted           crmsync's share of the API budget is used; stop early
    └── ConnectorError            raised by connectors, from their vendor's failures
        ├── RateLimited           wait ``retry_after`` seconds (or back off), then retry
        ├── TransientError        a passing fault (5xx, timeout, lock): back off, retry
        ├── OutcomeUnknown        a write was sent but never answered: never repeated
        ├── AuthenticationExpired re-authenticate once, then repeat the call
        ├── AuthenticationFailed  credentials wrong or revoked: never retried
        ├── QuotaExhausted        the vendor's allocation is spent: stop, resume later
        └── PermanentError        the request is wrong (code, message, field): no retry

Connectors raise the ``ConnectorError`` family only; the framework owns every retry,
backoff and re-authentication (a connector never sleeps or loops on its own). Every
error carries its context (connector, object, record, vendor request id) and never a
secret: messages are passed through :func:`crmsync.logs.redact_text` by whoever
renders them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationExpired",
    "AuthenticationFailed",
    "BudgetExhausted",
    "ConfigurationError",
    "Conflict",
    "ConnectorError",
    "ConnectorLoadError",
    "ContractError",
    "ConversionError",
    "CrmsyncError",
    "CycleBusy",
    "IntegrationActive",
    "MappingError",
    "NotFound",
    "OutcomeUnknown",
    "PermanentError",
    "QuotaExhausted",
    "RateLimited",
    "StateError",
    "StopRequested",
    "TransientError",
]


class CrmsyncError(Exception):
    """Base class of every error crmsync raises on purpose.

    ``str(error)`` is a one-line message meant for an operator: it says what is wrong
    and, where it can, how to fix it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigurationError(CrmsyncError):
    """Settings or user input that crmsync cannot act on.

    A connector that cannot open with one of its settings (a path that does not exist,
    a URL it cannot use) names that setting in ``setting`` (its field name in the
    settings model) and says in ``hint`` only what is wrong with it: the framework,
    which knows where the value came from, leads the hint with where to change it (the
    environment variable, or the command that changes a value stored with an
    integration). Since contract 1.2.
    """

    def __init__(
        self, message: str, *, hint: str | None = None, setting: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.setting = setting


class MappingError(ConfigurationError):
    """A mapping change that is refused (unknown field, read-only target, active
    integration).
    """


class Conflict(ConfigurationError):
    """The input conflicts with what is stored: a name already taken, a mapping or an
    object pair that exists, a change the integration's state refuses (the API answers
    409); ``field`` names the input that conflicts (``name``, ``crm_field``), where one
    does."""

    def __init__(
        self, message: str, *, hint: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class IntegrationActive(MappingError, Conflict):
    """A change refused while the integration is active: pause it first."""


class NotFound(ConfigurationError):
    """What the input names does not exist (an integration, a linked record);
    ``field`` names that input (``name``, ``record``) for the faces (an API's 404)."""

    def __init__(
        self, message: str, *, hint: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class ConversionError(CrmsyncError, ValueError):
    """A value that cannot be represented in the target field's type (text in a
    number field, say). The record at fault fails; the cycle goes on. A
    ``ValueError`` too, as conversions are value checks."""


class ConnectorLoadError(CrmsyncError):
    """An installed connector failed to import or to describe itself."""

    def __init__(self, connector_id: str, message: str) -> None:
        super().__init__(f"connector {connector_id!r} failed to load: {message}")
        self.connector_id = connector_id


class ContractError(CrmsyncError):
    """A connector broke the plugin contract (unsupported version, malformed answer)."""


class StateError(CrmsyncError):
    """The state store is unreachable, out of date or refused a write."""


class CycleBusy(CrmsyncError):
    """Another process is running a cycle of this integration (it holds the
    integration's lease); try again when that cycle ends."""


class StopRequested(CrmsyncError):
    """The caller's ``should_stop`` answered true: the cycle ends after its current
    batch, keeping what it read and wrote (its status is ``stopped``)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "stopped on request; what was read and written is kept, and the next "
            "cycle resumes from there"
        )


class BudgetExhausted(CrmsyncError):
    """The CRM's API usage reached the share of its allocation where crmsync stops."""

    def __init__(self, message: str, *, used: int, limit: int, allowed: int) -> None:
        super().__init__(message)
        self.used = used
        self.limit = limit
        self.allowed = allowed


class ConnectorError(CrmsyncError):
    """A failure reported by a connector, translated from its vendor's error.

    Context travels with the error so an operator can find the call in the vendor's
    logs: ``connector``, ``object_name``, ``record_id`` and ``request_id`` (the vendor's
    request id, when it sends one). Never put a token, password or key in ``message``.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        object_name: str | None = None,
        record_id: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.connector = connector
        self.object_name = object_name
        self.record_id = record_id
        self.request_id = request_id

    def context(self) -> dict[str, Any]:
        """The error's context as a dict, for logs and the run record (no secrets)."""
        found = {
            "connector": self.connector,
            "object": self.object_name,
            "record": self.record_id,
            "request_id": self.request_id,
        }
        return {key: value for key, value in found.items() if value is not None}

    def __str__(self) -> str:
        text = super().__str__()
        where = ", ".join(f"{key}={value}" for key, value in self.context().items())
        return f"{text} [{where}]" if where else text


class RateLimited(ConnectorError):
    """The vendor asked us to slow down; wait ``retry_after`` seconds before the next
    call.

    ``retry_after`` is ``None`` when the vendor did not say how long (no
    ``Retry-After`` header): the framework then backs off exponentially with jitter,
    capped, as for a transient error.
    """

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.retry_after = None if retry_after is None else max(0.0, float(retry_after))


class TransientError(ConnectorError):
    """A passing failure (server error, timeout, dropped connection, row lock)."""

    retryable = True


class OutcomeUnknown(ConnectorError):
    """A write that was sent but never answered (a read timeout, a dropped
    connection): the vendor may have carried it out.

    The core never repeats the call, since repeating a create can duplicate records.
    Its records fail for this cycle (retryably, code ``OUTCOME_UNKNOWN``), and a
    create's pending record is kept: the next cycle looks the target up by match key
    and links what the lost call created instead of creating it again. Raise it only
    where repeating would be unsafe; a failure before the request left (a refused
    connection, a connect timeout) is a :class:`TransientError`.
    """

    code = "OUTCOME_UNKNOWN"


class AuthenticationExpired(ConnectorError):
    """The session or token expired; the core re-authenticates once and repeats the
    call.
    """

    retryable = True


class AuthenticationFailed(ConnectorError):
    """The credentials were refused: wrong, revoked or lacking permission. Never
    retried.
    """


class QuotaExhausted(ConnectorError):
    """The vendor's API allocation for its period (a day, say) is spent.

    Unlike :class:`RateLimited`, waiting seconds does not help: the engine stops the
    cycle early, keeps everything it read, and the next cycle resumes.
    """


class PermanentError(ConnectorError):
    """The vendor refused the request itself; repeating it cannot succeed.

    ``code`` is the vendor's error code (e.g. ``MALFORMED_QUERY``) and ``field`` the
    field at fault, where the vendor names one.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "ERROR",
        field: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.code = code
        self.field = field
