"""The sync engine: cycles between a platform connection and a CRM connection.

:class:`SyncEngine` runs cycles, each through named collaborators over one per-cycle
context (see :mod:`.cycle`); :mod:`.report` describes their outcome; :mod:`.runtime`
opens an integration's connections.
"""

from __future__ import annotations

from crmsync.engine.cycle import SyncEngine
from crmsync.engine.report import CycleReport, PlannedWrite, Progress, SideCounts
from crmsync.engine.runtime import (
    freeze_long_lived_objects,
    open_connection,
    open_integration_connections,
)
from crmsync.errors import CycleBusy  # re-exported: it was first defined here

__all__ = [
    "CycleBusy",
    "CycleReport",
    "PlannedWrite",
    "Progress",
    "SideCounts",
    "SyncEngine",
    "freeze_long_lived_objects",
    "open_connection",
    "open_integration_connections",
]
