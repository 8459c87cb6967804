"""Autotask PSA connector for crmsync: Contacts and Companies over the REST API.

``AutotaskConnector`` implements the crmsync hooks; ``AutotaskSettings`` is its
settings model (``CRMSYNC_AUTOTASK_*``); :mod:`crmsync_autotask.emulator` is a local
Autotask tenant.
"""

from __future__ import annotations

from crmsync_autotask._connector import AutotaskConnector
from crmsync_autotask._settings import AutotaskSettings

__all__ = ["AutotaskConnector", "AutotaskSettings"]
__version__ = "0.1.0"
