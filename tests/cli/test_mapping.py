"""`crmsync mapping ...`: validation, the pause rule, mappings as code."""

from __future__ import annotations

import json


def pairs(cli):
    return {
        f"{p['platform_object']}:{p['crm_object']}": p["mappings"]
        for p in json.loads(cli.ok("mapping", "list", "acme", "--json"))
    }


def test_add_stores_types_from_list_fields(mapped):
    from crmsync.store import open_store

    integration = open_store(mapped.db_url).config.get_integration("acme")
    mapping = integration.object_pairs[0].mapping_for("email", "Email")
    assert (mapping.platform_type.value, mapping.crm_type.value) == ("email", "email")
    assert pairs(mapped)["prospect:Lead"][3]["default"] == "Unknown"
    assert "↔" in mapped.ok("mapping", "list", "acme")


def test_add_to_one_pair_update_and_delete(mapped):
    mapped.ok(
        "mapping",
        "add",
        "acme",
        "score",
        "Score",
        "--direction",
        "to_crm",
        "--pair",
        "prospect:Lead",
    )
    assert len(pairs(mapped)["prospect:Lead"]) == 5
    assert len(pairs(mapped)["prospect:Contact"]) == 4
    mapped.ok("mapping", "update", "acme", "first_name", "FirstName", "--rule", "crm")
    assert pairs(mapped)["prospect:Contact"][0]["conflict_rule"] == "crm"
    mapped.ok("mapping", "delete", "acme", "score", "Score")
    assert len(pairs(mapped)["prospect:Lead"]) == 4


def test_refused_while_active_names_pause(mapped):
    mapped.ok("integration", "resume", "acme")
    line = mapped.fails("mapping", "add", "acme", "phone", "Phone")
    assert "active" in line and "crmsync integration pause acme" in line
    assert "pause" in mapped.fails("mapping", "delete", "acme", "email", "Email")


def test_validation_errors_are_one_line(mapped):
    f = mapped.fails
    assert "no field 'FirstNme'" in f("mapping", "add", "acme", "title", "FirstNme")
    assert "did you mean FirstName" in f("mapping", "add", "acme", "title", "FirstNme")
    assert "platform object 'prospect' has no field" in f(
        "mapping", "add", "acme", "x", "Phone"
    )
    assert "read-only" in f(
        "mapping", "add", "acme", "title", "Rating", "--direction", "to_crm"
    )
    assert "read-only" in f(
        "mapping", "add", "acme", "created_at", "LastActivity", "--direction", "sync"
    )
    assert "cannot convert" in f(
        "mapping", "add", "acme", "opted_out", "Birthday", "--direction", "to_crm"
    )
    assert "--direction" in f(
        "mapping", "add", "acme", "phone", "Phone", "--direction", "up"
    )
    duplicate = mapped("mapping", "add", "acme", "email", "Email")
    assert duplicate.exit_code == 1  # a conflict is no exit code of its own
    assert "already mapped" in f("mapping", "add", "acme", "email", "Email")
    assert "no mapping" in f("mapping", "update", "acme", "phone", "Phone")
    assert "no object pair" in f(
        "mapping", "add", "acme", "phone", "Phone", "--pair", "prospect:Account"
    )
    assert "not a valid integer" in f(
        "mapping",
        "add",
        "acme",
        "score",
        "Score",
        "--direction",
        "to_crm",
        "--default",
        "lots",
    )
    assert "unknown integration" in f("mapping", "list", "ghost")


def test_export_and_apply_round_trip_yaml_and_json(mapped, tmp_path):
    for name in ("m.yaml", "m.json"):
        path = tmp_path / name
        assert "exported 8 mappings" in mapped.ok(
            "mapping", "export", "acme", str(path)
        )
        assert "nothing to change" in mapped.ok("mapping", "apply", "acme", str(path))


