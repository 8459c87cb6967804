"""The Create integration page: connector choice, a settings form generated from each
connector's settings model, the source of truth, the interval and the creation rules;
doctor runs from the page before saving."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from crmsync import operations as ops
from crmsync.errors import ConfigurationError, CrmsyncError
from crmsync.models import CreationMode, SourceOfTruth

# ops gap: which connector settings are never stored, and their variables, are private
# to the operations layer; the form asks the same rule rather than repeating it.
from crmsync.operations._workspace import _env_name, _never_stored
from crmsync.plugins import InstalledConnector
from crmsync.web._auth import csrf_checked
from crmsync.web._backend import Backend
from crmsync.web._templates import render
from crmsync.web.pages._common import SignedIn, Ws, back, quoted
from crmsync.web.pages._integration import SOURCE_OF_TRUTH_MEANING

router = APIRouter()


@dataclass(frozen=True)
class SettingField:
    """One input of a connector's settings form."""

    key: str
    label: str
    secret: bool
    variable: str
    default: str
    description: str
    is_set: bool


def _secret_is_set(installed: InstalledConnector, key: str) -> bool:
    """Whether the server's environment provides secret ``key`` (never its value)."""
    if os.environ.get(_env_name(installed, key)):
        return True
    try:
        value = getattr(installed.description.settings_model(), key, None)
    except (ValidationError, UnicodeDecodeError):
        return False
    return value is not None and value != ""


def setting_fields(installed: InstalledConnector) -> list[SettingField]:
    model = installed.description.settings_model
    fields = []
    for key, info in model.model_fields.items():
        secret = _never_stored(installed, key)
        default = info.get_default(call_default_factory=True)
        fields.append(
            SettingField(
                key=key,
                label=key.replace("_", " "),
                secret=secret,
                variable=_env_name(installed, key),
                default="" if secret or default is None else str(default),
                description=info.description or "",
                is_set=_secret_is_set(installed, key) if secret else False,
            )
        )
    return fields


def _connectors(ws: ops.Workspace, role: str) -> list[InstalledConnector]:
    catalog = ws.get_catalog()
    return [
        catalog.loaded[key]
        for key in sorted(catalog.loaded)
        if catalog.loaded[key].description.role in (role, "any")
    ]


def _form_page(
    request: Request,
    ws: ops.Workspace,
    values: dict[str, Any],
    *,
    error: str | None = None,
    report: ops.DoctorReport | None = None,
    status_code: int = 200,
) -> Response:
    crms, platforms = _connectors(ws, "crm"), _connectors(ws, "platform")
    return render(
        request,
        "create.html",
        {
            "crms": crms,
            "platforms": platforms,
            "fields_of": setting_fields,
            "values": values,
            "error": error,
            "report": report,
            "sources": list(SourceOfTruth),
            "source_meaning": SOURCE_OF_TRUTH_MEANING,
            "modes": list(CreationMode),
        },
        status_code=status_code,
    )


@router.get("/integrations/new")
def new_integration(request: Request, _: SignedIn, ws: Ws) -> Response:
    crms = _connectors(ws, "crm")
    try:
        platform = ops.default_platform(ws.get_catalog())
    except ConfigurationError:
        platform = ""  # none to offer first: the operator picks one
    values = {
        "crm": crms[0].id if crms else "",
        "platform": platform,
        "source_of_truth": "",
        "interval_seconds": str(ws.get_settings().default_interval_seconds),
        "create_in_crm": "never",
        "create_in_platform": "never",
    }
    return _form_page(request, ws, values)


def _spec(form: dict[str, Any]) -> ops.NewIntegration:
    """The integration the form describes (the operation checks it)."""

    def settings(side: str, connector: str) -> dict[str, str]:
        prefix = f"{side}_setting.{connector}."
        return {
            key.removeprefix(prefix): str(value)
            for key, value in form.items()
            if key.startswith(prefix) and str(value).strip() != ""
        }

    interval = str(form.get("interval_seconds") or "").strip()
    pairs = []
    for text in str(form.get("pairs") or "").replace(",", " ").split():
        platform_object, crm_object = ops.parse_pair(text)
        pairs.append(
            ops.PairRef(platform_object=platform_object, crm_object=crm_object)
        )
    if interval and not interval.isdigit():
        raise ConfigurationError(
            f"interval {interval!r} is not a whole number of seconds",
            hint="give the seconds between cycles, e.g. 300",
        )
    source = str(form.get("source_of_truth") or "")
    if not source:
        raise ConfigurationError(
            "choose a source of truth: it is locked after the first cycle",
            hint="crm, platform or both; each is explained on the form",
        )
    crm, platform = str(form.get("crm") or ""), str(form.get("platform") or "")
    return ops.NewIntegration(
        name=str(form.get("name") or ""),
        crm=crm,
        platform=platform,
        source_of_truth=SourceOfTruth(source),
        interval_seconds=int(interval) if interval else None,
        create_in_crm=CreationMode(str(form.get("create_in_crm") or "never")),
        crm_filter=str(form.get("crm_filter") or "").strip() or None,
        create_in_platform=CreationMode(str(form.get("create_in_platform") or "never")),
        platform_filter=str(form.get("platform_filter") or "").strip() or None,
        pairs=tuple(pairs),
        platform_settings=settings("platform", platform),
        crm_settings=settings("crm", crm),
    )


def _doctor_before_saving(
    backend: Backend, spec: ops.NewIntegration
) -> ops.DoctorReport:
    """Doctor of the integration as the form describes it, created in a scratch state
    store that is thrown away: nothing is saved until the administrator says so."""
    # ops gap: doctor takes a stored integration's name; a NewIntegration is checked
    # here by creating it in a throwaway store with the same operations.
    with tempfile.TemporaryDirectory(prefix="crmsync-check-") as scratch:
        settings = backend.settings.model_copy(
            update={"database_url": f"sqlite:///{Path(scratch) / 'check.db'}"}
        )
        with ops.Workspace(
            catalog=backend.get_catalog(),
            connector_kwargs=backend.connector_kwargs,
            settings=settings,
        ) as ws:
            ops.create_integration(ws, spec)
            report = ops.doctor(ws, spec.name)
    # The checks of the scratch store itself say nothing about the integration.
    checks = [check for check in report.checks if scratch not in check.detail]
    return report.model_copy(update={"checks": checks})


@router.post("/integrations/new")
async def create_integration(request: Request, _: SignedIn, ws: Ws) -> Response:
    # The settings inputs are named by connector, so the form is read whole.
    form = dict((await request.form()).items())
    csrf_checked(request, str(form.get("csrf_token") or "") or None)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    # Doctor and the store block: off the event loop, like every other page.
    return await run_in_threadpool(_create, request, ws, values)


def _create(request: Request, ws: ops.Workspace, values: dict[str, str]) -> Response:
    try:
        spec = _spec(values)
        if values.get("action") == "check":
            report = _doctor_before_saving(request.app.state.backend, spec)
            return _form_page(request, ws, values, report=report)
        created = ops.create_integration(ws, spec)
    except CrmsyncError as error:
        return _form_page(
            request, ws, values, error=ops.error_line(error), status_code=422
        )
    except (ValidationError, ValueError) as error:
        return _form_page(
            request, ws, values, error=ops.error_line(error), status_code=422
        )
    request.state.session.flash(
        "ok",
        f"Created {created.name} (paused). Map its fields, then set it active.",
    )
    return back(f"/integrations/{quoted(created.name)}")
