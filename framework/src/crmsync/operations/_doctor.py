"""Doctor: a preflight of one integration that writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crmsync.contract import FieldSpec
from crmsync.errors import CrmsyncError, StateError
from crmsync.logs import redact_text
from crmsync.models import CRM, CreationMode, Direction, Integration, ObjectPair, Side
from crmsync.operations._checks import build_mapping, filter_problems
from crmsync.operations._models import DoctorCheck, DoctorReport
from crmsync.operations._text import error_line
from crmsync.operations._workspace import Workspace, connector_settings
from crmsync.plugins import Connection
from crmsync.policy import creation_pair, flows_to
from crmsync.store import StateStore, open_store

__all__ = ["doctor"]

T = TypeVar("T")


class _Checks:
    def __init__(self) -> None:
        self.lines: list[DoctorCheck] = []

    def ok(self, what: str, detail: str = "") -> None:
        self.lines.append(DoctorCheck(level="ok", what=what, detail=detail))

    def warn(self, what: str, detail: str) -> None:
        self.lines.append(DoctorCheck(level="warn", what=what, detail=detail))

    def fail(self, what: str, detail: str) -> None:
        self.lines.append(DoctorCheck(level="fail", what=what, detail=detail))

    def attempt(
        self, what: str, call: Callable[[], T], detail: Callable[[T], str] = str
    ) -> T | None:
        try:
            value = call()
        except (CrmsyncError, OSError, ValueError) as error:
            self.fail(what, error_line(error))
            return None
        except SQLAlchemyError as error:
            # A driver's own text; SQLAlchemy's wrapper adds the SQL and a docs link.
            reason = error.orig if isinstance(error, DBAPIError) else error
            self.fail(what, error_line(StateError(f"state store error: {reason}")))
            return None
        self.ok(what, detail(value))
        return value


def _open_store(url: str) -> StateStore:
    parsed = make_url(url)
    database = parsed.database
    is_file = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if is_file and database is not None and not Path(database).exists():
        raise StateError(
            f"no state file at {database}",
            hint="create an integration first, or check --database-url",
        )
    store = open_store(url, migrate=False)
    try:
        try:
            with store.database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            raise StateError(
                f"cannot reach the state store {_shown_url(store)}: {error.orig}",
                hint="is the database server running and reachable? "
                "check --database-url",
            ) from None
        if not store.database.is_current():
            # another application's database: say that instead
            store.database.refuse_foreign()
            raise StateError(
                "the state store is not at the newest schema",
                hint="any crmsync command that writes "
                "(e.g. `crmsync integration list`) migrates it",
            )
    except BaseException:
        store.dispose()  # the caller gets no store, so it could not dispose of it
        raise
    return store


def _shown_url(store: StateStore) -> str:
    """The store's URL with its password masked, wherever in the URL it is given."""
    return redact_text(store.database.engine.url.render_as_string(hide_password=True))


def _side(
    checks: _Checks, ws: Workspace, integration: Integration, side: str
) -> tuple[Connection | None, dict[str, Any]]:
    connector_id = (
        integration.platform_connector
        if side == "platform"
        else integration.crm_connector
    )
    stored = (
        integration.platform_settings
        if side == "platform"
        else integration.crm_settings
    )
    installed = checks.attempt(
        f"{side} connector {connector_id} installed",
        lambda: ws.get_catalog().get(connector_id),
        lambda c: f"{c.distribution or '-'} {c.version or ''}".strip(),
    )
    if installed is None:
        return None, {}
    if (
        checks.attempt(
            f"{side} settings load",
            lambda: connector_settings(
                installed, stored, integration=integration.name, side=side
            ),
            lambda _: "from the environment, .env and the stored settings",
        )
        is None
    ):
        return None, {}
    # Doctor writes nothing: a connector that would create what it opens (the local
    # platform file) opens only what exists, and reports what does not.
    connection = checks.attempt(
        f"{side} connection opens",
        lambda: ws.open_connection(
            connector_id,
            stored,
            integration=integration.name,
            side=side,
            create=False,
        ),
        lambda _: "",
    )
    if connection is None:
        return None, {}

    def authenticate() -> bool:
        connection.authenticate()
        return True

    if checks.attempt(f"{side} authenticates", authenticate, lambda _: "") is None:
        return None, {}
    fields: dict[str, Any] = {}
    objects = sorted({getattr(p, f"{side}_object") for p in integration.object_pairs})
    for object_name in objects:
        specs = checks.attempt(
            f"{side} {object_name} reachable (list_fields)",
            lambda name=object_name: connection.list_fields(name),  # type: ignore[misc]
            lambda specs: f"{len(specs)} fields",
        )
        if specs is not None:
            fields[object_name] = specs
    budget = connection.api_budget()
    if budget is None:
        checks.ok(f"{side} API budget", "not reported by this connector")
    elif budget.exhausted:
        checks.fail(
            f"{side} API budget",
            f"spent: {budget.used} of {budget.limit} calls used; "
            f"crmsync stops at {budget.allowed}",
        )
    else:
        checks.ok(
            f"{side} API budget",
            f"{budget.allowed - budget.used:,} calls left before "
            f"crmsync stops ({budget.used:,} of {budget.limit:,} used)",
        )
    return connection, fields


def _object(pair: ObjectPair, side: Side) -> str:
    return pair.crm_object if side is CRM else pair.platform_object


def _creation_pairs(
    integration: Integration, target: Side, target_object: str | None
) -> list[ObjectPair]:
    """The pair through which each source object's records are created (the
    policy's choice, as the engine makes it)."""
    by_source: dict[str, list[ObjectPair]] = {}
    for pair in integration.pairs_in_match_order():
        by_source.setdefault(_object(pair, target.other), []).append(pair)
    return [
        creation_pair(pairs, target, target_object) for pairs in by_source.values()
    ]


