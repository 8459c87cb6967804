"""`crmsync integration ...` and `crmsync fields`."""

from __future__ import annotations

import json
import os

from crmsync.cli import CliState, app
from crmsync.settings import CrmsyncSettings


def test_create_with_default_pairs_contact_before_lead(cli):
    cli.create()
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert [p["crm_object"] for p in data["object_pairs"]] == ["Contact", "Lead"]
    assert data["active"] is False
    assert data["source_of_truth"] == "both"
    assert data["create_in_crm"] == "never"


def test_create_with_every_option(cli):
    cli.create(
        "acme",
        "--source-of-truth",
        "crm",
        "--interval",
        "60",
        "--create-in-crm",
        "filter",
        "--crm-filter",
        "score>=50",
        "--create-in-platform",
        "all",
        "--pair",
        "prospect:Lead",
    )
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert data["source_of_truth"] == "crm"
    assert data["interval_seconds"] == 60
    assert data["create_in_crm"] == "when score >= 50 as Lead"
    assert data["create_in_platform"] == "all as prospect"
    assert [p["crm_object"] for p in data["object_pairs"]] == ["Lead"]


def test_show_list_pause_resume(cli):
    cli.create()
    assert "acme" in cli.ok("integration", "list")
    assert "paused" in cli.ok("integration", "show", "acme")
    assert "resumed" in cli.ok("integration", "resume", "acme")
    assert json.loads(cli.ok("integration", "list", "--json"))[0]["active"] is True
    assert "paused" in cli.ok("integration", "pause", "acme")


def test_update_interval_and_source_of_truth_before_first_cycle(cli):
    cli.create()
    cli.ok(
        "integration", "update", "acme", "--interval", "120", "--source-of-truth", "crm"
    )
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert (data["interval_seconds"], data["source_of_truth"]) == (120, "crm")


def test_rebaseline_asks_and_yes_confirms(cli):
    cli.create()
    assert "not confirmed" in cli.fails(
        "integration", "rebaseline", "acme", "--source-of-truth", "crm", input="n\n"
    )
    output = cli.ok(
        "integration", "rebaseline", "acme", "--source-of-truth", "crm", "--yes"
    )
    assert "now crm" in output
    assert "rebaselined" in cli.ok("history", "acme", "--events")


def test_bad_input_is_one_line(cli):
    cli.create()
    assert "unknown connector 'nope'" in cli.fails(
        "integration", "create", "x", "--crm", "nope"
    )
    assert "broken" in cli.fails("integration", "create", "x", "--crm", "broken")
    assert "no object 'Account'" in cli.fails(
        "integration", "create", "x", "--crm", "memory", "--pair", "prospect:Account"
    )
    assert "--source-of-truth" in cli.fails(
        "integration", "create", "x", "--crm", "memory", "--source-of-truth", "everyone"
    )
    assert "not a filter" in cli.fails(
        "integration",
        "create",
        "x",
        "--crm",
        "memory",
        "--create-in-crm",
        "filter",
        "--crm-filter",
        "score",
    )
    assert "needs a filter" in cli.fails(
        "integration", "create", "x", "--crm", "memory", "--create-in-crm", "filter"
    )
    assert "already exists" in cli.fails(
        "integration", "create", "acme", "--crm", "memory"
    )
    assert "unknown integration 'ghost'" in cli.fails("integration", "show", "ghost")
    assert "looks like a secret" in cli.fails(
        "integration",
        "create",
        "y",
        "--crm",
        "memory",
        "--crm-setting",
        "api_key=hunter22",
    )
    assert "name" in cli.fails("integration", "create", "bad name!", "--crm", "memory")


def test_fields_table(cli):
    output = cli.ok("fields", "memory", "Lead")
    assert "FirstName" in output and "Rating" in output and "yes" in output
    assert "first_name" in cli.ok("fields", "local", "prospect")


def test_fields_with_integration_settings(cli):
    cli.create()
    assert "last_name" in cli.ok("fields", "local", "prospect", "--integration", "acme")
    assert "does not use connector" in cli.fails(
        "fields", "broken", "x", "--integration", "acme"
    )


