"""What every operation shares: settings, the state store, the connector catalog and
the connections it opened.

A :class:`Workspace` is the one object a face (the CLI, the web app, a worker) holds
per request or task. It opens what it needs lazily and closes all of it in
:meth:`Workspace.close`. Tests and embedders pass a ``catalog`` and
``connector_kwargs`` to inject connectors without installing them.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import SecretBytes, SecretStr, ValidationError
from pydantic_settings import BaseSettings

from crmsync.authoring import MetadataCache, TokenCache
from crmsync.errors import ConfigurationError
from crmsync.models import Integration
from crmsync.operations._text import env_file_error
from crmsync.plugins import (
    Connection,
    ConnectorCatalog,
    InstalledConnector,
    build_settings,
    discover_connectors,
)
from crmsync.settings import CrmsyncSettings
from crmsync.store import StateStore, is_secret_setting, open_store

__all__ = [
    "Workspace",
    "check_given_settings",
    "check_stored_settings",
    "connector_settings",
    "load_settings",
]


# The global options that set a framework setting, to name the option at fault.
_OPTIONS = {
    "database_url": "--database-url",
    "log_format": "--log-format",
    "log_level": "--log-level",
}


def _settings_error(
    error: ValidationError, options: Collection[str] = ()
) -> ConfigurationError:
    """One line naming what the operator set: the option or the variable, never the
    model's field name."""
    prefix = str(CrmsyncSettings.model_config.get("env_prefix") or "")
    named: list[tuple[str, str]] = []
    for problem in error.errors():
        field_name = str(problem["loc"][0]) if problem["loc"] else ""
        if field_name in options:
            shown = f"{_OPTIONS.get(field_name, field_name)} {problem['input']!r}"
        elif field_name:
            shown = f"{prefix}{field_name.upper()}"
        else:
            shown = "crmsync settings"
        named.append((shown, str(problem["msg"])))
    (first, message), rest = named[0], named[1:]
    text = f"{first}: {message}"
    if rest:
        text += f"; also invalid: {', '.join(shown for shown, _ in rest)}"
    hint = (
        "see `crmsync --help`"
        if first.startswith("--")
        else f"fix {'them' if rest else 'it'} in the environment or .env"
    )
    return ConfigurationError(text, hint=hint)


def load_settings(
    base: CrmsyncSettings | None = None, overrides: Mapping[str, Any] | None = None
) -> CrmsyncSettings:
    """The framework settings: ``base`` (else the environment and .env) with
    ``overrides``; a bad value is one line naming its variable or option."""
    try:
        settings = base or CrmsyncSettings()
    except UnicodeDecodeError:
        raise env_file_error(CrmsyncSettings) from None
    except ValidationError as error:
        raise _settings_error(error) from None
    if not overrides:
        return settings
    try:
        return CrmsyncSettings.model_validate({**settings.model_dump(), **overrides})
    except ValidationError as error:
        raise _settings_error(error, options=list(overrides)) from None


