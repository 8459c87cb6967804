"""A feed's pages are staged a group at a time, each group with the cursor it reached:
a process killed between the pages of a group loses nothing and repeats nothing."""

from __future__ import annotations

import pytest

from crmsync.contract import hookimpl
from crmsync.models import CreationMode, CreationRule

CREATE_ALL = CreationRule(mode=CreationMode.ALL)


class Killed(BaseException):
    """kill -9 while a page is being fetched."""


class KillOnFetch:
    """Dies when the CRM feed's ``page``-th page is asked for."""

    def __init__(self, page: int) -> None:
        self.page, self.fetched = page, 0

    @hookimpl(wrapper=True)
    def fetch_changed(self, object_name, fields, cursor, page, page_size):
        if object_name == "Lead":
            self.fetched += 1
            if self.fetched == self.page:
                raise Killed
        return (yield)


def _five_leads(world):
    world.page_size = 2
    for n in range(5):
        world.lead({"Email": f"l{n}@x.io", "LastName": f"L{n}", "Company": "C"})
        world.clock.advance(1)
    world.clock.advance(3600)


def _staged(world) -> int:
    with world.store.database.transaction() as tx:
        return int(tx.exec_driver_sql("SELECT count(*) FROM inbox").scalar() or 0)


def _after_the_kill(world) -> None:
    world.extra_plugins.clear()
    world.store.leases.release(world.integration.id, owner="*")
    with (
        world.store.database.transaction() as tx
    ):  # what kill -9 leaves: the lease row too
        tx.exec_driver_sql("DELETE FROM leases")


@pytest.mark.parametrize(
    ("chunk_size", "staged_before_the_kill"),
    [
        (1000, 0),  # pages 1 and 2 wait in one group: neither staged, cursor kept
        (2, 4),  # a group per page: pages 1 and 2 staged with their cursor
    ],
)
def test_a_process_killed_between_pages_loses_and_repeats_nothing(
    make_world, database_url, chunk_size, staged_before_the_kill
):
    world = make_world(create_in_platform=CREATE_ALL, url=database_url)
    _five_leads(world)
    world.extra_plugins.append(KillOnFetch(page=3))

    with pytest.raises(Killed):
        world.engine(chunk_size=chunk_size).run_cycle()
    _after_the_kill(world)

    assert _staged(world) == staged_before_the_kill
    assert world.platform.live("prospect") == []
    report = world.engine(chunk_size=chunk_size).run_cycle()
    assert report.platform.created == 5, report.counts()
    assert len(world.platform.live("prospect")) == 5, "each lead created once"
    world.clock.advance()
    assert world.cycle().writes == 0


def test_a_stop_between_pages_stages_what_was_read(make_world):
    world = make_world(create_in_platform=CREATE_ALL)
    _five_leads(world)
    fetched = KillOnFetch(page=0)  # counts the pages, never kills
    world.extra_plugins.append(fetched)

    report = world.engine(should_stop=lambda: fetched.fetched >= 1).run_cycle()

    assert report.status == "stopped"
    assert fetched.fetched == 1 and _staged(world) == 2, "the page read is kept"
    world.extra_plugins.clear()
    world.clock.advance()
    assert world.cycle().platform.created == 5
    assert len(world.platform.live("prospect")) == 5
