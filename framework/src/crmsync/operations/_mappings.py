"""Field mappings: add, edit, delete, with the pause rule and the live-field checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmsync.errors import Conflict, IntegrationActive, MappingError
from crmsync.models import Direction, Integration, ObjectPair
from crmsync.operations._checks import LiveFields
from crmsync.operations._models import MappingChange, MappingEdit, MappingSpec, PairRef
from crmsync.operations._workspace import Workspace

__all__ = [
    "add_mapping",
    "delete_mapping",
    "edit_mapping",
    "paused_integration",
    "select_pairs",
]


def paused_integration(ws: Workspace, name: str, action: str) -> Integration:
    """The integration ``name``, or the refusal that names how to pause it: mappings
    change only while an integration is paused.

    :raises IntegrationActive: the integration is active.
    """
    integration = ws.existing_store().config.get_integration(name)
    if integration.active:
        raise IntegrationActive(
            f"cannot {action} while integration {name!r} is active",
            hint=f"pause it first with `crmsync integration pause {name}`",
        )
    return integration


def _ref(pair: ObjectPair) -> PairRef:
    return PairRef(platform_object=pair.platform_object, crm_object=pair.crm_object)


def select_pairs(
    integration: Integration, refs: Sequence[PairRef] | None
) -> list[ObjectPair]:
    """The pairs named by ``refs`` (every pair, in match order, when none is named).

    :raises MappingError: a named pair the integration does not have.
    """
    pairs = integration.pairs_in_match_order()
    if not refs:
        return pairs
    chosen = []
    for ref in refs:
        match = [
            p
            for p in pairs
            if p.platform_object == ref.platform_object
            and p.crm_object == ref.crm_object
        ]
        if not match:
            known = ", ".join(str(_ref(p)) for p in pairs) or "none"
            raise MappingError(
                f"integration {integration.name!r} has no object pair {str(ref)!r}",
                hint=f"its pairs: {known}",
            )
        chosen.extend(match)
    return chosen


def _put(
    ws: Workspace,
    name: str,
    refs: Sequence[PairRef] | None,
    specs: list[dict[str, Any]],
    *,
    updating: bool,
) -> list[MappingChange]:
    action = "change a mapping" if updating else "add a mapping"
    integration = paused_integration(ws, name, action)
    pairs = select_pairs(integration, refs)
    live = LiveFields(*ws.open_integration(integration))
    planned: list[MappingChange] = []
    for pair in pairs:
        for spec in specs:
            platform_field, crm_field = spec["platform_field"], spec["crm_field"]
            existing = pair.mapping_for(platform_field, crm_field)
            if updating and existing is None:
                raise MappingError(
                    f"no mapping {platform_field} ↔ {crm_field} on "
                    f"{pair.platform_object}:{pair.crm_object}",
                    hint=f"add it with `crmsync mapping add {name} {platform_field} "
                    f"{crm_field}`",
                )
            if not updating and existing is not None:
                # A conflict with what is stored (the API's 409), not bad input: the
                # same request is valid for a pair that lacks this mapping.
                raise Conflict(
                    f"{platform_field} ↔ {crm_field} is already mapped on "
                    f"{pair.platform_object}:{pair.crm_object}",
                    hint=f"change it with `crmsync mapping update {name} ...`",
                    field="crm_field",
                )
            built = dict(spec)
            clear_default = built.pop("clear_default", False)
            if existing is not None:
                # What an edit leaves out keeps its stored value.
                for key in ("direction", "default", "conflict_rule"):
                    keep = key != "default" or not clear_default
                    if built.get(key) is None and keep:
                        built[key] = getattr(existing, key)
            if built.get("direction") is None:
                built["direction"] = Direction.SYNC
            new = live.build(pair, **built)
            planned.append(MappingChange(pair=_ref(pair), old=existing, new=new))
    # Everything is validated before anything is stored, and stored in one
    # transaction.
    ws.existing_store().config.change_mappings(
        name,
        puts=[
            (c.pair.platform_object, c.pair.crm_object, c.new)
            for c in planned
            if c.new is not None
        ],
    )
    return planned


def add_mapping(
    ws: Workspace,
    name: str,
    spec: MappingSpec,
    pairs: Sequence[PairRef] | None = None,
) -> list[MappingChange]:
    """Add a mapping to each of ``pairs`` (every pair when omitted) of the paused
    integration ``name``, checked against both sides' ``list_fields``; the pairs'
    cursors restart so the next cycle back-fills it.

    :raises MappingError: the integration is active, a field is unknown or read-only
        for the direction, the types cannot convert.
    :raises Conflict: the mapping exists (``field`` names ``crm_field``).
    """
    return _put(ws, name, pairs, [spec.model_dump()], updating=False)


def edit_mapping(
    ws: Workspace,
    name: str,
    edit: MappingEdit,
    pairs: Sequence[PairRef] | None = None,
) -> list[MappingChange]:
    """Change an existing mapping's direction, default or conflict rule on each of
    ``pairs`` (every pair when omitted), checked as :func:`add_mapping` checks.

    :raises MappingError: the integration is active, no such mapping, or a check fails.
    """
    return _put(ws, name, pairs, [edit.model_dump()], updating=True)


def delete_mapping(
    ws: Workspace,
    name: str,
    platform_field: str,
    crm_field: str,
    pairs: Sequence[PairRef] | None = None,
) -> list[MappingChange]:
    """Delete a mapping from ``pairs``, or from every pair that has it.

    :raises MappingError: the integration is active, or no such mapping.
    """
    integration = paused_integration(ws, name, "delete a mapping")
    chosen = [
        p
        for p in select_pairs(integration, pairs)
        if pairs or p.mapping_for(platform_field, crm_field) is not None
    ]
    if not chosen:
        raise MappingError(
            f"no mapping {platform_field} ↔ {crm_field} in {name!r}",
            hint=f"list them with `crmsync mapping list {name}`",
        )
    changes = []
    for pair in chosen:
        old = pair.mapping_for(platform_field, crm_field)
        ws.existing_store().config.delete_mapping(
            name, pair.platform_object, pair.crm_object, platform_field, crm_field
        )
        changes.append(MappingChange(pair=_ref(pair), old=old))
    return changes
