"""Global behaviour: help, connectors listing, one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from crmsync.cli import CliState, app


def test_help_lists_every_command(cli):
    output = cli.ok("--help")
    for command in (
        "connectors",
        "integration",
        "fields",
        "mapping",
        "sync",
        "status",
        "history",
        "errors",
        "doctor",
        "demo",
    ):
        assert command in output


def test_no_arguments_shows_help():
    result = CliRunner().invoke(app, [])
    assert "Usage" in result.output


def test_connectors_table_lists_versions_and_failures_as_lines(cli):
    output = cli.ok("connectors")
    assert "memory" in output and "local" in output and "0.1.0" in output
    failure = [line for line in output.splitlines() if "broken" in line]
    assert len(failure) == 1
    assert "failed to load" in failure[0] and "broken_sdk" in failure[0]


def test_connectors_json(cli):
    data = json.loads(cli.ok("connectors", "--json"))
    ids = {row["id"]: row for row in data["connectors"]}
    assert ids["memory"]["objects"] == ["Lead", "Contact"]
    assert "lookup" in ids["memory"]["capabilities"]
    assert ids["local"]["version"] == "0.1.0"
    assert data["failed"][0]["id"] == "broken"


def test_real_discovery_lists_installed_connectors():
    result = CliRunner().invoke(app, ["connectors", "--json"])
    assert result.exit_code == 0, result.output
    assert "local" in {row["id"] for row in json.loads(result.output)["connectors"]}


def test_unknown_command_is_one_line(cli):
    assert "No such command" in cli.fails("nope")


def test_unknown_option_is_one_line(cli):
    assert "--bogus" in cli.fails("connectors", "--bogus")


def test_a_bad_log_level_or_format_is_a_usage_error(cli):
    """Not one of the choices: refused by the option parser (exit 2), like any other
    option's bad choice; any case is accepted, as in the variables."""
    line = cli.fails("--log-level", "LOUD", "connectors")
    assert "'--log-level'" in line and "'LOUD' is not one of" in line, line
    assert cli("--log-level", "verbose", "connectors").exit_code == 2
    line = cli.fails("--log-format", "xml", "connectors")
    assert "'--log-format'" in line and "'xml' is not one of" in line, line
    assert cli("--log-format", "xml", "connectors").exit_code == 2
    cli.ok("--log-level", "debug", "--log-format", "JSON", "connectors")


def test_bad_database_url_is_one_line(cli):
    assert "state store" in cli.fails(
        "--database-url", "nosuchdb://x", "integration", "list"
    )


