"""crmsync's pytest plugin (entry point ``pytest11``: ``crmsync =
"crmsync.testing.plugin"``).

Installed with crmsync, so any connector package's tests can use these fixtures without
a conftest. It stays cheap to import: the kit itself is imported only by the tests that
use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from crmsync.testing.sandboxes import LocalSandbox, MemorySandbox


def pytest_report_header() -> str:
    from crmsync.contract import CONTRACT_VERSION

    return f"crmsync plugin contract: {CONTRACT_VERSION}"


@pytest.fixture
def crmsync_local_sandbox(tmp_path: Path) -> Iterator[LocalSandbox]:
    """A ``local`` connector sandbox over a fresh SQLite file."""
    from crmsync.testing.sandboxes import LocalSandbox

    sandbox = LocalSandbox(tmp_path)
    yield sandbox
    sandbox.close()


@pytest.fixture
def crmsync_memory_sandbox() -> MemorySandbox:
    """A ``memory`` connector sandbox over a fresh backend (supports every fault)."""
    from crmsync.testing.sandboxes import MemorySandbox

    return MemorySandbox()
