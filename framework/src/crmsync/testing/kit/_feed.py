"""Checks of ``fetch_changed``: completeness, keyset order, cursors, ties, deletions.

A change feed is ordered by ``(modified_at, record_id)``. These checks seed records in
the sandbox, read the feed through the framework with the sandbox's small page size, and
compare what came back with what was seeded: every record exactly once, nothing before a
cursor, nothing lost at a page boundary even when several records share one modification
time.
"""

from __future__ import annotations

from collections import Counter

from crmsync.contract import Capability, ChangePage, Cursor
from crmsync.plugins import Connection
from crmsync.testing.kit._base import (
    ContractBase,
    FeedRead,
    broke,
    check,
    comparable,
    far_future,
    frozen,
    optional,
    read_feed,
    requires,
    seed,
)
from crmsync.testing.kit._sandbox import Sandbox


def _read(
    connection: Connection, sandbox: Sandbox, cursor: Cursor | None, fields: list[str]
) -> FeedRead:
    return read_feed(
        connection,
        sandbox.object_name,
        cursor=cursor,
        page_size=sandbox.page_size,
        fields=fields,
    )


def _exactly_once(read: FeedRead, expected: list[str], rule: str) -> None:
    counts = Counter(read.ids)
    missing = [record_id for record_id in expected if counts[record_id] == 0]
    repeated = sorted(record_id for record_id, n in counts.items() if n > 1)
    check(
        not missing and not repeated,
        rule,
        f"missing: {missing}\nreturned more than once: {repeated}\n"
        f"pages: {[[r.record_id for r in p.records] for p in read.pages]}",
    )


def _position_problems(passed: Cursor | None, page: ChangePage) -> list[str]:
    """Why ``page.cursor`` is not at or after both ``passed`` and the page's last
    record."""
    problems: list[str] = []
    if not comparable(page.cursor):
        return problems
    if comparable(passed) and page.cursor.sort_key() < passed.sort_key():  # type: ignore[union-attr]
        problems.append(f"cursor {page.cursor} is before the cursor passed in {passed}")
    keys = [(r.modified_at, r.record_id) for r in page.records]
    keys += [(t.deleted_at, t.record_id) for t in page.tombstones]
    if keys and page.cursor.sort_key() < max(keys):
        problems.append(
            f"cursor {page.cursor} is before the page's last record {max(keys)}"
        )
    return problems


