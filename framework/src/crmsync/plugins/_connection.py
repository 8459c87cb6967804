"""One configured connection: a plugin manager holding exactly one connector."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import pluggy
import structlog
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from crmsync.contract import (
    PROJECT_NAME,
    ApiBudget,
    ChangedRecord,
    ChangePage,
    ClockOffset,
    ConnectorDescription,
    Cursor,
    FieldSpec,
    RecordPage,
    WriteRequest,
    WriteResult,
    hookimpl,
    hookspecs,
)
from crmsync.errors import BudgetExhausted, ConfigurationError, ContractError
from crmsync.logs import register_secrets
from crmsync.plugins._discovery import InstalledConnector
from crmsync.plugins._retry import RetryPolicy, call_with_retries

T = TypeVar("T")
log = structlog.get_logger("crmsync.connection")


class CallStats:
    """The core's hookwrapper: counts and times every hook call of a connection."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)
        self.waits: Counter[str] = Counter()

    @hookimpl(hookwrapper=True)
    def fetch_changed(self) -> Generator[None, Any, None]:
        yield from self._timed("fetch_changed")

    @hookimpl(hookwrapper=True)
    def push_updates(self) -> Generator[None, Any, None]:
        yield from self._timed("push_updates")

    @hookimpl(hookwrapper=True)
    def lookup_records(self) -> Generator[None, Any, None]:
        yield from self._timed("lookup_records")

    @hookimpl(hookwrapper=True)
    def missing_records(self) -> Generator[None, Any, None]:
        yield from self._timed("missing_records")

    @hookimpl(hookwrapper=True)
    def list_fields(self) -> Generator[None, Any, None]:
        yield from self._timed("list_fields")

    @hookimpl(hookwrapper=True)
    def authenticate(self) -> Generator[None, Any, None]:
        yield from self._timed("authenticate")

    def _timed(self, name: str) -> Generator[None, Any, None]:
        started = time.perf_counter()
        yield
        self.calls[name] += 1
        self.seconds[name] += time.perf_counter() - started


def _settings_error(
    connector_id: str, model: type[BaseSettings], error: ValidationError
) -> ConfigurationError:
    """The first validation error as one line that says which variable to set."""
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    prefix = str(model.model_config.get("env_prefix") or "")
    if not loc:
        # A model validator's complaint (one setting needs another) belongs to no one
        # field, so there is no single variable to name: name the family instead.
        message = str(first["msg"]).removeprefix("Value error, ")
        hint = "set the connector's settings in the environment or .env" + (
            f" with the prefix {prefix}" if prefix else ""
        )
        return ConfigurationError(f"{connector_id} settings: {message}", hint=hint)
    # A nested value is set as JSON in its top-level field's variable.
    return ConfigurationError(
        f"{connector_id} settings: {'.'.join(loc)}: {first['msg']}",
        hint=f"set it in the environment or .env as {prefix}{loc[0].upper()}",
    )


def locate_setting_error(
    error: ConfigurationError,
    connector: InstalledConnector,
    changed_by: Callable[[str], str | None] | None = None,
) -> ConfigurationError:
    """A connector's error about one of its settings (``error.setting``), its hint led
    by where that setting is changed: ``changed_by(setting)`` (say, the command that
    changes a value stored with an integration) when it answers, else the setting's
    environment variable. An error that names no setting is returned as it is."""
    setting = error.setting
    if setting is None:
        return error
    where = changed_by(setting) if changed_by is not None else None
    if where is None:
        model = connector.description.settings_model
        prefix = str(model.model_config.get("env_prefix") or "")
        where = f"check {prefix}{setting.upper()}"
    hint = "; ".join(part for part in (where, error.hint) if part)
    return ConfigurationError(error.message, hint=hint, setting=setting)


def build_settings(
    connector: InstalledConnector, values: Mapping[str, Any] | None = None
) -> BaseSettings:
    """Build a connector's settings: ``values`` over its environment/.env defaults."""
    model = connector.description.settings_model
    try:
        settings = model(**dict(values or {}))
    except ValidationError as error:
        raise _settings_error(connector.id, model, error) from None
    register_secrets(settings)
    return settings


