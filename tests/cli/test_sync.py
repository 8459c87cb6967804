"""`crmsync sync`, `status`, `history`, `errors`, `doctor` and `demo`."""

from __future__ import annotations

import gc
import json
import re

from crmsync.cli import CliState, app
from crmsync.contract import RecordError


def seed(cli):
    platform = cli.platform()
    ids = platform.insert(
        [
            {
                "email": "john@example.com",
                "first_name": "John",
                "last_name": "Smith",
                "company": "Acme",
            },
            {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        ]
    )
    platform.close()
    lead = cli.backend.put(
        "Lead",
        {
            "Email": "JOHN@example.com",
            "FirstName": "Johnny",
            "LastName": "Smith",
            "Company": "Acme",
        },
    )
    return ids, lead


def test_sync_refuses_a_paused_integration(mapped):
    assert "crmsync integration resume acme" in mapped.fails("sync", "acme")


def test_dry_run_prints_every_write_and_changes_nothing(mapped):
    _, lead = seed(mapped)
    output = mapped.ok("sync", "acme", "--dry-run")
    assert "dry run:" in output
    assert "FirstName" in output
    assert mapped.backend.get("Lead", lead)["FirstName"] == "Johnny"
    assert "no cycle has run yet" in mapped.ok("status", "acme")


def test_sync_links_decides_and_reports(mapped):
    (john, _ada), lead = seed(mapped)
    mapped.ok("integration", "resume", "acme")
    output = mapped.ok("sync", "acme")
    assert "cycle of acme: succeeded" in output
    assert "platform" in output and "crm" in output and "fields decided" in output
    platform = mapped.platform()
    assert (
        platform.get(john)["first_name"]
        == mapped.backend.get("Lead", lead)["FirstName"]
    )
    platform.close()
    status = json.loads(mapped.ok("status", "acme", "--json"))
    assert status["links"] == 1 and status["locked"] is True
    assert status["last_run"]["status"] == "succeeded"
    assert "succeeded" in mapped.ok("history", "acme")
    # A second cycle with no edits writes nothing, whether or not it re-reads the
    # records of the first (a cursor may end within the second they were written).
    second = json.loads(mapped.ok("sync", "acme", "--json"))
    assert second["status"] == "succeeded"
    assert second["writes"] == 0 and second["errors"] == 0
    assert {side: second[side]["failed"] for side in ("platform", "crm")} == {
        "platform": 0,
        "crm": 0,
    }


def test_sync_json_is_one_object_with_the_documented_keys(mapped):
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    result = mapped("sync", "acme", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # nothing else on stdout
    assert sorted(summary) == sorted(
        [
            "integration",
            "run_id",
            "dry_run",
            "status",
            "message",
            "started_at",
            "finished_at",
            "duration_seconds",
            "platform",
            "crm",
            "linked",
            "relinked",
            "unlinked",
            "ambiguous",
            "writes",
            "errors",
            "decisions",
            "api_calls",
            "planned",
            "outcomes",
            "deferred",
        ]
    )
    assert summary["linked"] == 1 and summary["crm"]["updated"] >= 1
    watched = mapped("sync", "acme", "--json", "--watch", "--count", "2")
    lines = watched.stdout.splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["succeeded"] * 2
    assert "stopped after 2 cycles" in watched.stderr


def test_history_errors_doctor_and_fields_print_json(mapped):
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    mapped.ok("sync", "acme")
    history = json.loads(mapped.ok("history", "acme", "--json", "--events"))
    assert [run["status"] for run in history["runs"]] == ["succeeded"]
    assert "resumed" in [event["kind"] for event in history["events"]]
    errors = json.loads(mapped.ok("errors", "acme", "--json"))
    assert errors == {"integration": "acme", "total": 0, "errors": []}
    doctor = json.loads(mapped.ok("doctor", "acme", "--json"))
    assert doctor["ready"] is True
    assert {check["level"] for check in doctor["checks"]} <= {"ok", "warn"}
    fields = json.loads(mapped.ok("fields", "memory", "Lead", "--json"))
    assert "Email" in [field["name"] for field in fields]


def test_sync_hides_long_lived_objects_from_the_collector(mapped):
    """The objects of startup (modules, schemas, connections) are frozen before a
    cycle, so that no full collection during it walks them again."""
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    gc.unfreeze()
    mapped.ok("sync", "acme")
    assert gc.get_freeze_count() > 10_000


def test_source_of_truth_locked_after_first_cycle(mapped):
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    mapped.ok("sync", "acme")
    line = mapped.fails("integration", "update", "acme", "--source-of-truth", "crm")
    assert "locked" in line and "rebaseline" in line
    mapped.ok("integration", "rebaseline", "acme", "--source-of-truth", "crm", "--yes")


def test_watch_runs_until_count(mapped):
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    mapped.ok("integration", "update", "acme", "--interval", "10")
    output = mapped.ok("sync", "acme", "--watch", "--count", "2")
    assert output.count("cycle of acme") == 2
    assert "stopped after 2 cycles" in output
    assert sum(mapped.sleeps) >= 9


def test_watch_keeps_one_session_across_cycles(mapped):
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    mapped.ok("integration", "update", "acme", "--interval", "10")
    before = mapped.backend.calls.get("authenticate", 0)
    mapped.ok("sync", "acme", "--watch", "--count", "3")
    # One token for three cycles: an idle cycle spends no request on authentication.
    assert mapped.backend.calls["authenticate"] - before == 1


def test_errors_list_and_retry(mapped):
    seed(mapped)
    mapped.ok("integration", "update", "acme", "--create-in-crm", "all")
    mapped.backend.fail_on_push = lambda obj, req: RecordError(
        code="FIELD_CUSTOM_VALIDATION_EXCEPTION", message="nope", field="LastName"
    )
    mapped.ok("integration", "resume", "acme")
    mapped.ok("sync", "acme")
    listed = mapped.ok("errors", "acme")
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in listed
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in mapped.ok("errors", "list", "acme")
    assert "will be retried" in mapped.ok("errors", "retry", "acme")
    assert "unknown integration" in mapped.fails("errors", "ghost")


def test_doctor_passes_then_finds_problems(mapped):
    output = mapped.ok("doctor", "acme")
    assert "✓ state store" in output and "authenticates" in output
    assert "mappings of prospect:Lead" in output and "ready to sync" in output
    mapped.backend.objects["Lead"] = [
        s for s in mapped.backend.objects["Lead"] if s.name != "Company"
    ]
    result = mapped("doctor", "acme")
    assert result.exit_code == 1
    assert "no field 'Company'" in result.output
    assert "error: doctor found 1 problem" in result.output


def test_doctor_bad_input(cli, tmp_path):
    result = cli("doctor", "acme")
    assert result.exit_code == 1 and "✗ state store" in result.output
    assert "no state file" in result.output
    cli.create()
    result = cli("doctor", "ghost")
    assert result.exit_code == 1 and "unknown integration 'ghost'" in result.output


def test_doctor_reports_failed_authentication_without_secret(mapped):
    mapped.backend.inject("permanent", hook="authenticate")
    result = mapped("doctor", "acme")
    assert result.exit_code == 1
    assert "bad request" in result.output
    assert "memory-secret-key" not in result.output


def test_demo_runs_end_to_end(cli, tmp_path):
    # The real catalog: the demo drives the installed salesforce connector.
    result = cli.runner.invoke(
        app,
        ["demo", "--prospects", "200", "--dir", str(tmp_path / "demo")],
        obj=CliState(),
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert "first cycle" in output and "second cycle" in output
    assert "both changed the first name" in output and "'Jon'" in output
    assert "explore further" in output
    assert "client_secret" not in output
    last = output.split("a fourth cycle with no new edits writes nothing")[1]
    for side in ("platform", "crm"):
        row = re.search(rf"│ {side}\s*│([^\n]*)", last)
        assert row is not None, last
        _read, _deleted, created, updated, failed = (
            cell.strip() for cell in row.group(1).split("│")[:5]
        )
        assert (created, updated, failed) == ("0", "0", "0"), row.group(0)
    # Everything the demo leaves is named crmsync-demo*, which .gitignore covers, so a
    # `make demo` in a checkout leaves `git status` clean.
    left = sorted(path.name for path in (tmp_path / "demo").iterdir())
    assert left and all(name.startswith("crmsync-demo") for name in left), left


def test_a_stop_request_ends_the_cycle_early_and_says_so(mapped):
    from crmsync.cli._sync import StopFlag, run_one_cycle
    from crmsync.logs import configure_logging

    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    configure_logging(level="ERROR")  # the runner's captured stream is closed by now
    flag = StopFlag()
    flag.stopping = True  # as the first Ctrl-C sets it
    report = run_one_cycle(mapped.state(), "acme", dry_run=False, stop=flag)
    assert report.status == "stopped" and "on request" in (report.message or "")
    assert "stopped" in mapped.ok("history", "acme")
    again = run_one_cycle(mapped.state(), "acme", dry_run=False)
    assert again.status in {"succeeded", "partial"}


def test_freezing_again_frees_what_died_since_the_last_freeze():
    """A `--watch` process freezes before every cycle; a reference cycle that was alive
    at one freeze and died before the next is collected, not kept for the process's
    life."""
    import weakref

    from crmsync.engine import freeze_long_lived_objects

    class Node:
        pass

    node = Node()
    node.self = node  # a reference cycle: only the collector can free it
    gone = weakref.ref(node)
    freeze_long_lived_objects()
    del node
    freeze_long_lived_objects()
    assert gone() is None


def test_doctor_reports_an_unreachable_database_server_as_a_check(cli):
    url = "postgresql+psycopg://user:S3CRETPW9@127.0.0.1:1/db"
    result = cli("--database-url", url, "doctor", "acme")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "✗ state store reachable and at the newest schema: cannot reach" in (
        result.output
    )
    assert "user:***@127.0.0.1" in result.output
    assert "S3CRETPW9" not in result.output
    assert result.stderr.strip() == "error: doctor found 1 problem with 'acme'"


def test_a_failed_cycle_ends_with_one_error_line(mapped):
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    mapped.backend.inject("permanent", hook="authenticate")
    result = mapped("sync", "acme")
    assert result.exit_code == 1
    assert "cycle of acme: failed" in result.stdout  # the summary is kept
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "bad request" in last
    assert "memory-secret-key" not in result.output
    assert [
        line for line in result.output.splitlines() if line.startswith("error:")
    ] == [last]
    assert "message:" not in result.stdout  # the cause is the error line's, not twice
    assert result.output.count("bad request") == 1, result.output  # nor the log's
    assert "failed" in mapped.ok("history", "acme")


def test_doctor_creates_no_platform_file(cli):
    cli.create()
    assert not cli.platform_path.exists()
    result = cli("doctor", "acme")
    assert result.exit_code == 1, result.output
    # The path is stored with the integration: the hint names the command that
    # changes it, not the variable (which the stored value overrides).
    assert (
        "✗ platform connection opens: cannot open the local platform file "
        f"{cli.platform_path}: it does not exist (the path is stored with integration "
        "'acme': change it with `crmsync integration update acme --platform-setting "
        "path=PATH`; a sync creates a missing file, empty)"
    ) in result.output
    assert not cli.platform_path.exists()
    assert sorted(path.name for path in cli.tmp.iterdir()) == ["state.db"]


def test_a_missing_platform_path_from_the_environment_names_the_variable(cli):
    cli.ok("integration", "create", "acme", "--crm", "memory")
    result = cli("doctor", "acme")
    assert result.exit_code == 1, result.output
    assert (
        f"{cli.platform_path}: it does not exist (check CRMSYNC_LOCAL_PATH; a sync "
        "creates a missing file, empty)"
    ) in result.output
    assert not cli.platform_path.exists()


def test_a_dry_run_creates_no_platform_file(cli):
    """A dry run writes nothing: a missing local platform file is reported, as doctor
    reports it, and not created empty."""
    cli.create()
    cli.ok("mapping", "add", "acme", "email", "Email")
    cli.platform_path.unlink()  # `mapping add` created it
    line = cli.fails("sync", "acme", "--dry-run")
    assert line == (
        f"error: cannot open the local platform file {cli.platform_path}: it does not "
        "exist (the path is stored with integration 'acme': change it with `crmsync "
        "integration update acme --platform-setting path=PATH`; a sync creates a "
        "missing file, empty)"
    )
    line = cli.fails("sync", "acme", "--dry-run", "--watch", "--count", "1")
    assert "it does not exist" in line
    assert not cli.platform_path.exists()
    assert sorted(path.name for path in cli.tmp.iterdir()) == ["state.db"]
    assert "no cycle has run yet" in cli.ok("status", "acme")


def test_a_filter_on_a_field_the_object_lacks_is_refused_by_sync_and_doctor(cli):
    cli.create(
        "acme",
        "--create-in-crm",
        "filter",
        "--crm-filter",
        "nosuchfield>=50",
        "--create-in-platform",
        "filter",
        "--platform-filter",
        "Ratng not_blank",
    )
    cli.ok("mapping", "add", "acme", "email", "Email")
    # What a created Lead requires (doctor checks it: see the test below).
    cli.ok("mapping", "add", "acme", "last_name", "LastName", "--default", "Unknown")
    cli.ok("mapping", "add", "acme", "company", "Company", "--default", "Unknown")
    seed(cli)
    cli.ok("integration", "resume", "acme")
    line = cli.fails("sync", "acme")
    assert line == (
        "error: the --crm-filter of integration 'acme' tests field 'nosuchfield', "
        "which platform object 'prospect' does not have (change it with "
        "`crmsync integration update acme --crm-filter EXPR`)"
    )
    assert "no cycle has run yet" in cli.ok("status", "acme")
    result = cli("doctor", "acme")
    assert result.exit_code == 1
    assert "✗ creation filters: the --crm-filter" in result.output
    assert "which crm object 'Contact' does not have (did you mean Rating?" in (
        result.output
    )
    cli.ok("integration", "update", "acme", "--crm-filter", "score>=50")
    cli.ok("integration", "update", "acme", "--platform-filter", "Rating not_blank")
    assert "✓ creation filters" in cli.ok("doctor", "acme")
    # A value the field's type cannot hold never compares: nothing would be created.
    cli.ok("integration", "update", "acme", "--crm-filter", "score>=abc")
    line = cli.fails("sync", "acme")
    assert "compares" in line and "'score'" in line and "'abc'" in line, line
    cli.ok("integration", "update", "acme", "--crm-filter", "score>=50")
    assert "cycle of acme: succeeded" in cli.ok("sync", "acme")


def test_count_without_watch_is_refused(mapped):
    mapped.ok("integration", "resume", "acme")
    line = mapped.fails("sync", "acme", "--count", "2")
    assert line == (
        "error: --count needs --watch: without it one cycle runs "
        "(add --watch, or drop --count 2)"
    )
    assert "no cycle has run yet" in mapped.ok("status", "acme")


def test_watch_exits_1_when_its_last_cycle_failed(mapped):
    seed(mapped)
    mapped.ok("integration", "resume", "acme")
    mapped.ok("integration", "update", "acme", "--interval", "10")
    mapped.backend.inject("permanent", hook="authenticate", count=2)
    result = mapped("sync", "acme", "--watch", "--count", "2")
    assert result.exit_code == 1, result.output
    assert result.stdout.count("cycle of acme: failed") == 2
    assert "stopped after 2 cycles" in result.stdout
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad request" in errors[0], result.output
    # A watch whose last cycle succeeded exits 0, though an earlier one failed.
    mapped.backend.inject("permanent", hook="authenticate")
    output = mapped.ok("sync", "acme", "--watch", "--count", "2")
    assert "cycle of acme: failed" in output and "cycle of acme: succeeded" in output


def test_errors_and_status_count_every_open_error(mapped):
    """The lists are capped; the counts are not."""
    platform = mapped.platform()
    platform.insert(
        {"email": f"p{n}@example.com", "last_name": f"P{n}"} for n in range(1003)
    )
    platform.close()
    mapped.ok("integration", "update", "acme", "--create-in-crm", "all")
    mapped.backend.fail_on_push = lambda obj, req: RecordError(
        code="FIELD_CUSTOM_VALIDATION_EXCEPTION", message="nope", field="LastName"
    )
    mapped.ok("integration", "resume", "acme")
    assert "errors: 1,003 (see `crmsync errors acme`)" in mapped.ok("sync", "acme")
    assert json.loads(mapped.ok("status", "acme", "--json"))["open_errors"] == 1003
    assert "open errors: 1,003" in mapped.ok("status", "acme")
    listed = mapped.ok("errors", "acme")
    assert "open errors of acme: 1,003, the newest 100 shown" in listed
    assert "903 more not shown: `crmsync errors acme --limit 1003` lists them all" in (
        listed
    )
    listed = mapped.ok("errors", "acme", "--limit", "1003")
    assert "open errors of acme: 1,003\n" in listed and "more not shown" not in listed


def test_doctor_fails_when_a_created_record_would_lack_a_required_field(cli):
    """The memory CRM's Lead requires LastName and Company, like Salesforce's."""
    cli.create("acme", "--create-in-crm", "all")
    cli.platform().close()
    cli.ok("mapping", "add", "acme", "email", "Email")
    cli.ok("mapping", "add", "acme", "company", "Company", "--default", "Unknown")
    result = cli("doctor", "acme")
    assert result.exit_code == 1, result.output
    assert (
        "✗ creates prospect → Lead: required fields: LastName is required but not "
        "mapped into Lead, so every create in the crm would fail (map LastName with "
        "`crmsync mapping add acme last_name LastName --direction to_crm --default "
        "VALUE --pair prospect:Lead`)"
    ) in result.output
    assert result.stderr.strip() == "error: doctor found 1 problem with 'acme'"
    # Mapped, but without a default: a warning (a blank last name fails alone).
    cli.ok("mapping", "add", "acme", "last_name", "LastName")
    output = cli.ok("doctor", "acme")
    assert (
        "! creates prospect → Lead: required fields: LastName mapped without a "
        "default: a record whose source value is blank fails to be created (give it "
        "one with `crmsync mapping update acme last_name LastName --default VALUE "
        "--pair prospect:Lead`)"
    ) in output
    assert "acme is ready to sync" in output
    cli.ok("mapping", "update", "acme", "last_name", "LastName", "--default", "Doe")
    output = cli.ok("doctor", "acme")
    assert "✓ creates prospect → Lead: required fields: LastName, Company mapped" in (
        output
    )
    # Records created on the platform: the local connector requires no field.
    cli.ok("integration", "update", "acme", "--create-in-platform", "all")
    output = cli.ok("doctor", "acme")
    assert "✓ creates Contact → prospect: required fields: none" in output
    assert "✓ creates Lead → prospect: required fields: none" in output


def run_demo(cli, tmp_path, *args):
    # The real catalog: the demo drives the installed salesforce connector.
    return cli.runner.invoke(app, ["demo", *args], obj=CliState())


def test_demo_reuse_keeps_the_prospects_and_adds_an_integration(cli, tmp_path):
    first = run_demo(cli, tmp_path, "--prospects", "200", "--dir", "demo")
    assert first.exit_code == 0, first.output
    again = run_demo(cli, tmp_path, "--prospects", "200", "--dir", "demo", "--reuse")
    assert again.exit_code == 0, (again.output, again.exception)
    output = again.output
    assert "platform: reusing 2" in output  # the 200, and what the first run created
    assert "integration 'demo-2'" in output
    assert ", 0 ambiguous matches" in output and "both changed the first name" in output
    # Every command the demo prints names its state store, as `explore further` does.
    suggested = re.findall(r"`(crmsync [^`]*errors demo[^`]*)`", first.output + output)
    assert suggested, first.output
    for command in suggested:
        assert command.startswith(
            "crmsync --database-url sqlite:///demo/crmsync-demo.db errors demo"
        ), command


def test_demo_reuse_with_too_few_unedited_prospects_is_one_line(cli, tmp_path):
    from crmsync.connectors.local import LocalStore

    assert run_demo(cli, tmp_path, "--prospects", "10").exit_code == 0
    # As if many runs had edited every prospect: none is left to show an edit on.
    platform = LocalStore(tmp_path / "crmsync-demo-platform.db")
    for row in platform.query("SELECT id FROM prospect WHERE deleted_at IS NULL"):
        platform.update(row["id"], {"first_name": "Jo"})
    platform.close()
    result = run_demo(cli, tmp_path, "--prospects", "10", "--reuse")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: the first cycle linked ") and "too few" in line
    assert line.endswith("(start over from new files with `crmsync demo`)")
