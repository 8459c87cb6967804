"""``crmsync integration``: create, list, show, update, pause, resume, rebaseline."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crmsync import operations as ops
from crmsync.cli._render import integration_dict, print_integration
from crmsync.cli._state import out, state_of
from crmsync.errors import ConfigurationError
from crmsync.models import CreationMode, Integration, SourceOfTruth

__all__ = ["app"]

app = typer.Typer(
    help="Create and manage integrations (one platform account ↔ one CRM account).",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The integration's name.", show_default=False)
]


def _pairs(texts: list[str] | None) -> tuple[ops.PairRef, ...]:
    return tuple(
        ops.PairRef(platform_object=p, crm_object=c)
        for p, c in (ops.parse_pair(text) for text in texts or [])
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    crm: Annotated[
        str,
        typer.Option(
            "--crm", metavar="CONNECTOR", help="CRM connector id, e.g. salesforce."
        ),
    ],
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform",
            metavar="CONNECTOR",
            help="Platform connector id (default: the installed platform connector "
            "that runs with no external service; among several, the one whose "
            "description gives the highest demo_priority).",
        ),
    ] = None,
    source_of_truth: Annotated[
        SourceOfTruth, typer.Option("--source-of-truth", help="Who wins a sync field.")
    ] = SourceOfTruth.BOTH,
    interval: Annotated[
        int | None,
        typer.Option(
            "--interval",
            metavar="SECONDS",
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
            metavar="EXPR",
            help="With --create-in-crm filter: a condition "
            "on the platform record, e.g. 'score>=50'.",
        ),
    ] = None,
    crm_create_as: Annotated[
        str | None,
        typer.Option(
            "--crm-create-as",
            metavar="OBJECT",
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
            metavar="EXPR",
            help="With --create-in-platform filter: a condition on the CRM record.",
        ),
    ] = None,
    pair: Annotated[
        list[str] | None,
        typer.Option(
            "--pair",
            metavar="PLATFORM_OBJECT:CRM_OBJECT",
            help="PLATFORM_OBJECT:CRM_OBJECT, repeated, in "
            "match order (default: Contact before Lead).",
            show_default=False,
        ),
    ] = None,
    platform_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--platform-setting",
            metavar="KEY=VALUE",
            help="KEY=VALUE non-secret platform connector setting (repeatable).",
        ),
    ] = None,
    crm_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--crm-setting",
            metavar="KEY=VALUE",
            help="KEY=VALUE non-secret CRM "
            "connector setting; secrets go in the environment.",
        ),
    ] = None,
) -> None:
    """Create a paused integration; add mappings, then `integration resume` it."""
    created = ops.create_integration(
        state_of(ctx),
        ops.NewIntegration(
            name=name,
            crm=crm,
            platform=platform,
            source_of_truth=source_of_truth,
            interval_seconds=interval,
            create_in_crm=create_in_crm,
            crm_filter=crm_filter,
            crm_create_as=crm_create_as,
            create_in_platform=create_in_platform,
            platform_filter=platform_filter,
            pairs=_pairs(pair),
            platform_settings=ops.parse_settings(
                platform_setting, option="--platform-setting"
            ),
            crm_settings=ops.parse_settings(crm_setting, option="--crm-setting"),
        ),
    )
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
    integrations = ops.list_integrations(state_of(ctx))
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
    integration = ops.get_integration(state_of(ctx), name)
    if as_json:
        typer.echo(json.dumps(integration_dict(integration), indent=2, default=str))
        return
    print_integration(out(), integration)


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    interval: Annotated[
        int | None,
        typer.Option("--interval", metavar="SECONDS", help="Seconds between cycles."),
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
            metavar="EXPR",
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
            metavar="EXPR",
            help="With --create-in-platform filter: a condition on the CRM record; "
            "alone, it replaces the condition of a stored filter rule.",
        ),
    ] = None,
    platform_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--platform-setting",
            metavar="KEY=VALUE",
            help="KEY=VALUE: store or change a non-secret platform connector setting "
            "(repeatable).",
        ),
    ] = None,
    crm_setting: Annotated[
        list[str] | None,
        typer.Option(
            "--crm-setting",
            metavar="KEY=VALUE",
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
    changes = ops.IntegrationUpdate(
        interval_seconds=interval,
        source_of_truth=source_of_truth,
        create_in_crm=create_in_crm,
        crm_filter=crm_filter,
        create_in_platform=create_in_platform,
        platform_filter=platform_filter,
        platform_settings=ops.parse_settings(
            platform_setting, option="--platform-setting"
        ),
        crm_settings=ops.parse_settings(crm_setting, option="--crm-setting"),
        unset_platform_settings=tuple(unset_platform_setting or ()),
        unset_crm_settings=tuple(unset_crm_setting or ()),
    )
    ops.update_integration(state_of(ctx), name, changes)
    out().print(f"updated integration {name!r}", markup=False)


def _said(integration: Integration) -> None:
    word = "resumed" if integration.active else "paused"
    out().print(f"{word} integration {integration.name!r}", markup=False)


@app.command("pause")
def pause(ctx: typer.Context, name: NameArg) -> None:
    """Pause an integration: no cycles run, and mappings may be changed."""
    _said(ops.pause_integration(state_of(ctx), name))


@app.command("resume")
def resume(ctx: typer.Context, name: NameArg) -> None:
    """Resume a paused integration: `crmsync sync` runs its cycles again."""
    _said(ops.resume_integration(state_of(ctx), name))


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
    state = state_of(ctx)
    integration = ops.get_integration(state, name)
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
    ops.rebaseline_integration(state, name, source_of_truth)
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
    state = state_of(ctx)
    integration = ops.get_integration(state, name)
    if integration.active:
        ops.delete_integration(state, name)  # refuses, naming the pause command
    if not yes and not typer.confirm(
        f"Delete integration {name!r} and everything crmsync keeps for it?",
        default=False,
    ):
        raise ConfigurationError(
            "delete not confirmed; nothing changed",
            hint="pass --yes to confirm without a prompt",
        )
    ops.delete_integration(state, name)
    out().print(f"deleted integration {name!r}", markup=False)
