"""Save checks that read the org's other records: the duplicate rule on Email, lookups
naming a live record of their target, unique fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crmsync_salesforce.emulator._ids import KEY_PREFIXES, to_18
from crmsync_salesforce.emulator._schema import FieldDef, ObjectSchema

if TYPE_CHECKING:
    from crmsync_salesforce.emulator._core import SalesforceEmulator

__all__ = ["duplicate_rule_error", "reference_problem", "unique_errors"]

# What a reference may point at, by key prefix (Group and Opportunity rows never exist here).
_REFERENCE_PREFIXES = {
    **{prefix: name for name, prefix in KEY_PREFIXES.items()},
    "00G": "Group",
    "006": "Opportunity",
}


def duplicate_rule_error(
    emu: SalesforceEmulator,
    schema: ObjectSchema,
    merged: Mapping[str, Any],
    own_id: str | None,
    headers: Mapping[str, str],
) -> dict[str, Any] | None:
    if emu.duplicate_rule is None or schema.name not in {"Lead", "Contact"}:
        return None
    email = (merged.get("Email") or "").strip().lower()
    if not email:
        return None
    matches = [
        (name, rid)
        for name in ("Lead", "Contact")
        for rid, rec in emu.records[name].items()
        if rid != own_id
        and not rec["IsDeleted"]
        and (rec.get("Email") or "").strip().lower() == email
    ]
    if not matches:
        return None
    allow = "allowsave=true" in headers.get("sforce-duplicate-rule-header", "").lower()
    if emu.duplicate_rule == "alert" and allow:
        return None
    return {
        "statusCode": "DUPLICATES_DETECTED",
        "message": "Use one of these records?",
        "fields": [],
        "duplicateResult": {
            "allowSave": emu.duplicate_rule == "alert",
            "duplicateRule": f"Standard_{schema.name}_Duplicate_Rule",
            "duplicateRuleEntityType": schema.name,
            "errorMessage": "Use one of these records?",
            "matchResults": [
                {
                    "entityType": name,
                    "errors": [],
                    "matchEngine": "FuzzyMatchEngine",
                    "matchRecords": [
                        {
                            "additionalInformation": [],
                            "fieldDiffs": [],
                            "matchConfidence": 100.0,
                            "record": {"attributes": {"type": name}, "Id": rid},
                        }
                    ],
                    "rule": f"Standard_{name}_Match_Rule_v1_0",
                    "size": 1,
                    "success": True,
                }
                for name, rid in matches
            ],
        },
    }


def reference_problem(
    emu: SalesforceEmulator, item: FieldDef, value: str
) -> tuple[str, str] | None:
    """Why a (well-formed) id cannot be stored in lookup ``item``: it names an object
    the field does not point at, or no live record."""
    rid = to_18(value)
    target = _REFERENCE_PREFIXES.get(rid[:3])
    if target not in item.reference_to:
        return (
            "FIELD_INTEGRITY_EXCEPTION",
            f"{item.label}: id value of incorrect type: {value}",
        )
    if target == "User":
        exists = rid in emu.users
    else:
        record = emu.records.get(target or "", {}).get(rid)
        exists = record is not None and not record["IsDeleted"]
    if exists:
        return None
    return ("INVALID_CROSS_REFERENCE_KEY", f"{item.label}: invalid cross reference id")


def unique_errors(
    emu: SalesforceEmulator,
    schema: ObjectSchema,
    values: Mapping[FieldDef, Any],
    own_id: str | None,
    stage: dict[str, dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """``DUPLICATE_VALUE`` when a unique field's value (compared case-insensitively,
    as Salesforce does by default) is held by another live record."""
    wanted = {
        item: str(value).lower()
        for item, value in values.items()
        if item.unique and value is not None
    }
    if not wanted:
        return []
    table = {**emu.records[schema.name], **(stage or {}).get(schema.name, {})}
    for item, key in wanted.items():
        for rid, record in table.items():
            held = record.get(item.name)
            if rid != own_id and not record["IsDeleted"] and held and held.lower() == key:
                return [
                    {
                        "statusCode": "DUPLICATE_VALUE",
                        "message": f"duplicate value found: {item.name} duplicates "
                        f"value on record with id: {rid}",
                        "fields": [],
                    }
                ]
    return []
