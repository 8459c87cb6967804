"""The change feed: modified-since queries, local ordering, deletion reconciliation.

Autotask answers a query in ascending ``id`` order, 500 records a page, with no way to
sort by modification time. crmsync's feed is ordered by ``(modified_at, record_id)``
and resumable from any page's cursor, so a read fetches every vendor page of its query
once (one call per 500 changed records, the vendor minimum), orders the rows locally
and hands them out ``page_size`` at a time. The rows wait in memory between pages; a
page asked for by another process (cache miss) re-runs the query from the position
its token carries, so a resumed read loses and repeats nothing.

Deletions: see :meth:`FeedReader.reconcile`.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from crmsync.contract import ChangedRecord, ChangePage, Cursor, Tombstone
from crmsync.errors import ConnectorError, PermanentError
from crmsync_autotask._baseline import Baseline
from crmsync_autotask._client import AutotaskClient
from crmsync_autotask._errors import CONNECTOR
from crmsync_autotask._fields import EntityMeta, WireField, read_value
from crmsync_autotask._values import format_datetime, parse_datetime

__all__ = ["MODIFIED", "FeedReader", "Reconciliation"]

MODIFIED = {"Contacts": "lastModifiedDate", "Companies": "lastTrackedModifiedDateTime"}
_CACHED_READS = 8
log = structlog.get_logger("crmsync.autotask")

Key = tuple[dt.datetime, str]


@dataclass(frozen=True)
class Reconciliation:
    """What one deletion check cost and found (also logged as
    ``autotask_reconciliation``)."""

    object_name: str
    calls: int
    known: int
    deleted: int
    swept: bool
    refused: bool = False


@dataclass
class _Read:
    records: list[ChangedRecord]
    tombstones: list[Tombstone]
    final_token: str | None
    passed_token: str | None
    served: int = 0
    keys: list[Key] = field(default_factory=list)


def base_filter(entity: str) -> list[dict[str, Any]]:
    """Every record of the entity: Datto's own idiom, minus the tenant's own company
    (id 0), which is no prospect's company."""
    if entity == "Companies":
        return [{"op": "gt", "field": "id", "value": 0}]
    return [{"op": "exist", "field": "id"}]


