"""The administrator's pages: server-rendered, one router per area."""

from __future__ import annotations

from fastapi import APIRouter

from crmsync.web.pages import _create, _integration, _integrations, _runs, _signin

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
router.include_router(_signin.router)
router.include_router(_integrations.router)
router.include_router(_create.router)
router.include_router(_integration.router)
router.include_router(_runs.router)
