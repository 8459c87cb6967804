"""``crmsync mapping``: add, update, delete, list, export and apply field mappings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crmsync import operations as ops
from crmsync.cli._mapping_file import apply_file
from crmsync.cli._render import mapping_dict, mapping_text, print_mappings
from crmsync.cli._state import out, state_of
from crmsync.models import Direction, SourceOfTruth

__all__ = ["app"]

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
        metavar="PLATFORM_OBJECT:CRM_OBJECT",
        help="PLATFORM_OBJECT:CRM_OBJECT (repeatable); every pair of the "
        "integration when omitted.",
        show_default=False,
    ),
]
DefaultOption = Annotated[
    str | None,
    typer.Option(
        "--default",
        metavar="VALUE",
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


def _pairs(texts: list[str] | None) -> list[ops.PairRef] | None:
    if not texts:
        return None
    return [
        ops.PairRef(platform_object=p, crm_object=c)
        for p, c in (ops.parse_pair(text) for text in texts)
    ]


def _said(changes: list[ops.MappingChange]) -> None:
    console = out()
    for change in changes:
        verb = {"add": "added", "change": "updated", "delete": "deleted"}[change.kind]
        shown = change.new or change.old
        assert shown is not None
        text = (
            f"{shown.platform_field} ↔ {shown.crm_field}"
            if change.kind == "delete"
            else mapping_text(shown)
        )
        console.print(f"{verb} {change.pair}  {text}", markup=False)


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
    spec = ops.MappingSpec(
        platform_field=platform_field,
        crm_field=crm_field,
        direction=direction,
        default=None if default is None else ops.parse_value(default),
        conflict_rule=rule,
    )
    _said(ops.add_mapping(state_of(ctx), name, spec, _pairs(pair)))


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
    edit = ops.MappingEdit(
        platform_field=platform_field,
        crm_field=crm_field,
        direction=direction,
        default=None if default is None else ops.parse_value(default),
        clear_default=no_default,
        conflict_rule=rule,
    )
    _said(ops.edit_mapping(state_of(ctx), name, edit, _pairs(pair)))


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    platform_field: PlatformFieldArg,
    crm_field: CrmFieldArg,
    pair: PairOption = None,
) -> None:
    """Delete a mapping (from every pair that has it, or only from --pair)."""
    _said(
        ops.delete_mapping(state_of(ctx), name, platform_field, crm_field, _pairs(pair))
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    name: NameArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the mappings of every object pair."""
    pairs = ops.get_integration(state_of(ctx), name).pairs_in_match_order()
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
    integration = ops.get_integration(state_of(ctx), name)
    count = ops.write_mapping_file(integration, file)
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
    apply_file(state_of(ctx), name, file, yes=yes)
