"""The demo's platform, spoken to through the contract only (as the demo speaks to the
CRM's connector): seeded with ``push_updates`` creates, edited with updates, read back
with ``fetch_changed`` and ``lookup_records``. Any platform connector that declares
``ConnectorDescription.self_contained`` serves; the framework names none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crmsync.contract import Capability, ChangedRecord, FieldSpec, WriteRequest
from crmsync.errors import ConfigurationError
from crmsync.plugins import Connection, InstalledConnector
from crmsync.testing.emulator import DEMO_PLATFORM_FIELDS, PICKLIST_FIELDS, fake_people

__all__ = ["DemoPlatform", "demo_platform_settings"]

# Read back with every demo field, and the score the creation filter shows.
_READ_FIELDS = (*DEMO_PLATFORM_FIELDS, "score")


def demo_platform_settings(
    installed: InstalledConnector, directory: Path
) -> dict[str, str]:
    """The settings that keep the platform's files in the demo's ``directory``
    (``ConnectorDescription.demo_files``); everything else keeps its default."""
    return {
        setting: str((directory / name).resolve())
        for setting, name in installed.description.demo_files.items()
    }


class DemoPlatform:
    """The platform connection's person object, as the demo uses it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        description = connection.description
        self.object = (description.person_objects or description.objects)[0]
        self._specs = {spec.name: spec for spec in connection.list_fields(self.object)}
        missing = [name for name in DEMO_PLATFORM_FIELDS if name not in self._specs]
        if missing:
            raise ConfigurationError(
                f"the platform connector {connection.id!r} has no field "
                f"{', '.join(missing)} on {self.object}, which the demo maps",
                hint="pick a platform that has them with `crmsync demo --platform`",
            )
        self._fields = [name for name in _READ_FIELDS if name in self._specs]
        self._writable = {
            name for name, spec in self._specs.items() if not spec.read_only
        }
        self._refs = 0

    # -- writes ------------------------------------------------------------------------
    def seed_fake(self, n: int, *, seed: int) -> int:
        """``n`` fake people, created in batches; returns how many were created."""
        people = fake_people(
            n, seed=seed, now=dt.datetime.now(dt.UTC), picklists=self._picklists()
        )
        rows = [
            {k: v for k, v in person.items() if k in self._writable}
            for person in people
        ]
        return len(self._push("create", [(None, row) for row in rows]))

    def update(self, record_id: str, values: Mapping[str, Any]) -> None:
        self._push("update", [(record_id, dict(values))])

    def upsert(self, values: Mapping[str, Any]) -> str:
        """Update the person with the same email, or create one; returns its id."""
        found = self.by_email([str(values["email"])])
        known = found.get(str(values["email"]).strip().lower())
        row = {k: v for k, v in values.items() if k in self._writable}
        if known is not None:
            self.update(known.record_id, row)
            return known.record_id
        return self._push("create", [(None, row)])[0]

    def _push(
        self, op: str, writes: Sequence[tuple[str | None, dict[str, Any]]]
    ) -> list[str]:
        size = self.connection.description.max_batch_size
        ids: list[str] = []
        for start in range(0, len(writes), size):
            requests = []
            for record_id, values in writes[start : start + size]:
                self._refs += 1
                requests.append(
                    WriteRequest(
                        ref=f"demo-{self._refs}",
                        op="create" if op == "create" else "update",
                        record_id=record_id,
                        values=values,
                    )
                )
            for result in self.connection.push_updates(self.object, requests):
                if not result.ok or result.record_id is None:
                    reason = result.error.message if result.error else "no id"
                    raise ConfigurationError(
                        f"the platform {self.connection.id!r} refused the demo's "
                        f"{op} of a {self.object}: {reason}",
                        hint="start over from new files with `crmsync demo`",
                    )
                ids.append(result.record_id)
        return ids

    # -- reads -------------------------------------------------------------------------
    def everyone(self) -> dict[str, dict[str, Any]]:
        """Every live person by id, in the feed's order (one pass over the feed)."""
        found: dict[str, dict[str, Any]] = {}
        cursor, page = None, None
        while True:
            answer = self.connection.fetch_changed(
                self.object, fields=self._fields, cursor=cursor, page=page
            )
            for record in answer.records:
                found[record.record_id] = {"id": record.record_id, **record.values}
            for tombstone in answer.tombstones:
                found.pop(tombstone.record_id, None)
            if answer.next_page is None:
                return found
            cursor, page = answer.cursor, answer.next_page

    def by_email(self, emails: Sequence[str]) -> dict[str, ChangedRecord]:
        """The people with these emails, by lower-cased email."""
        if Capability.LOOKUP in self.connection.description.capabilities:
            records = self.connection.lookup_records(
                self.object, field="email", values=list(emails), fields=self._fields
            )
        else:
            wanted = {e.strip().lower() for e in emails}
            records = [
                ChangedRecord(
                    record_id=pid,
                    modified_at=dt.datetime.now(dt.UTC),
                    values={k: v for k, v in values.items() if k != "id"},
                )
                for pid, values in self.everyone().items()
                if str(values.get("email") or "").strip().lower() in wanted
            ]
        return {str(r.values.get("email") or "").strip().lower(): r for r in records}

    def _picklists(self) -> dict[str, tuple[str, ...]]:
        return {
            name: tuple(spec.picklist_values)
            for name in PICKLIST_FIELDS
            if (spec := self._specs.get(name)) is not None and spec.picklist_values
        }

    def spec(self, name: str) -> FieldSpec | None:
        return self._specs.get(name)
