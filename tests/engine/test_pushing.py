"""Pushes run in the background while the engine decides; their results are applied by
the engine's own thread, and nothing pushed is lost when a push stops the cycle.
"""

from __future__ import annotations

import threading

from structlog.testing import capture_logs

from crmsync.contract import hookimpl
from crmsync.errors import OutcomeUnknown, QuotaExhausted
from crmsync.models import CreationMode, CreationRule

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


class QuotaSpentAfter:
    """The vendor's daily allocation runs out after ``calls`` write calls."""

    def __init__(self, calls: int) -> None:
        self.left = calls
        self.lock = threading.Lock()

    @hookimpl(wrapper=True)
    def push_updates(self, object_name, requests):
        with self.lock:
            self.left -= 1
            spent = self.left < 0
        if spent:
            raise QuotaExhausted("daily API allocation spent", connector="memory")
        return (yield)


class AnswerLost:
    """The vendor carries out the next ``calls`` write calls, but their answers never
    arrive (a read timeout after the commit)."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    @hookimpl(wrapper=True)
    def push_updates(self, object_name, requests):
        results = yield
        if self.left > 0:
            self.left -= 1
            raise OutcomeUnknown("answer lost", connector="memory")
        return results


def seed_prospects(world, count: int) -> None:
    world.platform.store.insert(
        {"email": f"p{n}@x.io", "last_name": f"P{n}", "company": "Acme"}
        for n in range(count)
    )


def test_writes_that_answered_before_a_spent_quota_are_recorded(make_world):
    # 1,000 creates; the memory CRM takes batches of 200, two at a time, so the
    # engine sends flushes of 400 (two calls each) while it decides on. The quota runs
    # out after the third call, in the middle of the second flush: the batch of that
    # flush that went through must be recorded and linked, not lost with its sibling,
    # and the rest created next time, once.
    world = make_world(create_in_crm=CREATE_ALL)
    seed_prospects(world, 1000)
    world.extra_plugins.append(QuotaSpentAfter(calls=3))

    stopped = world.cycle()

    assert stopped.status == "stopped", stopped.counts()
    assert stopped.crm.created == 600
    assert len(world.crm.live("Lead")) == 600
    with world.store.database.transaction() as tx:
        assert world.store.links.count(tx, world.integration.id) == 600

    world.extra_plugins.clear()
    world.clock.advance()
    resumed = world.cycle()
    assert resumed.crm.created == 400, resumed.counts()
    assert len(world.crm.live("Lead")) == 1000
    world.clock.advance()
    assert world.cycle().writes == 0


def test_the_state_store_is_used_only_from_the_engines_thread(make_world, monkeypatch):
    world = make_world(create_in_crm=CREATE_ALL, create_in_platform=CREATE_ALL)
    seed_prospects(world, 450)
    for n in range(450):
        world.lead({"Email": f"l{n}@x.io", "LastName": f"L{n}", "Company": "Initech"})
    threads: set[str] = set()
    transaction = world.store.database.transaction

    def watched():
        threads.add(threading.current_thread().name)
        return transaction()

    monkeypatch.setattr(world.store.database, "transaction", watched)

    report = world.cycle()

    assert report.crm.created == 450 and report.platform.created == 450
    assert threads == {threading.current_thread().name}


def test_creates_whose_answer_was_lost_are_found_not_created_again(
    make_world, database_url
):
    world = make_world(create_in_crm=CREATE_ALL, url=database_url)
    seed_prospects(world, 3)
    world.extra_plugins.append(AnswerLost(calls=1))

    lost = world.cycle()

    # Not repeated by the core's retries: a repeated create would duplicate them.
    assert world.crm.calls["push_updates"] == 1
    assert lost.status == "partial" and lost.crm.failed == 3, lost.counts()
    assert len(world.crm.live("Lead")) == 3
    codes = {e.code for e in world.store.history.open_errors(world.integration.id)}
    assert codes == {"OUTCOME_UNKNOWN"}
    with world.store.database.transaction() as tx:
        assert world.store.pending.any(tx, world.integration.id)

    world.clock.advance()
    found = world.cycle()

    assert found.linked == 3 and found.crm.created == 0, found.counts()
    assert len(world.crm.live("Lead")) == 3
    # Linked without a write, the records' errors are resolved all the same.
    assert world.store.history.open_errors(world.integration.id) == []
    with world.store.database.transaction() as tx:
        assert not world.store.pending.any(tx, world.integration.id)
        assert world.store.links.count(tx, world.integration.id) == 3


def test_a_cycle_that_lost_its_lease_pushes_nothing_more(make_world, database_url):
    # While cycle A reads its last feed, its lease runs out and another process takes
    # it (A stalled past the lease). A must not push what it then decides: the other
    # process is running the same work.
    world = make_world(create_in_crm=CREATE_ALL, url=database_url)
    seed_prospects(world, 3)

    class AnotherProcessTakesTheLease:
        armed = True

        @hookimpl(wrapper=True)
        def fetch_changed(self, object_name, fields, cursor, page, page_size):
            if self.armed and object_name == "Lead":
                self.armed = False
                with world.store.database.transaction() as tx:
                    tx.exec_driver_sql(
                        "UPDATE leases SET expires_at = '2000-01-01 00:00:00'"
                    )
                assert world.store.leases.acquire(world.integration.id, "other", 3600)
            return (yield)

    world.extra_plugins.append(AnotherProcessTakesTheLease())
    stalled = world.engine()
    world.extra_plugins.clear()
    report = stalled.run_cycle()

    assert report.status == "failed" and "lost its lease" in (report.message or "")
    assert world.crm.live("Lead") == []  # nothing pushed
    world.store.leases.release(world.integration.id, "other")
    world.clock.advance()
    assert world.cycle().crm.created == 3
    assert len(world.crm.live("Lead")) == 3


def test_a_stop_asked_while_pushes_wait_sends_no_more_batches(make_world):
    # Ctrl-C while the vendor is slow: the batches being sent finish and are recorded;
    # those not sent yet are not sent at all, and the next cycle does them, once.
    world = make_world(create_in_crm=CREATE_ALL)
    seed_prospects(world, 1500)
    pressed = threading.Event()  # the operator pressed Ctrl-C
    both_sending = threading.Barrier(2)  # the CRM takes two batches at once
    cancelled = threading.Event()  # the engine cancelled the batches not yet sent
    sent: list[int] = []

    class SlowVendor:
        @hookimpl(wrapper=True)
        def push_updates(self, object_name, requests):
            sent.append(len(requests))
            both_sending.wait(timeout=20)
            pressed.set()  # while both threads push the first flush...
            # ...which answers only once the engine has cancelled the rest. One chunk
            # fills three flushes (400 writes each), so the engine is waiting for the
            # first to make room for the third: that wait must ask whether to stop.
            # (The timeouts only turn a hang into a failure.)
            assert cancelled.wait(timeout=20), "the engine waited without asking"
            return (yield)

    def on_cancel(logger, method, event):
        if event["event"] == "stop_cancelled_batches":
            cancelled.set()
        return event

    world.extra_plugins.append(SlowVendor())
    stopping = world.engine(should_stop=pressed.is_set, chunk_size=1500)
    world.extra_plugins.clear()
    with capture_logs(processors=[on_cancel]):
        report = stopping.run_cycle()

    assert report.status == "stopped", report.counts()
    assert sent == [200, 200] and report.crm.created == 400
    assert len(world.crm.live("Lead")) == 400
    world.clock.advance()
    assert world.cycle().crm.created == 1100
    assert len(world.crm.live("Lead")) == 1500


def test_a_lost_create_is_found_by_its_earlier_key_after_the_key_changed(
    make_world, database_url
):
    # The create went through but its answer was lost; before the next cycle the
    # prospect's email changes. The lead made with the old email is linked (and gets
    # the new email), not created a second time.
    world = make_world(create_in_crm=CREATE_ALL, url=database_url)
    (pid,) = world.platform.store.insert(
        [{"email": "old@x.io", "last_name": "P", "company": "Acme"}]
    )
    world.extra_plugins.append(AnswerLost(calls=1))
    world.cycle()
    world.extra_plugins.clear()
    (lead,) = world.crm.live("Lead")
    world.clock.advance()
    world.prospect({"email": "new@x.io"}, record_id=pid)
    world.clock.advance()

    report = world.cycle()

    assert report.crm.created == 0 and report.linked == 1, report.counts()
    assert world.crm.live("Lead") == [lead]
    assert world.crm.get("Lead", lead)["Email"] == "new@x.io"
