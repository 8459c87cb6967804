"""Checks of how the connector is found and described, and of its hooks' shape."""

from __future__ import annotations

import inspect
from typing import Any

import pluggy
import pytest

from crmsync.contract import (
    CONTRACT_VERSION,
    HOOK_NAMES,
    OPTIONAL_HOOK_ARGUMENTS,
    PROJECT_NAME,
    REQUIRED_HOOKS,
    ConnectorDescription,
    FieldSpec,
    hookspecs,
)
from crmsync.errors import ConnectorError, ContractError, PermanentError
from crmsync.plugins import Connection, InstalledConnector, check_contract_version
from crmsync.testing.kit._base import (
    ENTRY_POINT_RULE,
    ContractBase,
    broke,
    check,
    describable,
    entry_point,
    skip_unless_describable,
)
from crmsync.testing.kit._sandbox import Sandbox


class LoadingChecks(ContractBase):
    """Discovery, description, hook signatures, ``list_fields``."""

    def test_entry_point_loads_and_id_matches(self) -> None:
        found = entry_point(self.connector_id)
        if found is None:
            if self.require_entry_point:
                broke(
                    ENTRY_POINT_RULE,
                    f"no entry point named {self.connector_id!r} is installed",
                )
            pytest.skip("no installed entry point; the suite runs from connector_class")
        factory = found[0]
        skip_unless_describable(factory)
        description = factory.describe_connector()
        check(
            isinstance(description, ConnectorDescription),
            "describe_connector() is a staticmethod returning a ConnectorDescription",
            f"got {type(description).__name__}",
        )
        check(
            description.id == self.connector_id,
            "the entry-point name equals ConnectorDescription.id",
            f"entry point {self.connector_id!r}, description {description.id!r}",
        )
        if self.connector_class is not None:
            check(
                factory is self.connector_class,
                "the entry point names the connector class",
                f"{factory!r} is not {self.connector_class!r}",
            )

    def test_contract_version_is_supported(self) -> None:
        found = entry_point(self.connector_id)
        factory: Any = found[0] if found else self.connector_class
        if factory is None:
            pytest.skip("no connector to describe")
        skip_unless_describable(factory)
        declared = factory.describe_connector().contract_version
        try:
            check_contract_version(self.connector_id, declared)
        except ContractError as error:
            broke(
                "the connector declares a contract version this crmsync speaks "
                f"(same major, minor <= {CONTRACT_VERSION})",
                str(error),
            )

    def test_hooks_match_hookspecs(
        self, found_connector: tuple[Any, str | None, str | None]
    ) -> None:
        factory = found_connector[0]
        missing = [
            name
            for name in REQUIRED_HOOKS
            if not callable(getattr(factory, name, None))
        ]
        check(not missing, "the required hooks are implemented", f"missing: {missing}")
        problems = []
        for name in HOOK_NAMES:
            impl = getattr(factory, name, None)
            if impl is None:
                continue
            if not hasattr(impl, f"{PROJECT_NAME}_impl"):
                problems.append(
                    f"{name}: not marked with @hookimpl (pluggy would ignore it)"
                )
                continue
            wanted = _argnames(getattr(hookspecs, name))
            got = _argnames(impl)
            # Arguments added to a hook after 1.0 are for connectors that use them.
            later = OPTIONAL_HOOK_ARGUMENTS.get(name, frozenset())
            if [arg for arg in got if arg not in later] != [
                arg for arg in wanted if arg not in later
            ] or not set(got) <= set(wanted):
                problems.append(
                    f"{name}{tuple(got)}: the hookspec's arguments are {tuple(wanted)}"
                )
        if callable(getattr(factory, "describe_connector", None)) and not describable(
            factory
        ):
            problems.append("describe_connector: must be a staticmethod")
        check(
            not problems,
            "hooks have the hookspecs' names and arguments",
            "\n".join(problems),
        )

    def test_pluggy_accepts_the_connector(
        self, installed_connector: InstalledConnector, connection: Connection
    ) -> None:
        manager = pluggy.PluginManager(PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        try:
            manager.register(connection.instance)
            manager.check_pending()
        except pluggy.PluginValidationError as error:
            broke("pluggy validates the connector against the hookspecs", str(error))

    def test_list_fields_is_valid_and_stable(
        self, connection: Connection, installed_connector: InstalledConnector
    ) -> None:
        for object_name in installed_connector.description.objects:
            first = connection.list_fields(object_name)
            check(
                first,
                "list_fields lists the fields of each declared object",
                f"{object_name}: no fields",
            )
            check(
                all(isinstance(spec, FieldSpec) for spec in first),
                "list_fields returns FieldSpec models",
            )
            names = [spec.name for spec in first]
            dupes = sorted({name for name in names if names.count(name) > 1})
            check(not dupes, "field names are unique", f"{object_name}: {dupes}")
            for spec in first:
                if spec.restricted_picklist:
                    check(
                        spec.picklist_values,
                        "a restricted picklist lists its values",
                        f"{object_name}.{spec.name}",
                    )
            check(
                connection.list_fields(object_name) == first,
                "list_fields gives the same answer twice",
                object_name,
            )

    def test_unknown_object_is_a_permanent_error(self, connection: Connection) -> None:
        try:
            connection.hook.list_fields(object_name="NoSuchObject__kit")
        except PermanentError as error:
            check(
                error.code == "UNKNOWN_OBJECT",
                "list_fields of an unknown object raises PermanentError "
                "(code=UNKNOWN_OBJECT)",
                f"code was {error.code!r}",
            )
            return
        except ConnectorError as error:
            broke(
                "list_fields of an unknown object raises PermanentError",
                f"raised {type(error).__name__}: {error}",
            )
        broke("list_fields of an unknown object raises PermanentError", "it returned")

    def test_sandbox_object_is_declared(
        self, sandbox: Sandbox, connection: Connection
    ) -> None:
        check(
            sandbox.object_name in connection.description.objects,
            "the sandbox's object is one of the description's objects",
            f"{sandbox.object_name!r} not in {connection.description.objects}",
        )


def _argnames(function: object) -> list[str]:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    return [name for name in parameters if name != "self"]
