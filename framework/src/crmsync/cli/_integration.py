"""``crmsync integration``: create, list, show, update, pause, resume, rebaseline."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from crmsync.cli._parse import parse_filter, parse_pair, parse_settings
from crmsync.cli._render import integration_dict, print_integration
from crmsync.cli._state import CliState, check_given_settings, out, state_of
from crmsync.errors import ConfigurationError
from crmsync.models import (
    CreationMode,
    CreationRule,
    Integration,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.plugins import ConnectorCatalog, InstalledConnector

__all__ = ["app", "creation_rule", "default_pairs"]

app = typer.Typer(
    help="Create and manage integrations (one platform account ↔ one CRM account).",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The integration's name.", show_default=False)
]


def default_pairs(
    platform: InstalledConnector, crm: InstalledConnector
) -> list[tuple[str, str]]:
    """The platform's person object with each CRM person object, in match order."""
    platform_object = (
        platform.description.person_objects or platform.description.objects
    )[0]
    crm_objects = crm.description.person_objects or crm.description.objects[:1]
    return [(platform_object, crm_object) for crm_object in crm_objects]


def creation_rule(
    mode: CreationMode, filter_text: str | None, target: str | None, *, option: str
) -> CreationRule:
    """A creation rule from ``--create-in-X MODE [--X-filter EXPR]``."""
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
    connector: InstalledConnector, objects: list[str], side: str
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
    if interval is not None and interval < 10:
        raise ConfigurationError(
            f"--interval {interval} is too short", hint="use 10 or more"
        )


def _settings_option(
    connector: InstalledConnector, items: list[str] | None, *, option: str
) -> dict[str, Any]:
    values = parse_settings(items, option=option)
    check_given_settings(connector, values, option=option)
    return values


def _changed_settings(
    connector: InstalledConnector,
    current: dict[str, Any],
    items: list[str] | None,
    unset: list[str] | None,
    *,
    side: str,
) -> dict[str, Any] | None:
    """The stored settings of ``side`` after ``--SIDE-setting`` and
    ``--unset-SIDE-setting``, or ``None`` when neither was given."""
    if not items and not unset:
        return None
    option, unset_option = f"--{side}-setting", f"--unset-{side}-setting"
    given = _settings_option(connector, items, option=option)
    settings = dict(current)
    for key in unset or []:
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


