"""A paged lookup is read page by page, and a fault retries its page, not the lookup."""

from __future__ import annotations

import pytest

from crmsync.contract import ChangedRecord, RecordPage, hookimpl
from crmsync.errors import ContractError, TransientError
from crmsync.plugins import Connection, InstalledConnector, RetryPolicy, describe
from crmsync.testing.memory import MemoryBackend, MemoryConnector, MemorySettings


def _connection(backend: MemoryBackend, *plugins: object) -> Connection:
    description = describe("memory", MemoryConnector)
    return Connection(
        InstalledConnector("memory", MemoryConnector, description, None, None),
        MemorySettings(),
        retry=RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.01),
        factory_kwargs={"backend": backend},
        sleep=lambda seconds: None,
        extra_plugins=list(plugins),
    )


class FailOnce:
    """Fails the ``nth`` lookup call, once, as a dropped connection would."""

    def __init__(self, nth: int) -> None:
        self.nth, self.calls = nth, 0
        self.pages: list[str | None] = []

    @hookimpl(wrapper=True)
    def lookup_records(self, page):
        self.calls += 1
        self.pages.append(page)
        if self.calls == self.nth:
            raise TransientError("connection reset", connector="memory")
        return (yield)


def _seed(backend: MemoryBackend, count: int) -> None:
    for index in range(count):
        backend.put(
            "Lead", {"Email": f"p{index}@x.io", "LastName": "L", "Company": "C"}
        )


def test_a_fault_on_page_three_retries_page_three_only():
    backend = MemoryBackend(lookup_page_size=2)
    _seed(backend, 5)
    failing = FailOnce(nth=3)
    connection = _connection(backend, failing)
    emails = [f"p{index}@x.io" for index in range(5)]

    found = connection.lookup_records(
        "Lead", field="Email", values=emails, fields=["Email"]
    )

    assert sorted(r.values["Email"] for r in found) == sorted(emails)
    # Pages: first, second, third (fails), third again. Never the first twice.
    assert failing.pages == [None, "2", "4", "4"]


def test_an_unpaged_answer_is_returned_whole():
    backend = MemoryBackend()
    _seed(backend, 3)
    found = _connection(backend).lookup_records(
        "Lead", field="Email", values=["p0@x.io", "p2@x.io"], fields=["Email"]
    )
    assert len(found) == 2 and all(isinstance(r, ChangedRecord) for r in found)


class LoopingPages:
    @hookimpl(tryfirst=True)
    def lookup_records(self, page):
        return RecordPage(records=(), next_page="again")


def test_a_page_token_answered_twice_is_a_contract_error():
    connection = _connection(MemoryBackend(), LoopingPages())
    with pytest.raises(ContractError, match="would never end"):
        connection.lookup_records("Lead", field="Email", values=["a"], fields=[])
