"""Two sides' modification times are compared at the precision both share."""

from __future__ import annotations

import datetime as dt

from crmsync.contract import ConnectorDescription
from crmsync.testing.memory import MemoryConnector


class WholeSecondCrm(MemoryConnector):
    """The in-memory CRM describing itself as a vendor that stamps whole seconds."""

    @staticmethod
    def describe_connector() -> ConnectorDescription:
        return MemoryConnector.describe_connector().model_copy(
            update={"timestamp_precision_seconds": 1.0}
        )


def test_a_crm_edit_in_the_second_of_crmsyncs_own_platform_write_is_not_lost(
    make_world,
):
    # crmsync wrote the CRM's "V1" to the platform at .5 s and died before it stored
    # the baseline; a CRM user then set "V2" in the same second, stamped whole. Both
    # sides differ from the baseline: a finer platform time must not beat a CRM time
    # it cannot be told apart from (it pushed the older "V1" back over "V2").
    world = make_world()
    world.crm_connector = WholeSecondCrm
    world.crm.now = lambda: world.clock.now().replace(microsecond=0)
    pid, lid = world.linked_pair(first_name="Old")
    world.clock.at = world.clock.at.replace(microsecond=0) + dt.timedelta(seconds=30)
    world.lead({"FirstName": "V1"}, record_id=lid)
    world.clock.advance(0.5)
    world.prospect({"first_name": "V1"}, record_id=pid)
    world.clock.advance(0.2)
    world.lead({"FirstName": "V2"}, record_id=lid)
    world.clock.advance(60)

    report = world.cycle()

    assert world.crm.get("Lead", lid)["FirstName"] == "V2"
    assert world.platform.get("prospect", pid)["first_name"] == "V2"
    assert report.decisions.get("both_changed:tie_to_crm") == 1


def test_without_a_declared_precision_the_finer_later_time_still_wins(make_world):
    world = make_world()
    pid, lid = world.linked_pair(first_name="Old")
    world.clock.at = world.clock.at.replace(microsecond=0) + dt.timedelta(seconds=30)
    world.lead({"FirstName": "Crm"}, record_id=lid)
    world.clock.advance(0.5)
    world.prospect({"first_name": "Platform"}, record_id=pid)
    world.clock.advance(60)

    report = world.cycle()

    assert world.crm.get("Lead", lid)["FirstName"] == "Platform"
    assert report.decisions.get("both_changed:platform_newer") == 1
