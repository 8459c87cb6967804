"""``crmsync mapping``: add, update, delete, list, export and apply field mappings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from crmsync.cli._mapping_file import apply_file, export_file
from crmsync.cli._parse import parse_pair, parse_value
from crmsync.cli._render import mapping_dict, mapping_text, print_mappings
from crmsync.cli._state import CliState, out, state_of
from crmsync.cli._validate import LiveFields
from crmsync.errors import MappingError
from crmsync.models import Direction, Integration, ObjectPair, SourceOfTruth

__all__ = ["app", "paused_integration", "select_pairs"]

app = typer.Typer(
    help="Field mappings of an integration's object pairs (pause it first).",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The integration's name.", show_default=False)
]
PlatformFieldArg = Annotated[
    str, typer.Argument(help="Platform field, e.g. first_name.")
]
CrmFieldArg = Annotated[str, typer.Argument(help="CRM field, e.g. FirstName.")]
PairOption = Annotated[
    list[str] | None,
    typer.Option(
        "--pair",
        help="PLATFORM_OBJECT:CRM_OBJECT (repeatable); every pair of the "
        "integration when omitted.",
        show_default=False,
    ),
]
DefaultOption = Annotated[
    str | None,
    typer.Option(
        "--default",
        help="Value used when crmsync creates a record and the source is "
        "blank (e.g. Company).",
        show_default=False,
    ),
]
RuleOption = Annotated[
    SourceOfTruth | None,
    typer.Option(
        "--rule",
        help="Override the integration's source of truth for this sync field.",
        show_default=False,
    ),
]


def paused_integration(state: CliState, name: str, action: str) -> Integration:
    """The integration, or the refusal that names how to pause it."""
    integration = state.existing_store().get_integration(name)
    if integration.active:
        raise MappingError(
            f"cannot {action} while integration {name!r} is active",
            hint=f"pause it first with `crmsync integration pause {name}`",
        )
    return integration


def select_pairs(
    integration: Integration, pair_texts: list[str] | None
) -> list[ObjectPair]:
    pairs = integration.pairs_in_match_order()
    if not pair_texts:
        return pairs
    chosen = []
    for text in pair_texts:
        platform_object, crm_object = parse_pair(text)
        match = [
            p
            for p in pairs
            if p.platform_object == platform_object and p.crm_object == crm_object
        ]
        if not match:
            known = (
                ", ".join(f"{p.platform_object}:{p.crm_object}" for p in pairs)
                or "none"
            )
            raise MappingError(
                f"integration {integration.name!r} has no object pair {text!r}",
                hint=f"its pairs: {known}",
            )
        chosen.extend(match)
    return chosen


def _put(
    ctx: typer.Context,
    name: str,
    pair_texts: list[str] | None,
    *,
    updating: bool,
    platform_field: str,
    crm_field: str,
    direction: Direction | None,
    default: str | None,
    rule: SourceOfTruth | None,
    clear_default: bool = False,
) -> None:
    state = state_of(ctx)
    action = "change a mapping" if updating else "add a mapping"
    integration = paused_integration(state, name, action)
    pairs = select_pairs(integration, pair_texts)
    live = LiveFields(*state.open_integration(integration))
    planned = []
    for pair in pairs:
        existing = pair.mapping_for(platform_field, crm_field)
        if updating and existing is None:
            raise MappingError(
                f"no mapping {platform_field} ↔ {crm_field} on "
                f"{pair.platform_object}:{pair.crm_object}",
                hint=f"add it with `crmsync mapping add {name} {platform_field} "
                f"{crm_field}`",
            )
        if not updating and existing is not None:
            raise MappingError(
                f"{platform_field} ↔ {crm_field} is already mapped on "
                f"{pair.platform_object}:{pair.crm_object}",
                hint=f"change it with `crmsync mapping update {name} ...`",
            )
        spec: dict[str, Any] = {
            "platform_field": platform_field,
            "crm_field": crm_field,
            "direction": direction
            or (existing.direction if existing else Direction.SYNC),
            "default": None
            if clear_default
            else (
                parse_value(default)
                if default is not None
                else (existing.default if existing else None)
            ),
            "conflict_rule": rule
            if rule is not None
            else (existing.conflict_rule if existing else None),
        }
        planned.append((pair, live.build(pair, **spec)))
    store = state.existing_store()
    console = out()
    for pair, mapping in planned:  # everything validated before anything is stored
        store.put_mapping(name, pair.platform_object, pair.crm_object, mapping)
        verb = "updated" if updating else "added"
        console.print(
            f"{verb} {pair.platform_object}:{pair.crm_object}  {mapping_text(mapping)}",
            markup=False,
        )


@app.command("add")
def add(
    ctx: typer.Context,
    name: NameArg,
    platform_field: PlatformFieldArg,
    crm_field: CrmFieldArg,
    direction: Annotated[
        Direction,
        typer.Option("--direction", "-d", help="to_crm, to_platform or sync."),
    ] = Direction.SYNC,
    default: DefaultOption = None,
    rule: RuleOption = None,
    pair: PairOption = None,
) -> None:
    """Map PLATFORM_FIELD to CRM_FIELD, validated against both sides' live fields."""
    _put(
        ctx,
        name,
        pair,
        updating=False,
        platform_field=platform_field,
        crm_field=crm_field,
        direction=direction,
        default=default,
        rule=rule,
    )


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    platform_field: PlatformFieldArg,
    crm_field: CrmFieldArg,
    direction: Annotated[
        Direction | None, typer.Option("--direction", "-d", show_default=False)
    ] = None,
    default: DefaultOption = None,
    no_default: Annotated[
        bool, typer.Option("--no-default", help="Remove the default.")
    ] = False,
    rule: RuleOption = None,
    pair: PairOption = None,
) -> None:
    """Change an existing mapping's direction, default or conflict rule."""
    _put(
        ctx,
        name,
        pair,
        updating=True,
        platform_field=platform_field,
        crm_field=crm_field,
        direction=direction,
        default=default,
        rule=rule,
        clear_default=no_default,
    )


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    platform_field: PlatformFieldArg,
    crm_field: CrmFieldArg,
    pair: PairOption = None,
) -> None:
    """Delete a mapping (from every pair that has it, or only from --pair)."""
    state = state_of(ctx)
    integration = paused_integration(state, name, "delete a mapping")
    pairs = [
        p
        for p in select_pairs(integration, pair)
        if pair or p.mapping_for(platform_field, crm_field) is not None
    ]
    if not pairs:
        raise MappingError(
            f"no mapping {platform_field} ↔ {crm_field} in {name!r}",
            hint=f"list them with `crmsync mapping list {name}`",
        )
    for chosen in pairs:
        state.existing_store().delete_mapping(
            name, chosen.platform_object, chosen.crm_object, platform_field, crm_field
        )
        out().print(
            f"deleted {chosen.platform_object}:{chosen.crm_object}  {platform_field} "
            f"↔ {crm_field}",
            markup=False,
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    name: NameArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the mappings of every object pair."""
    integration = state_of(ctx).existing_store().get_integration(name)
    pairs = integration.pairs_in_match_order()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "platform_object": p.platform_object,
                        "crm_object": p.crm_object,
                        "mappings": [mapping_dict(m) for m in p.mappings],
                    }
                    for p in pairs
                ],
                indent=2,
                default=str,
            )
        )
        return
    print_mappings(out(), pairs)


@app.command("export")
def export(
    ctx: typer.Context,
    name: NameArg,
    file: Annotated[Path, typer.Argument(help="Target .yaml, .yml or .json file.")],
) -> None:
    """Write the integration's mappings to FILE (mappings as code)."""
    integration = state_of(ctx).existing_store().get_integration(name)
    count = export_file(integration, file)
    out().print(f"exported {count} mappings of {name!r} to {file}", markup=False)


@app.command("apply")
def apply(
    ctx: typer.Context,
    name: NameArg,
    file: Annotated[
        Path, typer.Argument(help="A file written by `mapping export` (or by hand).")
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply without asking.")
    ] = False,
) -> None:
    """Show how FILE differs from the stored mappings, then apply it once confirmed."""
    state = state_of(ctx)
    integration = paused_integration(state, name, "apply a mapping file")
    apply_file(state, integration, file, yes=yes)
