"""Integrations: create, read, update, pause, resume, rebaseline, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmsync.errors import ConfigurationError
from crmsync.models import (
    CRM,
    PLATFORM,
    CreationMode,
    CreationRule,
    Integration,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.operations._defaults import default_platform
from crmsync.operations._models import IntegrationUpdate, NewIntegration, PairRef
from crmsync.operations._parse import parse_filter
from crmsync.operations._workspace import Workspace, check_given_settings
from crmsync.plugins import ConnectorCatalog, InstalledConnector
from crmsync.policy import check_source_of_truth_change, default_creation_target

__all__ = [
    "create_integration",
    "creation_rule",
    "default_pairs",
    "delete_integration",
    "get_integration",
    "list_integrations",
    "pause_integration",
    "rebaseline_integration",
    "resume_integration",
    "update_integration",
]

MIN_INTERVAL_SECONDS = 10


def default_pairs(
    platform: InstalledConnector, crm: InstalledConnector
) -> list[PairRef]:
    """The platform's person object with each CRM person object, in match order."""
    platform_object = (
        platform.description.person_objects or platform.description.objects
    )[0]
    crm_objects = crm.description.person_objects or crm.description.objects[:1]
    return [
        PairRef(platform_object=platform_object, crm_object=crm_object)
        for crm_object in crm_objects
    ]


def creation_rule(
    mode: CreationMode, filter_text: str | None, target: str | None, *, option: str
) -> CreationRule:
    """A creation rule from a mode and a filter text (``option`` names the setting,
    ``--create-in-crm`` say, in the error lines)."""
    if mode is CreationMode.FILTER and not filter_text:
        raise ConfigurationError(
            f"{option} filter needs a filter", hint="e.g. --crm-filter 'score>=50'"
        )
    if filter_text and mode is not CreationMode.FILTER:
        raise ConfigurationError(
            f"a filter was given but {option} is {mode.value!r}",
            hint=f"use {option} filter",
        )
    filter_option = f"--{option.removeprefix('--create-in-')}-filter"
    condition = parse_filter(filter_text, option=filter_option) if filter_text else None
    return CreationRule(mode=mode, target_object=target, filter=condition)


def _check_objects(
    connector: InstalledConnector, objects: Sequence[str], side: str
) -> None:
    for name in objects:
        if name not in connector.description.objects:
            raise ConfigurationError(
                f"{side} connector {connector.id!r} has no object {name!r}",
                hint=f"its objects: {', '.join(connector.description.objects)}",
            )


def _check_role(
    catalog: ConnectorCatalog, connector: InstalledConnector, side: str
) -> None:
    role = connector.description.role
    if role in (side, "any"):
        return
    fitting = sorted(
        key
        for key, other in catalog.loaded.items()
        if other.description.role in (side, "any")
    )
    raise ConfigurationError(
        f"connector {connector.id!r} serves the {role} side, not the {side} side",
        hint=f"give --{side} one of: {', '.join(fitting)}"
        if fitting
        else f"install a {side} connector",
    )


def _check_interval(interval: int | None) -> None:
    # Checked here rather than left to the model, so that 0 is not read as "unset"
    # and every short interval gets the same line.
    if interval is not None and interval < MIN_INTERVAL_SECONDS:
        raise ConfigurationError(
            f"--interval {interval} is too short",
            hint=f"use {MIN_INTERVAL_SECONDS} or more",
        )


def _check_unique(pairs: Sequence[PairRef]) -> None:
    # The store keeps one row per pair; a repeat would reach it as a constraint error.
    seen: set[PairRef] = set()
    for pair in pairs:
        if pair in seen:
            raise ConfigurationError(
                f"object pair {pair} given twice", hint="give each --pair once"
            )
        seen.add(pair)


def _changed_settings(
    connector: InstalledConnector,
    current: dict[str, Any],
    given: dict[str, str],
    unset: Sequence[str],
    *,
    side: str,
) -> dict[str, Any] | None:
    """The stored settings of ``side`` after storing ``given`` and removing
    ``unset``, or ``None`` when neither was asked for."""
    if not given and not unset:
        return None
    option, unset_option = f"--{side}-setting", f"--unset-{side}-setting"
    check_given_settings(connector, given, option=option)
    settings = dict(current)
    for key in unset:
        if key in given:
            raise ConfigurationError(
                f"{option} {key} and {unset_option} {key} both given",
                hint="give one of them",
            )
        if key not in settings:
            stored = ", ".join(sorted(settings)) or "none"
            raise ConfigurationError(
                f"{unset_option} {key}: no {side} setting {key!r} is stored",
                hint=f"stored {side} settings: {stored}",
            )
        del settings[key]
    settings.update(given)
    return settings


