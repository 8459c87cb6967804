"""The ``sql`` platform connector: sync a prospect table you already own.

Point crmsync at a PostgreSQL or MySQL/MariaDB table with settings alone (a database
URL, the table, its id and modification-time columns, optionally a soft-delete column
and a view to read from); no connector code to write. See
``docs/own-prospect-table.md``.

* ``_settings``: :class:`SqlSettings` (``CRMSYNC_SQL_*``); the password is a secret
  setting of its own, never part of the stored URL.
* ``_table``: reflection: columns become ``list_fields``, values convert to canonical
  form.
* ``_feed``: the keyset change feed and the id reconciliation that finds hard deletes.
* ``_writes``: batched writes, one transaction per batch, answered record by record.
* ``_checks``: what makes a table safe to sync, and the DDL that fixes it (printed by
  ``python -m crmsync.connectors.sql ddl``, never run by crmsync).

Registered through the ``crmsync.connectors`` entry-point group
(``sql = "crmsync.connectors.sql:SqlConnector"``).
"""

from __future__ import annotations

from crmsync.connectors.sql._checks import feed_index_ddl, modification_time_ddl
from crmsync.connectors.sql._connector import SqlConnector
from crmsync.connectors.sql._settings import SqlSettings
from crmsync.connectors.sql._table import OBJECT_NAME

__all__ = [
    "OBJECT_NAME",
    "SqlConnector",
    "SqlSettings",
    "feed_index_ddl",
    "modification_time_ddl",
]