def _named_like(name: str, specs: list[FieldSpec] | None) -> str:
    """The field of ``specs`` named like ``name`` (last_name for LastName), else a
    placeholder."""
    wanted = name.replace("_", "").lower()
    for spec in specs or ():
        if spec.name.replace("_", "").lower() == wanted:
            return spec.name
    return "FIELD"


def _required_on_create(
    checks: _Checks,
    integration: Integration,
    platform_fields: dict[str, Any],
    crm_fields: dict[str, Any],
) -> None:
    """Each field that a created record's object requires on create is mapped into it
    (else every create fails); one mapped without a default fails for blank sources."""
    fields_of = {Side.PLATFORM: platform_fields, Side.CRM: crm_fields}
    name = integration.name
    for rule, target in (
        (integration.create_in_crm, Side.CRM),
        (integration.create_in_platform, Side.PLATFORM),
    ):
        if rule.mode is CreationMode.NEVER:
            continue
        source = target.other
        for pair in _creation_pairs(integration, target, rule.target_object):
            target_object = _object(pair, target)
            source_object = _object(pair, source)
            what = f"creates {source_object} → {target_object}: required fields"
            specs = fields_of[target].get(target_object)
            if specs is None:
                checks.warn(what, "not checked: a side is unreachable")
                continue
            into = {
                (m.crm_field if target is Side.CRM else m.platform_field): m
                for m in pair.mappings
                if flows_to(m, target)
            }
            required = [
                spec.name
                for spec in specs
                if spec.required_on_create and not spec.read_only
            ]
            missing = [field for field in required if field not in into]
            no_default = [f for f in required if f in into and into[f].default is None]
            where = f"--pair {pair.platform_object}:{pair.crm_object}"
            if missing:
                field = missing[0]
                other = _named_like(field, fields_of[source].get(source_object))
                platform_field, crm_field = (
                    (other, field) if target is Side.CRM else (field, other)
                )
                # The one-way direction that writes the target.
                direction = (
                    Direction.TO_CRM if target is Side.CRM else Direction.TO_PLATFORM
                )
                checks.fail(
                    what,
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                    f"required but not mapped into {target_object}, so every create "
                    f"in the {target.value} would fail (map {field} with `crmsync "
                    f"mapping add {name} {platform_field} {crm_field} --direction "
                    f"{direction.value} --default VALUE {where}`)",
                )
            elif no_default:
                first = into[no_default[0]]
                checks.warn(
                    what,
                    f"{', '.join(no_default)} mapped without a default: a record whose "
                    "source value is blank fails to be created (give it one with "
                    f"`crmsync mapping update {name} {first.platform_field} "
                    f"{first.crm_field} --default VALUE {where}`)",
                )
            else:
                checks.ok(what, ", ".join(required) + " mapped" if required else "none")


def _mappings(
    checks: _Checks,
    integration: Integration,
    platform_fields: dict[str, Any],
    crm_fields: dict[str, Any],
) -> None:
    for pair in integration.pairs_in_match_order():
        p_specs = platform_fields.get(pair.platform_object)
        c_specs = crm_fields.get(pair.crm_object)
        where = f"{pair.platform_object}:{pair.crm_object}"
        if p_specs is None or c_specs is None:
            checks.warn(f"mappings of {where}", "not checked: a side is unreachable")
            continue
        problems = []
        for mapping in pair.mappings:
            try:
                build_mapping(
                    pair,
                    p_specs,
                    c_specs,
                    platform_field=mapping.platform_field,
                    crm_field=mapping.crm_field,
                    direction=mapping.direction,
                    default=mapping.default,
                    conflict_rule=mapping.conflict_rule,
                )
            except CrmsyncError as error:
                problems.append(error_line(error))
        if problems:
            checks.fail(f"mappings of {where}", "; ".join(problems))
        elif not pair.mappings:
            checks.warn(f"mappings of {where}", "none: nothing will sync")
        else:
            checks.ok(
                f"mappings of {where}",
                f"{len(pair.mappings)} valid against live fields",
            )


def doctor(ws: Workspace, name: str) -> DoctorReport:
    """Check ``name`` end to end, writing nothing: the state store, both connectors'
    settings, credentials and objects, the mappings against live fields, required
    fields of created records, creation filters and the API budget.

    Never raises for what it checks: each problem is a ``fail`` line of the report.
    """
    checks = _Checks()
    url = ws.get_settings().database_url
    store = checks.attempt(
        "state store reachable and at the newest schema",
        lambda: _open_store(url),
        _shown_url,
    )
    integration = None
    if store is not None:
        integration = checks.attempt(
            f"integration {name} exists",
            lambda: store.config.get_integration(name),
            lambda i: "active" if i.active else "paused",
        )
    if integration is not None:
        platform, platform_fields = _side(checks, ws, integration, "platform")
        crm, crm_fields = _side(checks, ws, integration, "crm")
        _mappings(checks, integration, platform_fields, crm_fields)
        _required_on_create(checks, integration, platform_fields, crm_fields)
        if integration.create_in_crm.filter or integration.create_in_platform.filter:
            fields_by_side = {"platform": platform_fields, "crm": crm_fields}
            wrong = filter_problems(
                integration, lambda side, name: fields_by_side[side].get(name)
            )
            if wrong:
                checks.fail(
                    "creation filters", "; ".join(error_line(e) for e in wrong)
                )
            elif platform is None or crm is None:
                checks.warn("creation filters", "not checked: a side is unreachable")
            else:
                checks.ok("creation filters", "their fields exist")
    if store is not None:
        store.dispose()
    return DoctorReport(integration=name, checks=checks.lines)
