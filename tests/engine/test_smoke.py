from __future__ import annotations


def test_a_matching_pair_is_linked_and_synced(make_world):
    world = make_world()
    pid = world.prospect({"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee",
                          "company": "Initech"})
    world.clock.advance()
    lid = world.lead({"Email": "ANN@example.com ", "LastName": "Lee", "Company": "X",
                      "Phone": "555"})
    report = world.cycle()
    assert report.linked == 1
    assert world.crm.get("Lead", lid)["FirstName"] == "Ann"
    assert world.platform.get("prospect", pid)["phone"] == "555"
    again = world.cycle()
    assert again.writes == 0, again.counts()
