"""What an emulator offers ``crmsync demo --crm <id>`` and ``crmsync emulator <id>``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from crmsync.testing.emulator._server import EmulatorServer

__all__ = ["DemoField", "ServeFactory", "ServedEmulator", "ServedOnLoopback"]

DEMO_PLATFORM_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "title",
    "company",
    "lead_source",
    "opted_out",
)


@dataclass(frozen=True)
class DemoField:
    """One mapping ``crmsync demo --crm <id>`` creates between a ``local`` platform
    field (one of ``email``, ``first_name``, ``last_name``, ``phone``, ``title``,
    ``company``, ``lead_source``, ``opted_out``) and the vendor's ``crm_field``."""

    platform_field: str
    crm_field: str
    direction: Literal["sync", "to_crm", "to_platform"]
    default: Any = None
    objects: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.platform_field not in DEMO_PLATFORM_FIELDS:
            raise ValueError(
                f"DemoField: {self.platform_field!r} is not a demo platform field "
                f"({', '.join(DEMO_PLATFORM_FIELDS)})"
            )
        if self.direction not in {"sync", "to_crm", "to_platform"}:
            raise ValueError(f"DemoField: unknown direction {self.direction!r}")


@runtime_checkable
class ServedEmulator(Protocol):
    """An emulator running on a loopback port until :meth:`stop`.

    ``settings`` are the connector's settings (field names of its settings model)
    that point a connection at it, secrets included: the demo hands secrets to the
    connection through the environment only, never the state store.

    Optional: ``get(object_name, record_id) -> Mapping`` (a record's current values,
    vendor field names), with which the demo shows what each rule decided on the CRM
    side; without it that column reads "(not shown)".
    """

    url: str
    settings: Mapping[str, Any]
    demo_fields: tuple[DemoField, ...]

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create records directly in the vendor (vendor field names); fills what the
        vendor requires that the demo does not know. Returns their ids."""
        ...

    def edit(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        """An edit by a CRM user, stamped with the emulator's clock. The demo waits out
        the description's ``timestamp_precision_seconds`` before its CRM edits, so a
        vendor that stamps whole seconds stamps them after its platform edits."""
        ...

    def stop(self) -> None: ...


class ServeFactory(Protocol):
    """The factory ``ConnectorDescription.emulator`` names."""

    def __call__(self, *, host: str = "127.0.0.1", port: int = 0) -> ServedEmulator: ...


class ServedOnLoopback:
    """A :class:`ServedEmulator` made of an emulator that has ``seed``, ``edit`` and
    ``get`` methods (as :class:`ServedEmulator` names them): it serves the emulator on
    a loopback port and asks ``settings(url)`` for the settings that point a connection
    at it. A connector's ``serve`` factory is then a few lines::

        def serve(*, host="127.0.0.1", port=0):
            emulator, secret = AcmeEmulator(), secrets.token_hex(16)
            emulator.oauth.register_client("demo", secret=secret)
            return ServedOnLoopback(
                emulator, host=host, port=port, demo_fields=DEMO_FIELDS,
                settings=lambda url: {"base_url": url, "client_id": "demo",
                                      "client_secret": secret},
            )
    """

    def __init__(
        self,
        emulator: Any,
        *,
        settings: Callable[[str], Mapping[str, Any]],
        demo_fields: Iterable[DemoField],
        host: str = "127.0.0.1",
        port: int = 0,
        create_object: str | None = None,
    ) -> None:
        self.emulator = emulator
        self._server = EmulatorServer(emulator, host, port).start()
        self.url = self._server.url
        self.settings: Mapping[str, Any] = dict(settings(self.url))
        self.demo_fields = tuple(demo_fields)
        if create_object is not None:
            self.create_object = create_object

    def __repr__(self) -> str:
        return f"ServedOnLoopback({type(self.emulator).__name__}, url={self.url!r})"

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        return list(self.emulator.seed(object_name, records))

    def edit(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        self.emulator.edit(object_name, record_id, values)

    def get(self, object_name: str, record_id: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self.emulator.get(object_name, record_id)
        return found

    def stop(self) -> None:
        self._server.stop()
