"""``crmsync demo``: the whole job on embedded defaults, no network, no credentials.

The platform is the ``local`` connector seeded with fake prospects; the CRM is the
Salesforce emulator on a loopback port (the real ``salesforce`` connector talks to it
over HTTP). The demo creates an integration with mappings in every direction, runs a
first cycle, edits both sides (one edit conflicts), runs a second cycle and shows which
rule decided each edit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from crmsync.cli._state import CliState, out
from crmsync.cli._sync import run_one_cycle
from crmsync.cli._validate import LiveFields
from crmsync.connectors.local import LocalStore
from crmsync.errors import ConfigurationError
from crmsync.logs import configure_logging, redact_text
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    FieldFilter,
    Integration,
    ObjectPair,
    SourceOfTruth,
)
from crmsync.settings import CrmsyncSettings

# Importing this module needs the Salesforce connector; _demo_command reports its
# absence.
from crmsync_salesforce.emulator import EmulatorServer, SalesforceEmulator

__all__ = ["run_demo"]

CLIENT_ID = "3MVG9crmsync.demo.app"
_SECRET_ENV = "CRMSYNC_SALESFORCE_CLIENT_SECRET"
STATE_FILE = "crmsync-demo.db"
PLATFORM_FILE = "crmsync-demo-platform.db"

# (platform field, crm field, direction, default, only for this CRM object)
MAPPINGS: tuple[tuple[str, str, Direction, Any, str | None], ...] = (
    ("email", "Email", Direction.SYNC, None, None),
    ("first_name", "FirstName", Direction.SYNC, None, None),
    ("last_name", "LastName", Direction.SYNC, None, None),
    ("phone", "Phone", Direction.SYNC, None, None),
    ("opted_out", "HasOptedOutOfEmail", Direction.SYNC, None, None),
    ("title", "Title", Direction.TO_CRM, None, None),
    ("company", "Company", Direction.TO_CRM, "Unknown", "Lead"),
    ("lead_source", "LeadSource", Direction.TO_PLATFORM, None, None),
)


@dataclass
class _Edit:
    """One edit made between the cycles, and where to look for its outcome."""

    story: str
    prospect_id: str
    crm_object: str
    crm_id: str
    platform_field: str
    crm_field: str


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def _secret_in_environment(value: str) -> Iterator[None]:
    """The emulator's client secret, for this process only (never stored or printed)."""
    previous = os.environ.get(_SECRET_ENV)
    os.environ[_SECRET_ENV] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_SECRET_ENV, None)
        else:
            os.environ[_SECRET_ENV] = previous


