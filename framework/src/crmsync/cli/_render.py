"""Shared renderings of integrations, mappings and creation rules."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from crmsync.models import CreationMode, CreationRule, Integration, Mapping, ObjectPair

__all__ = [
    "integration_dict",
    "mapping_dict",
    "mapping_text",
    "print_integration",
    "print_mappings",
    "rule_text",
]

_ARROWS = {"to_crm": "→", "to_platform": "←", "sync": "↔"}


def rule_text(rule: CreationRule) -> str:
    if rule.mode is CreationMode.NEVER:
        return "never"
    target = f" as {rule.target_object}" if rule.target_object else ""
    if rule.mode is CreationMode.ALL:
        return f"all{target}"
    assert rule.filter is not None
    return f"when {rule.filter}{target}"


def mapping_dict(mapping: Mapping) -> dict[str, Any]:
    return {
        "platform_field": mapping.platform_field,
        "crm_field": mapping.crm_field,
        "direction": mapping.direction.value,
        "default": mapping.default,
        "conflict_rule": mapping.conflict_rule.value if mapping.conflict_rule else None,
    }


def mapping_text(mapping: Mapping) -> str:
    arrow = _ARROWS[mapping.direction.value]
    text = f"{mapping.platform_field} {arrow} {mapping.crm_field}"
    if mapping.default is not None:
        text += f" (default {mapping.default!r})"
    if mapping.conflict_rule is not None:
        text += f" [rule {mapping.conflict_rule.value}]"
    return text


def integration_dict(integration: Integration) -> dict[str, Any]:
    return {
        "name": integration.name,
        "platform": integration.platform_connector,
        "crm": integration.crm_connector,
        "platform_settings": integration.platform_settings,
        "crm_settings": integration.crm_settings,
        "active": integration.active,
        "source_of_truth": integration.source_of_truth.value,
        "source_of_truth_locked_at": (
            integration.source_of_truth_locked_at.isoformat()
            if integration.source_of_truth_locked_at
            else None
        ),
        "interval_seconds": integration.interval_seconds,
        "create_in_crm": rule_text(integration.create_in_crm),
        "create_in_platform": rule_text(integration.create_in_platform),
        "object_pairs": [
            {
                "platform_object": pair.platform_object,
                "crm_object": pair.crm_object,
                "match": f"{pair.platform_match_field} = {pair.crm_match_field}",
                "mappings": [mapping_dict(mapping) for mapping in pair.mappings],
            }
            for pair in integration.pairs_in_match_order()
        ],
    }


def print_mappings(console: Console, pairs: list[ObjectPair]) -> None:
    for pair in pairs:
        table = Table(
            title=f"{pair.platform_object} ↔ {pair.crm_object}", title_justify="left"
        )
        for column in (
            "platform field",
            "",
            "crm field",
            "direction",
            "default",
            "rule",
        ):
            table.add_column(column)
        for mapping in pair.mappings:
            table.add_row(
                mapping.platform_field,
                _ARROWS[mapping.direction.value],
                mapping.crm_field,
                mapping.direction.value,
                "" if mapping.default is None else repr(mapping.default),
                mapping.conflict_rule.value if mapping.conflict_rule else "",
            )
        if not pair.mappings:
            table.add_row("(no mappings)", "", "", "", "", "")
        console.print(table)


def print_integration(console: Console, integration: Integration) -> None:
    data = integration_dict(integration)
    locked = data["source_of_truth_locked_at"]
    lines = [
        f"[bold]{integration.name}[/bold]  {integration.platform_connector} ↔ "
        f"{integration.crm_connector}  "
        + (
            "[green]active[/green]" if integration.active else "[yellow]paused[/yellow]"
        ),
        f"source of truth: {data['source_of_truth']}"
        + (
            f" (locked since {locked})"
            if locked
            else " (not locked yet: no cycle has run)"
        ),
        f"interval: {integration.interval_seconds}s",
        f"create in crm: {data['create_in_crm']}",
        f"create in platform: {data['create_in_platform']}",
        "pairs in match order: "
        + ", ".join(
            f"{p.platform_object}:{p.crm_object}"
            for p in integration.pairs_in_match_order()
        ),
    ]
    for side, settings in (
        ("platform", integration.platform_settings),
        ("crm", integration.crm_settings),
    ):
        if settings:
            lines.append(
                f"{side} settings: "
                + ", ".join(f"{key}={value}" for key, value in sorted(settings.items()))
            )
    for line in lines:
        console.print(line)
    print_mappings(console, integration.pairs_in_match_order())
