"""``crmsync demo``: the whole job on embedded defaults, no network, no credentials.

The platform is any installed self-contained platform connector
(``ConnectorDescription.self_contained``), seeded with fake prospects through the
contract (:mod:`crmsync.cli._demo_platform`); the CRM is any installed connector's
emulator on a loopback port (the connector names it in
``ConnectorDescription.emulator``; the real connector talks to it over HTTP). The demo
creates an integration with the mappings the emulator offers, runs a first cycle,
edits both sides (one edit conflicts), runs a second cycle and shows which rule decided
each edit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from crmsync.cli._demo_platform import DemoPlatform, demo_platform_settings
from crmsync.cli._emulator_command import split_settings, start_emulator
from crmsync.cli._state import CliState, out
from crmsync.cli._sync import run_one_cycle
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
from crmsync.operations import LiveFields
from crmsync.plugins import InstalledConnector
from crmsync.settings import CrmsyncSettings
from crmsync.testing.emulator import DemoField, ServedEmulator

__all__ = ["run_demo"]

STATE_FILE = "crmsync-demo.db"
# Values for a CRM field that is not a picklist (a picklist's own values are used).
_SOURCES = ("Web", "Phone Inquiry", "Partner Referral")


@dataclass
class _Edit:
    """One edit made between the cycles, and where to look for its outcome."""

    story: str
    prospect_id: str
    crm_object: str
    crm_id: str
    platform_field: str
    crm_field: str


class _Fields:
    """The emulator's demo fields, by platform field and CRM object."""

    def __init__(
        self, fields: Sequence[DemoField], person_objects: Sequence[str]
    ) -> None:
        self._fields = tuple(fields)
        self._objects = tuple(person_objects)

    def applies(self, field: DemoField, crm_object: str) -> bool:
        return field.objects is None or crm_object in field.objects

    def crm(self, platform_field: str, crm_object: str) -> DemoField | None:
        return next(
            (
                f
                for f in self._fields
                if f.platform_field == platform_field and self.applies(f, crm_object)
            ),
            None,
        )

    def record(self, crm_object: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Platform-named ``values`` as the CRM object's fields (unmapped ones left)."""
        found: dict[str, Any] = {}
        for name, value in values.items():
            field = self.crm(name, crm_object)
            if field is not None and value is not None:
                found[field.crm_field] = value
        return found

    def all(self) -> tuple[DemoField, ...]:
        return self._fields


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def _secrets_in_environment(values: Mapping[str, str]) -> Iterator[None]:
    """The emulator's secrets, for this process only (never stored or printed)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _choices(
    live: LiveFields, crm_object: str, field: DemoField | None
) -> tuple[str, ...]:
    """Values for ``field`` of ``crm_object``: its picklist's, else plain words."""
    if field is None:
        return _SOURCES
    for spec in live.of("crm", crm_object):
        if spec.name == field.crm_field and spec.picklist_values:
            return tuple(spec.picklist_values)
    return _SOURCES


def _seed_crm(
    served: ServedEmulator,
    fields: _Fields,
    live: LiveFields,
    objects: Sequence[str],
    create_object: str,
    people: list[dict[str, Any]],
) -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
    """People in the CRM, a part of them matching prospects by email (case differs),
    and CRM-only ones; returns the matches and the count seeded per object."""
    links: dict[str, tuple[str, str]] = {}
    counts: dict[str, int] = {}
    third = len(people) // 3
    first, second = objects[0], objects[-1]
    groups: list[tuple[str, list[dict[str, Any]], int, str | None]] = [
        (first, people[:third], 0, "Buyer"),
        (second, people[third : 2 * third], 2, None),
    ]
    for crm_object, group, source, title in groups:
        sources = _choices(live, crm_object, fields.crm("lead_source", crm_object))
        rows = [
            fields.record(
                crm_object,
                {
                    "email": str(p["email"]).upper() if source == 0 else p["email"],
                    "first_name": p["first_name"],
                    "last_name": p["last_name"],
                    "company": p["company"],
                    "title": title,
                    "phone": None if title else "+1-555-0100",
                    "lead_source": sources[min(source, len(sources) - 1)],
                },
            )
            for p in group
        ]
        for person, record_id in zip(group, served.seed(crm_object, rows), strict=True):
            links[person["id"]] = (crm_object, record_id)
        counts[crm_object] = counts.get(crm_object, 0) + len(rows)
    sources = _choices(live, create_object, fields.crm("lead_source", create_object))
    only = [
        fields.record(
            create_object,
            {
                "first_name": f"Crm{n}",
                "last_name": f"Only{n}",
                "company": "CRM-only Inc",
                "email": f"crm.only.{n}@example.com",
                "lead_source": sources[min(1, len(sources) - 1)],
            },
        )
        for n in range(max(3, len(people) // 10))
    ]
    served.seed(create_object, only)
    counts[create_object] = counts.get(create_object, 0) + len(only)
    return links, counts


def _integration(
    name: str,
    platform: str,
    platform_settings: dict[str, str],
    crm: str,
    crm_settings: dict[str, str],
    objects: Sequence[str],
    create_object: str,
    fields: _Fields,
    platform_object: str,
) -> Integration:
    def match_field(crm_object: str) -> str:
        email = fields.crm("email", crm_object)
        if email is None:
            raise ConfigurationError(
                f"the {crm} emulator maps no CRM field to the platform's email for "
                f"{crm_object}, which the demo matches on",
                hint="add DemoField('email', <its email field>, 'sync') to demo_fields",
            )
        return email.crm_field

    return Integration(
        name=name,
        platform_connector=platform,
        crm_connector=crm,
        platform_settings=platform_settings,
        crm_settings=crm_settings,
        source_of_truth=SourceOfTruth.BOTH,
        active=True,
        interval_seconds=300,
        create_in_crm=CreationRule(
            mode=CreationMode.FILTER,
            target_object=create_object,
            filter=FieldFilter(field="title", op="==", value="CEO"),
        ),
        create_in_platform=CreationRule(
            mode=CreationMode.ALL, target_object=platform_object
        ),
        object_pairs=tuple(
            ObjectPair(
                platform_object=platform_object,
                crm_object=crm_object,
                match_order=index,
                crm_match_field=match_field(crm_object),
            )
            for index, crm_object in enumerate(objects)
        ),
    )


def _with_mappings(
    integration: Integration, live: LiveFields, fields: _Fields
) -> Integration:
    pairs = []
    for pair in integration.object_pairs:
        mappings = tuple(
            live.build(
                pair,
                platform_field=field.platform_field,
                crm_field=field.crm_field,
                direction=Direction(field.direction),
                default=field.default,
            )
            for field in fields.all()
            if fields.applies(field, pair.crm_object)
        )
        pairs.append(pair.model_copy(update={"mappings": mappings}))
    return integration.model_copy(update={"object_pairs": tuple(pairs)})


# The values the edits between the cycles set, per platform field.
_EDITED_VALUES = {
    "phone": {"+1-555-0199"},
    "first_name": {"Johnathan", "Jo", "Jon"},
    "title": {"Chief Everything Officer"},
}
_DIRECTION_WORDS = {
    "sync": "sync",
    "to_crm": "to_crm: the platform owns it",
    "to_platform": "to_platform: the CRM owns it",
}


def _wait_out(precision: float) -> None:
    """Sleep into the vendor's next timestamp tick (nothing for a fine clock)."""
    if precision >= 0.01:
        time.sleep(precision - (time.time() % precision) + 0.01)


def _edit_both_sides(
    platform: DemoPlatform,
    served: ServedEmulator,
    fields: _Fields,
    live: LiveFields,
    linked: list[tuple[str, str, str]],
    precision: float,
) -> list[_Edit]:
    """Edits between the cycles: one per rule worth seeing, one of them a conflict.
    An edit whose field the emulator does not map is left out."""
    (p1, o1, c1), (p2, o2, c2), (p3, o3, c3), (p4, o4, c4) = linked[:4]
    edits: list[_Edit] = []

    def crm_field(platform_field: str, crm_object: str) -> DemoField | None:
        return fields.crm(platform_field, crm_object)

    phone, title = crm_field("phone", o1), crm_field("title", o4)
    if phone is not None:
        platform.update(p1, {"phone": "+1-555-0199"})
        edits.append(
            _Edit(
                f"platform changed the phone ({phone.direction}): the only change wins",
                p1,
                o1,
                c1,
                "phone",
                phone.crm_field,
            )
        )
    platform.update(p3, {"first_name": "Johnathan"})
    if title is not None:
        platform.update(p4, {"title": "Chief Everything Officer"})
    # A vendor that stamps whole seconds could stamp the CRM edits in the second of
    # the platform edits just made: a tie, not the later change the demo shows.
    _wait_out(precision)
    first2, first3 = crm_field("first_name", o2), crm_field("first_name", o3)
    if first2 is not None and first3 is not None:
        served.edit(o2, c2, {first2.crm_field: "Jo"})
        served.edit(o3, c3, {first3.crm_field: "Jon"})
        edits.append(
            _Edit(
                f"CRM changed the first name ({first2.direction}): "
                "the only change wins",
                p2,
                o2,
                c2,
                "first_name",
                first2.crm_field,
            )
        )
        edits.append(
            _Edit(
                "both changed the first name: the later change (CRM) wins",
                p3,
                o3,
                c3,
                "first_name",
                first3.crm_field,
            )
        )
    source = crm_field("lead_source", o4)
    if source is not None:
        current = (served_get(served, o4, c4) or {}).get(source.crm_field)
        choices = [v for v in _choices(live, o4, source) if v != current]
        served.edit(o4, c4, {source.crm_field: choices[min(1, len(choices) - 1)]})
    if title is not None:
        edits.append(
            _Edit(
                f"platform changed the title ({_DIRECTION_WORDS[title.direction]})",
                p4,
                o4,
                c4,
                "title",
                title.crm_field,
            )
        )
    if source is not None:
        edits.append(
            _Edit(
                f"CRM changed the lead source ({_DIRECTION_WORDS[source.direction]})",
                p4,
                o4,
                c4,
                "lead_source",
                source.crm_field,
            )
        )
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
    return edits


def served_get(
    served: ServedEmulator, crm_object: str, crm_id: str
) -> Mapping[str, Any] | None:
    """The CRM record, when the emulator offers the optional ``get``."""
    get = getattr(served, "get", None)
    if not callable(get):
        return None
    found: Mapping[str, Any] = get(crm_object, crm_id)
    return found


def _show_outcomes(
    console: Console, platform: DemoPlatform, served: ServedEmulator, edits: list[_Edit]
) -> None:
    table = Table(title="what the rules decided", title_justify="left")
    for column in ("edit", "platform now", "CRM now"):
        table.add_column(column, overflow="fold")
    everyone = platform.everyone()
    for edit in edits:
        prospect = everyone.get(edit.prospect_id) or {}
        record = served_get(served, edit.crm_object, edit.crm_id)
        table.add_row(
            edit.story,
            repr(prospect.get(edit.platform_field)),
            "(not shown)" if record is None else repr(record.get(edit.crm_field)),
        )
    console.print(table)


def _linked_pairs(
    state: CliState,
    name: str,
    platform_object: str,
    wanted: dict[str, tuple[str, str]],
) -> list[tuple[str, str, str]]:
    """(prospect id, CRM object, CRM id) of seeded matches the first cycle linked."""
    store = state.get_store()
    integration = store.config.get_integration(name)
    assert integration.id is not None
    with store.database.transaction() as tx:
        found = store.links.find(
            tx, integration.id, "platform", [(platform_object, pid) for pid in wanted]
        )
    return [
        (pid, link.crm_object, link.crm_id) for (_, pid), link in sorted(found.items())
    ]


def _not_edited_before(prospect: Mapping[str, Any]) -> bool:
    """Whether an earlier run (``--reuse``) left none of the edits' values on the
    prospect: an edit to the value a field already holds would show no rule."""
    return bool(prospect) and not any(
        prospect.get(field) in values for field, values in _EDITED_VALUES.items()
    )


def _person_objects(installed: InstalledConnector) -> tuple[tuple[str, ...], str]:
    """The CRM objects people are matched in (in match order) and created in (the
    last: a connector lists its lead-like object after its contact-like one)."""
    description = installed.description
    objects = tuple(description.person_objects or description.objects)
    return objects, objects[-1]


def run_demo(
    state: CliState,
    *,
    crm: str,
    platform: str,
    prospects: int,
    directory: Path,
    fresh: bool,
) -> None:
    """Run the demo against connector ``crm``'s emulator, with the self-contained
    connector ``platform`` as the platform (see the module docstring).

    ``fresh=False`` reuses the files of an earlier run: the platform's prospects are
    not seeded again (only an empty platform is), and the state store gains one more
    integration (``demo-2``, ...) against a new emulator.
    """
    console = out()
    installed = state.get_catalog().get(crm)
    platform_installed = state.get_catalog().get(platform)
    directory.mkdir(parents=True, exist_ok=True)
    state_path = directory / STATE_FILE
    platform_settings = demo_platform_settings(platform_installed, directory)
    settings = state.get_settings()
    if "database_url" not in settings.model_fields_set:
        if fresh:
            _remove(state_path)
        state.settings = settings.model_copy(
            update={"database_url": f"sqlite:///{state_path.resolve()}"}
        )
    if "cache_dir" not in state.get_settings().model_fields_set:
        # Each demo's emulator is a new org on a new port: its metadata is kept with
        # the demo's files, not in the user's cache.
        state.settings = state.get_settings().model_copy(
            update={"cache_dir": (directory / "crmsync-demo-cache").resolve()}
        )
    if fresh:
        for path in platform_settings.values():
            _remove(Path(path))
    store = state.get_store()
    existing = {i.name for i in store.config.list_integrations()}
    name = next(
        n for n in ("demo", *(f"demo-{k}" for k in range(2, 1000))) if n not in existing
    )

    if "log_level" not in settings.model_fields_set:
        # Per-record refusals are summed up after each cycle; a log line each is noise.
        configure_logging(fmt=settings.log_format, level="ERROR")
    console.print(Rule("crmsync demo"))
    demo_platform = DemoPlatform(
        state.open_connection(platform, platform_settings, side="platform")
    )
    everyone = demo_platform.everyone()
    if everyone:
        # Seeding again would add a second prospect for every email: every match
        # would be ambiguous.
        seeded = f"reusing {len(everyone):,} prospects"
    else:
        seeded = f"{demo_platform.seed_fake(prospects, seed=7):,} fake prospects"
        everyone = demo_platform.everyone()
    rows = list(everyone.values())[: max(60, prospects // 5)]
    # Many CRMs refuse non-ASCII email addresses; the CRM's people are the plain ones.
    people = [row for row in rows if str(row["email"]).isascii()][
        : max(30, prospects // 10)
    ]
    where = ", ".join(platform_settings.values()) or platform_installed.description.name
    console.print(f"platform: {seeded} in {where}", markup=False)

    served = start_emulator(installed)
    try:
        _demo_against(
            state,
            console,
            installed,
            served,
            demo_platform,
            name,
            platform_settings,
            people,
        )
    finally:
        served.stop()


def _demo_against(
    state: CliState,
    console: Console,
    installed: InstalledConnector,
    served: ServedEmulator,
    platform: DemoPlatform,
    name: str,
    platform_settings: dict[str, str],
    people: list[dict[str, Any]],
) -> None:
    crm = installed.id
    objects, create_object = _person_objects(installed)
    create_object = str(getattr(served, "create_object", None) or create_object)
    fields = _Fields(served.demo_fields, objects)
    stored, secrets = split_settings(installed, served.settings)
    store = state.get_store()
    with _secrets_in_environment(secrets):
        integration = _integration(
            name,
            platform.connection.id,
            platform_settings,
            crm,
            stored,
            objects,
            create_object,
            fields,
            platform.object,
        )
        live = LiveFields(*state.open_integration(integration))
        wanted, counts = _seed_crm(served, fields, live, objects, create_object, people)
        seeded = " and ".join(f"{count:,} {obj}" for obj, count in counts.items())
        console.print(
            f"crm: {installed.description.name} emulator on {served.url} with {seeded} "
            f"records ({len(wanted):,} match prospects by email)",
            markup=False,
        )
        integration = store.config.create_integration(
            _with_mappings(integration, live, fields)
        )
        console.print(
            f"integration {name!r}: source of truth 'both'; prospects whose title "
            f"is CEO become {create_object} records; CRM-only people become prospects",
            markup=False,
        )
        command = _command(state.get_settings())
        console.print(Rule("first cycle: link, match by email, create"))
        run_one_cycle(state, name, dry_run=False, command=command)

        everyone = platform.everyone()
        linked = [
            entry
            for entry in _linked_pairs(state, name, platform.object, wanted)
            if _not_edited_before(everyone.get(entry[0]) or {})
        ]
        if len(linked) < 4:
            raise ConfigurationError(
                f"the first cycle linked {len(linked)} unedited prospects of the "
                f"{len(wanted):,} seeded into the CRM, too few to show the edits "
                f"(see `{command} errors {name}`)",
                hint="start over from new files with `crmsync demo`",
            )
        precision = installed.description.timestamp_precision_seconds
        edits = _edit_both_sides(platform, served, fields, live, linked, precision)
        served.seed(
            create_object,
            [
                fields.record(
                    create_object,
                    {
                        "first_name": "Grace",
                        "last_name": "Newlead",
                        "company": "Compilers Ltd",
                        "email": "grace.newlead@example.com",
                    },
                )
            ],
        )
        console.print(Rule("edits on both sides, then the second cycle"))
        for edit in edits:
            console.print(f"• {edit.story}", markup=False)
        run_one_cycle(state, name, dry_run=False, command=command)
        _show_outcomes(console, platform, served, edits)
        console.print(
            Rule("a third cycle: no edits; what the CRM filled in on create comes back")
        )
        console.print(
            "Records created in the CRM come back once with the values the CRM set "
            "itself (defaults such as an unticked opt-out box); that is new "
            "information, not an echo.",
            markup=False,
        )
        run_one_cycle(state, name, dry_run=False, command=command)
        console.print(Rule("a fourth cycle with no new edits writes nothing"))
        run_one_cycle(state, name, dry_run=False, command=command)
    _explore(console, _command(state.get_settings()), name, crm)


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


def _explore(console: Console, prefix: str, name: str, crm: str) -> None:
    console.print(Rule("explore further"))
    for command, why in (
        (f"{prefix} integration show {name}", "settings, pairs and mappings"),
        (f"{prefix} status {name}", "links, waiting and parked records, last run"),
        (f"{prefix} history {name} --events", "every run and logged operation"),
        (f"{prefix} errors {name}", "records that failed, with the vendor's reason"),
        (f"{prefix} mapping export {name} mappings.yaml", "mappings as code"),
        (f"crmsync emulator {crm}", "the same emulator on its own, to try by hand"),
    ):
        console.print(f"  {command}\n      {why}", markup=False)
    console.print(
        "The emulator lived only for the demo; point an integration at the real "
        f"service with `crmsync integration create NAME --crm {crm} ...`.",
        markup=False,
    )