def create_integration(ws: Workspace, spec: NewIntegration) -> Integration:
    """Create a paused integration with no mappings, after checking its connectors'
    roles, objects and settings; makes the state store if there is none.

    :raises ConfigurationError: an unknown connector, object or setting, a secret
        setting, a bad filter, a repeated pair, a too-short interval; no platform
        named and no default one (see :func:`default_platform`).
    """
    catalog = ws.get_catalog()
    platform_id = default_platform(catalog, spec.platform)
    platform, crm = catalog.get(platform_id), catalog.get(spec.crm)
    _check_role(catalog, platform, "platform")
    _check_role(catalog, crm, "crm")
    _check_interval(spec.interval_seconds)
    refs = list(spec.pairs) or default_pairs(platform, crm)
    _check_unique(refs)
    _check_objects(platform, [p.platform_object for p in refs], "platform")
    _check_objects(crm, [p.crm_object for p in refs], "crm")
    pairs = tuple(
        ObjectPair(
            platform_object=ref.platform_object,
            crm_object=ref.crm_object,
            match_order=index,
        )
        for index, ref in enumerate(refs)
    )
    crm_target = spec.crm_create_as or default_creation_target(pairs, CRM)
    _check_objects(crm, [crm_target], "crm")
    check_given_settings(platform, spec.platform_settings, option="--platform-setting")
    check_given_settings(crm, spec.crm_settings, option="--crm-setting")
    integration = Integration(
        name=spec.name,
        platform_connector=platform_id,
        crm_connector=spec.crm,
        platform_settings=dict(spec.platform_settings),
        crm_settings=dict(spec.crm_settings),
        source_of_truth=spec.source_of_truth,
        interval_seconds=ws.get_settings().default_interval_seconds
        if spec.interval_seconds is None
        else spec.interval_seconds,
        create_in_crm=creation_rule(
            spec.create_in_crm, spec.crm_filter, crm_target, option="--create-in-crm"
        ),
        create_in_platform=creation_rule(
            spec.create_in_platform,
            spec.platform_filter,
            default_creation_target(pairs, PLATFORM),
            option="--create-in-platform",
        ),
        object_pairs=pairs,
    )
    return ws.get_store().config.create_integration(integration)


def get_integration(ws: Workspace, name: str) -> Integration:
    """The stored integration ``name`` with its pairs and mappings.

    :raises ConfigurationError: no such integration.
    :raises StateError: no state store yet.
    """
    return ws.existing_store().config.get_integration(name)


def list_integrations(ws: Workspace) -> list[Integration]:
    """Every stored integration, by name."""
    return ws.existing_store().config.list_integrations()


def update_integration(
    ws: Workspace, name: str, changes: IntegrationUpdate
) -> Integration:
    """Change an integration's interval, creation rules, stored connector settings or
    (before its first cycle) source of truth.

    :raises ConfigurationError: nothing to change, a locked source of truth, a bad
        filter or setting, a too-short interval.
    """
    if changes.is_empty():
        raise ConfigurationError(
            "nothing to update: no option given",
            hint=f"see `crmsync integration update {name} --help`",
        )
    store = ws.existing_store()
    current = store.config.get_integration(name)
    _check_interval(changes.interval_seconds)
    crm_rule = platform_rule = None
    if changes.create_in_crm is not None or changes.crm_filter is not None:
        # A filter alone changes the stored rule's condition; a rule that takes no
        # filter refuses it as `create` does.
        crm_rule = creation_rule(
            changes.create_in_crm or current.create_in_crm.mode,
            changes.crm_filter,
            current.create_in_crm.target_object,
            option="--create-in-crm",
        )
    if changes.create_in_platform is not None or changes.platform_filter is not None:
        platform_rule = creation_rule(
            changes.create_in_platform or current.create_in_platform.mode,
            changes.platform_filter,
            current.create_in_platform.target_object,
            option="--create-in-platform",
        )
    catalog = ws.get_catalog()
    platform_settings = _changed_settings(
        catalog.get(current.platform_connector),
        current.platform_settings,
        changes.platform_settings,
        changes.unset_platform_settings,
        side="platform",
    )
    crm_settings = _changed_settings(
        catalog.get(current.crm_connector),
        current.crm_settings,
        changes.crm_settings,
        changes.unset_crm_settings,
        side="crm",
    )
    if changes.source_of_truth is not None:
        check_source_of_truth_change(current, changes.source_of_truth)
    return store.config.update_integration(
        name,
        interval_seconds=changes.interval_seconds,
        create_in_crm=crm_rule,
        create_in_platform=platform_rule,
        source_of_truth=changes.source_of_truth,
        platform_settings=platform_settings,
        crm_settings=crm_settings,
    )


def pause_integration(ws: Workspace, name: str) -> Integration:
    """Pause ``name``: no cycle runs, and its mappings may be changed (logged)."""
    return ws.existing_store().config.set_active(name, False)


def resume_integration(ws: Workspace, name: str) -> Integration:
    """Resume ``name``: its cycles run again (logged)."""
    return ws.existing_store().config.set_active(name, True)


def rebaseline_integration(
    ws: Workspace, name: str, source_of_truth: SourceOfTruth
) -> Integration:
    """Change the source of truth of ``name`` deliberately, locked or not: every
    link's baseline is cleared and the cursors restart, so the next cycle decides
    every mapped field afresh (logged)."""
    return ws.existing_store().config.rebaseline(name, source_of_truth)


def delete_integration(ws: Workspace, name: str) -> None:
    """Delete the paused integration ``name`` with everything kept for it.

    :raises MappingError: the integration is active (naming the pause command).
    """
    ws.existing_store().config.delete_integration(name)
