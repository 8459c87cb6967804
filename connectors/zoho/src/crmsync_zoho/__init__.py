"""Zoho CRM (Leads, Contacts) connector for crmsync, with a faithful local emulator
(:mod:`crmsync_zoho.emulator`)."""

from __future__ import annotations

from crmsync_zoho._auth import exchange_grant_code
from crmsync_zoho._connector import ZohoConnector
from crmsync_zoho._settings import API_VERSION, DATA_CENTRES, ZohoSettings

__all__ = ["API_VERSION", "DATA_CENTRES", "ZohoConnector", "ZohoSettings", "exchange_grant_code"]
