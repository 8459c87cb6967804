"""The docs: a strict build, current generated pages, and nothing undocumented."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def generator():
    spec = importlib.util.spec_from_file_location(
        "docs_generate", DOCS / "_generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    return generator().generate(tmp_path_factory.mktemp("reference"))


def test_generated_reference_pages_are_current(pages):
    for name, text in pages.items():
        checked_in = (DOCS / "reference" / name).read_text(encoding="utf-8")
        assert checked_in == text, (
            f"docs/reference/{name} is stale: run python docs/_generate.py"
        )


def test_every_hook_is_documented(pages):
    from crmsync.contract import HOOK_NAMES, hookspecs

    hooks_page = pages["hooks.md"]
    for name in HOOK_NAMES:
        assert f"## `{name}`" in hooks_page, (
            f"hook {name} missing from docs/reference/hooks.md"
        )
        doc = getattr(hookspecs, name).__doc__ or ""
        assert ":since:" in doc, f"hook {name}'s docstring does not say since when"
    documented = set(re.findall(r"^## `(\w+)`", hooks_page, re.M))
    assert documented == set(HOOK_NAMES)
    # HOOK_NAMES comes from the hookspecs; the contract's three hooks are among them.
    assert {"fetch_changed", "push_updates", "list_fields"} <= set(HOOK_NAMES)
    assert HOOK_NAMES[0] == "describe_connector" and len(HOOK_NAMES) == 10


def test_every_cli_command_is_documented(pages):
    cli_page = pages["cli.md"]
    paths = generator().command_paths()
    assert "crmsync mapping apply" in paths and "crmsync errors retry" in paths
    for path in paths:
        match = re.search(rf"^#+ `{re.escape(path)}`\n\n(.+)$", cli_page, re.M)
        assert match, f"command {path!r} missing from docs/reference/cli.md"
        assert match.group(1).strip(), f"command {path!r} has no help text"


def test_every_setting_is_documented(pages):
    from crmsync.settings import CrmsyncSettings

    for name in CrmsyncSettings.model_fields:
        assert f"`CRMSYNC_{name.upper()}`" in pages["configuration.md"]


def test_vendor_table_covers_every_vendor_and_hook_concern():
    text = (DOCS / "vendors.md").read_text(encoding="utf-8")
    for vendor in ("Salesforce", "Dynamics 365", "Zoho", "Autotask"):
        assert vendor in text
    for concern in (
        "paging",
        "change cursor",
        "write batches",
        "per-record results",
        "deletions",
        "merges",
        "conversions",
    ):
        assert f"**{concern}**" in text


def test_strict_docs_build(tmp_path):
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: uv sync installs the dev group")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "reference" / "cli" / "index.html").exists()
    assert (tmp_path / "writing-a-connector" / "index.html").exists()
