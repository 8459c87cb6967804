"""The REST API under ``/api/v1``: a thin face of :mod:`crmsync.operations`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from crmsync.web._errors import ErrorResponse
from crmsync.web.api import _connectors, _integrations, _mappings, _runs

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (401, "No or a wrong API token"),
        (404, "No such integration, connector or mapping"),
        (409, "Refused in the current state (active integration, busy cycle)"),
        (422, "Bad input; `error.field` names it"),
    )
}

router = APIRouter(responses=_ERRORS)
router.include_router(_integrations.router)
router.include_router(_mappings.router)
router.include_router(_runs.router)
router.include_router(_connectors.router)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> dict[str, Any]:
    """This API's OpenAPI document."""
    document: dict[str, Any] = request.app.openapi()
    return document
