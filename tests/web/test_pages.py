"""The pages without a browser: every form's CSRF check, the create-integration form,
error pages, and no secret rendered."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from crmsync import operations as ops
from crmsync.web.pages import router as pages_router

from .conftest import TestClient, World, csrf_of


def _routes(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # a router included in another
            found.extend(_routes(route.original_router.routes))
    return found


def page_posts() -> list[str]:
    """Every form target of the pages, from the pages' own router."""
    return sorted(
        route.path.replace("{name}", "acme")
        for route in _routes(pages_router.routes)
        if "POST" in route.methods
    )


def test_every_form_refuses_a_post_without_the_csrf_token(
    app: FastAPI, signed_in: TestClient, world: World
) -> None:
    world.create()
    targets = page_posts()
    assert len(targets) >= 10, targets
    for target in targets:
        answer = signed_in.post(target, data={"name": "x"}, follow_redirects=False)
        # /login is the one form a visitor may post; it is refused the same way.
        assert answer.status_code == 403, (target, answer.status_code)
    with world.workspace() as ws:
        assert ops.get_integration(ws, "acme").active is False


def test_an_unknown_integration_is_a_404_page(signed_in: TestClient) -> None:
    for path in (
        "/integrations/ghost",
        "/integrations/ghost/runs",
        "/integrations/ghost/errors",
    ):
        answer = signed_in.get(path)
        assert answer.status_code == 404, path
        assert "unknown integration &#39;ghost&#39;" in answer.text


def test_create_an_integration_from_the_form(
    signed_in: TestClient, world: World
) -> None:
    page = signed_in.get("/integrations/new")
    csrf = csrf_of(page.text)
    assert 'name="source_of_truth" value="crm"' in page.text
    form = {
        "csrf_token": csrf,
        "name": "acme",
        "crm": "memory",
        "platform": "local",
        "platform_setting.local.path": str(world.platform_path),
        "source_of_truth": "platform",
        "interval_seconds": "5",
        "create_in_crm": "filter",
        "crm_filter": "score>=50",
        "create_in_platform": "never",
        "action": "create",
    }
    refused = signed_in.post("/integrations/new", data=form)
    assert refused.status_code == 422
    assert "interval" in refused.text
    assert 'value="score&gt;=50"' in refused.text  # what was typed is kept
    form["interval_seconds"] = "60"
    created = signed_in.post("/integrations/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    assert created.headers["location"] == "/integrations/acme"
    with world.workspace() as ws:
        stored = ops.get_integration(ws, "acme")
    assert stored.source_of_truth.value == "platform"
    assert stored.interval_seconds == 60
    assert stored.create_in_crm.filter is not None
    assert stored.platform_settings == {"path": str(world.platform_path)}
    assert not stored.active


def test_doctor_runs_from_the_form_and_saves_nothing(
    signed_in: TestClient, world: World
) -> None:
    world.platform().close()  # the file exists
    csrf = csrf_of(signed_in.get("/integrations/new").text)
    answer = signed_in.post(
        "/integrations/new",
        data={
            "csrf_token": csrf,
            "name": "acme",
            "crm": "memory",
            "platform": "local",
            "platform_setting.local.path": str(world.platform_path),
            "source_of_truth": "both",
            "action": "check",
        },
    )
    assert answer.status_code == 200
    assert 'id="doctor-report"' in answer.text
    assert "crm authenticates" in answer.text
    assert "nothing was saved" in answer.text
    assert "crmsync-check-" not in answer.text  # the scratch store is not shown
    with world.workspace() as ws:
        assert ops.list_integrations(ws) == []


def test_a_secret_is_shown_only_as_set(
    signed_in: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMSYNC_MEMORY_API_KEY", "sk-live-abcdef123456")
    page = signed_in.get("/integrations/new").text
    assert "sk-live-abcdef123456" not in page
    assert "memory-secret-key" not in page
    assert "CRMSYNC_MEMORY_API_KEY" in page
    secret_input = page.split('id="crm_setting.memory.api_key"')[0].rsplit("<input", 1)[
        1
    ]
    assert 'type="password"' in secret_input


def test_a_refused_mapping_change_is_said_on_the_page(
    signed_in: TestClient, world: World
) -> None:
    world.create()
    with world.workspace() as ws:
        ops.resume_integration(ws, "acme")
    csrf = csrf_of(signed_in.get("/integrations/acme").text)
    answer = signed_in.post(
        "/integrations/acme/mappings/add",
        data={
            "csrf_token": csrf,
            "pair": "prospect:Lead",
            "platform_field": "email",
            "crm_field": "Email",
            "direction": "sync",
        },
    )
    assert answer.status_code == 200
    assert (
        "cannot add a mapping while integration &#39;acme&#39; is active" in answer.text
    )


def test_the_dialogs_work_without_script(signed_in: TestClient, world: World) -> None:
    """Edit and delete are links that render their dialog open; the script only opens
    it in place."""
    world.create()
    with world.workspace() as ws:
        ops.add_mapping(
            ws, "acme", ops.MappingSpec(platform_field="email", crm_field="Email")
        )
    base = "/integrations/acme?tab=prospect%3ALead"
    closed = signed_in.get(base).text
    assert '<dialog id="edit-1" class="noscript" aria-label="Edit mapping" >' in closed
    page = signed_in.get(base + "&edit=1").text
    assert (
        '<dialog id="edit-1" class="noscript" aria-label="Edit mapping" open>' in page
    )
    delete = signed_in.get(base + "&delete=1").text
    assert 'id="delete-1" class="noscript" aria-label="Delete mapping" open>' in delete
