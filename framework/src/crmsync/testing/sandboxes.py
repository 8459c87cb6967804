"""Ready-made sandboxes for the connectors crmsync ships: ``local`` and ``memory``.

They double as examples of the :class:`~crmsync.testing.Sandbox` protocol: a sandbox
owns the vendor side (a SQLite file, a ``MemoryBackend``) and a :class:`ManualClock`,
and tells the kit how to build a connection to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from crmsync.testing.kit import Fault, ManualClock, SandboxBase, SandboxUnsupported
from crmsync.testing.memory import MemoryBackend

__all__ = ["LocalSandbox", "MemorySandbox"]


class LocalSandbox(SandboxBase):
    """The ``local`` connector over a fresh SQLite file in ``directory``."""

    object_name = "prospect"
    page_size = 2
    match_field = "email"

    def __init__(self, directory: Path) -> None:
        from crmsync.connectors.local import LocalStore

        self.path = directory / "platform.db"
        self.clock = ManualClock()
        self.store = LocalStore(self.path, clock=self.clock)
        self.settings: Mapping[str, Any] = {
            "path": self.path,
            "api_key": "local-kit-s3cret-key",
        }
        self.factory_kwargs: Mapping[str, Any] = {"clock": self.clock}

    def new_record(self, index: int) -> dict[str, Any]:
        return {
            "email": f"person{index}@example.com",
            "first_name": "Pat",
            "last_name": f"Tester{index}",
            "company": "Acme",
            "status": "new",
        }

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        return self.store.insert(records)

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def freeze_clock(self) -> AbstractContextManager[None]:
        return self.clock.freeze()

    def delete(self, object_name: str, record_id: str) -> None:
        self.store.delete(record_id)

    # A SQLite file on this machine: no network to fail, no session to expire, and an
    # api_key that is never checked. These checks are skipped with that reason.
    def inject(self, fault: Fault, *, hook: str) -> None:
        raise SandboxUnsupported("a local SQLite file cannot be made to fail on demand")

    def expire_credentials(self) -> None:
        raise SandboxUnsupported("the local connector holds no session to expire")

    def refuse_credentials(self) -> None:
        raise SandboxUnsupported("the local connector checks no credentials")

    def close(self) -> None:
        self.store.close()


class MemorySandbox(SandboxBase):
    """The in-memory connector over a fresh :class:`MemoryBackend` (all faults
    supported)."""

    object_name = "Lead"
    page_size = 2
    match_field = "Email"

    def __init__(self, backend: MemoryBackend | None = None) -> None:
        self.clock = ManualClock()
        self.backend = backend or MemoryBackend()
        self.backend.now = self.clock
        self.settings: Mapping[str, Any] = {"api_key": "memory-kit-s3cret-key"}
        self.factory_kwargs: Mapping[str, Any] = {"backend": self.backend}

    def new_record(self, index: int) -> dict[str, Any]:
        return {
            "FirstName": "Pat",
            "LastName": f"Tester{index}",
            "Company": "Acme",
            "Email": f"person{index}@example.com",
        }

    def seed(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.backend.put(object_name, dict(record)) for record in records]

    def advance_clock(self, seconds: float = 1.0) -> None:
        self.clock.advance(seconds)

    def freeze_clock(self) -> AbstractContextManager[None]:
        return self.clock.freeze()

    def delete(self, object_name: str, record_id: str) -> None:
        self.backend.delete(object_name, record_id)

    def purge(self, object_name: str, record_id: str) -> None:
        self.backend.purge(object_name, record_id)

    def inject(self, fault: Fault, *, hook: str) -> None:
        self.backend.inject(fault, hook=hook)

    def expire_credentials(self) -> None:
        self.backend.token_valid = False

    def refuse_credentials(self) -> None:
        self.backend.credentials_refused = True
