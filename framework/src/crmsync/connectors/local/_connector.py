"""``LocalConnector``: the hooks of the ``local`` platform connector, over a
:class:`LocalStore`.

Read this module as the template for pointing crmsync at your own prospect database:
each hook translates between the contract's models and the store, and every database
failure is turned into one of the framework's error types (a lock is a
``TransientError``, which the framework retries with backoff; the connector itself never
waits or loops).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmsync.connectors.local import _fields as F
from crmsync.connectors.local._store import DEFAULT_CACHE_MB, Clock, LocalStore
from crmsync.contract import (
    CONTRACT_VERSION,
    Capability,
    ChangedRecord,
    ChangePage,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    RecordError,
    Tombstone,
    WriteRequest,
    WriteResult,
    hookimpl,
)
from crmsync.errors import ConfigurationError, PermanentError, TransientError

__all__ = ["LocalConnector", "LocalSettings"]

CONNECTOR_ID = "local"
_LOOKUP_CHUNK = 500  # well under SQLite's bound-parameter limit


class LocalSettings(BaseSettings):
    """Settings of the ``local`` connector, from ``CRMSYNC_LOCAL_*`` variables or
    ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="CRMSYNC_LOCAL_", env_file=".env", extra="ignore"
    )

    path: Path = Field(
        default=Path("crmsync-platform.db"),
        description="The SQLite file holding the prospects (created if missing).",
    )
    create_missing: bool = Field(
        default=True,
        description="Create the file when it is missing. The framework sets it false "
        "where it must write nothing (a dry run, doctor): a missing file is then "
        "reported, not created empty.",
    )
    cache_mb: int = Field(
        default=DEFAULT_CACHE_MB,
        ge=1,
        le=65536,
        description="SQLite page cache for the file, in MB (filled only as pages are "
        "read).",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Unused by SQLite; declared as SecretStr to show how a connector "
        "keeps a credential out of logs and errors (the framework masks it).",
    )


@contextmanager
def _translated(object_name: str) -> Iterator[None]:
    """Turn SQLite failures into the framework's errors (never with a path or a
    secret)."""
    try:
        yield
    except sqlite3.OperationalError as error:
        text = str(error)
        if "locked" in text or "busy" in text:
            raise TransientError(
                f"platform database is busy: {text}",
                connector=CONNECTOR_ID,
                object_name=object_name,
            ) from None
        raise PermanentError(
            f"platform database error: {text}",
            code="DATABASE_ERROR",
            connector=CONNECTOR_ID,
            object_name=object_name,
        ) from None
    except sqlite3.DatabaseError as error:
        raise PermanentError(
            f"platform database error: {error}",
            code="DATABASE_ERROR",
            connector=CONNECTOR_ID,
            object_name=object_name,
        ) from None


def _open_store(settings: LocalSettings, clock: Clock | None) -> LocalStore:
    """Open ``settings.path``; a file SQLite cannot open or read is one clear line."""
    path = settings.path
    create = settings.create_missing
    try:
        # busy_timeout=0: a locked database is reported at once as TransientError and
        # the framework's backoff decides when to try again (no waiting inside a
        # connector).
        return LocalStore(
            path,
            clock=clock,
            busy_timeout=0.0,
            cache_mb=settings.cache_mb,
            create=create,
        )
    except sqlite3.Error as error:
        # SQLite says "unable to open database file" for all of these; name the cause.
        if path.is_dir():
            reason = "it is a directory"
        elif not path.parent.is_dir():
            reason = f"its folder {path.parent} does not exist"
        elif not path.exists():
            reason = "it does not exist"
        else:
            reason = str(error)
        # The framework leads the hint with where the path is changed.
        raise ConfigurationError(
            f"cannot open the local platform file {path}: {reason}",
            hint=None if create else "a sync creates a missing file, empty",
            setting="path",
        ) from None


def _encode_page(modified_at: str, record_id: str) -> str:
    raw = json.dumps([modified_at, record_id]).encode()
    return "v1." + base64.urlsafe_b64encode(raw).decode()


def _decode_page(token: str) -> tuple[str, str]:
    try:
        if not token.startswith("v1."):
            raise ValueError(token)
        modified_at, record_id = json.loads(base64.urlsafe_b64decode(token[3:]))
        return str(modified_at), str(record_id)
    except (ValueError, TypeError, binascii.Error):
        raise PermanentError(
            "page token was not issued by this connector",
            code="INVALID_PAGE_TOKEN",
            connector=CONNECTOR_ID,
        ) from None


