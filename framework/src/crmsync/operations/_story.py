"""A record's story: one linked pair, each mapped field's value on both sides as the
last cycle left it, which rule wrote each value in which run (the decision log), and
the pair's open errors. ``crmsync explain``, the API and the record page read it here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmsync.contract import Capability
from crmsync.errors import CrmsyncError, NotFound
from crmsync.models import Integration, ObjectPair
from crmsync.operations._models import OpenError, _Answer
from crmsync.operations._reads import open_error
from crmsync.operations._workspace import Workspace
from crmsync.policy import match_key
from crmsync.store import DecisionRow, LinkRow, StateStore, stored_id

__all__ = ["FieldDecision", "FieldStory", "RecordStory", "explain"]

DECISIONS_PER_FIELD = 5  # the newest logged writes shown for each field


class FieldDecision(_Answer):
    """One logged write of a field: which rule wrote which value to which side, when
    and in which run."""

    rule: str
    side: str
    field: str
    value: Any = None
    run_id: int | None
    at: dt.datetime


class FieldStory(_Answer):
    """One mapped field of the pair, as the last cycle that saw the pair left it, and
    its newest logged writes (newest first)."""

    platform_field: str
    crm_field: str
    direction: str
    platform_value: Any = None
    crm_value: Any = None
    in_baseline: bool
    decisions: list[FieldDecision]


class RecordStory(_Answer):
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
    decision_log_days: float


def _links_by_id(
    store: StateStore,
    iid: int,
    integration: Integration,
    record: str,
    object_name: str | None,
) -> dict[int | None, LinkRow]:
    """Links whose platform or CRM record (of ``object_name`` when given) has the id
    ``record``, by link id."""
    found: dict[int | None, LinkRow] = {}
    with store.database.transaction() as tx:
        for side, objects in (
            ("platform", {p.platform_object for p in integration.object_pairs}),
            ("crm", {p.crm_object for p in integration.object_pairs}),
        ):
            if object_name is not None:
                objects &= {object_name}
            keys = [(object_name, record) for object_name in sorted(objects)]
            for link in store.links.find(tx, iid, side, keys).values():
                found[link.id] = link
    return found


def _ids_by_match_key(
    ws: Workspace, integration: Integration, key: str
) -> dict[str, set[tuple[str, str]]]:
    """(object, id) of each side's records whose match field holds ``key``, asked of
    the connectors that can look records up."""
    found: dict[str, set[tuple[str, str]]] = {"platform": set(), "crm": set()}
    sides = (
        ("platform", integration.platform_connector, integration.platform_settings),
        ("crm", integration.crm_connector, integration.crm_settings),
    )
    for side, connector, settings in sides:
        connection = ws.open_connection(
            connector, settings, integration=integration.name, side=side, create=False
        )
        if Capability.LOOKUP not in connection.description.capabilities:
            continue
        for pair in integration.object_pairs:
            object_name, field = (
                (pair.platform_object, pair.platform_match_field)
                if side == "platform"
                else (pair.crm_object, pair.crm_match_field)
            )
            for record in connection.lookup_records(
                object_name, field=field, values=[key], fields=[field]
            ):
                if match_key(record.values.get(field)) == key:
                    found[side].add((object_name, record.record_id))
    return found


def _check_object(integration: Integration, object_name: str) -> None:
    objects = sorted(
        {p.platform_object for p in integration.object_pairs}
        | {p.crm_object for p in integration.object_pairs}
    )
    if object_name not in objects:
        raise NotFound(
            f"integration {integration.name!r} syncs no object {object_name!r}",
            hint=f"its objects: {', '.join(objects)}",
            field="object_name",
        )


def _find_link(
    ws: Workspace, integration: Integration, record: str, object_name: str | None
) -> LinkRow:
    store = ws.existing_store()
    iid = stored_id(integration)
    if object_name is not None:
        _check_object(integration, object_name)
    links = _links_by_id(store, iid, integration, record, object_name)
    key = match_key(record)
    if not links and key is not None:
        # Not an id of either side: perhaps a match key (an email, or whatever field
        # the pairs match on), asked of the connectors that can look records up.
        try:
            by_key = _ids_by_match_key(ws, integration, key)
        except CrmsyncError as error:
            raise NotFound(
                f"no record {record!r} is linked in integration {integration.name!r} "
                "by id, and its match key could not be looked up",
                hint=str(error),
                field="record",
            ) from None
        with store.database.transaction() as tx:
            for side, keys in by_key.items():
                for link in store.links.find(tx, iid, side, sorted(keys)).values():
                    links[link.id] = link
    if not links:
        raise NotFound(
            f"no record {record!r} is linked in integration {integration.name!r}",
            hint="give a platform or CRM record id, or a match key such as an email; "
            "a record is linked when a cycle matches or creates it",
            field="record",
        )
    if len(links) > 1:
        pairs = ", ".join(
            f"{link.platform_object} {link.platform_id} <-> "
            f"{link.crm_object} {link.crm_id}"
            for link in links.values()
        )
        raise NotFound(
            f"{record!r} names {len(links)} linked pairs in integration "
            f"{integration.name!r}: {pairs}",
            hint="give one record's id instead",
            field="record",
        )
    return next(iter(links.values()))


def _pair_of(integration: Integration, link: LinkRow) -> ObjectPair | None:
    return next(
        (
            p
            for p in integration.object_pairs
            if p.platform_object == link.platform_object
            and p.crm_object == link.crm_object
        ),
        None,
    )


def _decisions(row: DecisionRow) -> FieldDecision:
    return FieldDecision(
        rule=row.rule,
        side=row.side,
        field=row.field,
        value=row.value,
        run_id=row.run_id,
        at=row.decided_at,
    )


def explain(
    ws: Workspace, name: str, record: str, *, object_name: str | None = None
) -> RecordStory:
    """The story of the linked pair ``record`` is in: a platform or CRM record id (of
    ``object_name`` when given), or a match key (an email) that names exactly one
    linked pair, looked up through the connectors that can look records up.

    :raises NotFound: no such integration or object, or ``record`` names no linked
        pair (or more than one).
    """
    from crmsync.operations._integrations import get_integration

    integration = get_integration(ws, name)
    link = _find_link(ws, integration, record.strip(), object_name)
    store = ws.existing_store()
    iid = stored_id(integration)
    records = [
        ("platform", link.platform_object, link.platform_id),
        ("crm", link.crm_object, link.crm_id),
    ]
    logged: dict[tuple[str, str], list[FieldDecision]] = {}
    for row in store.decisions.for_records(iid, records):
        entries = logged.setdefault((row.side, row.field), [])
        if len(entries) < DECISIONS_PER_FIELD:
            entries.append(_decisions(row))
    pair = _pair_of(integration, link)
    fields = []
    for mapping in pair.mappings if pair is not None else ():
        values = link.baseline.get(mapping.key)
        decisions = logged.get(("platform", mapping.platform_field), []) + logged.get(
            ("crm", mapping.crm_field), []
        )
        decisions.sort(key=lambda d: d.at, reverse=True)
        fields.append(
            FieldStory(
                platform_field=mapping.platform_field,
                crm_field=mapping.crm_field,
                direction=mapping.direction.value,
                platform_value=values[0] if values else None,
                crm_value=values[1] if values else None,
                in_baseline=values is not None,
                decisions=decisions[:DECISIONS_PER_FIELD],
            )
        )
    errors = [
        open_error(row)
        for row in store.history.open_errors(iid, limit=100, records=records)
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
        decision_log_days=ws.get_settings().decision_log_days,
    )
