"""Screenshots of the main pages for the docs (slow; run on purpose).

``CRMSYNC_SCREENSHOTS=docs/img uv run pytest tests/web/test_screenshots.py -m slow``
writes them there; without the variable they go to a temporary folder, so that the
run still proves every page renders in a browser.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import World
from .test_api import seed
from .test_browser import Page, expect, sign_in

pytestmark = pytest.mark.slow


def test_screenshots_of_the_main_pages(
    page: Page, world: World, tmp_path: Path
) -> None:
    target = Path(os.environ.get("CRMSYNC_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    _, lead = seed(world)
    world.create("acme", create_in_crm="all", source_of_truth="crm")
    world.create("globex")
    sign_in(page, "/integrations/acme?tab=prospect%3ALead")

    def shot(name: str) -> None:
        page.screenshot(path=str(target / f"web-{name}.png"), full_page=True)

    for platform_field, crm_field, default in (
        ("email", "Email", ""),
        ("first_name", "FirstName", ""),
        ("last_name", "LastName", ""),
        ("phone", "Phone", ""),
    ):
        page.get_by_label(re.compile(r"^Platform field")).select_option(platform_field)
        page.get_by_label(re.compile(r"^CRM field")).select_option(crm_field)
        page.locator("#add-default").fill(default)
        page.get_by_role("button", name="Add mapping").click()
        expect(page.get_by_role("status")).to_contain_text("Added")
    shot("mappings-paused")
    page.locator("tr[data-mapping='first_name>FirstName']").get_by_role(
        "link", name="Edit"
    ).click()
    expect(page.get_by_role("dialog", name="Edit mapping")).to_be_visible()
    shot("edit-dialog")
    page.keyboard.press("Escape")
    page.get_by_label("Integration Active").check()
    expect(page.get_by_label("Integration Active")).to_be_checked()
    shot("mappings-active")
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("button", name="Dry run now").click()
    expect(page.locator("#planned")).to_be_visible()
    shot("dry-run")
    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.locator("#run-counts")).to_be_visible()
    shot("run")
    world.crm.put("Lead", {"Email": "grace@example.com", "LastName": "Hopper"})
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.locator("#run-counts")).to_be_visible()
    page.get_by_role("link", name="All runs").click()
    shot("runs")
    page.get_by_role("link", name="Errors", exact=True).click()
    expect(page.locator("#errors")).to_be_visible()
    shot("errors")
    page.get_by_role("link", name="Records").click()
    page.get_by_label("Object").select_option("Lead")
    page.get_by_label("Record id").fill(lead)
    page.get_by_role("button", name="Show its story").click()
    expect(page.locator("#story")).to_be_visible()
    shot("record")
    page.get_by_role("link", name="Integrations").first.click()
    expect(page.locator("tbody tr")).to_have_count(2)
    shot("integrations")
    page.get_by_role("link", name="New integration").first.click()
    page.get_by_label("Name").fill("initech")
    page.get_by_label("path").fill(str(world.tmp / "initech.db"))
    page.get_by_role("radio", name="both").check()
    page.get_by_role("button", name="Check with doctor").click()
    expect(page.locator("#form-error, #doctor-report").first).to_be_visible()
    shot("create")
    page.goto("/login")
    page.context.clear_cookies()
    page.goto("/login")
    shot("sign-in")