class LocalConnector:
    """The ``local`` platform connector: prospects in a SQLite file.

    :param settings: where the file is.
    :param store: an open :class:`LocalStore` to use instead of opening
        ``settings.path`` (a test seam, passed through ``factory_kwargs``).
    :param clock: the store's clock, when the connector opens it (a test seam).

    With ``settings.create_missing`` false it opens only an existing file and changes
    nothing in it, as ``crmsync doctor`` and a dry run need.
    """

    def __init__(
        self,
        settings: LocalSettings,
        *,
        store: LocalStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store = store or _open_store(settings, clock)

    @staticmethod
    @hookimpl
    def describe_connector() -> ConnectorDescription:
        return ConnectorDescription(
            id=CONNECTOR_ID,
            name="Local prospects (SQLite)",
            contract_version=CONTRACT_VERSION,
            objects=(F.OBJECT_NAME,),
            person_objects=(F.OBJECT_NAME,),
            max_batch_size=500,
            max_page_size=2000,
            max_concurrency=1,
            capabilities=frozenset({Capability.DELETIONS, Capability.LOOKUP}),
            settings_model=LocalSettings,
            role="platform",
            self_contained=True,
            demo_files={"path": "crmsync-demo-platform.db"},
        )

    @hookimpl
    def authenticate(self) -> None:
        """Nothing to do: a local file needs no session."""

    @hookimpl
    def list_fields(self, object_name: str) -> list[FieldSpec]:
        self._check_object(object_name)
        return list(F.PROSPECT_FIELDS)

    @hookimpl
    def fetch_changed(
        self,
        object_name: str,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
    ) -> ChangePage:
        """Keyset read on ``(modified_at, id)``: one indexed range scan per page.

        The page token is the position of the page's last row, so following
        ``next_page`` and resuming from the page's ``cursor`` are the same query, and
        ties of ``modified_at`` across a page boundary are broken by ``id`` without
        skipping or repeating a row.
        """
        self._check_object(object_name)
        self._check_fields(object_name, fields)
        if page is not None:
            where, params = "(modified_at, id) > (?, ?)", list(_decode_page(page))
        elif cursor is None or cursor.modified_at is None:
            where, params = "1", []
        elif cursor.record_id is None:
            where, params = "modified_at >= ?", [F.utc_text(cursor.modified_at)]
        else:
            where, params = (
                "(modified_at, id) > (?, ?)",
                [F.utc_text(cursor.modified_at), cursor.record_id],
            )
        size = max(1, page_size)
        with _translated(object_name):
            rows = self.store.query(
                f"SELECT * FROM prospect WHERE {where} "
                "ORDER BY modified_at, id LIMIT ?",
                [*params, size + 1],
            )
        more, rows = len(rows) > size, rows[:size]
        records: list[ChangedRecord] = []
        tombstones: list[Tombstone] = []
        for row in rows:
            moment = F.parse_utc_text(row["modified_at"])
            if row["deleted_at"] is not None:
                tombstones.append(Tombstone(record_id=row["id"], deleted_at=moment))
            else:
                values = {name: F.from_sql(name, row[name]) for name in fields}
                records.append(
                    ChangedRecord(
                        record_id=row["id"], modified_at=moment, values=values
                    )
                )
        if rows:
            last = rows[-1]
            position = Cursor(
                modified_at=F.parse_utc_text(last["modified_at"]), record_id=last["id"]
            )
            next_page = _encode_page(last["modified_at"], last["id"]) if more else None
        else:
            position, next_page = cursor or Cursor(), None
        return ChangePage(
            records=tuple(records),
            tombstones=tuple(tombstones),
            cursor=position,
            next_page=next_page,
        )

    @hookimpl
    def push_updates(
        self, object_name: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        """All requests in one transaction, answered in order; a bad record fails
        alone.

        The batch's creates go in as one statement (an initial sync is made of them);
        only if that fails on a constraint are they retried one by one, so the one bad
        record can be named.
        """
        self._check_object(object_name)
        outcomes: list[str | RecordError] = []
        creates: list[int] = []
        with _translated(object_name), self.store.write() as moment:
            for position, request in enumerate(requests):
                refusal = self._refusal(request)
                if refusal is not None:
                    outcomes.append(refusal)
                elif request.op == "create":
                    creates.append(position)
                    outcomes.append("")  # its id, once the creates are inserted
                else:
                    outcomes.append(self._update_one(request, moment))
            for position, created in zip(
                creates,
                self._create_all([requests[p].values for p in creates], moment),
                strict=True,
            ):
                outcomes[position] = created
        return [
            WriteResult(
                ref=request.ref,
                ok=False,
                record_id=request.record_id,
                error=outcome,
            )
            if isinstance(outcome, RecordError)
            else WriteResult(
                ref=request.ref, ok=True, record_id=outcome, modified_at=moment
            )
            for request, outcome in zip(requests, outcomes, strict=True)
        ]

    @staticmethod
    def _refusal(request: WriteRequest) -> RecordError | None:
        """Why this record cannot be written at all, checked before any SQL."""
        problem = F.check_values(request.values)
        if problem is not None:
            return RecordError(
                code=problem.code, message=problem.message, field=problem.field
            )
        if request.op == "update" and request.record_id is None:
            return RecordError(
                code="MISSING_RECORD_ID", message="an update needs a record_id"
            )
        return None

    def _update_one(
        self, request: WriteRequest, moment: dt.datetime
    ) -> str | RecordError:
        assert request.record_id is not None
        try:
            # One statement: SQLite undoes a failed statement alone, so the rest of
            # the batch's transaction stands without a savepoint.
            if not self.store.update_row(request.record_id, request.values, moment):
                return RecordError(
                    code="NOT_FOUND",
                    message=f"no live prospect {request.record_id}",
                    missing=True,
                )
        except sqlite3.IntegrityError as error:
            return RecordError(code="CONSTRAINT", message=str(error))
        return request.record_id

    def _create_all(
        self, rows: list[dict[str, Any]], moment: dt.datetime
    ) -> list[str | RecordError]:
        if not rows:
            return []
        try:
            with self.store.savepoint():
                return list(self.store.insert_rows(rows, moment))
        except sqlite3.IntegrityError:
            pass
        created: list[str | RecordError] = []
        for row in rows:
            try:
                with self.store.savepoint():
                    created.append(self.store.insert_rows([row], moment)[0])
            except sqlite3.IntegrityError as error:
                created.append(RecordError(code="CONSTRAINT", message=str(error)))
        return created

    @hookimpl
    def lookup_records(
        self, object_name: str, field: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[ChangedRecord]:
        """Email uses the indexed ``email_key`` column; other text fields are
        scanned."""
        self._check_object(object_name)
        self._check_fields(object_name, [field, *fields])
        keys = sorted(
            {key for key in map(F.normalize_email, values) if key is not None}
        )
        found = []
        with _translated(object_name):
            if field == "email":
                rows = []
                for start in range(0, len(keys), _LOOKUP_CHUNK):
                    chunk = keys[start : start + _LOOKUP_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    rows += self.store.query(
                        f"SELECT * FROM prospect WHERE email_key IN ({marks}) "
                        "ORDER BY seq",
                        chunk,
                    )
            else:
                wanted = set(keys)
                rows = [
                    row
                    for row in self.store.query(
                        "SELECT * FROM prospect WHERE deleted_at IS NULL ORDER BY seq"
                    )
                    if F.normalize_email(row[field]) in wanted
                ]
        for row in rows:
            values_out = {name: F.from_sql(name, row[name]) for name in fields}
            found.append(
                ChangedRecord(
                    record_id=row["id"],
                    modified_at=F.parse_utc_text(row["modified_at"]),
                    values=values_out,
                )
            )
        return found

    @hookimpl
    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    # -- checks
    # --------------------------------------------------------------------------
    @staticmethod
    def _check_object(object_name: str) -> None:
        if object_name != F.OBJECT_NAME:
            raise PermanentError(
                f"unknown object {object_name!r}; the local connector serves prospect",
                code="UNKNOWN_OBJECT",
                connector=CONNECTOR_ID,
                object_name=object_name,
            )

    @staticmethod
    def _check_fields(object_name: str, fields: Sequence[str]) -> None:
        for name in fields:
            if name not in F.SPECS:
                raise PermanentError(
                    f"prospect has no field {name!r}",
                    code="UNKNOWN_FIELD",
                    field=name,
                    connector=CONNECTOR_ID,
                    object_name=object_name,
                )
