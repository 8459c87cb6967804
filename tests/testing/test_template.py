"""The connector template renders a package whose first contract-kit run passes.

Nothing is installed: the rendered ``src`` goes on ``PYTHONPATH`` next to a minimal
``.dist-info`` with the rendered entry points (all ``importlib.metadata`` reads), so the
kit's entry-point check runs against the template's real ``pyproject.toml``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

copier = pytest.importorskip("copier")

TEMPLATE = Path(__file__).parents[2] / "templates" / "connector"
ANSWERS = {
    "connector_id": "acme_crm",
    "vendor_name": "Acme CRM",
    "author_name": "Kit Tester",
    "author_email": "kit@example.com",
}


def fake_install(project: Path, site: Path) -> None:
    """Write the ``.dist-info`` an installer would, from the rendered pyproject."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    lines = []
    for group, entries in meta["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_rendered_connector_passes_the_kit(tmp_path: Path) -> None:
    project = tmp_path / "crmsync-acme-crm"
    copier.run_copy(
        str(TEMPLATE), project, data=ANSWERS, defaults=True, unsafe=True, quiet=True
    )
    assert (project / "src" / "crmsync_acme_crm" / "_connector.py").is_file()
    fake_install(project, tmp_path / "site")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project / "src"), str(tmp_path / "site")]),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-rs",
            "tests",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output and "failed" not in output, output
    assert "Unsupported" not in output


LOST_ANSWER = """
import httpx
from crmsync.contract import WriteRequest
from crmsync.errors import OutcomeUnknown
from crmsync.plugins import Connection, InstalledConnector, build_settings, describe
from crmsync_acme_crm import AcmeCrmConnector
from crmsync_acme_crm.emulator import Emulator

emulator = Emulator()
emulator.oauth.register_client("app", secret="test-s3cret")
lost = [1]

def handler(request):
    response = emulator.handle(request)  # the vendor carries the batch out...
    if request.url.path == "/v1/contacts/batch" and lost[0]:
        lost[0] -= 1
        raise httpx.ReadTimeout("timed out", request=request)  # ...the answer is lost
    return response

installed = InstalledConnector(
    "acme_crm", AcmeCrmConnector, describe("acme_crm", AcmeCrmConnector), None, None
)
connection = Connection(
    installed,
    build_settings(installed, {"client_id": "app", "client_secret": "test-s3cret"}),
    factory_kwargs={"transport": httpx.MockTransport(handler)},
    sleep=lambda seconds: None,
)
create = WriteRequest(
    ref="r1", op="create", values={"email": "p@example.com", "last_name": "P"}
)
try:
    connection.push_updates("contact", [create])
    raise SystemExit("the lost create was repeated")
except OutcomeUnknown:
    pass
assert len(emulator.contacts) == 1, emulator.contacts
print("not repeated")
"""


def test_rendered_connector_never_repeats_a_create_whose_answer_was_lost(
    tmp_path: Path,
) -> None:
    project = tmp_path / "crmsync-acme-crm"
    copier.run_copy(
        str(TEMPLATE), project, data=ANSWERS, defaults=True, unsafe=True, quiet=True
    )
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    result = subprocess.run(
        [sys.executable, "-c", LOST_ANSWER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not repeated" in result.stdout


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"vendor_name": 'Big "Co" CRM'}, "double quotes"),
        ({"vendor_name": "back\\slash"}, "backslashes"),
        ({"package_name": "crmsync-acme"}, "importable Python name"),
    ],
)
def test_answers_that_would_render_broken_code_are_refused(
    tmp_path: Path, answer: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        copier.run_copy(
            str(TEMPLATE),
            tmp_path / "x",
            data={**ANSWERS, **answer},
            defaults=True,
            unsafe=True,
            quiet=True,
        )


def render(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The rendered project, fake-installed: its env finds it by entry point only."""
    project = tmp_path / "crmsync-acme-crm"
    copier.run_copy(
        str(TEMPLATE), project, data=ANSWERS, defaults=True, unsafe=True, quiet=True
    )
    fake_install(project, tmp_path / "site")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project / "src"), str(tmp_path / "site")]),
    }
    return project, env


def test_a_connector_outside_the_repository_gets_a_working_demo(
    tmp_path: Path,
) -> None:
    """`crmsync demo --crm acme_crm` finds the rendered connector by its entry point,
    and its emulator by ``ConnectorDescription.emulator``; crmsync names neither."""
    _project, env = render(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from crmsync.cli import main; main()",
            "demo",
            "--crm",
            "acme_crm",
            "--prospects",
            "100",
            "--dir",
            str(tmp_path / "demo"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Acme CRM emulator on http://127.0.0.1:" in output
    assert "both changed the first name" in output and "'Jon'" in output
    assert "client_secret" not in output
    last = output.split("a fourth cycle with no new edits writes nothing")[1]
    for side in ("platform", "crm"):
        row = re.search(rf"│ {side}\s*│([^\n]*)", last)
        assert row is not None, last
        written = [cell.strip() for cell in row.group(1).split("│")[2:5]]
        assert written == ["0", "0", "0"], row.group(0)


def test_the_rendered_project_records_its_answers_and_carries_its_tooling(
    tmp_path: Path,
) -> None:
    project, _env = render(tmp_path)
    answers = (project / ".copier-answers.yml").read_text()
    assert "_src_path:" in answers and "connector_id: acme_crm" in answers
    assert (project / ".github" / "workflows" / "ci.yml").is_file()
    config = tomllib.loads((project / "pyproject.toml").read_text())
    assert config["tool"]["mypy"]["strict"] is True and "ruff" in config["tool"]
    readme = (project / "README.md").read_text()
    assert "git+https://" in readme  # how to install while crmsync is unreleased


@pytest.mark.slow  # mypy on a fresh project takes a minute
def test_the_rendered_project_passes_its_own_ruff_and_mypy(tmp_path: Path) -> None:
    project, env = render(tmp_path)
    for command in (["ruff", "check", "."], ["mypy"]):
        checked = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
