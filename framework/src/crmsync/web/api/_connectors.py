"""Installed connectors and the fields of their objects."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from crmsync import operations as ops
from crmsync.contract import FieldSpec
from crmsync.web._errors import ApiError
from crmsync.web.api._common import Ws

router = APIRouter(tags=["connectors"])

ConnectorPath = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/connectors", response_model=ops.ConnectorListing)
def connectors(ws: Ws) -> ops.ConnectorListing:
    """Installed connectors (and those that failed to load, with why)."""
    return ops.list_connectors(ws)


@router.get(
    "/connectors/{connector}/objects/{object_name}/fields",
    response_model=list[FieldSpec],
)
def fields(
    ws: Ws,
    connector: ConnectorPath,
    object_name: Annotated[str, Path(min_length=1, max_length=255)],
    integration: Annotated[
        str | None,
        Query(description="Use this integration's stored connector settings."),
    ] = None,
) -> list[FieldSpec]:
    """The fields of an object from the connector's `list_fields`: type, length,
    required on create, read-only, picklist values."""
    installed = ws.get_catalog()
    if connector not in installed.loaded and connector not in installed.failed:
        raise ApiError(404, "not_found", f"unknown connector {connector!r}")
    description = installed.get(connector).description
    if object_name not in description.objects:
        raise ApiError(
            404,
            "not_found",
            f"connector {connector!r} has no object {object_name!r}",
            hint=f"its objects: {', '.join(description.objects)}",
        )
    return ops.list_fields(ws, connector, object_name, integration=integration)