def _is_secret(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(_is_secret(part) for part in get_args(annotation))


def _never_stored(installed: InstalledConnector, key: str) -> bool:
    """Whether the state store refuses to keep setting ``key``: a secret by its type,
    or by its name (the store's own rule, which also covers the path of a secret's
    file such as ``refresh_token_file``)."""
    info = installed.description.settings_model.model_fields.get(key)
    return is_secret_setting(key) or (info is not None and _is_secret(info.annotation))


def _env_name(installed: InstalledConnector, key: str) -> str:
    """The environment variable of setting ``key``, e.g. CRMSYNC_SALESFORCE_TIMEOUT."""
    model = installed.description.settings_model
    return f"{model.model_config.get('env_prefix') or ''}{key.upper()}"


def _setting_problem(
    installed: InstalledConnector, values: Mapping[str, Any]
) -> tuple[str, str | None] | None:
    """The first of ``values`` the connector cannot take: ``(key, None)`` for a key
    its settings model lacks, ``(key, why)`` for a value its field refuses."""
    model = installed.description.settings_model
    for key in values:
        if key not in model.model_fields:
            return key, None
    try:
        # Only the given keys are judged: the rest (credentials above all) may come
        # from the environment later, and rules that tie settings together are checked
        # when a connection opens.
        model.model_validate(dict(values))
    except UnicodeDecodeError:
        raise env_file_error(model, f"{installed.id} settings") from None
    except ValidationError as error:
        for problem in error.errors():
            if problem["loc"] and problem["loc"][0] in values:
                why = str(problem["msg"]).removeprefix("Value error, ")
                return str(problem["loc"][0]), why
    return None


def _known_settings(installed: InstalledConnector) -> str:
    """The settings that can be stored (secrets and their files are left to the
    environment)."""
    fields = installed.description.settings_model.model_fields
    names = [name for name in fields if not _never_stored(installed, name)]
    return ", ".join(names) or "none"


def check_given_settings(
    installed: InstalledConnector, values: Mapping[str, Any], *, option: str
) -> None:
    """Refuse a setting to store that the connector does not have or rejects, and a
    secret (or a secret's file), which is never stored in the state.

    ``option`` names where the values came from (``--crm-setting`` on the CLI).
    """
    model = installed.description.settings_model
    for key in values:
        if key in model.model_fields and _never_stored(installed, key):
            raise ConfigurationError(
                f"{option} {key}: setting {key!r} of connector {installed.id!r} "
                "looks like a secret and is never stored in the state",
                hint=f"set {_env_name(installed, key)} in the environment or .env",
            )
    problem = _setting_problem(installed, values)
    if problem is None:
        return
    key, why = problem
    if why is None:
        raise ConfigurationError(
            f"{option} {key}: connector {installed.id!r} has no setting {key!r}",
            hint=f"its settings: {_known_settings(installed)}",
        )
    default = model.model_fields[key].get_default(call_default_factory=True)
    fallback = "" if default is None else f" or the default {default}"
    raise ConfigurationError(
        f"{option} {key}={values[key]!r}: {why}",
        hint=f"give a valid value, or leave it out to use {_env_name(installed, key)}"
        f"{fallback}",
    )


def check_stored_settings(
    installed: InstalledConnector,
    values: Mapping[str, Any],
    *,
    integration: str,
    side: str,
) -> None:
    """Refuse a setting stored with ``integration`` that the connector does not take,
    naming the command that changes it: the stored value overrides the environment, so
    a variable cannot fix it."""
    problem = _setting_problem(installed, values)
    if problem is None:
        return
    key, why = problem
    remove = f"`crmsync integration update {integration} --unset-{side}-setting {key}`"
    if why is None:
        raise ConfigurationError(
            f"{side} setting {key!r} stored with integration {integration!r} is not "
            f"a setting of connector {installed.id!r}",
            hint=f"remove it with {remove}",
        )
    raise ConfigurationError(
        f"{side} setting {key}={values[key]!r} stored with integration "
        f"{integration!r}: {why}",
        hint=f"change it with `crmsync integration update {integration} "
        f"--{side}-setting {key}=VALUE`, or remove it with {remove}",
    )


def connector_settings(
    installed: InstalledConnector,
    values: Mapping[str, Any] | None = None,
    *,
    integration: str | None = None,
    side: str = "",
) -> BaseSettings:
    """A connector's settings (``values`` over the environment and .env), or one
    :class:`ConfigurationError` line: :func:`crmsync.plugins.build_settings` names the
    variable to set; an undecodable .env is named here.

    ``values`` stored with ``integration`` (on ``side``) are checked first, so that a
    bad one is named with the command that changes it, not with a variable.
    """
    if integration is not None and values:
        check_stored_settings(installed, values, integration=integration, side=side)
    try:
        return build_settings(installed, values)
    except UnicodeDecodeError:
        raise env_file_error(
            installed.description.settings_model, f"{installed.id} settings"
        ) from None


# A connector whose opening would create something (a file, a schema) declares this
# boolean setting; the framework sets it false where it must write nothing (contract
# 1.2, see the hook reference's rules).
CREATE_MISSING_SETTING = "create_missing"


def _stored_setting_hint(
    stored: Mapping[str, Any] | None, integration: str | None, side: str
) -> Callable[[str], str | None]:
    """Where a connector setting at fault is changed when ``integration`` stores it
    (the stored value overrides the variable, so naming the variable would not help)."""

    def changed_by(setting: str) -> str | None:
        if integration is None or not stored or setting not in stored:
            return None
        return (
            f"the {setting} is stored with integration {integration!r}: change it with "
            f"`crmsync integration update {integration} --{side}-setting "
            f"{setting}={setting.upper()}`"
        )

    return changed_by


def _takes(installed: InstalledConnector, keyword: str) -> bool:
    """Whether the connector's constructor takes ``keyword`` (``metadata_cache``,
    ``token_cache``: contract 1.2)."""
    try:
        parameters = inspect.signature(installed.factory).parameters
    except (TypeError, ValueError):
        return False
    return keyword in parameters


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crmsync"


@dataclass
class Workspace:
    """Lazily opened resources of one request, command or task.

    :param catalog: the connectors to use instead of discovering installed ones.
    :param connector_kwargs: extra constructor arguments per connector id (test seams
        such as an in-memory backend or an httpx transport; never credentials).
    :param settings: the framework settings (else the environment and .env).
    """

    catalog: ConnectorCatalog | None = None
    connector_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: CrmsyncSettings | None = None
    _store: StateStore | None = None
    _connections: list[Connection] = field(default_factory=list)

    def get_settings(self) -> CrmsyncSettings:
        """The framework settings, loaded on first use."""
        if self.settings is None:
            self.settings = load_settings()
        return self.settings

    def get_catalog(self) -> ConnectorCatalog:
        """The connector catalog, discovered on first use."""
        if self.catalog is None:
            self.catalog = discover_connectors()
        return self.catalog

    def get_store(self, *, create: bool = True) -> StateStore:
        """The state store, migrated to the newest schema.

        :param create: make the store when there is none yet (see
            :meth:`existing_store`).
        """
        if self._store is None:
            settings = self.get_settings()
            store = open_store(
                settings.database_url,
                migrate=False,
                sqlite_cache_mb=settings.sqlite_cache_mb,
            )
            try:
                store.ensure_schema(create=create)
            except BaseException:
                store.dispose()
                raise
            self._store = store
        return self._store

    def existing_store(self) -> StateStore:
        """The state store for an action on what is stored: none yet is reported, so
        that a mistyped database URL does not become a new empty database (only
        creating an integration, and the demo, make one)."""
        return self.get_store(create=False)

    def open_connection(
        self,
        connector_id: str,
        settings: Mapping[str, Any] | None = None,
        *,
        integration: str | None = None,
        side: str = "",
        factory_kwargs: Mapping[str, Any] | None = None,
        create: bool = True,
        metadata_cache: bool = False,
    ) -> Connection:
        """A connection to ``connector_id``; closed by :meth:`close`.

        ``settings`` stored with ``integration`` (on ``side``) are checked first;
        ``factory_kwargs`` add to the connector's constructor arguments.
        ``create=False`` opens the connection without creating anything (a dry run
        and ``doctor`` write nothing, not even a new empty platform file): a
        connector that declares the ``create_missing`` setting gets it false.
        ``metadata_cache`` hands a connector whose constructor takes
        ``metadata_cache`` the vendor metadata kept by earlier processes (for cycles;
        administrative actions such as adding a mapping read it fresh). A connector
        whose constructor takes ``token_cache`` always gets the access tokens kept by
        earlier processes (``doctor`` and ``fields`` sign in too).
        """
        from crmsync.engine.runtime import open_connection

        installed = self.get_catalog().get(connector_id)
        connector_settings(installed, settings, integration=integration, side=side)
        values = dict(settings or {})
        model = installed.description.settings_model
        if not create and CREATE_MISSING_SETTING in model.model_fields:
            values[CREATE_MISSING_SETTING] = False
        cache: dict[str, Any] = {}
        if metadata_cache and _takes(installed, "metadata_cache"):
            cache["metadata_cache"] = self._metadata_cache(installed, values)
        if _takes(installed, "token_cache"):
            cache["token_cache"] = self._token_cache(installed, values)
        connection = open_connection(
            self.get_catalog(),
            connector_id,
            values,
            factory_kwargs={
                **self.connector_kwargs.get(connector_id, {}),
                **cache,
                **(factory_kwargs or {}),
            },
            changed_by=_stored_setting_hint(settings, integration, side),
        )
        self._connections.append(connection)
        return connection

    def _metadata_cache(
        self, installed: InstalledConnector, values: Mapping[str, Any]
    ) -> MetadataCache:
        settings = self.get_settings()
        directory = settings.cache_dir or _default_cache_dir()
        return MetadataCache.for_connection(
            directory,
            connector=installed.id,
            settings=connector_settings(installed, values),
            seconds=settings.describe_cache_seconds,
        )

    def _token_cache(
        self, installed: InstalledConnector, values: Mapping[str, Any]
    ) -> TokenCache:
        settings = self.get_settings()
        return TokenCache.for_connection(
            settings.cache_dir or _default_cache_dir(),
            connector=installed.id,
            settings=connector_settings(installed, values),
            seconds=settings.token_cache_seconds,
        )

    def open_integration(
        self,
        integration: Integration,
        *,
        create: bool = True,
        metadata_cache: bool = False,
    ) -> tuple[Connection, Connection]:
        """The (platform, crm) connections of ``integration`` (``create=False`` and
        ``metadata_cache``: see :meth:`open_connection`)."""
        # Both sides' settings are checked before either side opens, so that a bad
        # CRM setting leaves no new (empty) platform file behind.
        for connector_id, stored, side in (
            (integration.platform_connector, integration.platform_settings, "platform"),
            (integration.crm_connector, integration.crm_settings, "crm"),
        ):
            connector_settings(
                self.get_catalog().get(connector_id),
                stored,
                integration=integration.name,
                side=side,
            )
        platform = self.open_connection(
            integration.platform_connector,
            integration.platform_settings,
            integration=integration.name,
            side="platform",
            create=create,
            metadata_cache=metadata_cache,
        )
        crm = self.open_connection(
            integration.crm_connector,
            integration.crm_settings,
            integration=integration.name,
            side="crm",
            create=create,
            metadata_cache=metadata_cache,
        )
        return platform, crm

    def close(self) -> None:
        """Close every connection opened here, then the state store."""
        while self._connections:
            connection = self._connections.pop()
            # closing must never hide the action's own outcome
            with contextlib.suppress(Exception):
                connection.close()
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
