"""Batching writes: fill full batches, push them with the connector's concurrency."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from crmsync.contract.models import RecordError, WriteRequest, WriteResult
from crmsync.engine._units import Unit
from crmsync.errors import ConnectorError, ContractError
from crmsync.models import Side
from crmsync.plugins import Connection


@dataclass(slots=True)
class QueuedWrite:
    request: WriteRequest
    unit: Unit
    side: Side


def push_batches(
    connection: Connection, object_name: str, queued: Sequence[QueuedWrite]
) -> list[tuple[QueuedWrite, WriteResult]]:
    """Push ``queued`` in batches of the connector's size, at most its concurrency at
    once.

    A batch whose call fails after the core's retries is answered as failed record by
    record (retryable if the failure was), so one bad batch never stops the cycle.
    """
    size = connection.description.max_batch_size
    batches = [
        list(queued[start : start + size]) for start in range(0, len(queued), size)
    ]

    def push(batch: list[QueuedWrite]) -> list[tuple[QueuedWrite, WriteResult]]:
        requests = [item.request for item in batch]
        try:
            results = connection.push_updates(object_name, requests)
        except (ConnectorError, ContractError) as error:
            if not _record_level(error):
                raise
            code = getattr(error, "code", type(error).__name__)
            failure = RecordError(
                code=str(code),
                message=str(error),
                field=getattr(error, "field", None),
                retryable=getattr(error, "retryable", False),
            )
            results = [
                WriteResult(ref=r.ref, ok=False, error=failure) for r in requests
            ]
        return list(zip(batch, results, strict=True))

    workers = min(connection.description.max_concurrency, len(batches))
    if workers <= 1:
        return [pair for batch in batches for pair in push(batch)]
    with ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="crmsync-push"
    ) as pool:
        answered = list(pool.map(push, batches))
    return [pair for batch in answered for pair in batch]


def _record_level(error: Exception) -> bool:
    """Errors that fail the batch's records but not the cycle (others stop it)."""
    from crmsync.errors import AuthenticationFailed, QuotaExhausted

    return not isinstance(error, AuthenticationFailed | QuotaExhausted)


class WriteQueue:
    """Writes waiting for a full batch, per (side, object, operation)."""

    def __init__(
        self,
        flush: Callable[[Side, str, list[QueuedWrite]], None],
        threshold: Callable[[Side], int],
    ) -> None:
        self._queues: dict[tuple[Side, str, str], list[QueuedWrite]] = {}
        self._flush = flush
        self._threshold = threshold

    def add(self, side: Side, object_name: str, item: QueuedWrite) -> None:
        key = (side, object_name, item.request.op)
        queue = self._queues.setdefault(key, [])
        queue.append(item)
        if len(queue) >= self._threshold(side):
            self._queues[key] = []
            self._flush(side, object_name, queue)

    def flush_all(self) -> None:
        for key in list(self._queues):
            queue = self._queues.pop(key)
            if queue:
                self._flush(key[0], key[1], queue)

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())
