"""A faithful local emulator of the Zoho CRM REST API (accounts server and ``/crm/{v}``),
built on :mod:`crmsync.testing.emulator`.

In-process (hosts ``accounts.zoho.com`` and ``www.zohoapis.com`` answered through the
transport)::

    emulator = ZohoEmulator()
    emulator.register_client("1000.ABC", "s3cret")
    refresh = emulator.issue_refresh_token("1000.ABC")
    client = httpx.Client(transport=emulator.transport())

On a loopback port: ``served = serve(); served.settings`` (what ``crmsync demo`` uses).
Control API: ``seed``, ``edit`` (with a chosen time), ``convert_lead``, ``merge``,
``delete``, ``expire_tokens``; request log ``emulator.log``; faults
``emulator.faults.inject(name, count=1, path_contains=None, **options)``.
"""

from __future__ import annotations

from crmsync_zoho.emulator._core import CONCURRENCY, ZohoEmulator
from crmsync_zoho.emulator._server import DEMO_FIELDS, ServedZoho, serve

__all__ = ["CONCURRENCY", "DEMO_FIELDS", "ServedZoho", "ZohoEmulator", "serve"]
