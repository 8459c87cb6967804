"""The engine as named collaborators over one cycle context: each works alone on a
context, and ``SyncEngine`` itself is an orchestrator with no mixins (no aggregate
through ``self`` to regrow)."""

from __future__ import annotations

import importlib.util
import inspect

import crmsync.engine as engine_package
from crmsync.engine import CycleReport, SyncEngine
from crmsync.engine._books import Bookkeeper
from crmsync.engine._context import CycleContext
from crmsync.engine._feeds import FeedReader
from crmsync.engine._intents import Intents
from crmsync.engine._linking import Linker
from crmsync.engine._matching import Matcher
from crmsync.engine._pushing import Writer
from crmsync.engine._settling import Settler
from crmsync.engine._writes import QueuedWrite, WriteQueue
from crmsync.models import CRM, PLATFORM, CreationMode, CreationRule, Side
from crmsync.settings import CrmsyncSettings

COLLABORATORS = (Bookkeeper, FeedReader, Intents, Linker, Matcher, Settler, Writer)
ENGINE_MODULES = (
    "cycle",
    "_books",
    "_context",
    "_feeds",
    "_intents",
    "_linking",
    "_matching",
    "_pushing",
    "_reconcile",
    "_seen",
    "_settling",
    "_units",
    "_writes",
)


def _context(world) -> CycleContext:
    """A cycle's context as SyncEngine builds one, over the world's store."""
    platform, crm = world.connections()
    for connection in (platform, crm):
        connection.authenticate()
    integration = world.store.config.get_integration(world.integration.name)
    assert integration.id is not None
    return CycleContext(
        store=world.store,
        integration=integration,
        iid=integration.id,
        connections={PLATFORM: platform, CRM: crm},
        settings=CrmsyncSettings(),
        report=CycleReport(integration.name),
        clock=world.clock.now,
        should_stop=lambda: False,
    )


def test_the_engine_is_an_orchestrator_without_mixins():
    assert SyncEngine.__mro__ == (SyncEngine, object)
    public = {name for name in dir(SyncEngine) if not name.startswith("_")}
    assert public == {"run_cycle"}
    assert importlib.util.find_spec("crmsync.engine._base") is None
    for name in ENGINE_MODULES:
        module = importlib.import_module(f"crmsync.engine.{name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                assert not cls_name.endswith("Mixin"), f"{name}.{cls_name}"
    assert engine_package.SyncEngine is SyncEngine


def test_the_engine_keeps_what_faces_and_workers_read(make_world):
    world = make_world()
    stop = lambda: False  # noqa: E731
    engine = world.engine(should_stop=stop, chunk_size=7, page_size=3)
    assert engine.store is world.store
    assert engine.integration.name == world.integration.name
    assert engine.iid == world.integration.id
    assert set(engine.connections) == {PLATFORM, CRM}
    assert engine.clock() == world.clock.now()
    assert engine.should_stop is stop
    assert (engine.chunk_size, engine.page_size) == (7, 3)
    assert isinstance(engine.settings, CrmsyncSettings)


def test_each_collaborator_is_built_from_a_context_alone(make_world):
    ctx = _context(make_world())
    for kind in COLLABORATORS:
        collaborator = kind(ctx)
        assert collaborator.ctx is ctx, kind.__name__
    # Those that use others share the one context: no state of their own to drift.
    settler = Settler(ctx)
    for part in (
        settler.books,
        settler.intents,
        settler.linker,
        settler.matcher,
        settler.writer,
    ):
        assert part.ctx is ctx


def test_a_feed_reader_alone_stages_a_feed_with_its_cursor(make_world):
    world = make_world()
    world.prospect({"email": "ada@x.io", "last_name": "Lovelace"})
    ctx = _context(world)

    FeedReader(ctx).read(PLATFORM, "prospect")

    assert ctx.full_read == {(PLATFORM, "prospect")}  # no cursor was saved before
    assert ctx.report.platform.read == 1
    with world.store.database.transaction() as tx:
        assert world.store.inbox.counts(tx, ctx.iid)["waiting"] == 1
        cursor, _ = world.store.cursors.get(tx, ctx.iid, "platform", "prospect")
    assert cursor is not None


def test_a_settler_alone_queues_a_create_and_records_it_pending(make_world):
    """The settler decides and queues; what it leaves for the writer (a create not
    sent yet) is in the context, its pending record in the store."""
    world = make_world(create_in_crm=CreationRule(mode=CreationMode.ALL))
    world.prospect({"email": "bo@x.io", "last_name": "Bo"})
    ctx = _context(world)
    FeedReader(ctx).read(PLATFORM, "prospect")
    queued: list[QueuedWrite] = []

    def flush(side: Side, object_name: str, items: list[QueuedWrite]) -> None:
        queued.extend(items)

    queue = WriteQueue(flush, lambda side: 1000)
    Settler(ctx).settle(PLATFORM, "prospect", queue)
    queue.flush_all()

    (write,) = queued
    assert (write.side, write.request.op) == (CRM, "create")
    assert write.request.values["Email"] == "bo@x.io"
    assert ctx.unsent_creates == {write.request.ref}
    assert ("platform", "prospect", write.unit.link.platform_id) in ctx.in_flight
    with world.store.database.transaction() as tx:
        assert world.store.pending.any(tx, ctx.iid)


def test_the_bookkeeper_alone_parks_a_row_for_the_rest_of_the_cycle(make_world):
    world = make_world()
    world.prospect({"email": "cy@x.io", "last_name": "Cy"})
    ctx = _context(world)
    FeedReader(ctx).read(PLATFORM, "prospect")
    with world.store.database.transaction() as tx:
        (row,) = world.store.inbox.chunk(tx, ctx.iid, "platform", "prospect", 0, 10)
        Bookkeeper(ctx).park(tx, row, "ambiguous match")

    assert ctx.skip_rows == {row.id}
    with world.store.database.transaction() as tx:
        counts = world.store.inbox.counts(tx, ctx.iid)
    assert counts["waiting"] == 0 and counts["parked"] == 1
