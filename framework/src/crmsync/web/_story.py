"""A record's story: for one linked pair, each mapped field's value on both sides as
the last cycle left them, when each side last changed, and the pair's open errors.

ops gap: there is no operation that reads one link; this read uses the store's own
``store.links.find`` (the engine's lookup) and belongs in :mod:`crmsync.operations`. The
per-field decision log the issue asks for (which rule wrote each value in which run,
kept within a retention) is not recorded by the engine yet, so the story shows values
and times, not the rule of each write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from crmsync.errors import ConfigurationError
from crmsync.models import Integration
from crmsync.operations import OpenError, Workspace, get_integration, open_errors
from crmsync.store import stored_id

__all__ = ["FieldStory", "NotFound", "RecordStory", "record_story"]


class NotFound(ConfigurationError):
    """No such object in the integration, or the record is linked to nothing."""


class FieldStory(BaseModel):
    """One mapped field of the pair, as the last cycle that saw the pair left it."""

    platform_field: str
    crm_field: str
    direction: str
    platform_value: Any = None
    crm_value: Any = None
    in_baseline: bool


class RecordStory(BaseModel):
    """One linked pair of records."""

    integration: str
    platform_object: str
    platform_id: str
    crm_object: str
    crm_id: str
    platform_modified_at: dt.datetime | None
    crm_modified_at: dt.datetime | None
    fields: list[FieldStory]
    open_errors: list[OpenError]


def _sides(integration: Integration, object_name: str) -> list[str]:
    sides = []
    for pair in integration.object_pairs:
        if pair.platform_object == object_name and "platform" not in sides:
            sides.append("platform")
        if pair.crm_object == object_name and "crm" not in sides:
            sides.append("crm")
    return sides


def record_story(
    ws: Workspace, name: str, object_name: str, record_id: str
) -> RecordStory:
    """The story of the pair ``record_id`` (of ``object_name``, on either side) is in.

    :raises ConfigurationError: the integration has no such object, or the record is
        linked to nothing (yet).
    """
    integration = get_integration(ws, name)
    sides = _sides(integration, object_name)
    if not sides:
        objects = sorted(
            {p.platform_object for p in integration.object_pairs}
            | {p.crm_object for p in integration.object_pairs}
        )
        raise NotFound(
            f"integration {name!r} syncs no object {object_name!r}",
            hint=f"its objects: {', '.join(objects)}",
        )
    store = ws.existing_store()
    iid = stored_id(integration)
    link = None
    with store.database.transaction() as tx:
        for side in sides:
            found = store.links.find(tx, iid, side, [(object_name, record_id)])
            link = found.get((object_name, record_id))
            if link is not None:
                break
    if link is None:
        raise NotFound(
            f"{object_name} {record_id} is not linked in integration {name!r}",
            hint="a record is linked when a cycle matches or creates it",
        )
    pair = next(
        p
        for p in integration.object_pairs
        if p.platform_object == link.platform_object and p.crm_object == link.crm_object
    )
    fields = []
    for mapping in pair.mappings:
        values = link.baseline.get(mapping.key)
        fields.append(
            FieldStory(
                platform_field=mapping.platform_field,
                crm_field=mapping.crm_field,
                direction=mapping.direction.value,
                platform_value=values[0] if values else None,
                crm_value=values[1] if values else None,
                in_baseline=values is not None,
            )
        )
    ids = {link.platform_id, link.crm_id}
    errors = [
        error
        for error in open_errors(ws, name, limit=10_000).errors
        if error.record_id in ids
    ]
    return RecordStory(
        integration=name,
        platform_object=link.platform_object,
        platform_id=link.platform_id,
        crm_object=link.crm_object,
        crm_id=link.crm_id,
        platform_modified_at=link.platform_modified_at,
        crm_modified_at=link.crm_modified_at,
        fields=fields,
        open_errors=errors,
    )
