"""Runs (history with a chart, one run's detail, run now and dry run now) and Errors
(open record errors, retry one or all parked)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from crmsync import operations as ops
from crmsync.errors import CrmsyncError, NotFound
from crmsync.web._templates import render, when
from crmsync.web.pages._common import Posted, SignedIn, Ws, attempt, back, quoted

router = APIRouter()

_CHART_RUNS = 40


def _written(counts: dict[str, Any], side: str) -> int:
    sides = counts.get(side) or {}
    return int(sides.get("created", 0)) + int(sides.get("updated", 0))


def chart(runs: list[ops.RunEntry]) -> dict[str, Any]:
    """Bars of records written per run (CRM below, platform stacked on it), oldest
    on the left, scaled to the largest run shown."""
    shown = [run for run in reversed(runs[:_CHART_RUNS]) if not run.dry_run]
    width, height, pad = 760, 180, 28
    top = (
        max((_written(r.counts, "crm") + _written(r.counts, "platform")) for r in shown)
        if shown
        else 0
    )
    scale = (height - 2 * pad) / top if top else 0.0
    step = (width - 2 * pad) / max(len(shown), 1)
    bars = []
    for index, run in enumerate(shown):
        crm, platform = _written(run.counts, "crm"), _written(run.counts, "platform")
        bar = min(step * 0.7, 36.0)
        x = pad + index * step + (step - bar) / 2
        crm_h, platform_h = crm * scale, platform * scale
        bars.append(
            {
                "x": round(x, 1),
                "w": round(bar, 1),
                "crm_y": round(height - pad - crm_h, 1),
                "crm_h": round(crm_h, 1),
                "platform_y": round(height - pad - crm_h - platform_h, 1),
                "platform_h": round(platform_h, 1),
                "title": f"run {run.id} at {when(run.started_at)}: {crm} written to "
                f"the CRM, {platform} to the platform",
                "label": str(run.id),
            }
        )
    return {"width": width, "height": height, "pad": pad, "top": top, "bars": bars}


@router.get("/integrations/{name}/runs")
def runs_page(request: Request, _: SignedIn, ws: Ws, name: str) -> Response:
    integration = ops.get_integration(ws, name)
    runs = ops.run_history(ws, name, limit=100)
    return render(
        request,
        "runs.html",
        {
            "integration": integration,
            "runs": runs,
            "chart": chart(runs),
            "written": _written,
        },
    )


@router.get("/integrations/{name}/runs/{run_id}")
def run_page(request: Request, _: SignedIn, ws: Ws, name: str, run_id: int) -> Response:
    integration = ops.get_integration(ws, name)
    try:
        run = ops.get_run(ws, name, run_id)
    except NotFound as error:
        raise HTTPException(404, error.message) from None
    return render(
        request, "run.html", {"integration": integration, "run": run, "summary": None}
    )


@router.post("/integrations/{name}/runs")
def run_now(
    request: Request,
    session: Posted,
    ws: Ws,
    name: str,
    dry_run: Annotated[str | None, Form()] = None,
) -> Response:
    integration = ops.get_integration(ws, name)
    try:
        queued = None if dry_run else ops.enqueue_if_on_workers(ws, name)
        if queued is not None:
            session.flash("ok", queued.describe())
            return back(f"/integrations/{quoted(name)}/runs")
        report = ops.run_cycle(ws, name, dry_run=bool(dry_run))
    except CrmsyncError as error:
        session.flash("error", ops.error_line(error))
        return back(f"/integrations/{quoted(name)}/runs")
    summary = ops.cycle_summary(report)
    if not summary.dry_run and summary.run_id is not None:
        level = {"failed": "error", "succeeded": "ok"}.get(summary.status, "warn")
        writes = f"{summary.writes} write{'' if summary.writes == 1 else 's'}"
        errors = f"{summary.errors} error{'' if summary.errors == 1 else 's'}"
        text = f"Run {summary.run_id} {summary.status}: {writes}, {errors}."
        if summary.message:
            text += f" {ops.clean_line(summary.message)}"
        session.flash(level, text)
        return back(f"/integrations/{quoted(name)}/runs/{summary.run_id}")
    return render(
        request,
        "run.html",
        {"integration": integration, "run": None, "summary": summary},
    )


@router.get("/integrations/{name}/errors")
def errors_page(request: Request, _: SignedIn, ws: Ws, name: str) -> Response:
    integration = ops.get_integration(ws, name)
    # Not the whole status: it counts every link, which this page does not show.
    listing = ops.open_errors(ws, name, limit=500)
    return render(
        request, "errors.html", {"integration": integration, "listing": listing}
    )


@router.post("/integrations/{name}/errors/retry")
def retry(
    session: Posted,
    ws: Ws,
    name: str,
    record: Annotated[str | None, Form()] = None,
) -> Response:
    def said(count: int) -> str:
        if record and not count:
            return f"Record {record} is not parked: the next cycle retries it anyway."
        noun = "record" if count == 1 else "records"
        return f"{count} parked {noun} will be retried by the next cycle."

    attempt(
        session, lambda: ops.retry_errors(ws, name, [record] if record else None), said
    )
    return back(f"/integrations/{quoted(name)}/errors")


@router.get("/integrations/{name}/records")
def story_page(
    request: Request,
    _: SignedIn,
    ws: Ws,
    name: str,
    object: str = "",
    id: str = "",
) -> Response:
    integration = ops.get_integration(ws, name)
    objects = sorted(
        {p.platform_object for p in integration.object_pairs}
        | {p.crm_object for p in integration.object_pairs}
    )
    found = error = None
    if id.strip():
        try:
            found = ops.explain(ws, name, id, object_name=object or None)
        except CrmsyncError as refused:
            error = ops.error_line(refused)
    return render(
        request,
        "story.html",
        {
            "integration": integration,
            "objects": objects,
            "chosen": object,
            "record_id": id,
            "story": found,
            "error": error,
        },
        status_code=200 if error is None else 404,
    )