def test_fields_bad_input(cli):
    assert "unknown connector" in cli.fails("fields", "nope", "Lead")
    assert "no object 'Widget'" in cli.fails("fields", "memory", "Widget")


def test_delete_refuses_while_active_and_asks_first(cli):
    cli.create()
    cli.ok("integration", "resume", "acme")
    assert "crmsync integration pause acme" in cli.fails(
        "integration", "delete", "acme", "--yes"
    )
    cli.ok("integration", "pause", "acme")
    assert "not confirmed" in cli.fails("integration", "delete", "acme", input="n\n")
    assert "deleted" in cli.ok("integration", "delete", "acme", "--yes")
    assert "unknown integration 'acme'" in cli.fails("integration", "show", "acme")


def test_a_pair_given_twice_is_refused_before_anything_is_stored(cli):
    line = cli.fails(
        "integration",
        "create",
        "dp",
        "--crm",
        "memory",
        "--pair",
        "prospect:Contact",
        "--pair",
        "prospect:Contact",
    )
    assert line.startswith("error: object pair prospect:Contact given twice")
    assert "no state database" in cli.fails("integration", "list")


def test_a_settings_error_of_no_one_field_names_the_prefix(cli, monkeypatch):
    for variable in list(os.environ):
        if variable.startswith("CRMSYNC_SALESFORCE_"):
            monkeypatch.delenv(variable)
    # The real catalog: the check that fails is the salesforce settings' own.
    state = CliState(settings=CrmsyncSettings(database_url=cli.db_url))
    result = cli.runner.invoke(app, ["fields", "salesforce", "Lead"], obj=state)
    assert result.exit_code == 1, result.output
    line = result.stderr.strip()
    assert "client_id" in line and "is required for the jwt flow" in line
    assert "CRMSYNC_SALESFORCE_SETTINGS" not in line
    assert line.endswith(
        "(set the connector's settings in the environment or .env with the prefix "
        "CRMSYNC_SALESFORCE_)"
    )
    # An error of one field still names its variable.
    monkeypatch.setenv("CRMSYNC_LOCAL_CACHE_MB", "lots")
    assert "as CRMSYNC_LOCAL_CACHE_MB)" in cli.fails("fields", "local", "prospect")


def test_a_local_platform_file_that_cannot_be_opened_is_one_line(
    cli, tmp_path, monkeypatch
):
    not_sqlite = tmp_path / "text.db"
    not_sqlite.write_text("prospects, but not in SQLite\n")
    cases = {
        not_sqlite: "file is not a database",
        tmp_path: "it is a directory",
        tmp_path / "missing" / "x.db": f"its folder {tmp_path / 'missing'} does not",
    }
    for path, reason in cases.items():
        monkeypatch.setenv("CRMSYNC_LOCAL_PATH", str(path))
        line = cli.fails("fields", "local", "prospect")
        assert line.startswith(
            f"error: cannot open the local platform file {path}: {reason}"
        ), line
        assert line.endswith("(check CRMSYNC_LOCAL_PATH)")
    assert not (tmp_path / "missing").exists()
    # The same through an integration whose stored setting names the file.
    cli.ok(
        "integration",
        "create",
        "acme",
        "--crm",
        "memory",
        "--platform-setting",
        f"path={not_sqlite}",
    )
    for args in (
        ("sync", "acme", "--dry-run"),
        ("mapping", "add", "acme", "email", "Email", "--direction", "sync"),
    ):
        assert "cannot open the local platform file" in cli.fails(*args)
    result = cli("doctor", "acme")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "✗ platform connection opens: cannot open the local platform" in (
        result.output
    )
    assert not_sqlite.read_text() == "prospects, but not in SQLite\n"


