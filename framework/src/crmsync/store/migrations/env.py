"""Alembic environment: runs on the connection the StateStore hands over."""

from __future__ import annotations

from alembic import context

from crmsync.store._schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - crmsync always passes its own connection
    raise RuntimeError("run migrations through crmsync.store.Database.migrate()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
