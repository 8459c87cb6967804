"""The kit against the reference connectors: every check passes or is skipped with a
reason."""

from __future__ import annotations

import pytest

from crmsync.testing import ConnectorContract, LocalSandbox, MemorySandbox
from crmsync.testing.memory import MemoryConnector

# crmsync.plugins._retry passes tenacity's deprecated `initial` (reported; not ours to
# edit).
pytestmark = pytest.mark.filterwarnings(
    "ignore:The 'initial' parameter is deprecated:DeprecationWarning"
)


class TestLocalContract(ConnectorContract):
    connector_id = "local"

    @pytest.fixture
    def sandbox(self, crmsync_local_sandbox: LocalSandbox) -> LocalSandbox:
        return crmsync_local_sandbox


class TestMemoryContract(ConnectorContract):
    connector_id = "memory"
    connector_class = MemoryConnector
    require_entry_point = (
        False  # the memory connector is not registered as an entry point
    )

    @pytest.fixture
    def sandbox(self, crmsync_memory_sandbox: MemorySandbox) -> MemorySandbox:
        return crmsync_memory_sandbox