def test_connector_settings_are_checked_when_given(cli):
    bad = {
        ("--platform-setting", "cache_mb=lots"): "error: --platform-setting "
        "cache_mb='lots': Input should be a valid integer",
        ("--platform-setting", "colour=blue"): "error: --platform-setting colour: "
        "connector 'local' has no setting 'colour' (its settings: path, "
        "create_missing, cache_mb)",
        ("--crm-setting", "colour=blue"): "error: --crm-setting colour: connector "
        "'memory' has no setting 'colour' (its settings: connector_id)",
    }
    for option, expected in bad.items():
        line = cli.fails("integration", "create", "x", "--crm", "memory", *option)
        assert line.startswith(expected), line
    assert "CRMSYNC_LOCAL_CACHE_MB or the default 64)" in cli.fails(
        "integration", "create", "x", "--crm", "memory", *next(iter(bad))
    )
    assert "no state database" in cli.fails("integration", "list")  # nothing stored


def test_update_sets_and_removes_stored_connector_settings(cli):
    cli.create()
    cli.ok("integration", "update", "acme", "--platform-setting", "cache_mb=8")
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert data["platform_settings"]["cache_mb"] == "8"
    assert "cache_mb='0': Input should be greater than or equal to 1" in cli.fails(
        "integration", "update", "acme", "--platform-setting", "cache_mb=0"
    )
    assert "has no setting 'colour'" in cli.fails(
        "integration", "update", "acme", "--crm-setting", "colour=blue"
    )
    assert "looks like a secret" in cli.fails(
        "integration", "update", "acme", "--crm-setting", "api_key=hunter22"
    )
    assert "both given" in cli.fails(
        "integration",
        "update",
        "acme",
        "--platform-setting",
        "cache_mb=9",
        "--unset-platform-setting",
        "cache_mb",
    )
    assert "no crm setting 'colour' is stored" in cli.fails(
        "integration", "update", "acme", "--unset-crm-setting", "colour"
    )
    cli.ok("integration", "update", "acme", "--unset-platform-setting", "cache_mb")
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert "cache_mb" not in data["platform_settings"]
    assert "path" in data["platform_settings"]  # the others stay


def test_a_bad_stored_setting_names_the_update_command(cli):
    from crmsync.store import open_store

    cli.create()
    # As an earlier crmsync stored them, unchecked.
    store = open_store(cli.db_url)
    store.config.update_integration(
        "acme", platform_settings={"cache_mb": "lots", "colour": "blue"}
    )
    store.dispose()
    line = cli.fails("fields", "local", "prospect", "--integration", "acme")
    assert line == (
        "error: platform setting 'colour' stored with integration 'acme' is not a "
        "setting of connector 'local' (remove it with `crmsync integration update "
        "acme --unset-platform-setting colour`)"
    )
    cli.ok("integration", "update", "acme", "--unset-platform-setting", "colour")
    line = cli.fails("mapping", "add", "acme", "email", "Email")
    assert line.startswith(
        "error: platform setting cache_mb='lots' stored with integration 'acme': "
        "Input should be a valid integer"
    )
    assert line.endswith(
        "(change it with `crmsync integration update acme --platform-setting "
        "cache_mb=VALUE`, or remove it with `crmsync integration update acme "
        "--unset-platform-setting cache_mb`)"
    )
    assert "CRMSYNC_LOCAL_CACHE_MB" not in line
    cli.ok("integration", "update", "acme", "--platform-setting", "cache_mb=16")
    cli.ok("mapping", "add", "acme", "email", "Email")


def test_create_refuses_an_interval_of_zero_as_update_does(cli):
    for command in (("create", "x", "--crm", "memory"), ("update", "acme")):
        if command[0] == "update":
            cli.create()
        for interval in ("0", "-5", "9"):
            line = cli.fails("integration", *command, "--interval", interval)
            assert line == f"error: --interval {interval} is too short (use 10 or more)"
    data = json.loads(cli.ok("integration", "list", "--json"))
    assert [(i["name"], i["interval_seconds"]) for i in data] == [("acme", 300)]


