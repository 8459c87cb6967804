"""The kit against the reference connectors: every check passes or is skipped with a
reason."""

from __future__ import annotations

import pytest

from crmsync.testing import ConnectorContract, LocalSandbox, MemorySandbox
from crmsync.testing.memory import MemoryConnector


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
