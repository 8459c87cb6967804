"""Integrations through the operations layer: the checks every face shares."""

from __future__ import annotations

import pytest

from crmsync import operations as ops
from crmsync.errors import ConfigurationError, MappingError
from crmsync.models import CreationMode, SourceOfTruth


def test_create_makes_a_paused_integration_with_the_default_pairs(world):
    world.create()
    integration = ops.get_integration(world.workspace(), "acme")
    assert not integration.active
    assert [
        (p.platform_object, p.crm_object) for p in integration.pairs_in_match_order()
    ] == [("prospect", "Contact"), ("prospect", "Lead")]
    # Creates target the last pair in match order (the policy's default).
    assert integration.create_in_crm.target_object == "Lead"
    assert integration.create_in_platform.target_object == "prospect"
    assert integration.platform_settings == {"path": str(world.platform_path)}


def test_create_with_one_pair_targets_that_pair(world):
    world.create(pairs=(ops.PairRef(platform_object="prospect", crm_object="Contact"),))
    integration = ops.get_integration(world.workspace(), "acme")
    assert integration.create_in_crm.target_object == "Contact"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"crm": "local"}, "connector 'local' serves the platform side"),
        ({"interval_seconds": 5}, "--interval 5 is too short"),
        (
            {"pairs": (ops.PairRef(platform_object="prospect", crm_object="Deal"),)},
            "crm connector 'memory' has no object 'Deal'",
        ),
        ({"create_in_crm": CreationMode.FILTER}, "--create-in-crm filter needs"),
        ({"crm_filter": "score>=50"}, "a filter was given but --create-in-crm"),
        ({"crm_settings": {"colour": "x"}}, "connector 'memory' has no setting"),
    ],
)
def test_create_refuses_bad_input_with_one_line(world, fields, message):
    with pytest.raises(ConfigurationError, match=message):
        world.create(**fields)
    # Nothing was stored.
    with pytest.raises(Exception, match=r"no state database|unknown integration"):
        ops.get_integration(world.workspace(), "acme")


def test_update_refuses_nothing_and_a_locked_source_of_truth(mapped):
    ws = mapped.workspace()
    with pytest.raises(ConfigurationError, match="nothing to update"):
        ops.update_integration(ws, "acme", ops.IntegrationUpdate())
    ops.update_integration(
        ws, "acme", ops.IntegrationUpdate(source_of_truth=SourceOfTruth.CRM)
    )
    ops.resume_integration(ws, "acme")
    ops.run_cycle(ws, "acme")
    with pytest.raises(ConfigurationError, match="rebaseline"):
        ops.update_integration(
            ws, "acme", ops.IntegrationUpdate(source_of_truth=SourceOfTruth.PLATFORM)
        )
    after = ops.rebaseline_integration(ws, "acme", SourceOfTruth.PLATFORM)
    assert after.source_of_truth is SourceOfTruth.PLATFORM
    assert after.source_of_truth_locked_at is None


def test_update_merges_and_unsets_stored_settings(world):
    world.create()
    ws = world.workspace()
    changed = ops.update_integration(
        ws, "acme", ops.IntegrationUpdate(platform_settings={"cache_mb": "8"})
    )
    assert changed.platform_settings == {
        "path": str(world.platform_path),
        "cache_mb": "8",
    }
    changed = ops.update_integration(
        ws, "acme", ops.IntegrationUpdate(unset_platform_settings=("cache_mb",))
    )
    assert "cache_mb" not in changed.platform_settings
    with pytest.raises(ConfigurationError, match="no platform setting 'colour'"):
        ops.update_integration(
            ws, "acme", ops.IntegrationUpdate(unset_platform_settings=("colour",))
        )


def test_delete_refuses_an_active_integration(world):
    world.create()
    ws = world.workspace()
    ops.resume_integration(ws, "acme")
    with pytest.raises(MappingError, match="integration pause acme"):
        ops.delete_integration(ws, "acme")
    ops.pause_integration(ws, "acme")
    ops.delete_integration(ws, "acme")
    assert ops.list_integrations(ws) == []
