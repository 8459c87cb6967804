"""Reads of every integration at once take a fixed number of statements, whatever the
number of integrations; link counts come from the counts kept with the links."""

from __future__ import annotations

from sqlalchemy import event

from crmsync import operations as ops
from crmsync.store import LinkRow, stored_id


def _statements(ws: ops.Workspace, read) -> tuple[object, int]:
    store = ws.existing_store()
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(store.database.engine, "before_cursor_execute", count)
    try:
        answer = read(ws)
    finally:
        event.remove(store.database.engine, "before_cursor_execute", count)
    return answer, len(seen)


def test_listing_integrations_reads_the_same_whatever_their_number(world):
    world.create("a0")
    ws = world.workspace()
    one_list = _statements(ws, ops.list_integrations)[1]
    one_overview = _statements(ws, ops.integrations_overview)[1]
    for n in range(1, 6):
        world.create(f"a{n}")
        ops.add_mapping(
            ws, f"a{n}", ops.MappingSpec(platform_field="email", crm_field="Email")
        )
    listed, many_list = _statements(ws, ops.list_integrations)
    overview, many_overview = _statements(ws, ops.integrations_overview)
    assert [i.name for i in listed] == [f"a{n}" for n in range(6)]
    assert [len(i.object_pairs[0].mappings) for i in listed] == [0] + [1] * 5
    assert (many_list, many_overview) == (one_list, one_overview)
    assert [row.name for row in overview] == [f"a{n}" for n in range(6)]


def test_the_overview_counts_links_per_integration(world):
    world.create("acme")
    world.create("other")
    ws = world.workspace()
    store = ws.existing_store()
    acme = stored_id(store.config.get_integration("acme"))
    with store.database.transaction() as tx:
        store.links.upsert(
            tx,
            acme,
            [
                LinkRow(None, "prospect", f"P{n}", "Lead", f"L{n}", {}, None, None)
                for n in range(3)
            ],
        )
    links = {row.name: row.links for row in ops.integrations_overview(ws)}
    assert links == {"acme": 3, "other": 0}
    assert ops.integration_status(ws, "acme").links == 3


def test_one_run_is_read_by_its_id_and_refusals_are_typed(mapped):
    import pytest

    from crmsync.errors import Conflict, IntegrationActive, NotFound

    ws = mapped.workspace()
    ops.resume_integration(ws, "acme")
    first = ops.run_cycle(ws, "acme")
    second = ops.run_cycle(ws, "acme")
    assert ops.get_run(ws, "acme", first.run_id).id == first.run_id
    assert ops.get_run(ws, "acme", second.run_id).status == second.status
    with pytest.raises(NotFound) as missing:
        ops.get_run(ws, "acme", 999)
    assert missing.value.field == "run_id" and "no run 999" in str(missing.value)
    with pytest.raises(NotFound) as unknown:
        ops.get_run(ws, "nope", first.run_id)
    assert unknown.value.field == "name"
    # A run of another integration is not this one's.
    mapped.create("other")
    with pytest.raises(NotFound):
        ops.get_run(ws, "other", first.run_id)
    with pytest.raises(IntegrationActive) as active:
        ops.add_mapping(
            ws, "acme", ops.MappingSpec(platform_field="company", crm_field="Company")
        )
    assert isinstance(active.value, Conflict) and "pause" in str(active.value)
    with pytest.raises(Conflict, match="already exists") as taken:
        mapped.create("other")
    assert taken.value.field == "name"
