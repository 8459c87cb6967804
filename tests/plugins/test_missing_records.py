"""``Connection.missing_records``: one batch per call, answers checked against the
question, and whether the connector implements the hook at all."""

from __future__ import annotations

import pytest

from crmsync.contract import hookimpl
from crmsync.errors import ContractError
from crmsync.plugins import Connection, InstalledConnector, RetryPolicy, describe
from crmsync.testing.memory import MemoryBackend, MemoryConnector, MemorySettings


def _connection(
    backend: MemoryBackend, *plugins: object, factory: type = MemoryConnector
) -> Connection:
    description = describe("memory", factory)
    return Connection(
        InstalledConnector("memory", factory, description, None, None),
        MemorySettings(),
        retry=RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.01),
        factory_kwargs={"backend": backend},
        sleep=lambda seconds: None,
        extra_plugins=list(plugins),
    )


def _seed(backend: MemoryBackend, count: int) -> list[str]:
    return [
        backend.put("Lead", {"Email": f"p{i}@x.io", "LastName": "L", "Company": "C"})
        for i in range(count)
    ]


class AnswersStrangers:
    @hookimpl(wrapper=True)
    def missing_records(self, record_ids):
        answer = yield
        return [*answer, "NOT-ASKED"]


def test_deleted_and_purged_ids_are_answered_in_the_order_asked():
    backend = MemoryBackend()
    ids = _seed(backend, 4)
    backend.delete("Lead", ids[3])
    backend.purge("Lead", ids[1])
    connection = _connection(backend)
    assert connection.missing_records("Lead", ids) == [ids[1], ids[3]]
    assert connection.stats.calls["missing_records"] == 1


def test_an_answer_naming_an_id_not_asked_is_a_contract_error():
    backend = MemoryBackend()
    ids = _seed(backend, 2)
    connection = _connection(backend, AnswersStrangers())
    with pytest.raises(ContractError, match="not asked about: NOT-ASKED"):
        connection.missing_records("Lead", ids)


def test_a_batch_past_the_declared_size_is_refused_before_any_call():
    backend = MemoryBackend()
    connection = _connection(backend)
    size = connection.description.missing_records_batch_size
    with pytest.raises(ContractError, match="missing_records_batch_size"):
        connection.missing_records("Lead", [f"L{i}" for i in range(size + 1)])
    assert backend.calls.get("missing_records", 0) == 0


class Wrapped(MemoryConnector):
    missing_records = None  # not a hook implementation


def test_implements_counts_the_connector_not_the_cores_wrappers():
    backend = MemoryBackend()
    assert _connection(backend).implements("missing_records")
    assert not _connection(backend, AnswersStrangers(), factory=Wrapped).implements(
        "missing_records"
    )