class FeedChecks(ContractBase):
    """``fetch_changed`` against seeded records."""

    def test_full_fetch_returns_each_record_once(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        ids = seed(sandbox, sandbox.page_size * 3 + 1)
        read = _read(connection, sandbox, None, field_names)
        check(
            len(read.pages) > 1,
            "fetch_changed honours page_size",
            f"page_size={sandbox.page_size} gave one page of {len(read.ids)} records",
        )
        _exactly_once(read, ids, "a full fetch returns every record exactly once")
        found = set(read.record_ids)
        check(set(ids) <= found, "live records are returned as records, not tombstones")
        keys = [(r.modified_at, r.record_id) for p in read.pages for r in p.records]
        check(
            keys == sorted(keys),
            "the feed is ordered by (modified_at, record_id)",
            f"order was {keys}",
        )

    def test_fetch_returns_only_requested_fields(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        seed(sandbox, 1)
        wanted = field_names[:2]
        read = _read(connection, sandbox, None, wanted)
        for page in read.pages:
            for record in page.records:
                check(
                    set(record.values) <= set(wanted),
                    "records carry only the requested fields in values",
                    f"asked {wanted}, got {sorted(record.values)}",
                )

    def test_fetch_from_cursor_returns_exactly_later_changes(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        seed(sandbox, 2)
        position = _read(connection, sandbox, None, field_names).cursor
        sandbox.advance_clock(1.0)
        later = seed(sandbox, sandbox.page_size * 2 + 1)
        read = _read(connection, sandbox, position, field_names)
        check(
            set(read.ids) == set(later),
            "a fetch from a cursor returns exactly the records changed after it",
            f"expected {later}\ngot {read.ids}",
        )
        _exactly_once(read, later, "a fetch from a cursor returns each change once")

    def test_ties_across_a_page_boundary(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        seed(sandbox, 1)
        position = _read(connection, sandbox, None, field_names).cursor
        sandbox.advance_clock(1.0)
        with frozen(sandbox):
            tied = seed(sandbox, sandbox.page_size * 2 + 1)
        sandbox.advance_clock(1.0)
        after = seed(sandbox, 1)
        read = _read(connection, sandbox, position, field_names)
        moments = {
            r.modified_at for p in read.pages for r in p.records if r.record_id in tied
        }
        check(
            len(moments) == 1,
            "sandbox.freeze_clock() gives seeded records one time",
            f"the tied records came back with {len(moments)} different times",
        )
        _exactly_once(
            read,
            tied + after,
            "records sharing one modification time across a page boundary are "
            "returned exactly once (ties broken by record_id)",
        )
        # Resume a new read from each cursor inside the tie group.
        for index, page in enumerate(read.pages[:-1]):
            rest = _read(connection, sandbox, page.cursor, field_names)
            expected = [
                i
                for p in read.pages[index + 1 :]
                for i in [r.record_id for r in p.records]
                + [t.record_id for t in p.tombstones]
            ]
            check(
                sorted(rest.ids) == sorted(expected),
                "resuming from a cursor inside a group of tied records loses and "
                "repeats nothing",
                f"from {page.cursor}: expected {expected}, got {rest.ids}",
            )

    def test_resume_from_every_cursor(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        ids = seed(sandbox, sandbox.page_size * 3)
        full = _read(connection, sandbox, None, field_names)
        _exactly_once(full, ids, "a full fetch returns every record exactly once")
        seen: list[str] = []
        for page in full.pages[:-1]:
            seen += [r.record_id for r in page.records] + [
                t.record_id for t in page.tombstones
            ]
            rest = _read(connection, sandbox, page.cursor, field_names)
            expected = [i for i in full.ids if i not in seen]
            gap = [i for i in expected if i not in rest.ids]
            again = [i for i in rest.ids if i in seen]
            check(
                not gap and not again,
                "resuming from any page's cursor leaves no gap and no duplicate",
                f"from {page.cursor}: missing {gap}, repeated {again}",
            )

    def test_cursors_never_go_backwards(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        seed(sandbox, sandbox.page_size * 2 + 1)
        full = _read(connection, sandbox, None, field_names)
        problems: list[str] = []
        passed: Cursor | None = None
        for page in full.pages:
            problems += _position_problems(passed, page)
            passed = page.cursor
        # A read from the middle, and one from the end (an empty page keeps its
        # position).
        middle = full.pages[0].cursor
        for start in (middle, full.cursor):
            for page in _read(connection, sandbox, start, field_names).pages:
                problems += _position_problems(start, page)
        check(
            not problems,
            "a page's cursor is never before the cursor passed in nor "
            "before its own last record",
            "\n".join(problems),
        )

    def test_future_cursor_returns_nothing(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        seed(sandbox, 2)
        full = _read(connection, sandbox, None, field_names)
        future = Cursor(modified_at=far_future(full))
        read = _read(connection, sandbox, future, field_names)
        check(not read.ids, "a cursor in the future returns nothing", f"got {read.ids}")
        check(
            read.cursor is not None and read.cursor.sort_key() >= future.sort_key(),
            "a page's cursor is never before the cursor passed in",
            f"passed {future}, got {read.cursor}",
        )

    def test_deletions_are_reported(
        self, connection: Connection, sandbox: Sandbox, field_names: list[str]
    ) -> None:
        requires(connection, Capability.DELETIONS)
        ids = seed(sandbox, 3)
        position = _read(connection, sandbox, None, field_names).cursor
        sandbox.advance_clock(1.0)
        optional(lambda: sandbox.delete(sandbox.object_name, ids[1]))
        read = _read(connection, sandbox, position, field_names)
        if ids[1] not in read.tombstone_ids:
            broke(
                "a connector declaring 'deletions' reports a deleted record as a "
                "tombstone",
                f"deleted {ids[1]}; tombstones {read.tombstone_ids}, "
                f"records {read.record_ids}",
            )
        check(
            ids[1] not in read.record_ids,
            "a deleted record is not returned as a record",
        )
