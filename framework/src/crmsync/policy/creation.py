"""Which unlinked records are created on the other side, and with which values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crmsync.models import (
    CRM,
    CreationMode,
    CreationRule,
    FieldFilter,
    ObjectPair,
    Side,
)
from crmsync.models import Mapping as FieldMapping
from crmsync.policy.sides import flows_to
from crmsync.policy.values import ConversionError, convert, is_blank, normalize

__all__ = [
    "creation_pair",
    "creation_values",
    "default_creation_target",
    "passes_filter",
    "should_create",
]


def _object(pair: ObjectPair, side: Side) -> str:
    return pair.crm_object if side is CRM else pair.platform_object


def creation_pair(
    pairs: Sequence[ObjectPair], target: Side, target_object: str | None
) -> ObjectPair:
    """The pair through which an unlinked record is created on ``target``.

    ``pairs`` are the pairs of the record's own object, in match order. The pair whose
    ``target`` object is the rule's ``target_object`` is chosen, else the last pair in
    match order (the default pairs list a CRM's person objects most established first,
    so the last is the one new people start as: a lead before a contact).
    """
    if target_object:
        for pair in pairs:
            if _object(pair, target) == target_object:
                return pair
    return pairs[-1]


def default_creation_target(pairs: Sequence[ObjectPair], target: Side) -> str:
    """The object a creation rule targets on ``target`` when none is named: on the
    CRM, the last pair's object in match order (see :func:`creation_pair`); on the
    platform, the first pair's (its one person object)."""
    ordered = sorted(pairs, key=lambda pair: pair.match_order)
    chosen = ordered[-1] if target is CRM else ordered[0]
    return _object(chosen, target)


def passes_filter(rule: FieldFilter, values: Mapping[str, Any]) -> bool:
    """Evaluate a creation filter such as ``score >= 50`` against a record's values."""
    if rule.op == "and":
        return all(passes_filter(term, values) for term in rule.terms)
    if rule.op == "or":
        return any(passes_filter(term, values) for term in rule.terms)
    value = values.get(rule.field)
    if rule.op == "not_blank":
        return not is_blank(value)
    if is_blank(value):
        return False
    left, right = _comparable(value), _comparable(rule.value)
    try:
        if rule.op == "==":
            return bool(left == right)
        if rule.op == "!=":
            return bool(left != right)
        if rule.op == ">":
            return bool(left > right)
        if rule.op == ">=":
            return bool(left >= right)
        if rule.op == "<":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def should_create(rule: CreationRule, values: Mapping[str, Any]) -> bool:
    """Whether an unlinked record with ``values`` is created on the other side."""
    if rule.mode is CreationMode.NEVER:
        return False
    if rule.mode is CreationMode.ALL:
        return True
    return rule.filter is not None and passes_filter(rule.filter, values)


def creation_values(
    mappings: Iterable[FieldMapping], source_values: Mapping[str, Any], target: Side
) -> dict[str, Any]:
    """The values of a new record on ``target``: every mapping flowing there, defaults
    for blanks.

    :raises ConversionError: a source value cannot be represented in its target field.
    """
    values: dict[str, Any] = {}
    for mapping in mappings:
        if not flows_to(mapping, target):
            continue
        if target is CRM:
            source_field, source_type = mapping.platform_field, mapping.platform_type
            target_field, target_type = mapping.crm_field, mapping.crm_type
        else:
            source_field, source_type = mapping.crm_field, mapping.crm_type
            target_field, target_type = mapping.platform_field, mapping.platform_type
        value = convert(source_values.get(source_field), source_type, target_type)
        if is_blank(value) and mapping.default is not None:
            value = convert(mapping.default, target_type, target_type)
        if not is_blank(value):
            values[target_field] = value
    return values


def _comparable(value: Any) -> Any:
    from crmsync.contract.models import FieldType

    for field_type in (FieldType.NUMBER, FieldType.DATETIME):
        try:
            return normalize(convert(value, field_type, field_type), field_type)
        except ConversionError:
            continue
    return value
