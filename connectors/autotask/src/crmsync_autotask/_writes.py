"""Writes: one record per call, through the parent URL for contacts.

Autotask has no batch write (fact sheet section 5): a contact is created with
``POST /Companies/{companyID}/Contacts`` and updated with ``PATCH`` on the same URL
(id in the body), a company with ``POST``/``PATCH /Companies``. Every answer is
``{"itemId": N}``. Validation failures are HTTP 500 ``{"errors": [...]}`` and become
per-record permanent errors; a record that no longer exists (``{"item": null}`` on a
read, "No matching records found" on a write) is reported ``missing``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from crmsync.contract import RecordError, WriteRequest, WriteResult
from crmsync.errors import ConnectorError, PermanentError, TransientError
from crmsync_autotask._client import AutotaskClient
from crmsync_autotask._errors import CONNECTOR
from crmsync_autotask._feed import FeedReader
from crmsync_autotask._fields import COMPANY_NAME, EntityMeta, ValueProblem
from crmsync_autotask._settings import AutotaskSettings

__all__ = ["Writer"]

_IN_CHUNK = 500  # ids per `in` condition: Autotask allows 500 OR-ed conditions


class _Refused(Exception):
    def __init__(self, error: RecordError) -> None:
        self.error = error


def _refuse(
    code: str, message: str, field: str | None = None, *, missing: bool = False
) -> _Refused:
    return _Refused(RecordError(code=code, message=message, field=field, missing=missing))


class Writer:
    """Pushes for one connection; safe from several threads."""

    def __init__(
        self,
        client: AutotaskClient,
        settings: AutotaskSettings,
        feed: FeedReader,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.settings = settings
        self.feed = feed
        self._lock = threading.Lock()
        self._company_by_name: dict[str, int] = {}
        self._company_names: dict[int, tuple[str, float]] = {}  # id -> (name, read at)
        self._clock = clock
        self._name_locks: dict[str, threading.Lock] = {}

    # -- batch ---------------------------------------------------------------------------
    def push(
        self, entity: str, meta: EntityMeta, requests: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        wrote = False
        for request in requests:
            try:
                record_id = self._one(entity, meta, request)
                results.append(WriteResult(ref=request.ref, ok=True, record_id=record_id))
                wrote = True
            except _Refused as refused:
                results.append(
                    WriteResult(
                        ref=request.ref, ok=False, record_id=request.record_id, error=refused.error
                    )
                )
            except PermanentError as error:
                results.append(self._failed(meta, request, error))
            except ConnectorError as error:
                # The whole call failed: raise it while nothing of this batch was written
                # (the framework repeats the batch); afterwards repeating would write the
                # earlier records twice, so the rest fail retryably one by one.
                if not wrote:
                    raise
                results.append(
                    WriteResult(
                        ref=request.ref,
                        ok=False,
                        record_id=request.record_id,
                        error=RecordError(
                            code=str(getattr(error, "code", type(error).__name__)),
                            message=error.message,
                            retryable=error.retryable,
                        ),
                    )
                )
        return results

    @staticmethod
    def _failed(meta: EntityMeta, request: WriteRequest, error: PermanentError) -> WriteResult:
        field = meta.name_of(error.field) if error.field else None
        return WriteResult(
            ref=request.ref,
            ok=False,
            record_id=request.record_id,
            error=RecordError(
                code=error.code,
                message=error.message,
                field=field,
                retryable=False,
                missing=request.op == "update" and error.code == "NOT_FOUND",
            ),
        )

    # -- one record ----------------------------------------------------------------------
    def _one(self, entity: str, meta: EntityMeta, request: WriteRequest) -> str:
        body, company_name = self._body(meta, request)
        if entity == "Contacts":
            if request.op == "create":
                return self._create_contact(body, company_name)
            return self._update_contact(self._id(request), body, company_name)
        if request.op == "create":
            body.setdefault("companyType", self.settings.new_company_type)
            if self.settings.new_company_owner_resource_id is not None:
                body.setdefault("ownerResourceID", self.settings.new_company_owner_resource_id)
            body.setdefault("phone", self.settings.new_company_phone)
            return self._item(
                self.client.send(
                    "POST", "Companies", entity="Companies", json=body, write=True,
                    idempotent=False, kind="write",
                )
            )
        body["id"] = self._id(request)
        return self._item(
            self.client.send(
                "PATCH", "Companies", entity="Companies", json=body, write=True, kind="write"
            )
        )

    @staticmethod
    def _id(request: WriteRequest) -> int:
        if not request.record_id:
            raise _refuse("MISSING_ID", "an update needs the record id")
        try:
            return int(request.record_id)
        except ValueError:
            raise _refuse(
                "INVALID_ID", f"{request.record_id!r} is not an Autotask record id", missing=True
            ) from None

    @staticmethod
    def _item(answer: Any) -> str:
        item = answer.get("itemId") if isinstance(answer, dict) else None
        if isinstance(item, bool) or not isinstance(item, int):
            raise PermanentError(
                "Autotask answered a write without itemId", code="BAD_RESPONSE", connector=CONNECTOR
            )
        return str(item)

    def _body(
        self, meta: EntityMeta, request: WriteRequest
    ) -> tuple[dict[str, Any], str | None]:
        """The JSON body of a request, and the company name it carries (contacts)."""
        body: dict[str, Any] = {}
        udfs: list[dict[str, Any]] = []
        company_name: str | None = None
        for name, value in request.values.items():
            wire_field = meta.get(name)
            if wire_field is None:
                raise _refuse("INVALID_FIELD", f"{meta.entity} has no field {name!r}", name)
            if wire_field.read_only:
                raise _refuse("READ_ONLY", f"{meta.entity}.{wire_field.name} is read-only", name)
            try:
                wire = wire_field.to_wire(value)
            except ValueProblem as problem:
                raise _refuse("INVALID_VALUE", str(problem), wire_field.name) from None
            if wire_field.kind == "company":
                company_name = None if wire is None else str(wire).strip() or None
            elif wire_field.kind == "udf":
                # Only the UDFs sent: Autotask merges them into the record's list.
                udfs.append({"name": wire_field.wire, "value": wire})
            else:
                body[wire_field.wire] = wire
        if udfs:
            body["userDefinedFields"] = udfs
        return body, company_name

    # -- contacts ------------------------------------------------------------------------
    def _create_contact(self, body: dict[str, Any], company_name: str | None) -> str:
        company = body.get("companyID")
        if company is None:
            company = self._company_for_new_contact(company_name, body.get("phone"))
        body["companyID"] = company
        body.setdefault("isActive", 1)  # required; a new prospect is an active contact
        answer = self.client.send(
            "POST", f"Companies/{company}/Contacts", entity="Contacts", json=body,
            write=True, idempotent=False, kind="write",
        )
        record_id = self._item(answer)
        self.feed.contact_company[int(record_id)] = int(company)
        return record_id

    def _company_for_new_contact(self, name: str | None, phone: Any) -> int:
        if self.settings.company_strategy == "find_or_create" and name:
            return self.find_or_create_company(name, phone if isinstance(phone, str) else None)
        if self.settings.default_company_id is not None:
            return self.settings.default_company_id
        raise _refuse(
            "COMPANY_REQUIRED",
            "a new Autotask contact needs a company: the record has no companyName "
            "(map a platform field to companyName, or set "
            "CRMSYNC_AUTOTASK_DEFAULT_COMPANY_ID for contacts without one)",
            COMPANY_NAME,
        )

    def _company_of(self, record_id: int, *, fresh: bool = False) -> int:
        known = None if fresh else self.feed.contact_company.get(record_id)
        if known is not None:
            return known
        try:
            answer = self.client.get(f"Contacts/{record_id}", entity="Contacts")
        except PermanentError as error:
            if error.code != "HTTP_404":
                raise
            # A missing id answers {"item": null}; a 404 has been seen for a record read
            # just after its create (replication lag). Never unlink on it: try again
            # later (the deletion check finds a record that is really gone).
            raise TransientError(
                f"Autotask answered 404 for contact {record_id}; retrying later",
                connector=CONNECTOR,
                object_name="Contacts",
                record_id=str(record_id),
            ) from None
        item = answer.get("item") if isinstance(answer, dict) else None
        company = item.get("companyID") if isinstance(item, dict) else None
        if not isinstance(company, int):
            raise _refuse(
                "NOT_FOUND", f"Autotask contact {record_id} no longer exists", missing=True
            )
        self.feed.contact_company[record_id] = company
        return company

    def _update_contact(
        self, record_id: int, body: dict[str, Any], company_name: str | None
    ) -> str:
        company = self._company_of(record_id)
        for attempt in range(2):
            self._check_same_company(company, body)
            moved = self._other_company(company, company_name)
            payload = {k: v for k, v in body.items() if k != "companyID"}
            if payload:
                try:
                    answer = self.client.send(
                        "PATCH", f"Companies/{company}/Contacts", entity="Contacts",
                        json={"id": record_id, **payload}, write=True, kind="write",
                    )
                except PermanentError as error:
                    if error.code != "NOT_FOUND":
                        raise
                    if attempt:
                        # The contact exists (just read) yet the write finds no match:
                        # a permission, not a deletion. Never unlink on that.
                        raise _refuse(
                            "NOT_WRITABLE",
                            f"{error.message} (the contact exists: check the API user's "
                            "permissions on it)",
                        ) from None
                    # The cached company may be stale (the contact moved in the UI): read
                    # the contact once; a null item means it is gone.
                    company = self._company_of(record_id, fresh=True)
                    continue
                self._item(answer)
            if moved is not None:
                # The other fields are written; only the company cannot follow.
                raise moved
            return str(record_id)
        raise AssertionError("unreachable")

    @staticmethod
    def _check_same_company(company: int, body: dict[str, Any]) -> None:
        moved = body.get("companyID")
        if moved is not None and int(moved) != company:
            raise _refuse(
                "COMPANY_CHANGE_UNSUPPORTED",
                f"moving a contact to company {moved} is not supported (Autotask does not "
                "document re-parenting; create a new contact instead)",
                "companyID",
            )

    def _other_company(self, company: int, company_name: str | None) -> _Refused | None:
        """The error for a ``companyName`` that names another company than the
        contact's, or ``None`` when it names the contact's own (or none)."""
        if company_name is None:
            return None
        current = self.company_names({company}).get(company)
        if current is not None and current.strip().casefold() == company_name.casefold():
            return None
        return _refuse(
            "COMPANY_CHANGE_UNSUPPORTED",
            f"the contact belongs to company {current!r}, not {company_name!r}: Autotask "
            "cannot move a contact to another company (its other fields were written)",
            COMPANY_NAME,
        )

    # -- companies -----------------------------------------------------------------------
    def company_names(self, ids: set[int], *, max_age: float | None = None) -> dict[int, str]:
        """Names of companies by id: one query per 500 ids not known, or (with
        ``max_age``, as reads ask) known for longer than that, so a renamed company is
        seen within ``max_age`` seconds."""
        now = self._clock()
        with self._lock:
            missing = sorted(
                i
                for i in ids
                if i not in self._company_names
                or (max_age is not None and now - self._company_names[i][1] > max_age)
            )
        for start in range(0, len(missing), _IN_CHUNK):
            chunk = missing[start : start + _IN_CHUNK]
            rows, _ = self.feed.query_all(
                "Companies",
                [{"op": "in", "field": "id", "value": chunk}],
                ["id", "companyName"],
                kind="company",
            )
            with self._lock:
                for row in rows:
                    if isinstance(row.get("id"), int):
                        self._company_names[row["id"]] = (str(row.get("companyName") or ""), now)
        with self._lock:
            return {i: self._company_names[i][0] for i in ids if i in self._company_names}

    def find_or_create_company(self, name: str, phone: str | None) -> int:
        """The company called ``name`` (an active one first, the oldest of equals),
        created as a prospect company when there is none. One lock per name, so
        concurrent pushes of one new company's contacts create it once."""
        key = name.strip().casefold()
        with self._lock:
            lock = self._name_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                known = self._company_by_name.get(key)
            if known is not None:
                return known
            rows, _ = self.feed.query_all(
                "Companies",
                [
                    {"op": "gt", "field": "id", "value": 0},
                    {"op": "eq", "field": "companyName", "value": name.strip()},
                ],
                ["id", "companyName", "isActive"],
                kind="company",
            )
            same = [
                row
                for row in rows
                if isinstance(row.get("id"), int)
                and str(row.get("companyName") or "").strip().casefold() == key
            ]
            same.sort(key=lambda row: (row.get("isActive") is False, row["id"]))
            if same:
                company = int(same[0]["id"])
            else:
                body = {
                    "companyName": name.strip(),
                    "companyType": self.settings.new_company_type,
                    "ownerResourceID": self.settings.new_company_owner_resource_id,
                    "phone": (phone or "").strip() or self.settings.new_company_phone,
                    "isActive": True,
                }
                company = int(
                    self._item(
                        self.client.send(
                            "POST", "Companies", entity="Companies", json=body,
                            write=True, idempotent=False, kind="write",
                        )
                    )
                )
            with self._lock:
                self._company_by_name[key] = company
                self._company_names[company] = (name.strip(), self._clock())
            return company