def test_apply_shows_diff_and_needs_confirmation(mapped, tmp_path):
    path = tmp_path / "m.json"
    mapped.ok("mapping", "export", "acme", str(path))
    document = json.loads(path.read_text())
    contact = document["pairs"][0]["mappings"]
    contact.append(
        {"platform_field": "phone", "crm_field": "Phone", "direction": "to_crm"}
    )
    contact[0]["direction"] = "to_platform"
    del contact[1]
    path.write_text(json.dumps(document))
    result = mapped("mapping", "apply", "acme", str(path), input="n\n")
    assert result.exit_code != 0
    assert "+ prospect:Contact  phone → Phone" in result.output
    assert "~ prospect:Contact  first_name ↔ FirstName" in result.output
    assert "- prospect:Contact  last_name ↔ LastName" in result.output
    assert len(pairs(mapped)["prospect:Contact"]) == 4  # unchanged
    mapped.ok("mapping", "apply", "acme", str(path), "--yes")
    contact_now = {m["platform_field"]: m for m in pairs(mapped)["prospect:Contact"]}
    assert set(contact_now) == {"first_name", "email", "company", "phone"}
    assert contact_now["first_name"]["direction"] == "to_platform"


def test_malformed_files_are_one_line(mapped, tmp_path):
    cases = {
        "broken.yaml": "pairs: [unclosed",
        "broken.json": "{not json",
        "wrong.json": json.dumps(
            {
                "pairs": [
                    {
                        "platform_object": "prospect",
                        "crm_object": "Contact",
                        "mappings": [
                            {
                                "platform_field": "email",
                                "crm_field": "Email",
                                "direction": "sideways",
                            }
                        ],
                    }
                ]
            }
        ),
        "extra.json": json.dumps({"pairs": [], "colour": "blue"}),
        "list.yaml": "- 1\n- 2\n",
        "m.txt": "pairs: []",
        "lacks.json": json.dumps(
            {"pairs": [{"platform_object": "prospect", "crm_object": "Contact"}]}
        ),
        "badfield.json": json.dumps(
            {
                "pairs": [
                    {
                        "platform_object": "prospect",
                        "crm_object": "Contact",
                        "mappings": [
                            {
                                "platform_field": "nope",
                                "crm_field": "Email",
                                "direction": "sync",
                            }
                        ],
                    },
                    {"platform_object": "prospect", "crm_object": "Lead"},
                ]
            }
        ),
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        line = mapped.fails("mapping", "apply", "acme", str(path), "--yes")
        assert line.startswith("error: "), line
    assert "No such file" in mapped.fails(
        "mapping", "apply", "acme", str(tmp_path / "no.json")
    )


def test_a_mapping_file_that_is_not_utf8_is_one_line(mapped, tmp_path):
    text = (
        "pairs:\n- platform_object: prospect\n  crm_object: Contact\n"
        "  mappings:\n  - {platform_field: first_name, crm_field: Prénom, "
        "direction: sync}\n"
    )
    cases = {
        "latin1.yaml": (text.encode("latin-1"), "byte 0xe9 on line 5"),
        "utf16.json": ('{"pairs": []}'.encode("utf-16"), "byte 0xff on line 1"),
        "binary.yaml": (bytes(range(128, 256)), "byte 0x80 on line 1"),
    }
    before = pairs(mapped)
    for name, (content, where) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        line = mapped.fails("mapping", "apply", "acme", str(path), "--yes")
        assert line == (
            f"error: cannot read {path}: it must be UTF-8 text, and {where} is not "
            "(save the file as UTF-8)"
        )
    assert pairs(mapped) == before


def test_a_file_that_lists_a_pair_twice_is_refused(mapped, tmp_path):
    path = tmp_path / "m.json"
    mapped.ok("mapping", "export", "acme", str(path))
    document = json.loads(path.read_text())
    contact = document["pairs"][0]
    document["pairs"].append(
        {
            "platform_object": contact["platform_object"],
            "crm_object": contact["crm_object"],
            "mappings": [
                {"platform_field": "phone", "crm_field": "Phone", "direction": "sync"}
            ],
        }
    )
    path.write_text(json.dumps(document))
    before = pairs(mapped)
    line = mapped.fails("mapping", "apply", "acme", str(path), "--yes")
    assert line == (
        f"error: {path}: object pair prospect:Contact is listed twice "
        "(list each pair once, with all of its mappings)"
    )
    assert pairs(mapped) == before
