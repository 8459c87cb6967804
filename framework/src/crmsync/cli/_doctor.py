"""``crmsync doctor``: a preflight of one integration that writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crmsync.cli._errors import one_line
from crmsync.cli._state import CliState, connector_settings, out, state_of
from crmsync.cli._validate import build_mapping, filter_problems
from crmsync.contract import FieldSpec
from crmsync.errors import CrmsyncError, StateError
from crmsync.logs import redact_text
from crmsync.models import CreationMode, Integration, ObjectPair, Side
from crmsync.plugins import Connection
from crmsync.policy.creation import flows_to
from crmsync.store import StateStore, open_store

__all__ = ["doctor"]

T = TypeVar("T")


@dataclass
class _Checks:
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def ok(self, what: str, detail: str = "") -> None:
        self.lines.append(("ok", what, detail))

    def warn(self, what: str, detail: str) -> None:
        self.lines.append(("warn", what, detail))

    def fail(self, what: str, detail: str) -> None:
        self.lines.append(("fail", what, detail))

    def attempt(
        self, what: str, call: Callable[[], T], detail: Callable[[T], str] = str
    ) -> T | None:
        try:
            value = call()
        except (CrmsyncError, OSError, ValueError) as error:
            self.fail(what, one_line(error))
            return None
        except SQLAlchemyError as error:
            # A driver's own text; SQLAlchemy's wrapper adds the SQL and a docs link.
            reason = error.orig if isinstance(error, DBAPIError) else error
            self.fail(what, one_line(StateError(f"state store error: {reason}")))
            return None
        self.ok(what, detail(value))
        return value

    @property
    def failed(self) -> bool:
        return any(level == "fail" for level, _, _ in self.lines)


def _open_store(url: str) -> StateStore:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    ):
        from pathlib import Path

        if not Path(parsed.database).exists():
            raise StateError(
                f"no state file at {parsed.database}",
                hint="create an integration first, or check --database-url",
            )
    store = open_store(url, migrate=False)
    try:
        try:
            with store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            raise StateError(
                f"cannot reach the state store {_shown_url(store)}: {error.orig}",
                hint="is the database server running and reachable? "
                "check --database-url",
            ) from None
        if not store.is_current():
            store.refuse_foreign()  # another application's database: say that instead
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
    return redact_text(store.engine.url.render_as_string(hide_password=True))


def _side(
    checks: _Checks, state: CliState, integration: Integration, side: str
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
        lambda: state.get_catalog().get(connector_id),
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
    # The local connector creates its file when it opens; doctor writes nothing, so
    # it opens only a file that exists (and reports one that does not).
    connection = checks.attempt(
        f"{side} connection opens",
        lambda: state.open_connection(
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
    return pair.platform_object if side is Side.PLATFORM else pair.crm_object


def _creation_pairs(
    integration: Integration, target: Side, target_object: str | None
) -> list[ObjectPair]:
    """The pair through which each source object's records are created, picked as the
    engine picks it: the rule's target object, else a Lead, else the last pair."""
    by_source: dict[str, list[ObjectPair]] = {}
    for pair in integration.pairs_in_match_order():
        by_source.setdefault(_object(pair, target.other), []).append(pair)
    chosen = []
    for pairs in by_source.values():
        found = [
            pair
            for wanted in (target_object, "Lead", "lead")
            for pair in pairs
            if wanted and _object(pair, target) == wanted
        ]
        chosen.append(found[0] if found else pairs[-1])
    return chosen


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
                direction = "to_crm" if target is Side.CRM else "to_platform"
                checks.fail(
                    what,
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                    f"required but not mapped into {target_object}, so every create "
                    f"in the {target.value} would fail (map {field} with `crmsync "
                    f"mapping add {name} {platform_field} {crm_field} --direction "
                    f"{direction} --default VALUE {where}`)",
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


def doctor(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The integration's name.", show_default=False)
    ],
) -> None:
    """Check NAME end to end, writing nothing: settings, credentials, endpoints.

    Also checks the mappings against live fields, the state store and the API budget.
    """
    state = state_of(ctx)
    checks = _Checks()
    url = state.get_settings().database_url
    store = checks.attempt(
        "state store reachable and at the newest schema",
        lambda: _open_store(url),
        _shown_url,
    )
    integration = None
    if store is not None:
        integration = checks.attempt(
            f"integration {name} exists",
            lambda: store.get_integration(name),
            lambda i: "active" if i.active else "paused",
        )
    if integration is not None:
        platform, platform_fields = _side(checks, state, integration, "platform")
        crm, crm_fields = _side(checks, state, integration, "crm")
        for pair in integration.pairs_in_match_order():
            p_specs = platform_fields.get(pair.platform_object)
            c_specs = crm_fields.get(pair.crm_object)
            where = f"{pair.platform_object}:{pair.crm_object}"
            if p_specs is None or c_specs is None:
                checks.warn(
                    f"mappings of {where}", "not checked: a side is unreachable"
                )
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
                    problems.append(one_line(error))
            if problems:
                checks.fail(f"mappings of {where}", "; ".join(problems))
            elif not pair.mappings:
                checks.warn(f"mappings of {where}", "none: nothing will sync")
            else:
                checks.ok(
                    f"mappings of {where}",
                    f"{len(pair.mappings)} valid against live fields",
                )
        _required_on_create(checks, integration, platform_fields, crm_fields)
        if integration.create_in_crm.filter or integration.create_in_platform.filter:
            fields_by_side = {"platform": platform_fields, "crm": crm_fields}
            wrong = filter_problems(
                integration, lambda side, name: fields_by_side[side].get(name)
            )
            if wrong:
                checks.fail("creation filters", "; ".join(one_line(e) for e in wrong))
            elif platform is None or crm is None:
                checks.warn("creation filters", "not checked: a side is unreachable")
            else:
                checks.ok("creation filters", "their fields exist")
        del platform, crm
    if store is not None:
        store.dispose()
    console = out()
    marks = {
        "ok": "[green]✓[/green]",
        "warn": "[yellow]![/yellow]",
        "fail": "[red]✗[/red]",
    }
    from rich.markup import escape

    for level, what, detail in checks.lines:
        console.print(
            f"{marks[level]} {escape(what)}" + (f": {escape(detail)}" if detail else "")
        )
    if checks.failed:
        failures = sum(1 for level, _, _ in checks.lines if level == "fail")
        typer.echo(
            f"error: doctor found {failures} problem{'s' if failures != 1 else ''} "
            f"with {name!r}",
            err=True,
        )
        raise typer.Exit(1)
    console.print(f"{name} is ready to sync", markup=False)
