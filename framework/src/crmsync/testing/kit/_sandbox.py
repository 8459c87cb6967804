"""The ``Sandbox``: what a connector's test suite hands the kit so it can drive the
vendor.

The kit never reaches into a connector. It talks to it through a
:class:`~crmsync.plugins.Connection`, exactly as the engine does, and it arranges the
vendor's side (records that exist, the clock, faults, an expired session) through the
sandbox. A sandbox is usually a thin wrapper around the connector's emulator (an
``httpx.MockTransport`` vendor, a ``MemoryBackend``, a SQLite file), or around a real
vendor sandbox for live runs.

Only the first group of members is required. An optional member the sandbox
*cannot* provide (a live org's clock cannot be frozen) raises
:class:`SandboxUnsupported` with the reason; the checks that need it are then
*skipped* with that reason, never passed. A member the sandbox simply does not
implement is :class:`SandboxMemberMissing` (the :class:`SandboxBase` defaults): the
checks that need it *fail*, saying how to add it, since an emulator can almost always
provide it and a skipped check proves nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "Fault",
    "ManualClock",
    "Sandbox",
    "SandboxBase",
    "SandboxMemberMissing",
    "SandboxUnsupported",
]

Fault = Literal["rate_limit", "transient", "expired", "permanent"]
"""Faults a sandbox can inject into the next call of one hook."""


class SandboxUnsupported(Exception):
    """Raised by an optional sandbox member that this sandbox cannot provide.

    The message is the reason shown on the skipped checks, so make it say why (``"the
    live sandbox cannot freeze the vendor's clock"``).
    """


class SandboxMemberMissing(SandboxUnsupported):
    """An optional sandbox member that is not implemented (``SandboxBase``'s default):
    the checks that need it fail with ``how`` to add it."""

    def __init__(self, sandbox: object, member: str, how: str) -> None:
        super().__init__(f"{type(sandbox).__name__} does not implement {member}: {how}")
        self.member = member
        self.how = how


@runtime_checkable
class Sandbox(Protocol):
    """The vendor side of a contract test run.

    Required:

    * ``settings``: values for the connector's settings model (secrets included as plain
      strings; the kit reads the ``SecretStr`` fields back to check none of them leaks).
    * ``factory_kwargs``: keyword arguments for the connector's constructor besides
      ``settings`` (the test seam: an ``httpx`` transport, a backend, a clock).
    * ``object_name``: the object the checks read and write (one of the description's).
    * ``page_size``: a page size the vendor honours exactly and small enough for several
      pages per test (2 or 3 for an emulator).
    * ``new_record(index)``: values of a valid new record, distinct for each ``index``.
    * ``seed(object_name, records)``: create ``records`` directly in the vendor (not
      through the connector), in order; returns their ids.
    * ``advance_clock(seconds)``: move the vendor's clock forward, so that what is
      seeded next is modified strictly later.

    Optional (raise :class:`SandboxUnsupported` when not possible):

    * ``freeze_clock()``: a context manager during which every modification gets one
      time, so several records share one ``modified_at`` (ties across a page boundary).
    * ``delete(object_name, record_id)``: delete a record in the vendor.
    * ``purge(object_name, record_id)``: delete a record and purge it (empty the recycle
      bin), so that no read of the vendor shows it any more; asked only of connectors
      that implement ``missing_records``.
    * ``inject(fault, hook=...)``: make the next call of ``hook`` fail with ``fault``.
    * ``expire_credentials()``: make the current session/token expire.
    * ``refuse_credentials()``: make the vendor refuse the connection's credentials from
      now on (wrong or revoked), so that the next ``authenticate`` fails.
    * ``roundtrip_fields``: field names whose values the round-trip check writes
      (``None``: every writable field of a type the kit knows).
    * ``match_field``: the field ``lookup_records`` is checked on (``None``: the first
      email field).
    """

    settings: Mapping[str, Any]
    factory_kwargs: Mapping[str, Any]
    object_name: str
    page_size: int
    roundtrip_fields: Sequence[str] | None
    match_field: str | None

    def new_record(self, index: int) -> dict[str, Any]: ...

    def seed(
        self, object_name: str, records: Sequence[Mapping[str, Any]]
    ) -> list[str]: ...

    def advance_clock(self, seconds: float = 1.0) -> None: ...

    def freeze_clock(self) -> AbstractContextManager[None]: ...

    def delete(self, object_name: str, record_id: str) -> None: ...

    def purge(self, object_name: str, record_id: str) -> None: ...

    def inject(self, fault: Fault, *, hook: str) -> None: ...

    def expire_credentials(self) -> None: ...

    def refuse_credentials(self) -> None: ...


class SandboxBase:
    """Defaults for a sandbox: every optional member refuses with a reason.

    Subclass it, set the attributes and implement ``new_record``, ``seed`` and
    ``advance_clock``; override the optional members your vendor or emulator supports.
    """

    settings: Mapping[str, Any] = {}
    factory_kwargs: Mapping[str, Any] = {}
    object_name: str = ""
    page_size: int = 2
    roundtrip_fields: Sequence[str] | None = None
    match_field: str | None = None

    def new_record(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        raise NotImplementedError

    def advance_clock(self, seconds: float = 1.0) -> None:
        raise NotImplementedError

    def freeze_clock(self) -> AbstractContextManager[None]:
        raise SandboxMemberMissing(
            self,
            "freeze_clock()",
            "return a context manager during which every modification the vendor "
            "stamps gets the same time (freeze the emulator's clock)",
        )

    def delete(self, object_name: str, record_id: str) -> None:
        raise SandboxMemberMissing(
            self, "delete(object_name, record_id)", "delete the record in the vendor"
        )

    def purge(self, object_name: str, record_id: str) -> None:
        raise SandboxMemberMissing(
            self,
            "purge(object_name, record_id)",
            "delete the record and empty the emulator's recycle bin, so that no read "
            "shows it any more",
        )

    def inject(self, fault: Fault, *, hook: str) -> None:
        raise SandboxMemberMissing(
            self,
            "inject(fault, hook=...)",
            "arm the emulator's fault queue, e.g. emulator.faults.inject(fault, "
            "path_contains=<the path hook calls>)",
        )

    def expire_credentials(self) -> None:
        raise SandboxMemberMissing(
            self,
            "expire_credentials()",
            "make the emulator forget the tokens it issued (expire the session)",
        )

    def refuse_credentials(self) -> None:
        raise SandboxMemberMissing(
            self,
            "refuse_credentials()",
            "make the emulator refuse the connection's credentials from now on "
            "(rotate the client secret)",
        )

    # Raise SandboxUnsupported("why") instead where the vendor truly cannot (a live
    # org's clock): those checks are then skipped with the reason.


class ManualClock:
    """A vendor clock for emulators: call it for "now"; tests move it.

    Unfrozen, each reading is one millisecond after the previous, so records seeded one
    after another get distinct times; inside :meth:`freeze` every reading is the same,
    which is how a test makes several records share one modification time.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        self._frozen = False

    def __call__(self) -> dt.datetime:
        moment = self._now
        if not self._frozen:
            self._now += dt.timedelta(milliseconds=1)
        return moment

    def advance(self, seconds: float = 1.0) -> None:
        """Move the clock forward by ``seconds``."""
        self._now += dt.timedelta(seconds=seconds)

    @contextmanager
    def freeze(self) -> Iterator[None]:
        """Every reading inside the block returns the same moment."""
        self._frozen = True
        try:
            yield
        finally:
            self._frozen = False
            self._now += dt.timedelta(milliseconds=1)