def test_database_url_option_overrides_settings(cli, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    cli.create("one")
    cli.ok("--database-url", other, "integration", "create", "two", "--crm", "memory")
    output = cli.ok("--database-url", other, "integration", "list", "--json")
    assert [row["name"] for row in json.loads(output)] == ["two"]


def test_a_damaged_state_file_is_one_line_and_left_as_it_was(cli, tmp_path):
    cli.create()
    state = tmp_path / "state.db"
    whole = state.read_bytes()
    for damaged in (bytes(range(256)) * 16, whole[:8192]):  # not SQLite; truncated
        state.write_bytes(damaged)
        for args in (
            ("integration", "list"),
            ("status", "acme"),
            ("sync", "acme"),
            ("integration", "create", "other", "--crm", "memory"),
        ):
            line = cli.fails(*args)
            assert line == (
                f"error: {state} is not a crmsync state database or is damaged "
                "(restore it from a backup or point --database-url elsewhere)"
            ), args
        result = cli("doctor", "acme")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "✗ state store" in result.output and "is damaged" in result.output
        assert state.read_bytes() == damaged


def test_an_env_file_that_is_not_utf8_is_one_line(cli, tmp_path):
    for content in (
        "CRMSYNC_LOG_LEVEL=INFO\n# café\n".encode("latin-1"),
        "CRMSYNC_LOG_LEVEL=INFO\n".encode("utf-16"),
    ):
        (tmp_path / ".env").unlink(missing_ok=True)
        bare, injected = cli.state(), cli.state()  # built before .env is spoilt
        bare.settings = None  # so that the root command reads .env itself
        (tmp_path / ".env").write_bytes(content)
        # The root command's settings read .env, and so do a connector's.
        for args, state in (
            (["connectors"], bare),
            (["fields", "local", "prospect"], injected),
        ):
            result = cli.runner.invoke(app, args, obj=state)
            assert result.exit_code == 1, result.output
            assert "Traceback" not in result.output
            assert result.stderr.startswith(
                "error: cannot read .env: it must be UTF-8 text, and byte "
            ), result.output
            assert len(result.stderr.splitlines()) == 1


def test_a_password_in_the_database_urls_query_is_masked(cli):
    url = "postgresql+psycopg://user@127.0.0.1:1/db?sslmode=disable&password=SEKRITPW5"
    line = cli.fails("--database-url", url, "integration", "list")
    assert "SEKRITPW5" not in line and "password=***" in line
    assert "sslmode=disable" in line
    result = cli("--database-url", url + "&sslpassword=OTHERPW77", "doctor", "acme")
    assert result.exit_code == 1
    assert "SEKRITPW5" not in result.output and "OTHERPW77" not in result.output
    assert "sslpassword=***" in result.output


def test_exit_status_is_1_for_crmsync_errors_and_2_for_usage(cli):
    assert cli("integration", "show", "ghost").exit_code == 1
    assert cli("connectors", "--bogus").exit_code == 2
    assert cli("integration", "create", "x").exit_code == 2  # --crm is missing
    help_text = " ".join(cli.ok("--help").split())
    assert "1 when crmsync reports an error" in help_text
    assert "2 when it cannot parse the command line" in help_text


def test_a_group_without_a_command_prints_its_help_once():
    for args in ([], ["integration"], ["mapping"], ["errors"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, args
        assert result.output.count("Usage:") == 1, (args, result.output)


BAD_SETTINGS = {
    "sqlite_cache_mb": ("abc", "Input should be a valid integer"),
    "log_format": ("xml", "Input should be 'console' or 'json'"),
    "log_level": ("loud", "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    "default_interval_seconds": ("5", "Input should be greater than or equal to 10"),
    "overlap_seconds": ("-1", "Input should be greater than or equal to 0"),
    "write_in_doubt_seconds": ("-5", "Input should be greater than or equal to 0"),
    "decision_log_days": ("-1", "Input should be greater than or equal to 0"),
    "describe_cache_seconds": ("-1", "Input should be greater than or equal to 0"),
    "token_cache_seconds": ("-1", "Input should be greater than or equal to 0"),
}


def test_a_bad_settings_variable_is_named_with_a_hint(cli, monkeypatch):
    from crmsync.settings import CrmsyncSettings

    # database_url and cache_dir take any text; every other setting is covered here.
    assert set(BAD_SETTINGS) == set(CrmsyncSettings.model_fields) - {
        "database_url",
        "cache_dir",
    }
    for field_name, (value, message) in BAD_SETTINGS.items():
        variable = f"CRMSYNC_{field_name.upper()}"
        monkeypatch.setenv(variable, value)
        result = cli.runner.invoke(app, ["connectors"], obj=CliState())
        monkeypatch.delenv(variable)
        assert result.exit_code == 1, result.output
        line = result.stderr.strip()
        assert line.startswith(f"error: {variable}: {message}"), line
        assert line.endswith("(fix it in the environment or .env)"), line
        assert field_name not in line


def test_log_level_and_format_variables_take_any_case(cli, monkeypatch):
    monkeypatch.setenv("CRMSYNC_LOG_LEVEL", "debug")
    monkeypatch.setenv("CRMSYNC_LOG_FORMAT", "JSON")
    result = cli.runner.invoke(app, ["connectors", "--json"], obj=CliState())
    assert result.exit_code == 0, result.output


def test_read_only_commands_create_no_state_database(cli, tmp_path):
    missing = tmp_path / "typo.db"
    for args in (
        ("status", "acme"),
        ("history", "acme"),
        ("errors", "acme"),
        ("integration", "list"),
        ("integration", "show", "acme"),
        ("mapping", "list", "acme"),
    ):
        line = cli.fails("--database-url", f"sqlite:///{missing}", *args)
        assert line == (
            f"error: no state database at {missing} (check --database-url or "
            "CRMSYNC_DATABASE_URL; `crmsync integration create` makes one)"
        ), args
    assert not missing.exists()


def test_a_database_of_another_application_is_refused_and_left_alone(cli):
    import sqlite3

    cli.create()
    cli.ok("mapping", "add", "acme", "email", "Email")  # makes the platform file
    path = cli.platform_path

    def tables() -> list[str]:
        with sqlite3.connect(path) as db:
            return sorted(
                row[0] for row in db.execute("SELECT name FROM sqlite_master")
            )

    before = tables()
    for args in (
        ("integration", "list"),
        ("integration", "create", "x", "--crm", "memory"),
    ):
        line = cli.fails("--database-url", f"sqlite:///{path}", *args)
        assert line == (
            f"error: {path} is not a crmsync state database: it has other tables "
            "(prospect) and no crmsync schema "
            "(point --database-url or CRMSYNC_DATABASE_URL at crmsync's own "
            "database, or at a new file)"
        ), args
    doctor = cli("--database-url", f"sqlite:///{path}", "doctor", "acme")
    assert doctor.exit_code == 1
    assert "is not a crmsync state database" in doctor.output
    assert "not at the newest schema" not in doctor.output
    assert tables() == before


def test_version_names_the_framework_and_each_connector(cli):
    from crmsync import __version__
    from crmsync.contract import CONTRACT_VERSION

    lines = cli.ok("--version").splitlines()
    assert lines[0].startswith(f"crmsync {__version__} (Python ")
    assert lines[1:] == [
        f"  local 0.1.0 (crmsync; contract {CONTRACT_VERSION})",
        f"  memory 0.1.0 (crmsync; contract {CONTRACT_VERSION})",
        "  broken 9.9: failed to load",
    ]


def _command_paths() -> list[list[str]]:
    """Every command path, derived from the application itself."""
    import typer

    paths: list[list[str]] = []

    def walk(command, path):
        paths.append(path)
        for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_every_help_says_what_each_option_takes(cli):
    """No flag shows a `<bool>` placeholder, and no option a Python type such as
    `<list[str]>`: a placeholder names what the option takes (NAME, KEY=VALUE...)."""
    for path in _command_paths():
        output = cli.ok(*path, "--help")
        options = [line for line in output.splitlines() if " --" in line]
        assert options, (path, output)
        for line in options:
            for python_type in ("<bool>", "<list[", "<str>", "<int>", "<path>"):
                assert python_type not in line, (path, line)
