"""The ``local`` platform connector: the embedded default platform side, prospects in
SQLite.

Two audiences:

* **crmsync users** who keep prospects in crmsync's own file: :class:`LocalStore`
  imports a CSV (:meth:`LocalStore.import_csv`), upserts, reads and deletes prospects,
  and fills a demo file with fake people (:meth:`LocalStore.seed_fake`).
* **Platform teams** writing a connector for their own prospect database: this package
  is the worked example. ``_fields`` declares the object and checks values, ``_store``
  owns the SQL (keyset feed, tombstones, one transaction per write batch),
  ``_connector`` maps each hook onto it and translates failures into
  :mod:`crmsync.errors`.

The connector is registered like any third-party one, through the ``crmsync.connectors``
entry-point group (``local = "crmsync.connectors.local:LocalConnector"``).
"""

from __future__ import annotations

from crmsync.connectors.local._connector import LocalConnector, LocalSettings
from crmsync.connectors.local._csv import ImportReport, LineError
from crmsync.connectors.local._fields import OBJECT_NAME, PROSPECT_FIELDS, STATUS_VALUES
from crmsync.connectors.local._store import Clock, LocalStore

__all__ = [
    "OBJECT_NAME",
    "PROSPECT_FIELDS",
    "STATUS_VALUES",
    "Clock",
    "ImportReport",
    "LineError",
    "LocalConnector",
    "LocalSettings",
    "LocalStore",
]
