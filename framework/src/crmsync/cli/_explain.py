"""``crmsync explain NAME RECORD``: a linked pair's story, field by field."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from crmsync import operations as ops
from crmsync.cli._state import out, state_of
from crmsync.cli._status import JsonOption, NameArg, _when

__all__ = ["explain"]


def _value(value: Any) -> str:
    return "-" if value is None else json.dumps(value, default=str)


def _decision(decision: ops.FieldDecision) -> str:
    run = f"run {decision.run_id}" if decision.run_id is not None else "no run"
    return (
        f"{decision.rule} wrote {_value(decision.value)} to {decision.side} "
        f"({run}, {_when(decision.at)})"
    )


def explain(
    ctx: typer.Context,
    name: NameArg,
    record: Annotated[
        str,
        typer.Argument(
            help="A platform or CRM record id, or a match key such as an email.",
            show_default=False,
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Why RECORD's linked pair holds what it holds: each mapped field's value on both
    sides, and which rule wrote it in which run (the decision log, kept for
    CRMSYNC_DECISION_LOG_DAYS)."""
    story = ops.explain(state_of(ctx), name, record)
    if as_json:
        typer.echo(story.model_dump_json(indent=2))
        return
    console = out()
    console.print(
        f"{story.platform_object} {story.platform_id} <-> "
        f"{story.crm_object} {story.crm_id}  (integration {story.integration})",
        markup=False,
    )
    console.print(
        f"platform changed {_when(story.platform_modified_at)}; "
        f"crm changed {_when(story.crm_modified_at)}",
        markup=False,
    )
    table = Table("platform field", "value", "crm field", "value", "last written by")
    for field in story.fields:
        last = field.decisions[0] if field.decisions else None
        table.add_row(
            field.platform_field,
            _value(field.platform_value) if field.in_baseline else "(not seen yet)",
            field.crm_field,
            _value(field.crm_value) if field.in_baseline else "(not seen yet)",
            _decision(last) if last else "-",
        )
    console.print(table)
    if not any(field.decisions for field in story.fields):
        console.print(
            "no logged writes (the log keeps "
            f"{story.decision_log_days:g} days: CRMSYNC_DECISION_LOG_DAYS)",
            markup=False,
        )
    for error in story.open_errors:
        console.print(
            f"open error: {error.side} {error.object_name} {error.record_id}: "
            f"{error.code} {error.message}",
            markup=False,
        )