def _check_unique(pairs: list[tuple[str, str]]) -> None:
    # The store keeps one row per pair; a repeat would reach it as a constraint error.
    seen: set[tuple[str, str]] = set()
    for pair in pairs:
        if pair in seen:
            raise ConfigurationError(
                f"object pair {pair[0]}:{pair[1]} given twice",
                hint="give each --pair once",
            )
        seen.add(pair)


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    crm: Annotated[
        str, typer.Option("--crm", help="CRM connector id, e.g. salesforce.")
    ],
    platform: Annotated[
        str, typer.Option("--platform", help="Platform connector id.")
    ] = "local",
    source_of_truth: Annotated[
        SourceOfTruth, typer.Option("--source-of-truth", help="Who wins a sync field.")
    ] = SourceOfTruth.BOTH,
    interval: Annotated[
        int | None,
        typer.Option(
            "--interval",
            help="Seconds between cycles in --watch mode.",
            show_default="300",
        ),
    ] = None,
    create_in_crm: Annotated[
        CreationMode,
        typer.Option(
            "--create-in-crm", help="Which unlinked prospects to create in the CRM."
        ),
    ] = CreationMode.NEVER,
    crm_filter: Annotated[
        str | None,
        typer.Option(
            "--crm-filter",
            help="With --create-in-crm filter: a condition "
            "on the platform record, e.g. 'score>=50'.",
        ),
    ] = None,
    crm_create_as: Annotated[
        str | None,
        typer.Option(
            "--crm-create-as",
            help="CRM object to create (Lead when the CRM has one).",
            show_default=False,
        ),
    ] = None,
    create_in_platform: Annotated[
        CreationMode,
        typer.Option(
            "--create-in-platform",
            help="Which unlinked CRM records to create in the platform.",
        ),
    ] = CreationMode.NEVER,
    platform_filter: Annotated[
        str | None,
        typer.Option(
            "--platform-filter",
            help="With --create-in-platform filter: a condition on the CRM record.",
        ),
    ] = None,
    pair: Annotated[
        list[str] | None,
        typer.Option(
            "--pair",
            help="PLATFORM_OBJECT:CRM_OBJECT, repeated, in "
            "match order (default: Contact before Lead).",
            show_default=False,
        ),
    ] = None,
    platform_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--platform-setting",
            help="KEY=VALUE non-secret platform connector setting (repeatable).",
        ),
    ] = None,
    crm_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--crm-setting",
            help="KEY=VALUE non-secret CRM "
            "connector setting; secrets go in the environment.",
        ),
    ] = None,
) -> None:
    """Create a paused integration; add mappings, then `integration resume` it."""
    state = state_of(ctx)
    catalog = state.get_catalog()
    platform_connector, crm_connector = catalog.get(platform), catalog.get(crm)
    _check_role(catalog, platform_connector, "platform")
    _check_role(catalog, crm_connector, "crm")
    _check_interval(interval)
    pairs = (
        [parse_pair(text) for text in pair]
        if pair
        else default_pairs(platform_connector, crm_connector)
    )
    _check_unique(pairs)
    _check_objects(platform_connector, [p for p, _ in pairs], "platform")
    _check_objects(crm_connector, [c for _, c in pairs], "crm")
    crm_objects = crm_connector.description.objects
    target = crm_create_as or ("Lead" if "Lead" in crm_objects else pairs[-1][1])
    _check_objects(crm_connector, [target], "crm")
    integration = Integration(
        name=name,
        platform_connector=platform,
        crm_connector=crm,
        platform_settings=_settings_option(
            platform_connector, platform_setting, option="--platform-setting"
        ),
        crm_settings=_settings_option(
            crm_connector, crm_setting, option="--crm-setting"
        ),
        source_of_truth=source_of_truth,
        interval_seconds=state.get_settings().default_interval_seconds
        if interval is None
        else interval,
        create_in_crm=creation_rule(
            create_in_crm, crm_filter, target, option="--create-in-crm"
        ),
        create_in_platform=creation_rule(
            create_in_platform,
            platform_filter,
            pairs[0][0],
            option="--create-in-platform",
        ),
        object_pairs=tuple(
            ObjectPair(platform_object=p, crm_object=c, match_order=index)
            for index, (p, c) in enumerate(pairs)
        ),
    )
    created = state.get_store().create_integration(integration)
    console = out()
    console.print(f"created integration {created.name!r} (paused)")
    console.print(
        f"next: `crmsync mapping add {created.name} PLATFORM_FIELD CRM_FIELD "
        "--direction sync`, then `crmsync integration resume "
        f"{created.name}`",
        markup=False,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List integrations."""
    integrations = state_of(ctx).existing_store().list_integrations()
    if as_json:
        typer.echo(json.dumps([integration_dict(i) for i in integrations], indent=2))
        return
    from rich.table import Table

    table = Table(title="Integrations", title_justify="left")
    for column in (
        "name",
        "platform",
        "crm",
        "state",
        "source of truth",
        "interval",
        "pairs",
    ):
        table.add_column(column)
    for integration in integrations:
        table.add_row(
            integration.name,
            integration.platform_connector,
            integration.crm_connector,
            "active" if integration.active else "paused",
            integration.source_of_truth.value,
            f"{integration.interval_seconds}s",
            ", ".join(
                f"{p.platform_object}:{p.crm_object}" for p in integration.object_pairs
            ),
        )
    console = out()
    if integrations:
        console.print(table)
    else:
        console.print(
            "No integrations yet: `crmsync integration create NAME --crm ID`.",
            markup=False,
        )


@app.command("show")
def show(
    ctx: typer.Context,
    name: NameArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show an integration's settings, object pairs and mappings."""
    integration = state_of(ctx).existing_store().get_integration(name)
    if as_json:
        typer.echo(json.dumps(integration_dict(integration), indent=2, default=str))
        return
    print_integration(out(), integration)


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    interval: Annotated[
        int | None, typer.Option("--interval", help="Seconds between cycles.")
    ] = None,
    source_of_truth: Annotated[
        SourceOfTruth | None,
        typer.Option(
            "--source-of-truth",
            help="Only before the first cycle; afterwards use "
            "`integration rebaseline`.",
        ),
    ] = None,
    create_in_crm: Annotated[
        CreationMode | None,
        typer.Option(
            "--create-in-crm", help="Which unlinked prospects to create in the CRM."
        ),
    ] = None,
    crm_filter: Annotated[
        str | None,
        typer.Option(
            "--crm-filter",
            help="With --create-in-crm filter: a condition on the platform record; "
            "alone, it replaces the condition of a stored filter rule.",
        ),
    ] = None,
    create_in_platform: Annotated[
        CreationMode | None,
        typer.Option(
            "--create-in-platform",
            help="Which unlinked CRM records to create in the platform.",
        ),
    ] = None,
    platform_filter: Annotated[
        str | None,
        typer.Option(
            "--platform-filter",
            help="With --create-in-platform filter: a condition on the CRM record; "
            "alone, it replaces the condition of a stored filter rule.",
        ),
    ] = None,
    platform_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--platform-setting",
            help="KEY=VALUE: store or change a non-secret platform connector setting "
            "(repeatable).",
        ),
    ] = None,
    crm_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--crm-setting",
            help="KEY=VALUE: store or change a non-secret CRM connector setting "
            "(repeatable).",
        ),
    ] = None,
    unset_platform_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--unset-platform-setting",
            metavar="KEY",
            help="Remove a stored platform connector setting, so the environment's "
            "or the default applies (repeatable).",
        ),
    ] = None,
    unset_crm_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--unset-crm-setting",
            metavar="KEY",
            help="Remove a stored CRM connector setting (repeatable).",
        ),
    ] = None,
) -> None:
    """Change interval, creation rules, stored connector settings, source of truth.

    The source of truth only before the first cycle; `integration rebaseline` after.
    """
    given = (
        interval,
        source_of_truth,
        create_in_crm,
        crm_filter,
        create_in_platform,
        platform_filter,
        platform_setting,
        crm_setting,
        unset_platform_setting,
        unset_crm_setting,
    )
    if all(option is None or option == [] for option in given):
        raise ConfigurationError(
            "nothing to update: no option given",
            hint=f"see `crmsync integration update {name} --help`",
        )
    state = state_of(ctx)
    store = state.existing_store()
    current = store.get_integration(name)
    _check_interval(interval)
    crm_rule = platform_rule = None
    if create_in_crm is not None or crm_filter is not None:
        # A filter alone changes the stored rule's condition; a rule that takes no
        # filter refuses it as `create` does.
        crm_rule = creation_rule(
            create_in_crm or current.create_in_crm.mode,
            crm_filter,
            current.create_in_crm.target_object,
            option="--create-in-crm",
        )
    if create_in_platform is not None or platform_filter is not None:
        platform_rule = creation_rule(
            create_in_platform or current.create_in_platform.mode,
            platform_filter,
            current.create_in_platform.target_object,
            option="--create-in-platform",
        )
    catalog = state.get_catalog()
    platform_settings = _changed_settings(
        catalog.get(current.platform_connector),
        current.platform_settings,
        platform_setting,
        unset_platform_setting,
        side="platform",
    )
    crm_settings = _changed_settings(
        catalog.get(current.crm_connector),
        current.crm_settings,
        crm_setting,
        unset_crm_setting,
        side="crm",
    )
    store.update_integration(
        name,
        interval_seconds=interval,
        create_in_crm=crm_rule,
        create_in_platform=platform_rule,
        source_of_truth=source_of_truth,
        platform_settings=platform_settings,
        crm_settings=crm_settings,
    )
    out().print(f"updated integration {name!r}", markup=False)


