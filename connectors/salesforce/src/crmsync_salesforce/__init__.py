"""Salesforce connector for crmsync: Leads and Contacts over the REST API.

``SalesforceConnector`` implements the crmsync hooks; ``SalesforceSettings`` is its
settings model (``CRMSYNC_SALESFORCE_*``); :mod:`crmsync_salesforce.emulator` is a local
Salesforce.
"""

from __future__ import annotations

from crmsync_salesforce._connector import SalesforceConnector
from crmsync_salesforce._settings import SalesforceSettings

__all__ = ["SalesforceConnector", "SalesforceSettings"]
__version__ = "0.1.0"
