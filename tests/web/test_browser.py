"""The pages in a real browser (Playwright driving the Debian chromium package): the
seed flows end to end, the refusals, sign-in and CSRF."""

from __future__ import annotations

import os
import re

import pytest

from .conftest import CHROMIUM, PASSWORD, World
from .test_api import seed

if CHROMIUM is None and os.environ.get("CI", "").lower() not in ("1", "true"):
    pytest.skip(
        "no chromium on PATH (apt-get install chromium); under CI=true these run",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect


def sign_in(page: Page, path: str = "/") -> None:
    page.goto(path)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Administrator password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_have_count(0)


def test_sign_in_is_required_and_a_wrong_password_refused(page: Page) -> None:
    page.goto("/integrations/new")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Administrator password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    page.get_by_label("Administrator password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # Back where the visitor was going.
    expect(page.get_by_role("heading", name="New integration")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_form_with_a_stale_csrf_token_is_refused(page: Page, world: World) -> None:
    world.create()
    sign_in(page, "/integrations/acme")
    # Another tab signs out and in again: this page's forms carry the old token.
    other = page.context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Sign out").click()
    sign_in(other)
    page.get_by_label("Integration Active").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    page.goto("/integrations/acme")
    expect(page.get_by_label("Integration Active")).not_to_be_checked()


def test_the_seed_flow(page: Page, world: World) -> None:
    """Pause, add a mapping, edit its direction and default, delete it, resume, run,
    see the result; the refusal while active; the source of truth locked after the
    first run."""
    _, lead = seed(world)
    world.create()
    sign_in(page)
    expect(page.get_by_role("link", name="acme")).to_be_visible()
    page.get_by_role("link", name="acme").click()
    expect(page.get_by_role("heading", name=re.compile("^acme"))).to_be_visible()
    switch = page.get_by_label("Integration Active")
    expect(switch).not_to_be_checked()
    # One tab per object pair (the memory CRM has Contact and Lead).
    expect(page.get_by_role("tab", name=re.compile("Contact"))).to_be_visible()
    page.get_by_role("tab", name=re.compile("Lead")).click()
    expect(page.get_by_role("tab", name=re.compile("Lead"))).to_have_attribute(
        "aria-selected", "true"
    )

    def add(platform_field: str, crm_field: str, direction: str = "sync") -> None:
        page.get_by_label(re.compile(r"^Platform field")).select_option(platform_field)
        page.get_by_label(re.compile(r"^CRM field")).select_option(crm_field)
        page.locator("#add-direction").select_option(direction)
        page.get_by_role("button", name="Add mapping").click()
        expect(page.get_by_role("status")).to_contain_text(
            f"Added {platform_field} ↔ {crm_field}"
        )

    # The drop-downs show each field's type, length, required and read-only.
    expect(page.locator("#add-crm option[value=LastName]")).to_have_text(
        "LastName — string(80), required"
    )
    expect(page.locator("#add-crm option[value=Rating]")).to_contain_text("read-only")
    add("email", "Email")
    add("first_name", "FirstName")
    # An incompatible pair is refused with the reason.
    page.get_by_label(re.compile(r"^Platform field")).select_option("birthday")
    page.get_by_label(re.compile(r"^CRM field")).select_option("Score")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_role("alert")).to_contain_text("birthday")
    rows = page.locator("#mappings tbody tr")
    expect(rows).to_have_count(2)

    # Edit the direction and the default value in a dialog.
    row = page.locator("tr[data-mapping='first_name>FirstName']")
    row.get_by_role("link", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit mapping")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Direction").select_option("to_crm")
    dialog.get_by_label(re.compile("^Default value")).fill("Friend")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Changed first_name ↔ FirstName (to_crm)"
    )
    expect(row).to_contain_text("to_crm")
    expect(row.locator("code")).to_have_text("Friend")

    # Delete asks first; cancelling keeps the mapping.
    add("phone", "Phone")
    phone = page.locator("tr[data-mapping='phone>Phone']")
    phone.get_by_role("link", name=re.compile("Delete")).click()
    confirm = page.get_by_role("dialog", name="Delete mapping")
    expect(confirm).to_contain_text("phone ↔ Phone")
    confirm.get_by_role("link", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(phone).to_have_count(1)
    phone.get_by_role("link", name=re.compile("Delete")).click()
    page.get_by_role("dialog", name="Delete mapping").get_by_role(
        "button", name="Delete"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Deleted phone ↔ Phone")
    expect(phone).to_have_count(0)

    # The source of truth can change before the first cycle.
    page.locator("#sot").select_option("crm")
    page.get_by_role("button", name="Save source of truth").click()
    expect(page.locator("#source-of-truth h2")).to_contain_text("Source of truth: crm")

    # Resume: the add / edit / delete controls say the integration must be paused.
    page.get_by_label("Integration Active").check()
    expect(page.get_by_role("status")).to_contain_text("is active")
    expect(page.get_by_label("Integration Active")).to_be_checked()
    expect(page.locator("#paused-note")).to_contain_text("paused")
    expect(page.locator("#add-refused")).to_be_visible()
    expect(page.get_by_role("button", name="Edit").first).to_be_disabled()

    # Dry run first: every write it would make, and nothing written.
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Dry run now").click()
    planned = page.locator("#planned")
    expect(planned).to_contain_text("FirstName")
    expect(planned).to_contain_text("Johnny")
    assert world.crm.get("Lead", lead)["FirstName"] == "Johnny"
    # Run now, and see the result.
    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("succeeded")
    expect(page.locator("#run-counts")).to_contain_text("CRM")
    assert world.crm.get("Lead", lead)["FirstName"] == "John"
    page.get_by_role("link", name="All runs").click()
    expect(page.locator("svg.chart rect.bar-crm")).to_have_count(1)
    expect(page.locator("#runs tbody tr")).to_have_count(1)

    # The linked pair's story.
    page.get_by_role("link", name="Records").click()
    page.get_by_label("Object").select_option("Lead")
    page.get_by_label("Record id").fill(lead)
    page.get_by_role("button", name="Show its story").click()
    first = page.locator("#story tr", has_text="first_name")
    expect(first).to_contain_text("John")
    expect(first).to_contain_text("to_crm")
    # Which rule wrote the CRM's value, in which run (the decision log), linked to
    # that run's page.
    written = first.locator(".decision")
    expect(written).to_have_count(1)
    expect(written).to_contain_text("wrote John to crm")
    run_link = written.get_by_role("link", name="run ")
    expect(run_link).to_have_attribute("href", re.compile(r"/runs/\d+$"))
    expect(page.locator("#story tr", has_text="email")).to_contain_text(
        "no logged write"
    )
    # The same pair by its match key, in any object; an unknown one is refused.
    page.get_by_label("Object").select_option("")
    page.get_by_label("Record id").fill("JOHN@example.com")
    page.get_by_role("button", name="Show its story").click()
    expect(page.locator("#story tr", has_text="first_name")).to_contain_text(
        "wrote John to crm"
    )
    page.get_by_label("Record id").fill("nobody@example.com")
    page.get_by_role("button", name="Show its story").click()
    expect(page.get_by_role("alert")).to_contain_text("nobody@example.com")
    page.get_by_label("Record id").fill(lead)
    page.get_by_role("button", name="Show its story").click()
    page.locator("#story .decision a").click()
    expect(page.locator("#run-counts")).to_contain_text("CRM")

    # The source of truth is locked after the first run.
    page.get_by_role("link", name="Mappings").click()
    expect(page.locator("#source-of-truth")).to_contain_text("locked")
    expect(page.locator("#sot")).to_have_count(0)
    expect(page.get_by_role("link", name="Rebaseline…")).to_be_visible()
    # The integrations list shows the run.
    page.get_by_role("link", name="Integrations").click()
    expect(page.locator("tbody tr").first).to_contain_text("succeeded")
    expect(page.locator("tbody tr").first).to_contain_text("active")


def test_an_error_retried(page: Page, world: World) -> None:
    seed(world)
    world.create(
        create_in_crm="all",
        pairs=[{"platform_object": "prospect", "crm_object": "Lead"}],
    )
    sign_in(page, "/integrations/acme")
    for platform_field, crm_field in (("email", "Email"), ("last_name", "LastName")):
        page.get_by_label(re.compile(r"^Platform field")).select_option(platform_field)
        page.get_by_label(re.compile(r"^CRM field")).select_option(crm_field)
        page.get_by_role("button", name="Add mapping").click()
        expect(page.get_by_role("status")).to_contain_text(f"Added {platform_field}")
    page.get_by_label("Integration Active").check()
    expect(page.get_by_label("Integration Active")).to_be_checked()
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.get_by_role("alert").or_(page.get_by_role("status"))).to_contain_text(
        "partial"
    )
    page.get_by_role("link", name="Errors").click()
    error_row = page.locator("#errors tbody tr").first
    expect(error_row).to_contain_text("REQUIRED_FIELD_MISSING")
    expect(error_row).to_contain_text("Company")
    # Fix the cause: a default Company, set while paused.
    page.get_by_role("link", name="Mappings").click()
    page.get_by_label("Integration Active").uncheck()
    expect(page.get_by_label("Integration Active")).not_to_be_checked()
    page.get_by_label(re.compile(r"^Platform field")).select_option("company")
    page.get_by_label(re.compile(r"^CRM field")).select_option("Company")
    page.locator("#add-default").fill("Unknown")
    page.get_by_role("button", name="Add mapping").click()
    expect(page.get_by_role("status")).to_contain_text("Added company")
    page.get_by_label("Integration Active").check()
    expect(page.get_by_label("Integration Active")).to_be_checked()
    page.get_by_role("link", name="Errors").click()
    page.locator("#errors tbody tr").first.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text(
        "1 parked record will be retried"
    )
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("succeeded")
    page.get_by_role("link", name="Errors").click()
    expect(page.locator("#errors")).to_contain_text("No open errors")
    assert len(world.crm.live("Lead")) == 2
