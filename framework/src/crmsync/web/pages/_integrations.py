"""The Integrations page: every integration with its state, CRM, last run and open
errors."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from crmsync import operations as ops
from crmsync.web._templates import render
from crmsync.web.pages._common import SignedIn, Ws

router = APIRouter()


@router.get("/")
def integrations(request: Request, _: SignedIn, ws: Ws) -> Response:
    rows = ops.integrations_overview(ws)
    return render(request, "integrations.html", {"rows": rows})