def test_a_malformed_filter_is_refused(cli):
    for text in ("score>>", "score=>5", "score<>5", "score===5", "score>= "):
        line = cli.fails(
            "integration",
            "create",
            "x",
            "--crm",
            "memory",
            "--create-in-crm",
            "filter",
            "--crm-filter",
            text,
        )
        assert line.startswith(f"error: --crm-filter {text!r} is not a filter"), line
    cli.create("acme", "--create-in-crm", "filter", "--crm-filter", "status=='>'")
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert data["create_in_crm"] == "when status == '>' as Lead"  # quoted: a value
    assert "'score>>' is not a filter" in cli.fails(
        "integration", "update", "acme", "--crm-filter", "score>>"
    )


def test_a_filter_of_two_conditions_is_stored_as_two(cli):
    # It was stored as title != "Eng and score>=50" and created everyone it excluded.
    cli.create(
        "acme", "--create-in-crm", "filter", "--crm-filter", "title!=Eng and score>=50"
    )
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert data["create_in_crm"] == "when title != 'Eng' and score >= 50 as Lead"
    line = cli.fails(
        "integration", "update", "acme", "--crm-filter", "title != Head of Eng"
    )
    assert "unexpected 'of' at column 15" in line and "quote values" in line


def test_update_with_a_filter_alone_changes_the_stored_rules_filter(cli):
    cli.create("acme", "--create-in-crm", "filter", "--crm-filter", "score>=50")
    cli.ok("integration", "update", "acme", "--crm-filter", "score>=5")
    data = json.loads(cli.ok("integration", "show", "acme", "--json"))
    assert data["create_in_crm"] == "when score >= 5 as Lead"
    # A rule that takes no filter refuses one, with create's own line.
    create_line = cli.fails(
        "integration", "create", "x", "--crm", "memory", "--platform-filter", "x>1"
    )
    update_line = cli.fails("integration", "update", "acme", "--platform-filter", "x>1")
    assert (
        update_line
        == create_line
        == (
            "error: a filter was given but --create-in-platform is 'never' "
            "(use --create-in-platform filter)"
        )
    )


def test_a_connector_on_the_wrong_side_is_refused(cli):
    line = cli.fails("integration", "create", "x", "--crm", "local")
    assert line == (
        "error: connector 'local' serves the platform side, not the crm side "
        "(give --crm one of: memory)"
    )
    # The real catalog: salesforce is a CRM connector.
    state = CliState(settings=CrmsyncSettings(database_url=cli.db_url))
    result = cli.runner.invoke(
        app,
        [
            "integration",
            "create",
            "y",
            "--crm",
            "salesforce",
            "--platform",
            "salesforce",
        ],
        obj=state,
    )
    assert result.exit_code == 1, result.output
    # The platform connectors installed, derived from the catalog (local among them).
    catalog = state.get_catalog()
    fitting = sorted(
        key
        for key, found in catalog.loaded.items()
        if found.description.role in ("platform", "any")
    )
    assert "local" in fitting
    assert result.stderr.strip() == (
        "error: connector 'salesforce' serves the crm side, not the platform side "
        f"(give --platform one of: {', '.join(fitting)})"
    )


def test_update_without_an_option_is_refused(cli):
    cli.create()
    line = cli.fails("integration", "update", "acme")
    assert line.startswith("error: nothing to update: no option given")


def test_an_empty_connector_setting_value_is_refused(cli):
    line = cli.fails(
        "integration", "create", "e", "--crm", "memory", "--platform-setting", "path="
    )
    assert "has no value" in line


def test_a_secret_setting_is_refused_naming_the_connectors_variable(cli):
    for command in (
        ("integration", "create", "y", "--crm", "memory"),
        ("integration", "update", "acme"),
    ):
        if command[1] == "update":
            cli.create()
        line = cli.fails(*command, "--crm-setting", "api_key=hunter22")
        assert line == (
            "error: --crm-setting api_key: setting 'api_key' of connector 'memory' "
            "looks like a secret and is never stored in the state (set "
            "CRMSYNC_MEMORY_API_KEY in the environment or .env)"
        )
        line = cli.fails(*command, "--platform-setting", "api_key=hunter22")
        assert "(set CRMSYNC_LOCAL_API_KEY in the environment or .env)" in line
    assert "hunter22" not in cli.ok("integration", "show", "acme")
