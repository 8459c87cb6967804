"""Batching writes: fill full batches, push them with the connector's concurrency.

Pushes run in the background (:class:`Pusher`) while the engine decides the next chunk:
a cycle's wall time is then the larger of deciding and the vendor's answers, not their
sum. Results are applied by the engine's own thread, in the order the flushes were
made, so the state store is only ever touched from one thread.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass

from crmsync.contract.models import RecordError, WriteRequest, WriteResult
from crmsync.engine._units import Unit
from crmsync.errors import ConnectorError, ContractError, OutcomeUnknown
from crmsync.models import Side
from crmsync.plugins import Connection


@dataclass(slots=True)
class QueuedWrite:
    request: WriteRequest
    unit: Unit
    side: Side


Answered = list[tuple[QueuedWrite, WriteResult]]


def push_batch(
    connection: Connection, object_name: str, batch: Sequence[QueuedWrite]
) -> Answered:
    """Push one batch; each queued write paired with its result.

    A batch whose call fails after the core's retries is answered as failed record by
    record (retryable if the failure was), so one bad batch never stops the cycle.
    Errors that must stop the cycle (a spent quota, refused credentials) propagate.
    A call whose answer was lost (:class:`OutcomeUnknown`) was not repeated; its
    records may be tried again in a later cycle, after a lookup (``Writer.apply``
    keeps a create's pending record for that).
    """
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
            retryable=getattr(error, "retryable", False)
            or isinstance(error, OutcomeUnknown),
        )
        results = [WriteResult(ref=r.ref, ok=False, error=failure) for r in requests]
    return list(zip(batch, results, strict=True))


@dataclass(slots=True)
class _Flush:
    side: Side
    object_name: str
    batches: list[Future[Answered]]
    # What each batch carries, in the order of ``batches`` (to tell what a cancelled
    # batch did not send).
    items: list[list[QueuedWrite]]

    def cancel(self) -> list[QueuedWrite]:
        """Cancel the batches no thread has started; what they would have sent."""
        return [
            item
            for batch, items in zip(self.batches, self.items, strict=True)
            if batch.cancel()
            for item in items
        ]

    def done(self) -> bool:
        return all(batch.done() for batch in self.batches)


class Pusher:
    """Pushes flushes in the background, at most each connector's concurrency at once.

    :meth:`submit` returns at once; :meth:`finished` hands back flushes whose batches
    have all answered, oldest first. At most ``max_waiting`` flushes are in flight: a
    submit beyond that waits for the oldest, which bounds memory and keeps the engine
    from running ahead of a slow vendor.
    """

    def __init__(
        self, connections: dict[Side, Connection], *, max_waiting: int = 2
    ) -> None:
        self._connections = connections
        self._pools = {
            side: ThreadPoolExecutor(
                max_workers=max(1, connection.description.max_concurrency),
                thread_name_prefix=f"crmsync-push-{side.value}",
            )
            for side, connection in connections.items()
        }
        self._waiting: deque[_Flush] = deque()
        self.max_waiting = max_waiting
        # Writes that created nothing at the vendor: cancelled before a thread sent
        # them, or refused whole (a spent quota, refused credentials).
        self.unsent: list[QueuedWrite] = []

    def submit(
        self, side: Side, object_name: str, queued: Sequence[QueuedWrite]
    ) -> None:
        connection = self._connections[side]
        size = connection.description.max_batch_size
        pool = self._pools[side]
        items = [
            list(queued[start : start + size]) for start in range(0, len(queued), size)
        ]
        batches = [
            # Each batch carries the cycle's log context (integration, cycle, side)
            # into the pool's thread, so a retry logged there says whose it was.
            pool.submit(
                contextvars.copy_context().run,
                push_batch,
                connection,
                object_name,
                batch,
            )
            for batch in items
        ]
        self._waiting.append(_Flush(side, object_name, batches, items))

    def finished(self, *, wait: bool = False) -> Iterator[tuple[Side, str, Answered]]:
        """Flushes that have answered (``wait``: all of them), oldest first.

        A batch that raised (a spent quota, say) is re-raised here once the answers of
        its flush's other batches are handed back; the flushes after it stay waiting.
        """
        while self._waiting and (
            wait or len(self._waiting) > self.max_waiting or self._waiting[0].done()
        ):
            flush = self._waiting.popleft()
            answered: Answered = []
            error: BaseException | None = None
            for batch, items in zip(flush.batches, flush.items, strict=True):
                if batch.cancelled():  # never sent (a stop): its records wait in
                    continue  # the inbox for the next cycle
                try:
                    answered.extend(batch.result())
                except Exception as raised:
                    if not _record_level(raised):  # refused whole: nothing made
                        self.unsent.extend(items)
                    error = error or raised
            yield flush.side, flush.object_name, answered
            if error is not None:
                raise error

    def wait_for_oldest(self, timeout: float, *, wait: bool = True) -> bool:
        """Whether :meth:`finished` would return without waiting for an answer
        (``wait``: of any flush; else, of one beyond ``max_waiting``); if not, first
        wait up to ``timeout`` seconds for the oldest flush."""

        def ready() -> bool:
            if wait:
                return all(flush.done() for flush in self._waiting)
            return len(self._waiting) <= self.max_waiting or self._waiting[0].done()

        if ready():
            return True
        wait_futures(self._waiting[0].batches, timeout=timeout)
        return ready()

    def cancel_unsent(self) -> list[QueuedWrite]:
        """Cancel the batches no thread has started: they are not sent at all. Returns
        what they held."""
        cancelled = [item for flush in self._waiting for item in flush.cancel()]
        self.unsent.extend(cancelled)
        return cancelled

    def abandon(self) -> list[QueuedWrite]:
        """Wait for whatever is still being pushed, then stop the threads.

        For a cycle that ends in an error: the answers are dropped, which is safe (an
        update pushed but not recorded is re-read and found in agreement; a create is
        still recorded as pending and is found, not created twice).
        """
        unsent = [item for flush in self._waiting for item in flush.cancel()]
        self.unsent.extend(unsent)
        self._waiting.clear()
        self.close()
        return unsent

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)


class SimulatedPusher(Pusher):
    """A dry run's pusher: answers every write as the vendor would on success, and
    calls no connector.

    Creates get ids of the form ``dry-run:<side>:<n>`` and every write the cycle's clock
    as its modification time, so the rest of the dry run (links, baselines, the records
    that follow) goes exactly as the real run's would.
    """

    def __init__(
        self,
        connections: dict[Side, Connection],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._connections = connections
        self._pools = {}
        self._waiting = deque()
        self.max_waiting = 0
        self.unsent = []
        self._clock = clock
        self._created = itertools.count(1)

    def submit(
        self, side: Side, object_name: str, queued: Sequence[QueuedWrite]
    ) -> None:
        answered: Answered = []
        now = self._clock()
        for item in queued:
            request = item.request
            record_id = (
                f"dry-run:{side.value}:{next(self._created)}"
                if request.op == "create"
                else request.record_id
            )
            answered.append(
                (
                    item,
                    WriteResult(
                        ref=request.ref, ok=True, record_id=record_id, modified_at=now
                    ),
                )
            )
        done: Future[Answered] = Future()
        done.set_result(answered)
        self._waiting.append(_Flush(side, object_name, [done], [list(queued)]))


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
        self._thresholds: dict[Side, int] = {}

    def add(self, side: Side, object_name: str, item: QueuedWrite) -> None:
        key = (side, object_name, item.request.op)
        queue = self._queues.setdefault(key, [])
        queue.append(item)
        threshold = self._thresholds.get(side)
        if threshold is None:
            threshold = self._thresholds[side] = self._threshold(side)
        if len(queue) >= threshold:
            self._queues[key] = []
            self._flush(side, object_name, queue)

    def flush_all(self) -> None:
        for key in list(self._queues):
            queue = self._queues.pop(key)
            if queue:
                self._flush(key[0], key[1], queue)

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())
