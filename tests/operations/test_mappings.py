"""Mappings through the operations layer: the pause rule and the live-field checks."""

from __future__ import annotations

import pytest

from crmsync import operations as ops
from crmsync.errors import ConfigurationError, Conflict, MappingError
from crmsync.models import Direction


def test_add_checks_the_live_fields_and_stores_their_types(world):
    world.create()
    ws = world.workspace()
    changes = ops.add_mapping(
        ws, "acme", ops.MappingSpec(platform_field="email", crm_field="Email")
    )
    assert [(c.kind, str(c.pair)) for c in changes] == [
        ("add", "prospect:Contact"),
        ("add", "prospect:Lead"),
    ]
    with pytest.raises(MappingError, match=r"has no field 'Emial'.*did you mean Email"):
        ops.add_mapping(
            ws, "acme", ops.MappingSpec(platform_field="email", crm_field="Emial")
        )
    with pytest.raises(Conflict, match="already mapped") as duplicate:
        ops.add_mapping(
            ws, "acme", ops.MappingSpec(platform_field="email", crm_field="Email")
        )
    assert duplicate.value.field == "crm_field"
    assert "crmsync mapping update acme" in (duplicate.value.hint or "")


def test_mappings_change_only_while_paused(mapped):
    ws = mapped.workspace()
    ops.resume_integration(ws, "acme")
    spec = ops.MappingSpec(platform_field="phone", crm_field="Phone")
    for attempt in (
        lambda: ops.add_mapping(ws, "acme", spec),
        lambda: ops.edit_mapping(
            ws, "acme", ops.MappingEdit(platform_field="email", crm_field="Email")
        ),
        lambda: ops.delete_mapping(ws, "acme", "email", "Email"),
    ):
        with pytest.raises(MappingError, match="pause it first"):
            attempt()


def test_edit_keeps_what_it_does_not_name(world):
    world.create()
    ws = world.workspace()
    only_lead = [ops.PairRef(platform_object="prospect", crm_object="Lead")]
    ops.add_mapping(
        ws,
        "acme",
        ops.MappingSpec(
            platform_field="company",
            crm_field="Company",
            direction=Direction.TO_CRM,
            default="Unknown",
        ),
        only_lead,
    )
    (change,) = ops.edit_mapping(
        ws,
        "acme",
        ops.MappingEdit(platform_field="company", crm_field="Company"),
        only_lead,
    )
    assert change.old == change.new
    assert change.new is not None and change.new.default == "Unknown"
    (change,) = ops.edit_mapping(
        ws,
        "acme",
        ops.MappingEdit(
            platform_field="company", crm_field="Company", clear_default=True
        ),
        only_lead,
    )
    assert change.new is not None and change.new.default is None
    assert change.new.direction is Direction.TO_CRM


def test_a_mapping_document_is_planned_then_applied_whole(mapped, tmp_path):
    ws = mapped.workspace()
    integration = ops.get_integration(ws, "acme")
    document = ops.export_mappings(integration)
    assert ops.plan_mapping_file(ws, "acme", document).empty
    # Drop last_name everywhere and make email one-way on Contact.
    edited = document.model_copy(deep=True)
    for pair in edited.pairs:
        pair.mappings = [m for m in pair.mappings if m.platform_field != "last_name"]
        if pair.crm_object == "Contact":
            for m in pair.mappings:
                if m.platform_field == "email":
                    m.direction = Direction.TO_CRM
    plan = ops.plan_mapping_file(ws, "acme", edited)
    kinds = sorted(
        (c.kind, str(c.pair), (c.old or c.new).crm_field) for c in plan.changes
    )
    assert kinds == [
        ("change", "prospect:Contact", "Email"),
        ("delete", "prospect:Contact", "LastName"),
        ("delete", "prospect:Lead", "LastName"),
    ]
    ops.apply_mapping_plan(ws, plan)
    assert ops.plan_mapping_file(ws, "acme", edited).empty
    # And back again through a file on disk.
    path = tmp_path / "mappings.json"
    ops.write_mapping_file(integration, path)
    ops.apply_mapping_plan(
        ws, ops.plan_mapping_file(ws, "acme", ops.read_mapping_file(path))
    )
    assert ops.plan_mapping_file(ws, "acme", document).empty


def test_a_document_from_another_integration_is_refused(mapped):
    ws = mapped.workspace()
    document = ops.export_mappings(ops.get_integration(ws, "acme"))
    other = document.model_copy(update={"integration": "globex"})
    with pytest.raises(ConfigurationError, match="exported from integration 'globex'"):
        ops.plan_mapping_file(ws, "acme", other)
