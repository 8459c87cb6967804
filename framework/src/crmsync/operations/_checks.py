"""Checking mappings and creation filters against the live fields of both sides
(``list_fields``), before they are stored or a cycle runs."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from crmsync.contract import FieldSpec, FieldType
from crmsync.errors import ConfigurationError, CrmsyncError, MappingError
from crmsync.models import (
    CRM,
    PLATFORM,
    Direction,
    FieldFilter,
    Integration,
    Mapping,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.plugins import Connection
from crmsync.policy import ConversionError, can_convert, convert, writes

__all__ = ["LiveFields", "build_mapping", "filter_problems"]


class LiveFields:
    """``list_fields`` of an integration's two connections, asked once per object."""

    def __init__(self, platform: Connection, crm: Connection) -> None:
        self._connections = {"platform": platform, "crm": crm}
        self._cache: dict[tuple[str, str], list[FieldSpec]] = {}

    def of(self, side: str, object_name: str) -> list[FieldSpec]:
        key = (side, object_name)
        if key not in self._cache:
            self._cache[key] = self._connections[side].list_fields(object_name)
        return self._cache[key]

    def build(self, pair: ObjectPair, **spec: Any) -> Mapping:
        """:func:`build_mapping` against the live fields of ``pair``."""
        return build_mapping(
            pair,
            self.of("platform", pair.platform_object),
            self.of("crm", pair.crm_object),
            **spec,
        )

    def known(self, side: str, object_name: str) -> list[FieldSpec] | None:
        """The fields of ``object_name``, or ``None`` when they cannot be listed now
        (the cycle that follows reports why)."""
        try:
            return self.of(side, object_name)
        except CrmsyncError:
            return None


def filter_problems(
    integration: Integration,
    fields_of: Callable[[str, str], Sequence[FieldSpec] | None],
) -> list[ConfigurationError]:
    """A creation filter on a field its record's object does not have: such a filter
    never passes, so nothing would be created, silently.

    ``fields_of(side, object_name)`` gives an object's fields, or ``None`` when unknown.
    The fields are only known from a connection, so this is checked where one is open
    (``sync``, ``doctor``), not by ``integration create``.
    """
    problems = []
    for rule, side, option in (
        (integration.create_in_crm, "platform", "--crm-filter"),
        (integration.create_in_platform, "crm", "--platform-filter"),
    ):
        if rule.filter is None:
            continue
        objects = {getattr(pair, f"{side}_object") for pair in integration.object_pairs}
        for object_name in sorted(objects):
            specs = fields_of(side, object_name)
            names = [spec.name for spec in specs] if specs is not None else []
            if specs is None:
                continue
            for leaf in rule.filter.leaves():
                problem = _leaf_problem(leaf, specs, names, side, object_name)
                if problem is not None:
                    problems.append(
                        ConfigurationError(
                            f"the {option} of integration {integration.name!r} "
                            f"{problem}",
                            hint=f"change it with `crmsync integration update "
                            f"{integration.name} {option} EXPR`",
                        )
                    )
    return problems


def _leaf_problem(
    leaf: FieldFilter,
    specs: Sequence[FieldSpec],
    names: list[str],
    side: str,
    object_name: str,
) -> str | None:
    """What is wrong with one condition of a filter on ``object_name``'s fields."""
    if leaf.field in names:
        spec = next(s for s in specs if s.name == leaf.field)
        problem = _uncomparable(leaf, spec)
        return f"{problem}, so it would never pass" if problem else None
    close = difflib.get_close_matches(leaf.field, names, n=3)
    guess = f" (did you mean {', '.join(close)}?)" if close else ""
    return (
        f"tests field {leaf.field!r}, which {side} object {object_name!r} does not "
        f"have{guess}"
    )


_ORDERED = {FieldType.INTEGER, FieldType.NUMBER, FieldType.DATE, FieldType.DATETIME}


def _uncomparable(rule: FieldFilter, spec: FieldSpec) -> str | None:
    """Why a filter's value can never compare with its field's values, if it cannot."""
    if rule.op == "not_blank" or spec.type not in _ORDERED:
        return None
    try:
        convert(rule.value, spec.type, spec.type)
    except ConversionError:
        return (
            f"compares {spec.type.value} field {spec.name!r} with {rule.value!r}, "
            f"which is no {spec.type.value}"
        )
    return None


def _field(
    specs: Sequence[FieldSpec], name: str, side: str, object_name: str
) -> FieldSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    names = [spec.name for spec in specs]
    close = difflib.get_close_matches(name, names, n=3)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else f"see `crmsync fields <connector> {object_name}`"
    )
    raise MappingError(
        f"{side} object {object_name!r} has no field {name!r}", hint=hint
    )


def _writable(spec: FieldSpec, side: str, direction: Direction) -> None:
    if spec.read_only:
        raise MappingError(
            f"{side} field {spec.name!r} is read-only, so it cannot receive values "
            f"({direction.value})",
            hint="choose a direction that does not write it",
        )


def _convertible(source: FieldSpec, target: FieldSpec, source_side: str) -> None:
    if not can_convert(source.type, target.type):
        raise MappingError(
            f"{source_side} field {source.name!r} ({source.type.value}) "
            "cannot convert to "
            f"{target.name!r} ({target.type.value})",
            hint="map fields of compatible types",
        )


def build_mapping(
    pair: ObjectPair,
    platform_fields: Sequence[FieldSpec],
    crm_fields: Sequence[FieldSpec],
    *,
    platform_field: str,
    crm_field: str,
    direction: Direction,
    default: Any = None,
    conflict_rule: SourceOfTruth | None = None,
) -> Mapping:
    """A validated :class:`Mapping` with both field types from ``list_fields``.

    :raises MappingError: unknown field, read-only target for the direction, types that
        cannot convert, or a default that is not a value of the target field.
    """
    platform_spec = _field(
        platform_fields, platform_field, "platform", pair.platform_object
    )
    crm_spec = _field(crm_fields, crm_field, "crm", pair.crm_object)
    if writes(direction, CRM):
        _writable(crm_spec, "crm", direction)
        _convertible(platform_spec, crm_spec, "platform")
    if writes(direction, PLATFORM):
        _writable(platform_spec, "platform", direction)
        _convertible(crm_spec, platform_spec, "crm")
    if conflict_rule is not None and direction is not Direction.SYNC:
        raise MappingError(
            f"a conflict rule only applies to sync mappings, not {direction.value}",
            hint="drop --rule or use --direction sync",
        )
    if default is not None:
        # A default fills a created record's blank: on the CRM unless only the
        # platform is written.
        target = crm_spec if writes(direction, CRM) else platform_spec
        try:
            convert(default, target.type, target.type)
        except ConversionError as error:
            raise MappingError(f"default for {target.name!r}: {error}") from None
    return Mapping(
        platform_field=platform_field,
        crm_field=crm_field,
        direction=direction,
        platform_type=platform_spec.type,
        crm_type=crm_spec.type,
        default=default,
        conflict_rule=conflict_rule,
    )
