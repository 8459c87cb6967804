"""Checks of ``missing_records``: ids answered as missing really are gone, and a
record that exists is never answered.

The hook is optional (contract 1.2): a connector that does not implement it has these
checks skipped. One that does is asked about records the sandbox seeded, deleted and
purged, through the framework's :class:`~crmsync.plugins.Connection` (which refuses an
answer naming ids it was not asked about), and with a full batch of the size its
description declares.
"""

from __future__ import annotations

import pytest

from crmsync.plugins import Connection
from crmsync.testing.kit._base import ContractBase, check, optional, seed
from crmsync.testing.kit._sandbox import Sandbox

HOOK = "missing_records"
FULL_BATCH_CAP = 500  # records the full-batch check seeds at most


def _requires_hook(connection: Connection) -> None:
    if not connection.implements(HOOK):
        pytest.skip(f"{connection.id} does not implement {HOOK} (optional since 1.2)")


class MissingChecks(ContractBase):
    """``missing_records`` against seeded, deleted and purged records."""

    def test_missing_records_answers_deleted_and_not_live(
        self, connection: Connection, sandbox: Sandbox
    ) -> None:
        _requires_hook(connection)
        ids = seed(sandbox, 3)
        sandbox.advance_clock(1.0)
        optional(lambda: sandbox.delete(sandbox.object_name, ids[1]))
        answer = connection.missing_records(sandbox.object_name, ids)
        check(
            ids[1] in answer,
            "missing_records answers a deleted record as missing",
            f"deleted {ids[1]}; answered {answer}",
        )
        live = sorted(set(answer) & {ids[0], ids[2]})
        check(
            not live,
            "missing_records never answers a record that exists",
            f"answered live records {live}",
        )

    def test_missing_records_answers_purged(
        self, connection: Connection, sandbox: Sandbox
    ) -> None:
        _requires_hook(connection)
        ids = seed(sandbox, 2)
        sandbox.advance_clock(1.0)
        optional(lambda: sandbox.purge(sandbox.object_name, ids[0]))
        answer = connection.missing_records(sandbox.object_name, ids)
        check(
            sorted(answer) == [ids[0]],
            "missing_records answers a deleted and purged record as missing, and "
            "only it",
            f"purged {ids[0]}, kept {ids[1]}; answered {answer}",
        )

    def test_missing_records_takes_a_full_batch(
        self, connection: Connection, sandbox: Sandbox
    ) -> None:
        _requires_hook(connection)
        size = connection.description.missing_records_batch_size
        ids = seed(sandbox, min(size, FULL_BATCH_CAP))
        answer = connection.missing_records(sandbox.object_name, ids)
        check(
            not answer,
            "missing_records accepts a batch of missing_records_batch_size ids and "
            "answers none of them when all exist",
            f"{len(ids)} live ids; answered {answer[:10]}",
        )
