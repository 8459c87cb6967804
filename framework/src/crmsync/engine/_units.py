"""A unit of work: one linked (or about to be linked) record pair, and its field
decisions.

This module turns rows and a link into writes by calling the pure policy for every
mapped field; it does no I/O. The engine feeds it and applies what it returns.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from crmsync.contract.models import FieldType
from crmsync.engine.report import PlannedWrite
from crmsync.models import CRM, PLATFORM, Integration, Mapping, ObjectPair, Side
from crmsync.policy import (
    Baseline,
    ConversionError,
    SideState,
    convert,
    creation_values,
    decide,
    flows_to,
    normalize,
)
from crmsync.policy.rules import TimeComparison
from crmsync.store import InboxRow, LinkRow


@dataclass(slots=True)
class Failure:
    side: str
    object_name: str
    record_id: str
    code: str
    message: str
    field: str | None = None
    retryable: bool = False


@dataclass(slots=True)
class Unit:
    """One record pair moving through a cycle."""

    pair: ObjectPair
    link: LinkRow
    is_new_link: bool
    rows: list[InboxRow] = field(default_factory=list)
    writes: dict[Side, dict[str, Any]] = field(default_factory=dict)
    creates: Side | None = None
    old_baseline: dict[str, list[Any]] = field(default_factory=dict)
    field_targets: dict[str, Side] = field(default_factory=dict)
    # The rule that decided each written field, by target side and field name: the
    # decision log's rows (only for fields the vendor then accepted).
    rules: dict[Side, dict[str, str]] = field(default_factory=dict)
    pending: int = 0
    failures: list[Failure] = field(default_factory=list)
    ref: str | None = None
    gone: Side | None = None  # the side whose record turned out deleted on write
    seen_before: tuple[dt.datetime | None, dt.datetime | None] | None = None

    @property
    def unchanged(self) -> bool:
        """A re-read of what the link already holds: nothing to store (the overlap
        window re-reads recent records every cycle; they must not cost a write each)."""
        link = self.link
        return (
            not self.is_new_link
            and not self.writes
            and self.seen_before == (link.platform_modified_at, link.crm_modified_at)
            and link.baseline == self.old_baseline
        )

    def record_key(self, side: Side) -> tuple[str, str, str]:
        if side is PLATFORM:
            return ("platform", self.link.platform_object, self.link.platform_id)
        return ("crm", self.link.crm_object, self.link.crm_id)


def _comparable(mapping: Mapping, side: Side, value: Any) -> Any:
    """A side's value in the CRM field's comparable form (bad conversions stay raw)."""
    source = mapping.platform_type if side is PLATFORM else None
    try:
        return _comparable_cached(source, mapping.crm_type, value)
    except TypeError:  # unhashable (a multi-select list): not cached
        return _comparable_of(source, mapping.crm_type, value)


def _comparable_of(source: FieldType | None, target: FieldType, value: Any) -> Any:
    if source is not None:
        try:
            value = convert(value, source, target)
        except ConversionError:
            return ("unconvertible", value)
    return normalize(value, target)


# Names, companies, phones and picklist values repeat across records and cycles; the
# conversion is pure, so it is done once per (types, value). ``typed``: 1, 1.0 and True
# are different values here.
_comparable_cached = functools.lru_cache(maxsize=65_536, typed=True)(_comparable_of)


# Per object pair: (baseline key, platform field, crm field, mapping) of each mapping,
# as plain tuples: every changed record walks them (object pairs are immutable).
_FIELDS: dict[int, tuple[ObjectPair, tuple[tuple[str, str, str, Mapping], ...]]] = {}


def _fields_of(pair: ObjectPair) -> tuple[tuple[str, str, str, Mapping], ...]:
    known = _FIELDS.get(id(pair))
    if known is not None and known[0] is pair:
        return known[1]
    if len(_FIELDS) > 1024:  # integrations reloaded over a long life: start afresh
        _FIELDS.clear()
    fields = tuple((m.key, m.platform_field, m.crm_field, m) for m in pair.mappings)
    _FIELDS[id(pair)] = (pair, fields)
    return fields


def _same(value: Any, other: Any) -> bool:
    """The same raw value, and of the same type (``1 == 1.0 == True`` is not "same")."""
    return value is other or (type(value) is type(other) and value == other)


def decide_fields(
    unit: Unit,
    integration: Integration,
    platform_values: dict[str, Any] | None,
    crm_values: dict[str, Any] | None,
    platform_at: dt.datetime | None,
    crm_at: dt.datetime | None,
    *,
    decisions: dict[str, int],
    planned: list[PlannedWrite] | None,
    times: TimeComparison | None = None,
) -> None:
    """Decide every mapped field of a linked pair; fill ``unit.writes`` and the new
    baseline.

    ``times`` says how the two sides' modification times compare (clock offsets, the
    shared precision, the uncertainty within which two changes tie).

    ``platform_values``/``crm_values`` are ``None`` for a side that did not change: its
    values are then the baseline's, which is what that side still holds.
    """
    link = unit.link
    # Not copied: the link gets a new dict below, and nothing changes the old one.
    old_baseline = unit.old_baseline = link.baseline
    new_baseline: dict[str, list[Any]] = {}
    tie_within = 0.0
    if times is not None:
        platform_at = times.comparable(PLATFORM, platform_at)
        crm_at = times.comparable(CRM, crm_at)
        tie_within = times.tie_within
    for key, platform_field, crm_field, mapping in _fields_of(unit.pair):
        base = old_baseline.get(key)
        if platform_values is not None:
            platform_value = platform_values.get(platform_field)
        elif base is not None:
            platform_value = base[0]
        else:
            # Never seen this side's value (a new mapping): wait for the back-fill.
            continue
        if crm_values is not None:
            crm_value = crm_values.get(crm_field)
        elif base is not None:
            crm_value = base[1]
        else:
            continue
        if platform_value is crm_value or (
            type(platform_value) is type(crm_value) and platform_value == crm_value
        ):
            # The same raw value (``_same``, inlined: this is the hottest line of a
            # cycle) converts and normalizes the same way on both sides: in agreement
            # without running the policy (most fields of most records).
            new_baseline[key] = [platform_value, crm_value]
            continue
        baseline = None
        if base is not None:
            baseline = Baseline(
                platform=_comparable(mapping, PLATFORM, base[0]),
                crm=_comparable(mapping, CRM, base[1]),
            )
            # A side still holding its baseline value (most fields of most records) has
            # the baseline's comparable form: convert it once, not twice.
            if _same(platform_value, base[0]):
                platform_now = baseline.platform
            else:
                platform_now = _comparable(mapping, PLATFORM, platform_value)
            if _same(crm_value, base[1]):
                crm_now = baseline.crm
            else:
                crm_now = _comparable(mapping, CRM, crm_value)
        else:
            platform_now = _comparable(mapping, PLATFORM, platform_value)
            crm_now = _comparable(mapping, CRM, crm_value)
        decision = decide(
            mapping.direction,
            mapping.conflict_rule or integration.source_of_truth,
            platform=SideState(platform_now, platform_at),
            crm=SideState(crm_now, crm_at),
            baseline=baseline,
            tie_within=tie_within,
        )
        target = decision.target
        if target is None:
            new_baseline[key] = [platform_value, crm_value]
            if decision.rule != "in_agreement":
                decisions[decision.rule] = decisions.get(decision.rule, 0) + 1
            continue
        decisions[decision.rule] = decisions.get(decision.rule, 0) + 1
        try:
            if target is CRM:
                value = convert(platform_value, mapping.platform_type, mapping.crm_type)
                new_baseline[key] = [platform_value, value]
                target_field, old = mapping.crm_field, crm_value
            else:
                value = convert(crm_value, mapping.crm_type, mapping.platform_type)
                new_baseline[key] = [value, crm_value]
                target_field, old = mapping.platform_field, platform_value
        except ConversionError as error:
            source = PLATFORM if target is CRM else CRM
            side, obj, record = unit.record_key(source)
            unit.failures.append(
                Failure(
                    side,
                    obj,
                    record,
                    "CONVERSION",
                    str(error),
                    field=mapping.platform_field
                    if source is PLATFORM
                    else mapping.crm_field,
                )
            )
            if base is not None:
                new_baseline[key] = base
            continue
        unit.writes.setdefault(target, {})[target_field] = value
        unit.rules.setdefault(target, {})[target_field] = decision.rule
        unit.field_targets[key] = target
        if planned is not None:
            side, obj, record = unit.record_key(target)
            planned.append(
                PlannedWrite(
                    side, obj, record, "update", target_field, old, value, decision.rule
                )
            )
    link.baseline = new_baseline


def plan_create(
    unit: Unit,
    source: Side,
    source_values: dict[str, Any],
    target_object: str,
    *,
    planned: list[PlannedWrite] | None,
) -> None:
    """Prepare a create on the side opposite ``source``, with mapping defaults for
    blanks.
    """
    target = source.other
    values = creation_values(unit.pair.mappings, source_values, target)
    unit.writes[target] = values
    unit.creates = target
    baseline: dict[str, list[Any]] = {}
    for mapping in unit.pair.mappings:
        if source is PLATFORM:
            source_value = source_values.get(mapping.platform_field)
            target_value = values.get(mapping.crm_field)
            baseline[mapping.key] = [source_value, target_value]
        else:
            source_value = source_values.get(mapping.crm_field)
            target_value = values.get(mapping.platform_field)
            baseline[mapping.key] = [target_value, source_value]
        if flows_to(mapping, target):
            unit.field_targets[mapping.key] = target
    unit.link.baseline = baseline
    if planned is not None:
        for name, value in values.items():
            planned.append(
                PlannedWrite(
                    target.value,
                    target_object,
                    None,
                    "create",
                    name,
                    None,
                    value,
                    f"create_in_{target.value}",
                )
            )


def revert_failed_fields(unit: Unit, failed_side: Side) -> None:
    """After a failed write, keep the old baseline for the fields aimed at that side."""
    for key, target in unit.field_targets.items():
        if target is failed_side:
            if key in unit.old_baseline:
                unit.link.baseline[key] = unit.old_baseline[key]
            else:
                unit.link.baseline.pop(key, None)


__all__ = [
    "Failure",
    "Unit",
    "decide_fields",
    "plan_create",
    "revert_failed_fields",
]