class Connection:
    """Calls one connector's hooks with keyword arguments, under the core's retry
    policy.

    Each connection owns a plugin manager with exactly one connector instance, the
    core's :class:`CallStats` wrapper, and any ``extra_plugins`` (audit or transform
    hookwrappers), so no answer ever depends on which of several installed connectors
    replies first.
    """

    def __init__(
        self,
        connector: InstalledConnector,
        settings: BaseSettings,
        *,
        retry: RetryPolicy | None = None,
        extra_plugins: Iterable[object] = (),
        factory_kwargs: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.id = connector.id
        self.description: ConnectorDescription = connector.description
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.stats = CallStats()
        self._sleep = sleep
        self._authenticated = False
        self.plugin_manager = pluggy.PluginManager(PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        # factory_kwargs carry test seams such as an httpx transport; never credentials.
        self.instance = connector.factory(
            settings=settings, **dict(factory_kwargs or {})
        )
        self.plugin_manager.register(self.instance, name=f"connector:{connector.id}")
        self.plugin_manager.register(self.stats, name="crmsync:stats")
        for plugin in extra_plugins:
            self.plugin_manager.register(plugin)

    @property
    def authenticated(self) -> bool:
        """Whether credentials were obtained (renewed on expiry, not per call)."""
        return self._authenticated

    @property
    def hook(self) -> Any:
        return self.plugin_manager.hook

    # -- the hooks, each retried
    # ---------------------------------------------------------
    def authenticate(self) -> None:
        """Obtain credentials now (retried on transient failures, never on refusal)."""
        call_with_retries(
            lambda: self.hook.authenticate(),
            policy=self.retry,
            reauthenticate=lambda: None,
            what=f"{self.id}.authenticate",
            sleep=self._sleep,
            on_wait=self._count_wait,
        )
        self._authenticated = True

    def list_fields(self, object_name: str) -> list[FieldSpec]:
        self._check_object(object_name)
        answer = self._call("list_fields", object_name=object_name)
        return self._validate_list(answer, FieldSpec, "list_fields")

    def fetch_changed(
        self,
        object_name: str,
        *,
        fields: Sequence[str],
        cursor: Cursor | None,
        page: str | None = None,
        page_size: int | None = None,
    ) -> ChangePage:
        self._check_object(object_name)
        size = min(
            page_size or self.description.max_page_size, self.description.max_page_size
        )
        answer = self._call(
            "fetch_changed",
            object_name=object_name,
            fields=list(fields),
            cursor=cursor,
            page=page,
            page_size=size,
        )
        if not isinstance(answer, ChangePage):
            raise ContractError(
                f"{self.id}.fetch_changed returned {type(answer).__name__}"
            )
        return answer

    def push_updates(
        self, object_name: str, requests: Sequence[WriteRequest]
    ) -> list[WriteResult]:
        """Push ``requests`` (at most ``max_batch_size``); answers in input order."""
        self._check_object(object_name)
        if len(requests) > self.description.max_batch_size:
            raise ContractError(
                f"batch of {len(requests)} exceeds {self.id}'s max_batch_size "
                f"{self.description.max_batch_size}"
            )
        answer = self._call(
            "push_updates", object_name=object_name, requests=list(requests)
        )
        results = self._validate_list(answer, WriteResult, "push_updates")
        if [r.ref for r in results] != [r.ref for r in requests]:
            raise ContractError(
                f"{self.id}.push_updates answered {len(results)} results for "
                f"{len(requests)} "
                "requests, or out of order"
            )
        return results

    def lookup_records(
        self,
        object_name: str,
        *,
        field: str,
        values: Sequence[str],
        fields: Sequence[str],
    ) -> list[ChangedRecord]:
        """Every record matching ``values``; a paged answer is read page by page, each
        page retried on its own (a fault on page three never re-reads page one)."""
        self._check_object(object_name)
        found: list[ChangedRecord] = []
        page: str | None = None
        seen: set[str] = set()
        while True:
            answer = self._call(
                "lookup_records",
                object_name=object_name,
                field=field,
                values=list(values),
                fields=list(fields),
                page=page,
            )
            if not isinstance(answer, RecordPage):
                return found + self._validate_list(
                    answer or [], ChangedRecord, "lookup_records"
                )
            found.extend(answer.records)
            if answer.next_page is None:
                return found
            if answer.next_page in seen:
                raise ContractError(
                    f"connector {self.id!r} answered lookup_records with a page token "
                    "it had answered before (the lookup would never end)"
                )
            seen.add(answer.next_page)
            page = answer.next_page

    def implements(self, hook_name: str) -> bool:
        """Whether the connector itself implements the optional hook ``hook_name``
        (the core's own wrappers and extensions do not count)."""
        caller = getattr(self.hook, hook_name)
        return any(
            impl.plugin is self.instance and not (impl.hookwrapper or impl.wrapper)
            for impl in caller.get_hookimpls()
        )

    def missing_records(self, object_name: str, record_ids: Sequence[str]) -> list[str]:
        """Which of ``record_ids`` (at most ``missing_records_batch_size``) no longer
        exist; one call, retried on its own."""
        self._check_object(object_name)
        limit = self.description.missing_records_batch_size
        if len(record_ids) > limit:
            raise ContractError(
                f"{len(record_ids)} ids exceed {self.id}'s missing_records_batch_size "
                f"{limit}"
            )
        answer = self._call(
            "missing_records", object_name=object_name, record_ids=list(record_ids)
        )
        if not isinstance(answer, list) or not all(
            isinstance(item, str) for item in answer
        ):
            raise ContractError(f"{self.id}.missing_records must return a list of str")
        strangers = sorted(set(answer) - set(record_ids))
        if strangers:
            raise ContractError(
                f"{self.id}.missing_records answered ids it was not asked about: "
                f"{', '.join(strangers[:5])}"
            )
        return list(dict.fromkeys(answer))

    def api_budget(self) -> ApiBudget | None:
        answer = self.hook.api_budget()
        return answer if isinstance(answer, ApiBudget) else None

    def clock_offset(self) -> ClockOffset | None:
        """The vendor's clock offset as the connector measured it, if it did."""
        answer = self.hook.clock_offset()
        if answer is None:
            return None
        if not isinstance(answer, ClockOffset):
            raise ContractError(
                f"connector {self.description.id!r} answered clock_offset with "
                f"{type(answer).__name__}, not ClockOffset"
            )
        return answer

    def close(self) -> None:
        self.hook.close()

    # -- plumbing
    # ------------------------------------------------------------------------
    def _count_wait(self, reason: str) -> None:
        self.stats.waits[reason] += 1

    def _check_object(self, object_name: str) -> None:
        if object_name not in self.description.objects:
            raise ConfigurationError(
                f"{self.id} has no object {object_name!r}",
                hint=f"its objects are: {', '.join(self.description.objects)}",
            )

    def _check_budget(self) -> None:
        budget = self.api_budget()
        if budget is not None and budget.exhausted:
            raise BudgetExhausted(
                f"{self.id} API budget reached: {budget.used} of {budget.limit} "
                f"calls used (crmsync stops at {budget.allowed}); the cycle stops and "
                "resumes next time",
                used=budget.used,
                limit=budget.limit,
                allowed=budget.allowed,
            )

    def _call(self, name: str, **kwargs: Any) -> Any:
        if not self._authenticated:
            self.authenticate()
        self._check_budget()
        caller = getattr(self.hook, name)
        return call_with_retries(
            lambda: caller(**kwargs),
            policy=self.retry,
            reauthenticate=self.authenticate,
            what=f"{self.id}.{name}",
            sleep=self._sleep,
            on_wait=self._count_wait,
        )

    def _validate_list(
        self, answer: Any, model: type[BaseModel], hook: str
    ) -> list[Any]:
        if not isinstance(answer, list) or not all(
            isinstance(item, model) for item in answer
        ):
            raise ContractError(
                f"{self.id}.{hook} must return a list of {model.__name__}"
            )
        return answer
