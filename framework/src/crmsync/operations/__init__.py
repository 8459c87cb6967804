"""The service layer: every action an administrator or operator can take, with its
checks, for every face (the CLI, the web app and REST API, the Celery workers).

Each function takes a :class:`Workspace` (settings, connector catalog, state store
and the connections it opened; close it when done) and pydantic models, returns
pydantic models (or the engine's :class:`~crmsync.engine.CycleReport`), raises the
errors of :mod:`crmsync.errors`, and prints nothing::

    with Workspace() as ws:
        create_integration(ws, NewIntegration(name="acme", crm="salesforce"))
        add_mapping(ws, "acme", MappingSpec(platform_field="email", crm_field="Email"))
        resume_integration(ws, "acme")
        report = run_cycle(ws, "acme")

The rules themselves live in :mod:`crmsync.policy`; the operations ask them, then
write through the store.
"""

from __future__ import annotations

from crmsync.operations._checks import LiveFields, build_mapping, filter_problems
from crmsync.operations._cycles import (
    ConnectionCache,
    cycle_summary,
    enqueue_if_on_workers,
    retry_errors,
    run_cycle,
)
from crmsync.operations._defaults import default_platform, demo_crm
from crmsync.operations._doctor import doctor
from crmsync.operations._integrations import (
    create_integration,
    creation_rule,
    default_pairs,
    delete_integration,
    get_integration,
    list_integrations,
    pause_integration,
    rebaseline_integration,
    resume_integration,
    update_integration,
)
from crmsync.operations._mapping_file import (
    MappingFile,
    apply_mapping_plan,
    export_mappings,
    parse_mapping_document,
    plan_mapping_file,
    read_mapping_file,
    write_mapping_file,
)
from crmsync.operations._mappings import (
    add_mapping,
    delete_mapping,
    edit_mapping,
    paused_integration,
    select_pairs,
)
from crmsync.operations._models import (
    ConnectorFailure,
    ConnectorInfo,
    ConnectorListing,
    CycleSummary,
    DoctorCheck,
    DoctorReport,
    ErrorListing,
    EventEntry,
    IntegrationStatus,
    IntegrationSummary,
    IntegrationUpdate,
    MappingChange,
    MappingEdit,
    MappingPlan,
    MappingSpec,
    NewIntegration,
    OpenError,
    PairRef,
    RunEntry,
)
from crmsync.operations._parse import (
    parse_filter,
    parse_pair,
    parse_settings,
    parse_value,
)
from crmsync.operations._reads import (
    VersionInfo,
    connector_info,
    event_log,
    get_run,
    integration_status,
    integrations_overview,
    list_connectors,
    list_fields,
    open_errors,
    run_history,
    version_info,
)
from crmsync.operations._story import FieldDecision, FieldStory, RecordStory, explain
from crmsync.operations._text import clean_line, error_line, not_utf8_text
from crmsync.operations._workspace import (
    Workspace,
    check_given_settings,
    check_stored_settings,
    connector_settings,
    load_settings,
)

__all__ = [
    "ConnectionCache",
    "ConnectorFailure",
    "ConnectorInfo",
    "ConnectorListing",
    "CycleSummary",
    "DoctorCheck",
    "DoctorReport",
    "ErrorListing",
    "EventEntry",
    "FieldDecision",
    "FieldStory",
    "IntegrationStatus",
    "IntegrationSummary",
    "IntegrationUpdate",
    "LiveFields",
    "MappingChange",
    "MappingEdit",
    "MappingFile",
    "MappingPlan",
    "MappingSpec",
    "NewIntegration",
    "OpenError",
    "PairRef",
    "RecordStory",
    "RunEntry",
    "VersionInfo",
    "Workspace",
    "add_mapping",
    "apply_mapping_plan",
    "build_mapping",
    "check_given_settings",
    "check_stored_settings",
    "clean_line",
    "connector_info",
    "connector_settings",
    "create_integration",
    "creation_rule",
    "cycle_summary",
    "default_pairs",
    "default_platform",
    "delete_integration",
    "delete_mapping",
    "demo_crm",
    "doctor",
    "edit_mapping",
    "enqueue_if_on_workers",
    "error_line",
    "event_log",
    "explain",
    "export_mappings",
    "filter_problems",
    "get_integration",
    "get_run",
    "integration_status",
    "integrations_overview",
    "list_connectors",
    "list_fields",
    "list_integrations",
    "load_settings",
    "not_utf8_text",
    "open_errors",
    "parse_filter",
    "parse_mapping_document",
    "parse_pair",
    "parse_settings",
    "parse_value",
    "pause_integration",
    "paused_integration",
    "plan_mapping_file",
    "read_mapping_file",
    "rebaseline_integration",
    "resume_integration",
    "retry_errors",
    "run_cycle",
    "run_history",
    "select_pairs",
    "update_integration",
    "version_info",
    "write_mapping_file",
]