def stamp_of(entity: str, row: dict[str, Any]) -> dt.datetime:
    """A row's modification time: the modified field, else its creation (Companies
    rows older than tracking have no ``lastTrackedModifiedDateTime``)."""
    for name in (MODIFIED[entity], "createDate"):
        value = row.get(name)
        if value:
            return parse_datetime(str(value))
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class FeedReader:
    """Reads one connection's feeds; thread-safe."""

    def __init__(
        self,
        client: AutotaskClient,
        *,
        clock: Callable[[], float],
        reconcile_interval: float,
        reconcile_max_share: float,
        page_size: int,
    ) -> None:
        self.client = client
        self._clock = clock
        self.reconcile_interval = reconcile_interval
        self.reconcile_max_share = reconcile_max_share
        self.page_size = page_size
        self._reads: OrderedDict[str, _Read] = OrderedDict()
        self._partial: dict[str, tuple[list[dict[str, Any]], str]] = {}
        self._lock = threading.Lock()
        self.contact_company: dict[int, int] = {}
        self.last_reconciliation: dict[str, Reconciliation] = {}

    # -- vendor queries ------------------------------------------------------------------
    def query_all(
        self,
        entity: str,
        conditions: list[dict[str, Any]],
        include: Sequence[str] | None = None,
        *,
        kind: str = "query",
    ) -> tuple[list[dict[str, Any]], int]:
        """Every row of a query (POST, next pages POSTed again with the same body) and
        the number of calls it took.

        A read that fails part-way (a rate limit, a passing error) keeps the pages it
        has and its next-page link, so the framework's repeat of the call resumes there
        instead of reading the first pages again (calls count against a shared hourly
        budget). A resumed link the vendor refuses starts the query afresh, once.
        """
        body: dict[str, Any] = {"MaxRecords": self.page_size, "filter": conditions}
        if include is not None:
            body["IncludeFields"] = list(include)
        key = f"{entity}:{json.dumps(body, sort_keys=True, default=str)}"
        with self._lock:
            partial = self._partial.pop(key, None)
        if partial is not None:
            rows, url = partial
            try:
                return self._pages(entity, body, key, kind, rows, self._rebase(url))
            except PermanentError:
                pass  # the kept link is no longer valid: start again
        return self._pages(entity, body, key, kind, [], f"{entity}/query")

    def _rebase(self, url: str) -> str:
        """A kept next-page link moved onto the current zone (the tenant may have moved
        between the failure and the repeat)."""
        zone = self.client.zone
        marker = url.lower().find("/v1.0/")
        if zone is None or marker < 0 or url.startswith(zone):
            return url
        return zone + url[marker + 1 :]

    def _pages(
        self,
        entity: str,
        body: dict[str, Any],
        key: str,
        kind: str,
        rows: list[dict[str, Any]],
        url: str | None,
    ) -> tuple[list[dict[str, Any]], int]:
        calls = 0
        seen: set[str] = set()
        while url is not None:
            try:
                answer = self.client.send("POST", url, entity=entity, json=body, kind=kind)
            except ConnectorError as error:
                if error.retryable and rows:
                    with self._lock:
                        self._partial[key] = (rows, url)
                        while len(self._partial) > _CACHED_READS:
                            self._partial.pop(next(iter(self._partial)))
                raise
            calls += 1
            if not isinstance(answer, dict):
                raise PermanentError(
                    "Autotask answered a query with no items", code="BAD_RESPONSE",
                    connector=CONNECTOR, object_name=entity,
                )
            rows.extend(item for item in answer.get("items") or [] if isinstance(item, dict))
            details = answer.get("pageDetails") or {}
            next_url = details.get("nextPageUrl") if isinstance(details, dict) else None
            if not next_url or next_url in seen:
                url = None
            else:
                seen.add(str(next_url))
                url = self.client.http.check_url(
                    str(next_url), from_vendor=True, what="next page url"
                )
        return rows, calls

    def count(self, entity: str, conditions: list[dict[str, Any]]) -> int:
        answer = self.client.send(
            "POST", f"{entity}/query/count", entity=entity, json={"filter": conditions},
            kind="count",
        )
        try:
            return int(answer["queryCount"])
        except (KeyError, TypeError, ValueError):
            raise PermanentError(
                "Autotask answered a count without queryCount", code="BAD_RESPONSE",
                connector=CONNECTOR, object_name=entity,
            ) from None

    # -- the feed ------------------------------------------------------------------------
    def fetch(
        self,
        entity: str,
        meta: EntityMeta,
        wanted: list[WireField],
        cursor: Cursor | None,
        page: str | None,
        page_size: int,
        company_names: Callable[[set[int]], dict[int, str]],
    ) -> ChangePage:
        read_id, offset = None, 0
        costs: dict[str, int] = {}
        if page is not None:
            read_id, offset, after = self._parse_page(page)
            with self._lock:
                read = self._reads.get(read_id)
            if read is None:  # another process began this read: re-run it from `after`
                resume = Cursor(
                    modified_at=after[0], record_id=after[1], token=cursor.token if cursor else None
                )
                read = self._run(entity, meta, wanted, resume, company_names, reconcile=False)
                read.passed_token = cursor.token if cursor else None
                offset = 0
        else:
            with self._lock:
                before = self.last_reconciliation.get(entity)
            read = self._run(entity, meta, wanted, cursor, company_names, reconcile=True)
            with self._lock:
                after_run = self.last_reconciliation.get(entity)
            if after_run is not None and after_run is not before:
                # What finding deletions cost this read, for the cycle report.
                costs = {"reconciliation": after_run.calls}
        if read_id is None or read_id not in self._reads:
            read_id = uuid.uuid4().hex[:16]
            with self._lock:
                self._reads[read_id] = read
                while len(self._reads) > _CACHED_READS:
                    self._reads.popitem(last=False)
        size = max(1, page_size)
        chunk = read.records[offset : offset + size]
        last = offset + size >= len(read.records)
        tombstones = read.tombstones if last else []
        keys = [(r.modified_at, r.record_id) for r in chunk]
        position = cursor.sort_key() if cursor is not None else None
        final = self._position(position, keys, [(t.deleted_at, t.record_id) for t in tombstones])
        token = read.final_token if last else read.passed_token
        page_cursor = (
            Cursor(modified_at=final[0], record_id=final[1] or None, token=token)
            if final is not None
            else Cursor(token=token)
        )
        next_page = None
        if last:
            with self._lock:
                self._reads.pop(read_id, None)
        else:
            end = chunk[-1]
            next_page = json.dumps(
                {
                    "read": read_id,
                    "offset": offset + size,
                    "after": [format_datetime(end.modified_at), end.record_id],
                },
                separators=(",", ":"),
            )
        return ChangePage(
            records=tuple(chunk),
            tombstones=tuple(tombstones),
            cursor=page_cursor,
            next_page=next_page,
            costs=costs,
        )

    @staticmethod
    def _position(
        passed: Key | None, keys: list[Key], tombstones: list[Key]
    ) -> Key | None:
        candidates = [*keys, *tombstones]
        if passed is not None and passed[0] > dt.datetime.min.replace(tzinfo=dt.UTC):
            candidates.append(passed)
        return max(candidates) if candidates else None

    @staticmethod
    def _parse_page(page: str) -> tuple[str, int, Key]:
        try:
            token = json.loads(page)
            after = (parse_datetime(str(token["after"][0])), str(token["after"][1]))
            return str(token["read"]), int(token["offset"]), after
        except (ValueError, KeyError, IndexError, TypeError):
            raise PermanentError(
                "page token is not one this connector handed out",
                code="INVALID_PAGE_TOKEN",
                connector=CONNECTOR,
            ) from None

    def _run(
        self,
        entity: str,
        meta: EntityMeta,
        wanted: list[WireField],
        start: Cursor | None,
        company_names: Callable[[set[int]], dict[int, str]],
        *,
        reconcile: bool,
    ) -> _Read:
        modified = MODIFIED[entity]
        conditions = base_filter(entity)
        since = start.modified_at if start is not None else None
        if since is not None:
            value = format_datetime(since)
            conditions = [
                *(conditions if entity == "Companies" else []),
                {
                    "op": "or",
                    "items": [
                        {"op": "gte", "field": modified, "value": value},
                        {
                            "op": "and",
                            "items": [
                                {"op": "notExist", "field": modified},
                                {"op": "gte", "field": "createDate", "value": value},
                            ],
                        },
                    ],
                },
            ]
        include = ["id", modified, "createDate"]
        if entity == "Contacts":
            include.append("companyID")
        include += [f.wire for f in wanted if f.kind == "standard" and f.wire not in include]
        rows, _ = self.query_all(entity, conditions, include, kind="feed")
        start_key = start.sort_key() if start is not None else None
        keyed: list[tuple[Key, dict[str, Any]]] = []
        for row in rows:
            try:
                record_id = int(row["id"])
            except (KeyError, TypeError, ValueError):
                continue
            if entity == "Companies" and record_id == 0:
                continue
            key = (stamp_of(entity, row), str(record_id))
            if start is not None and start_key is not None:
                if start.record_id is not None and key <= start_key:
                    continue
                if start.record_id is None and key[0] < start_key[0]:
                    continue
            keyed.append((key, row))
        keyed.sort(key=lambda item: item[0])
        if entity == "Contacts":
            with self._lock:
                for _, row in keyed:
                    company = row.get("companyID")
                    if isinstance(company, int):
                        self.contact_company[int(row["id"])] = company
        names: dict[int, str] = {}
        if any(f.kind == "company" for f in wanted):
            wanted_companies = {
                int(row["companyID"]) for _, row in keyed if isinstance(row.get("companyID"), int)
            }
            names = company_names(wanted_companies)
        records = [
            ChangedRecord(
                record_id=key[1],
                modified_at=key[0],
                values={f.name: self._value(f, row, names) for f in wanted},
            )
            for key, row in keyed
        ]
        feed_ids = {int(key[1]) for key, _ in keyed}
        passed_token = start.token if start is not None else None
        tombstones: list[Tombstone] = []
        final: str | None
        if start is None:
            # A read from the beginning saw every record: that is the baseline.
            final = Baseline(frozenset(feed_ids), self._clock()).encode()
        elif not reconcile:
            old = Baseline.decode(passed_token)
            final = old.plus(feed_ids).encode() if old is not None else passed_token
        else:
            baseline = Baseline.decode(passed_token)
            due = baseline is None or (
                self._clock() - baseline.reconciled_at >= self.reconcile_interval
            )
            if due:
                gone, fresh = self.reconcile(entity, baseline, feed_ids)
                final = fresh.encode()
                moment = keyed[-1][0][0] if keyed else start.modified_at
                if gone and moment is not None:
                    tombstones = [
                        Tombstone(record_id=str(record_id), deleted_at=moment)
                        for record_id in sorted(gone, key=str)
                    ]
            else:
                assert baseline is not None
                final = baseline.plus(feed_ids).encode()
        return _Read(records, tombstones, final, passed_token)

    @staticmethod
    def _value(wire_field: WireField, row: dict[str, Any], names: dict[int, str]) -> Any:
        if wire_field.kind == "company":
            company = row.get("companyID")
            return names.get(company) if isinstance(company, int) else None
        return wire_field.from_wire(read_value(row, wire_field))

    # -- deletions -----------------------------------------------------------------------
    def reconcile(
        self, entity: str, baseline: Baseline | None, feed_ids: set[int]
    ) -> tuple[set[int], Baseline]:
        """Which known records vanished, and the new baseline.

        With a baseline, one ``query/count`` of the ids up to the highest known id: ids
        only grow, so when that count equals the number of known ids nothing vanished
        (1 call). Otherwise (or with no baseline yet) an id-only sweep
        (``IncludeFields: ["id"]``, one call per 500 records) lists what exists, and
        the known ids missing from it are the deletions. A sweep that finds more than
        ``reconcile_max_share`` of the known records gone reports none of them (a
        permission change looks like a mass deletion) and keeps the old baseline.
        """
        now = self._clock()
        calls = 0
        if baseline is not None and baseline.ids:
            top = max(baseline.ids)
            conditions = [*base_filter(entity), {"op": "lte", "field": "id", "value": top}]
            if entity == "Companies":
                conditions = [
                    {"op": "gt", "field": "id", "value": 0},
                    {"op": "lte", "field": "id", "value": top},
                ]
            calls += 1
            if self.count(entity, conditions) == len(baseline.ids):
                self._report(Reconciliation(entity, calls, len(baseline.ids), 0, swept=False))
                return set(), Baseline(baseline.ids | frozenset(feed_ids), now)
        rows, sweep_calls = self.query_all(entity, base_filter(entity), ["id"], kind="sweep")
        calls += sweep_calls
        current = {int(row["id"]) for row in rows if isinstance(row.get("id"), int)}
        current.discard(0)  # the tenant's own company is never a record of the feed
        fresh = Baseline(frozenset(current | feed_ids), now)
        if baseline is None:
            self._report(Reconciliation(entity, calls, len(fresh.ids), 0, swept=True))
            return set(), fresh
        gone = set(baseline.ids) - current - feed_ids
        known = len(baseline.ids)
        if len(gone) > 10 and len(gone) > self.reconcile_max_share * known:
            self._report(
                Reconciliation(entity, calls, known, len(gone), swept=True, refused=True)
            )
            return set(), Baseline(baseline.ids | frozenset(feed_ids), now)
        self._report(Reconciliation(entity, calls, known, len(gone), swept=True))
        return gone, fresh

    def _report(self, result: Reconciliation) -> None:
        with self._lock:
            self.last_reconciliation[result.object_name] = result
        event = "autotask_reconciliation_refused" if result.refused else "autotask_reconciliation"
        log.info(
            event,
            object=result.object_name,
            calls=result.calls,
            known=result.known,
            deleted=result.deleted,
            swept=result.swept,
        )
