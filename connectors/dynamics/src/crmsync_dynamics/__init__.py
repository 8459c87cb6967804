"""Microsoft Dynamics 365 (Dataverse) connector for crmsync: leads and contacts over the
Web API.

``DynamicsConnector`` implements the crmsync hooks; ``DynamicsSettings`` is its settings
model (``CRMSYNC_DYNAMICS_*``); :mod:`crmsync_dynamics.emulator` is a local Dataverse.
"""

from __future__ import annotations

from crmsync_dynamics._connector import DynamicsConnector
from crmsync_dynamics._settings import DynamicsSettings

__all__ = ["DynamicsConnector", "DynamicsSettings"]
__version__ = "0.1.0"
