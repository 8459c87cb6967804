"""The public surface: exported names, and the plugin contract that may only grow.

The contract grows by adding hooks, arguments and fields; it never renames or removes
one (STYLE.md). These tests pin contract 1.0 so that a removal or rename fails here
first, with a reminder to bump the contract's major version and write the changelog.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

import crmsync
from crmsync import contract
from crmsync.contract import hookspecs

PUBLIC = {
    "crmsync": [
        "CONTRACT_VERSION",
        "CreationMode",
        "CreationRule",
        "CrmsyncError",
        "CrmsyncSettings",
        "CycleReport",
        "Direction",
        "Integration",
        "Mapping",
        "ObjectPair",
        "Side",
        "SourceOfTruth",
        "StateStore",
        "SyncEngine",
        "__version__",
        "configure_logging",
        "discover_connectors",
        "open_integration_connections",
        "open_store",
    ],
    "crmsync.contract": [
        "ApiBudget",
        "CONTRACT_VERSION",
        "Capability",
        "ChangePage",
        "ChangedRecord",
        "ClockOffset",
        "ConnectorDescription",
        "Cursor",
        "FieldSpec",
        "FieldType",
        "HOOK_NAMES",
        "OPTIONAL_HOOK_ARGUMENTS",
        "PROJECT_NAME",
        "REQUIRED_HOOKS",
        "RecordError",
        "RecordPage",
        "RecordRef",
        "Tombstone",
        "WriteRequest",
        "WriteResult",
        "hookimpl",
        "hookspec",
        "hookspecs",
    ],
    "crmsync.errors": [
        "AuthenticationExpired",
        "AuthenticationFailed",
        "BudgetExhausted",
        "ConfigurationError",
        "Conflict",
        "ConnectorError",
        "ConnectorLoadError",
        "ContractError",
        "ConversionError",
        "CrmsyncError",
        "CycleBusy",
        "IntegrationActive",
        "MappingError",
        "NotFound",
        "OutcomeUnknown",
        "PermanentError",
        "QuotaExhausted",
        "RateLimited",
        "StateError",
        "StopRequested",
        "TransientError",
    ],
    "crmsync.testing": [
        "ConnectorContract",
        "Fault",
        "LocalSandbox",
        "ManualClock",
        "MemorySandbox",
        "Sandbox",
        "SandboxBase",
        "SandboxMemberMissing",
        "SandboxUnsupported",
    ],
    "crmsync.testing.cycles": [
        "CYCLE_START",
        "CycleEmulator",
        "CycleWorld",
        "Worlds",
        "two_way",
    ],
    "crmsync.authoring": [
        "CachedToken",
        "ClientAssertion",
        "ClientCredentials",
        "ConnectorHttp",
        "ErrorMap",
        "ErrorRule",
        "FieldProblem",
        "HeaderKeys",
        "JwtBearer",
        "MetadataCache",
        "MonotonicCursor",
        "RefreshTokenGrant",
        "RefreshTokenStore",
        "SecretFileSettings",
        "Token",
        "TokenAuth",
        "TokenCache",
        "UrlGuard",
        "check_value",
        "checked_page_token",
        "keyset_after",
        "parse_retry_after",
        "past_cursor",
        "read_body",
        "results_in_order",
        "settings_fingerprint",
        "vendor_url",
        "write_secret_file",
    ],
    "crmsync.testing.emulator": [
        "DEMO_PLATFORM_FIELDS",
        "JWT_BEARER_GRANT",
        "PICKLIST_FIELDS",
        "STANDARD_FAULTS",
        "ArmedFault",
        "DemoField",
        "EmulatorBase",
        "EmulatorClock",
        "EmulatorServer",
        "FaultName",
        "FaultQueue",
        "Grant",
        "LoggedRequest",
        "OAuthClient",
        "OAuthTokenEndpoint",
        "RequestLog",
        "ServeFactory",
        "ServedEmulator",
        "ServedOnLoopback",
        "fake_people",
        "json_response",
        "route",
    ],
}

# Contract 1.0: every hook's parameters and every boundary model's fields, in order.
HOOKS_1_0 = {
    "describe_connector": [],
    "authenticate": [],
    "list_fields": ["object_name"],
    "fetch_changed": ["object_name", "fields", "cursor", "page", "page_size"],
    "push_updates": ["object_name", "requests"],
    "lookup_records": ["object_name", "field", "values", "fields"],
    "api_budget": [],
    "close": [],
}
# Added since, pinned the same way from the version that added them.
HOOKS_LATER = {
    "clock_offset": [],  # 1.1
    "missing_records": ["object_name", "record_ids"],  # 1.2
}
FIELDS_LATER = {
    "ChangePage": ["deletions_unknown_before"],  # 1.2
    "ConnectorDescription": ["missing_records_batch_size"],  # 1.2
}
FIELDS_1_0 = {
    "FieldSpec": [
        "name",
        "label",
        "type",
        "length",
        "required_on_create",
        "read_only",
        "picklist_values",
        "restricted_picklist",
        "vendor_type",
    ],
    "ChangedRecord": ["record_id", "modified_at", "values", "converted_to"],
    "Tombstone": ["record_id", "deleted_at", "merged_into"],
    "Cursor": ["modified_at", "record_id", "token"],
    "ChangePage": ["records", "tombstones", "cursor", "next_page", "costs"],
    "WriteRequest": ["ref", "op", "record_id", "values"],
    "WriteResult": ["ref", "ok", "record_id", "modified_at", "error"],
    "RecordError": ["code", "message", "field", "retryable", "missing"],
    "ApiBudget": ["used", "limit", "allowed"],
    "ConnectorDescription": [
        "id",
        "name",
        "contract_version",
        "objects",
        "person_objects",
        "max_batch_size",
        "max_page_size",
        "max_concurrency",
        "capabilities",
        "settings_model",
        "role",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_exported_names_are_pinned_and_resolve(module_name):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_every_hook_of_contract_1_0_keeps_its_parameters():
    assert contract.CONTRACT_VERSION.split(".")[0] == "1", "a new major: re-pin 1.0"
    for name, parameters in (HOOKS_1_0 | HOOKS_LATER).items():
        spec = getattr(hookspecs, name)
        found = list(inspect.signature(spec).parameters)
        assert found[: len(parameters)] == parameters, f"{name} changed: {found}"
    assert set(HOOKS_1_0) | set(HOOKS_LATER) <= set(contract.HOOK_NAMES)


def test_every_boundary_model_of_contract_1_0_keeps_its_fields():
    for name, fields in FIELDS_1_0.items():
        model = getattr(contract, name)
        found = list(model.model_fields)
        missing = [
            field
            for field in [*fields, *FIELDS_LATER.get(name, [])]
            if field not in found
        ]
        assert not missing, f"{name} lost {missing}: the contract may only grow"


def test_the_runtime_loads_lazily_and_unknown_names_fail_clearly():
    assert crmsync.SyncEngine.__name__ == "SyncEngine"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        crmsync.nope  # noqa: B018
