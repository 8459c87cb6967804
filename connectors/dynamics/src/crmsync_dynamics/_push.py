"""``push_updates``: creates and updates as one ``$batch`` of changesets, answered
record by record.

Each record is a changeset of its own (so one bad record never rolls back another)
under ``Prefer: odata.continue-on-error``. An update is ``PATCH`` with ``If-Match: *``
(never an upsert that creates). A create is, by default, ``PATCH`` of a GUID derived
from the engine's request key with ``If-None-Match: *``: create-only, and a repeat of a
create whose answer was lost meets ``412`` ``0x80040237`` for the row it already made
instead of making a second one. Each part asks ``return=representation`` with
``$select=<key>,modifiedon`` so that the answer carries the record's new stamp.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from crmsync.authoring import results_in_order
from crmsync.contract import RecordError, WriteRequest, WriteResult
from crmsync.errors import PermanentError
from crmsync_dynamics._batch import BatchRequest, Operation, PartAnswer, build_batch, read_batch
from crmsync_dynamics._errors import (
    CONNECTOR,
    MISSING_CODES,
    THROTTLE_CODES,
)
from crmsync_dynamics._multipart import MultipartError
from crmsync_dynamics._org import Org, Table
from crmsync_dynamics._values import Attribute, WireProblem, parse_datetime, record_error, to_wire

__all__ = ["MAX_BATCH", "Pusher"]

MAX_BATCH = 1000  # requests per $batch (fact sheet 5)
_DUPLICATE = "0x80040237"
_TRANSIENT_STATUSES = {429, 502, 503, 504}
_NAMESPACE = uuid.UUID("6f1b9d44-7c31-4e0f-8409-000d3a5a1b2c")


class Pusher:
    """Writes of one connection."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def record_id_for(self, table: Table, ref: str) -> str:
        """The GUID a create with request key ``ref`` gets (stable across repeats)."""
        seed = f"crmsync:{self.org.settings.environment_url}:{table.name}:{ref}"
        return str(uuid.uuid5(_NAMESPACE, seed))

    def push(self, object_name: str, requests: Sequence[WriteRequest]) -> list[WriteResult]:
        """Write ``requests``; one result per request, in order."""
        table = self.org.table(object_name)
        attributes = self.org.attributes(object_name)
        answers: dict[str, WriteResult] = {}
        groups: list[BatchRequest] = []
        for index, request in enumerate(requests):
            group = self._group(table, attributes, index, request, answers)
            if group is not None:
                groups.append(group)
        chunk: list[BatchRequest] = []
        size = 0
        limit = min(self.org.settings.batch_size, MAX_BATCH)
        for group in groups:
            if chunk and size + len(group.operations) > limit:
                self._send(table, requests, chunk, answers)
                chunk, size = [], 0
            chunk.append(group)
            size += len(group.operations)
        if chunk:
            self._send(table, requests, chunk, answers)
        return results_in_order(requests, answers)

    # -- building ------------------------------------------------------------------------------
    def _group(
        self,
        table: Table,
        attributes: Mapping[str, Attribute],
        index: int,
        request: WriteRequest,
        answers: dict[str, WriteResult],
    ) -> BatchRequest | None:
        def refuse(error: RecordError) -> None:
            answers[request.ref] = WriteResult(
                ref=request.ref, ok=False, record_id=request.record_id, error=error
            )

        if request.op == "update" and not request.record_id:
            refuse(RecordError(code="MISSING_ID", message="an update needs the record id"))
            return None
        body: dict[str, Any] = {}
        unbind: list[str] = []
        for name, value in request.values.items():
            attribute = attributes.get(name)
            if attribute is None:
                refuse(
                    RecordError(
                        code="0x0",
                        message=f"Could not find a property named '{name}' on type "
                        f"'Microsoft.Dynamics.CRM.{table.name}'",
                        field=name,
                    )
                )
                return None
            if not attribute.writable(request.op):
                # Dataverse ignores such a column silently; crmsync never drops a value.
                refuse(
                    RecordError(
                        code="READ_ONLY",
                        message=f"'{name}' is not valid for {request.op} on {table.name}",
                        field=name,
                    )
                )
                return None
            try:
                wire = to_wire(value, attribute)
            except WireProblem as problem:
                refuse(record_error(problem, name))
                return None
            if attribute.is_lookup:
                if wire is None:
                    if request.op == "update":
                        unbind.append(name)
                else:
                    body[f"{name}@odata.bind"] = f"/{attribute.bind_set}({wire})"
            else:
                body[name] = wire
        select = f"?$select={table.primary_key},modifiedon"
        headers: dict[str, str] = {"Prefer": "return=representation"}
        if self.org.settings.duplicate_detection:
            headers["MSCRM.SuppressDuplicateDetection"] = "false"
        if request.op == "update":
            record_id = str(request.record_id)
            first = Operation(
                "PATCH",
                f"{table.entity_set}({record_id}){select}",
                {**headers, "If-Match": "*"},
                body,
            )
        elif self.org.settings.deterministic_ids:
            record_id = self.record_id_for(table, request.ref)
            first = Operation(
                "PATCH",
                f"{table.entity_set}({record_id}){select}",
                {**headers, "If-None-Match": "*"},
                body,
            )
        else:
            record_id = ""
            first = Operation("POST", f"{table.entity_set}{select}", headers, body)
        operations = [first]
        operations += [
            Operation("DELETE", f"{table.entity_set}({record_id})/{name}/$ref") for name in unbind
        ]
        return BatchRequest(key=index, operations=tuple(operations))

    # -- sending --------------------------------------------------------------------------------
    def _send(
        self,
        table: Table,
        requests: Sequence[WriteRequest],
        chunk: Sequence[BatchRequest],
        answers: dict[str, WriteResult],
    ) -> None:
        content_type, body = build_batch(f"/api/data/{self.org.settings.api_version}", chunk)
        creates = any(requests[group.key].op == "create" for group in chunk)
        response = self.org.http.request(
            "POST",
            "$batch",
            object_name=table.name,
            content=body.encode(),
            headers={"Content-Type": content_type, "Prefer": "odata.continue-on-error"},
            write=True,
            # Creates of derived GUIDs are create-only: repeating them is safe.
            idempotent=not creates or self.org.settings.deterministic_ids,
            accept=(400, 404, 412, 500),
        )
        answer_type = response.headers.get("Content-Type", "")
        if "multipart/mixed" not in answer_type.lower():
            self.org.http.raise_for(response, object_name=table.name)
        try:
            parts = read_batch(answer_type, response.text, chunk)
        except MultipartError as error:
            raise PermanentError(
                f"Dataverse answered a $batch that crmsync cannot read: {error}",
                code="BAD_RESPONSE",
                connector=CONNECTOR,
                object_name=table.name,
            ) from None
        for group in chunk:
            request = requests[group.key]
            part = parts.get(group.key)
            if part is not None:
                answers[request.ref] = self._result(table, request, group, part)

    def _result(
        self, table: Table, request: WriteRequest, group: BatchRequest, part: PartAnswer
    ) -> WriteResult:
        record_id = request.record_id
        if request.op == "create" and self.org.settings.deterministic_ids:
            record_id = self.record_id_for(table, request.ref)
        if part.status < 400:
            body = part.body if isinstance(part.body, dict) else {}
            found = body.get(table.primary_key) or _id_from(
                part.headers.get("odata-entityid") or part.headers.get("location") or ""
            )
            stamp = body.get("modifiedon")
            return WriteResult(
                ref=request.ref,
                ok=True,
                record_id=str(found or record_id).lower(),
                modified_at=parse_datetime(str(stamp)) if stamp else None,
            )
        code = part.code or f"HTTP_{part.status}"
        if request.op == "create" and code == _DUPLICATE and self.org.settings.deterministic_ids:
            # The create was made by an earlier attempt whose answer was lost.
            return WriteResult(ref=request.ref, ok=True, record_id=record_id)
        transient = (
            part.status in _TRANSIENT_STATUSES
            or code in THROTTLE_CODES
            or (part.status >= 500 and code != "0x80040333")
        )
        return WriteResult(
            ref=request.ref,
            ok=False,
            record_id=request.record_id,
            error=RecordError(
                code=code,
                message=part.message or f"Dataverse answered {part.status}",
                field=part.field,
                retryable=transient,
                missing=request.op == "update" and part.status == 404 and code in MISSING_CODES,
            ),
        )


def _id_from(url: str) -> str | None:
    """The GUID of an ``OData-EntityId`` like ``.../leads(5e0a9d44-...)``."""
    if "(" not in url:
        return None
    return url.rsplit("(", 1)[1].split(")", 1)[0] or None
