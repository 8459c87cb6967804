"""For every test in the repository (the framework's and each connector's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_config_per_test() -> Iterator[None]:
    """A test that runs the CLI configures structlog for the process, its output stream
    included (a stream pytest closes after the test): put the configuration back, so
    that a later test's log line never goes to a closed stream."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