def _seed_crm(
    emulator: SalesforceEmulator, people: list[Any]
) -> dict[str, tuple[str, str]]:
    """Contacts and leads, a part of them matching prospects by email (case differs)."""
    links: dict[str, tuple[str, str]] = {}
    third = len(people) // 3
    contacts = people[:third]
    leads = people[third : 2 * third]
    contact_ids = emulator.seed(
        "Contact",
        [
            {
                "FirstName": p["first_name"],
                "LastName": p["last_name"],
                "Email": str(p["email"]).upper(),
                "Title": "Buyer",
                "LeadSource": "Web",
            }
            for p in contacts
        ],
    )
    lead_ids = emulator.seed(
        "Lead",
        [
            {
                "FirstName": p["first_name"],
                "LastName": p["last_name"],
                "Company": p["company"],
                "Email": p["email"],
                "Phone": "+1-555-0100",
                "LeadSource": "Partner Referral",
            }
            for p in leads
        ],
    )
    for person, record_id in zip(contacts, contact_ids, strict=True):
        links[person["id"]] = ("Contact", record_id)
    for person, record_id in zip(leads, lead_ids, strict=True):
        links[person["id"]] = ("Lead", record_id)
    emulator.seed(
        "Lead",
        [
            {
                "FirstName": f"Crm{n}",
                "LastName": f"Only{n}",
                "Company": "Salesforce-only Inc",
                "Email": f"crm.only.{n}@example.com",
                "LeadSource": "Phone Inquiry",
            }
            for n in range(max(3, len(people) // 10))
        ],
    )
    return links


def _integration(name: str, platform_path: Path, login_url: str) -> Integration:
    return Integration(
        name=name,
        platform_connector="local",
        crm_connector="salesforce",
        platform_settings={"path": str(platform_path)},
        crm_settings={
            "login_url": login_url,
            "auth_flow": "client_credentials",
            "client_id": CLIENT_ID,
        },
        source_of_truth=SourceOfTruth.BOTH,
        active=True,
        interval_seconds=300,
        create_in_crm=CreationRule(
            mode=CreationMode.FILTER,
            target_object="Lead",
            filter=FieldFilter(field="title", op="==", value="CEO"),
        ),
        create_in_platform=CreationRule(
            mode=CreationMode.ALL, target_object="prospect"
        ),
        object_pairs=(
            ObjectPair(platform_object="prospect", crm_object="Contact", match_order=0),
            ObjectPair(platform_object="prospect", crm_object="Lead", match_order=1),
        ),
    )


def _with_mappings(integration: Integration, live: LiveFields) -> Integration:
    pairs = []
    for pair in integration.object_pairs:
        mappings = tuple(
            live.build(
                pair, platform_field=p, crm_field=c, direction=d, default=default
            )
            for p, c, d, default, only in MAPPINGS
            if only in (None, pair.crm_object)
        )
        pairs.append(pair.model_copy(update={"mappings": mappings}))
    return integration.model_copy(update={"object_pairs": tuple(pairs)})


# The values the edits between the cycles set, per platform field.
_EDITED_VALUES = {
    "phone": {"+1-555-0199"},
    "first_name": {"Johnathan", "Jo", "Jon"},
    "title": {"Chief Everything Officer"},
}


def _edit_both_sides(
    platform: LocalStore,
    emulator: SalesforceEmulator,
    linked: list[tuple[str, str, str]],
) -> list[_Edit]:
    """Edits between the cycles: one per rule worth seeing, one of them a conflict."""
    (p1, o1, c1), (p2, o2, c2), (p3, o3, c3), (p4, o4, c4) = linked[:4]
    platform.update(p1, {"phone": "+1-555-0199"})
    platform.update(p3, {"first_name": "Johnathan"})
    platform.update(p4, {"title": "Chief Everything Officer"})
    time.sleep(1.1)  # Salesforce stamps changes by the second: the CRM edits come later
    emulator.touch(o2, c2, FirstName="Jo")
    emulator.touch(o3, c3, FirstName="Jon")
    emulator.touch(o4, c4, LeadSource="Phone Inquiry")
    # An upsert: a reused platform file has this prospect from an earlier run.
    platform.upsert(
        {
            "email": "new.hot.prospect@example.com",
            "first_name": "Ada",
            "last_name": "Hotlead",
            "company": "Analytical Engines",
            "title": "CEO",
            "score": 99,
        }
    )
    emulator.seed(
        "Lead",
        [
            {
                "FirstName": "Grace",
                "LastName": "Newlead",
                "Company": "Compilers Ltd",
                "Email": "grace.newlead@example.com",
                "LeadSource": "Web",
            }
        ],
    )
    return [
        _Edit(
            "platform changed the phone (sync): the only change wins",
            p1,
            o1,
            c1,
            "phone",
            "Phone",
        ),
        _Edit(
            "CRM changed the first name (sync): the only change wins",
            p2,
            o2,
            c2,
            "first_name",
            "FirstName",
        ),
        _Edit(
            "both changed the first name: the later change (CRM) wins",
            p3,
            o3,
            c3,
            "first_name",
            "FirstName",
        ),
        _Edit(
            "platform changed the title (to_crm): the platform owns it",
            p4,
            o4,
            c4,
            "title",
            "Title",
        ),
        _Edit(
            "CRM changed the lead source (to_platform): the CRM owns it",
            p4,
            o4,
            c4,
            "lead_source",
            "LeadSource",
        ),
    ]


def _show_outcomes(
    console: Console,
    platform: LocalStore,
    emulator: SalesforceEmulator,
    edits: list[_Edit],
) -> None:
    table = Table(title="what the rules decided", title_justify="left")
    for column in ("edit", "platform now", "CRM now"):
        table.add_column(column, overflow="fold")
    for edit in edits:
        prospect = platform.get(edit.prospect_id) or {}
        record = emulator.get(edit.crm_object, edit.crm_id)
        table.add_row(
            edit.story,
            repr(prospect.get(edit.platform_field)),
            repr(record.get(edit.crm_field)),
        )
    console.print(table)


def _linked_pairs(
    state: CliState, name: str, wanted: dict[str, tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """(prospect id, CRM object, CRM id) of seeded matches the first cycle linked."""
    store = state.get_store()
    integration = store.get_integration(name)
    assert integration.id is not None
    with store.transaction() as tx:
        found = store.links_for(
            tx, integration.id, "platform", [("prospect", pid) for pid in wanted]
        )
    return [
        (pid, link.crm_object, link.crm_id) for (_, pid), link in sorted(found.items())
    ]


def _not_edited_before(platform: LocalStore, prospect_id: str) -> bool:
    """Whether an earlier run (``--reuse``) left none of the edits' values on the
    prospect: an edit to the value a field already holds would show no rule."""
    prospect = platform.get(prospect_id) or {}
    return bool(prospect) and not any(
        prospect.get(field) in values for field, values in _EDITED_VALUES.items()
    )


def run_demo(state: CliState, *, prospects: int, directory: Path, fresh: bool) -> None:
    """Run the demo (see the module docstring).

    ``fresh=False`` reuses the files of an earlier run: the platform's prospects are
    not seeded again (only a missing or empty file is), and the state store gains one
    more integration (``demo-2``, ...) against a new emulator.
    """
    console = out()
    directory.mkdir(parents=True, exist_ok=True)
    state_path, platform_path = directory / STATE_FILE, directory / PLATFORM_FILE
    settings = state.get_settings()
    if "database_url" not in settings.model_fields_set:
        if fresh:
            _remove(state_path)
        state.settings = settings.model_copy(
            update={"database_url": f"sqlite:///{state_path.resolve()}"}
        )
    if fresh:
        _remove(platform_path)
    store = state.get_store()
    existing = {i.name for i in store.list_integrations()}
    name = next(
        n for n in ("demo", *(f"demo-{k}" for k in range(2, 1000))) if n not in existing
    )

    if "log_level" not in settings.model_fields_set:
        # Per-record refusals are summed up after each cycle; a log line each is noise.
        configure_logging(fmt=settings.log_format, level="ERROR")
    console.print(Rule("crmsync demo"))
    platform = LocalStore(platform_path.resolve())
    existing_prospects = platform.count()
    if existing_prospects:
        # Seeding again would add a second prospect for every email: every match
        # would be ambiguous.
        seeded = f"reusing {existing_prospects:,} prospects"
    else:
        seeded = f"{len(platform.seed_fake(prospects, seed=7)):,} fake prospects"
    rows = platform.query(
        "SELECT id, email, first_name, last_name, company FROM prospect "
        "WHERE deleted_at IS NULL ORDER BY seq LIMIT ?",
        (max(60, prospects // 5),),
    )
    # Salesforce refuses non-ASCII email addresses; the CRM's people are the plain ones.
    people = [dict(row) for row in rows if str(row["email"]).isascii()][
        : max(30, prospects // 10)
    ]
    console.print(f"platform: {seeded} in {platform_path}", markup=False)

    emulator = SalesforceEmulator()
    secret = os.urandom(16).hex()
    emulator.register_app(CLIENT_ID, client_secret=secret)
    wanted = _seed_crm(emulator, people)
    with EmulatorServer(emulator) as server, _secret_in_environment(secret):
        console.print(
            f"crm: Salesforce emulator on {server.url} with "
            f"{len(emulator.records['Contact']):,} contacts and "
            f"{len(emulator.records['Lead']):,} leads "
            f"({len(wanted):,} match prospects by email)",
            markup=False,
        )
        integration = _integration(name, platform_path.resolve(), server.url)
        live = LiveFields(*state.open_integration(integration))
        integration = store.create_integration(_with_mappings(integration, live))
        console.print(
            f"integration {name!r}: source of truth 'both'; prospects whose title "
            "is CEO become Leads; CRM-only leads become prospects",
            markup=False,
        )
        command = _command(state.get_settings())
        console.print(Rule("first cycle: link, match by email, create"))
        run_one_cycle(state, name, dry_run=False, command=command)

        linked = [
            entry
            for entry in _linked_pairs(state, name, wanted)
            if _not_edited_before(platform, entry[0])
        ]
        if len(linked) < 4:
            raise ConfigurationError(
                f"the first cycle linked {len(linked)} unedited prospects of the "
                f"{len(wanted):,} seeded into the CRM, too few to show the edits "
                f"(see `{command} errors {name}`)",
                hint="start over from new files with `crmsync demo`",
            )
        edits = _edit_both_sides(platform, emulator, linked)
        console.print(Rule("edits on both sides, then the second cycle"))
        for edit in edits:
            console.print(f"• {edit.story}", markup=False)
        run_one_cycle(state, name, dry_run=False, command=command)
        _show_outcomes(console, platform, emulator, edits)
        console.print(
            Rule("a third cycle: no edits; what the CRM filled in on create comes back")
        )
        console.print(
            "Records created in the CRM come back once with the values the CRM set "
            "itself (defaults such as HasOptedOutOfEmail = false); that is new "
            "information, not an echo.",
            markup=False,
        )
        run_one_cycle(state, name, dry_run=False, command=command)
        console.print(Rule("a fourth cycle with no new edits writes nothing"))
        run_one_cycle(state, name, dry_run=False, command=command)
    platform.close()
    _explore(console, command, name)


def _command(settings: CrmsyncSettings) -> str:
    """``crmsync`` with the ``--database-url`` of the demo's state, so that the
    commands the demo prints can be copied as they are."""
    # The commands are printed for copying, but a password in the URL never is.
    url = redact_text(
        settings.database_url.replace(f"sqlite:///{Path.cwd()}/", "sqlite:///")
    )
    if url == CrmsyncSettings().database_url:
        return "crmsync"
    return f"crmsync --database-url {url}"


def _explore(console: Console, prefix: str, name: str) -> None:
    console.print(Rule("explore further"))
    for command, why in (
        (f"{prefix} integration show {name}", "settings, pairs and mappings"),
        (f"{prefix} status {name}", "links, waiting and parked records, last run"),
        (f"{prefix} history {name} --events", "every run and logged operation"),
        (f"{prefix} errors {name}", "records that failed, with the vendor's reason"),
        (f"{prefix} mapping export {name} mappings.yaml", "mappings as code"),
    ):
        console.print(f"  {command}\n      {why}", markup=False)
    console.print(
        "The emulator lived only for the demo; point an integration at a real org "
        "with `crmsync integration create NAME --crm salesforce ...`.",
        markup=False,
    )
