"""The plugin contract: everything a connector author imports.

``from crmsync.contract import hookimpl, FieldSpec, ChangePage, ...`` and the error
types from :mod:`crmsync.errors` are the whole surface a connector needs.
"""

from __future__ import annotations

from crmsync.contract import hookspecs
from crmsync.contract.hookspecs import PROJECT_NAME, hookimpl, hookspec
from crmsync.contract.models import (
    ApiBudget,
    Capability,
    ChangedRecord,
    ChangePage,
    ClockOffset,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    FieldType,
    RecordError,
    RecordPage,
    RecordRef,
    Tombstone,
    WriteRequest,
    WriteResult,
)

CONTRACT_VERSION = "1.2"
"""The contract version this framework speaks. A connector's ``contract_version`` must
have the same major number and a minor number no greater than this one."""

HOOK_NAMES: tuple[str, ...] = tuple(
    name
    for name, spec in vars(hookspecs).items()
    if callable(spec) and hasattr(spec, f"{PROJECT_NAME}_spec")
)
"""Every hook of the contract, in the order :mod:`.hookspecs` defines them (read from
the hookspecs themselves, so a new hook needs no second list)."""
REQUIRED_HOOKS = ("describe_connector", "list_fields", "fetch_changed", "push_updates")
OPTIONAL_HOOK_ARGUMENTS: dict[str, frozenset[str]] = {
    "lookup_records": frozenset({"page"}),
}
"""Hook arguments added after 1.0: an implementation takes them only if it uses them
(pluggy passes an implementation just the arguments it names)."""

__all__ = [
    "CONTRACT_VERSION",
    "HOOK_NAMES",
    "OPTIONAL_HOOK_ARGUMENTS",
    "PROJECT_NAME",
    "REQUIRED_HOOKS",
    "ApiBudget",
    "Capability",
    "ChangePage",
    "ChangedRecord",
    "ClockOffset",
    "ConnectorDescription",
    "Cursor",
    "FieldSpec",
    "FieldType",
    "RecordError",
    "RecordPage",
    "RecordRef",
    "Tombstone",
    "WriteRequest",
    "WriteResult",
    "hookimpl",
    "hookspec",
    "hookspecs",
]