def _set_active(state: CliState, name: str, active: bool) -> None:
    integration = state.existing_store().set_active(name, active)
    word = "resumed" if integration.active else "paused"
    out().print(f"{word} integration {name!r}", markup=False)


@app.command("pause")
def pause(ctx: typer.Context, name: NameArg) -> None:
    """Pause an integration: no cycles run, and mappings may be changed."""
    _set_active(state_of(ctx), name, False)


@app.command("resume")
def resume(ctx: typer.Context, name: NameArg) -> None:
    """Resume a paused integration: `crmsync sync` runs its cycles again."""
    _set_active(state_of(ctx), name, True)


@app.command("rebaseline")
def rebaseline(
    ctx: typer.Context,
    name: NameArg,
    source_of_truth: Annotated[
        SourceOfTruth,
        typer.Option("--source-of-truth", help="The new source of truth."),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
    ] = False,
) -> None:
    """Change a locked source of truth: every link starts a fresh baseline (logged)."""
    store = state_of(ctx).existing_store()
    integration = store.get_integration(name)
    console = out()
    console.print(
        f"integration {name!r}: source of truth {integration.source_of_truth.value} → "
        f"{source_of_truth.value}; every linked record's baseline is cleared, "
        "so the next "
        "cycle decides each mapped field afresh.",
        markup=False,
    )
    if not yes and not typer.confirm("Rebaseline now?", default=False):
        raise ConfigurationError(
            "rebaseline not confirmed; nothing changed",
            hint="pass --yes to confirm without a prompt",
        )
    store.rebaseline(name, source_of_truth)
    console.print(
        f"rebaselined integration {name!r}: source of truth is now "
        f"{source_of_truth.value}",
        markup=False,
    )


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
    ] = False,
) -> None:
    """Delete a paused integration with its mappings, links, cursors and history."""
    store = state_of(ctx).existing_store()
    integration = store.get_integration(name)
    if integration.active:
        store.delete_integration(name)  # refuses, naming the pause command
    if not yes and not typer.confirm(
        f"Delete integration {name!r} and everything crmsync keeps for it?",
        default=False,
    ):
        raise ConfigurationError(
            "delete not confirmed; nothing changed",
            hint="pass --yes to confirm without a prompt",
        )
    store.delete_integration(name)
    out().print(f"deleted integration {name!r}", markup=False)
