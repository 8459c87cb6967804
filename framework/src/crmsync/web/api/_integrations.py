"""Integrations: list, create, read, change, pause, resume, rebaseline, delete; status
and doctor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict

from crmsync import operations as ops
from crmsync.models import Integration, SourceOfTruth
from crmsync.web.api._common import NamePath, Ws

router = APIRouter(tags=["integrations"])


class Rebaseline(BaseModel):
    """A new source of truth; every link starts a fresh baseline."""

    model_config = ConfigDict(extra="forbid")

    source_of_truth: SourceOfTruth


@router.get("/integrations", response_model=list[Integration])
def list_integrations(ws: Ws) -> list[Integration]:
    """Every integration, by name, with its object pairs and mappings."""
    return ops.list_integrations(ws)


@router.get("/status", response_model=list[ops.IntegrationSummary])
def overview(ws: Ws) -> list[ops.IntegrationSummary]:
    """Every integration by name with its state, links, last run and open errors (one
    read of the store, whatever their number)."""
    return ops.integrations_overview(ws)


@router.post("/integrations", status_code=201, response_model=Integration)
def create_integration(ws: Ws, spec: ops.NewIntegration) -> Integration:
    """Create a paused integration with no mappings. Secret settings are refused:
    they belong in the environment."""
    return ops.create_integration(ws, spec)


@router.get("/integrations/{name}", response_model=Integration)
def get_integration(ws: Ws, name: NamePath) -> Integration:
    return ops.get_integration(ws, name)


@router.patch("/integrations/{name}", response_model=Integration)
def update_integration(
    ws: Ws, name: NamePath, changes: ops.IntegrationUpdate
) -> Integration:
    """Change the interval, creation rules, stored settings or (before the first
    cycle) the source of truth."""
    return ops.update_integration(ws, name, changes)


@router.delete("/integrations/{name}", status_code=204)
def delete_integration(ws: Ws, name: NamePath) -> Response:
    """Delete a paused integration and everything kept for it."""
    ops.delete_integration(ws, name)
    return Response(status_code=204)


@router.post("/integrations/{name}/pause", response_model=Integration)
def pause(ws: Ws, name: NamePath) -> Integration:
    """Pause: no cycle runs, and mappings may change."""
    return ops.pause_integration(ws, name)


@router.post("/integrations/{name}/resume", response_model=Integration)
def resume(ws: Ws, name: NamePath) -> Integration:
    """Resume: cycles run again."""
    return ops.resume_integration(ws, name)


@router.post("/integrations/{name}/rebaseline", response_model=Integration)
def rebaseline(ws: Ws, name: NamePath, body: Rebaseline) -> Integration:
    """Change a (locked) source of truth deliberately: logged, and every link starts
    a fresh baseline."""
    return ops.rebaseline_integration(ws, name, body.source_of_truth)


@router.get("/integrations/{name}/status", response_model=ops.IntegrationStatus)
def status(ws: Ws, name: NamePath) -> ops.IntegrationStatus:
    """Active or paused, links, waiting and parked records, open errors, last run."""
    return ops.integration_status(ws, name)


@router.get("/integrations/{name}/doctor", response_model=ops.DoctorReport)
def doctor(ws: Ws, name: NamePath) -> ops.DoctorReport:
    """Check the integration end to end, writing nothing."""
    return ops.doctor(ws, name)


@router.get("/integrations/{name}/events", response_model=list[ops.EventEntry])
def events(
    ws: Ws, name: NamePath, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[ops.EventEntry]:
    """Logged operations (mapping changes, pauses, rebaselines), newest first."""
    return ops.event_log(ws, name, limit=limit)
