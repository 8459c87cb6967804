"""Deterministic fake people, for demos, emulators, tests and benchmarks.

No third-party faker: a fixed seed must give the same people on every machine and every
version, so benchmark numbers and demo screenshots stay comparable. Values are built
from small word lists with one ``random.Random``; 100,000 people take about a second.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PICKLIST_FIELDS", "fake_people"]

# The fields whose values are drawn from the target's picklist (``picklists``).
PICKLIST_FIELDS = ("lead_source", "status", "interests")
# A picklist field the caller gives no values for is drawn from this (and left out),
# so that every person takes the same draws in the same order.
_NO_VALUES = ("",)

_FIRST = (
    "Ada",
    "Grace",
    "Alan",
    "Margaret",
    "Linus",
    "Barbara",
    "Dennis",
    "Frances",
    "Ken",
    "Radia",
    "Guido",
    "Katherine",
    "Tim",
    "Hedy",
    "John",
    "Sophie",
    "Edsger",
    "Annie",
    "Donald",
    "Joan",
    "Zoë",
    "José",
    "Björn",
    "Aiko",
    "Chidi",
    "Priya",
    "Mateo",
    "Leila",
    "Olamide",
    "Yusuf",
)
_LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Hamilton",
    "Torvalds",
    "Liskov",
    "Ritchie",
    "Allen",
    "Thompson",
    "Perlman",
    "van Rossum",
    "Johnson",
    "Berners-Lee",
    "Lamarr",
    "McCarthy",
    "Wilson",
    "Dijkstra",
    "Easley",
    "Knuth",
    "Clarke",
    "Müller",
    "García",
    "Nakamura",
    "Okafor",
    "Sharma",
    "O'Brien",
    "Nguyen",
    "Haddad",
    "Adeyemi",
    "Kaya",
)
_COMPANY_A = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oceanic",
    "Pied Piper",
    "Massive Dynamic",
)
_COMPANY_B = (
    "Industries",
    "Labs",
    "Systems",
    "Group",
    "Analytics",
    "Partners",
    "Holdings",
    "Software",
    "Logistics",
    "Health",
)
_TITLES = (
    "CEO",
    "CTO",
    "VP Marketing",
    "Marketing Manager",
    "Sales Director",
    "Engineer",
    "Product Manager",
    "Head of Growth",
    "Operations Lead",
    "Analyst",
)


def fake_people(
    n: int,
    *,
    seed: int = 0,
    now: dt.datetime,
    picklists: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """``n`` people in canonical form, the same list for the same ``seed``.

    Each has ``email``, ``first_name``, ``last_name``, ``company``, ``title``,
    ``phone``, ``score``, ``lead_source``, ``status``, ``opted_out``,
    ``last_activity_at``, ``birthday``, ``interests`` and ``revenue``;
    ``picklists`` gives the values of :data:`PICKLIST_FIELDS` (a field without
    values is left out).
    """
    given = dict(picklists or {})
    sources, statuses, interests = (
        tuple(given.get(name) or _NO_VALUES) for name in PICKLIST_FIELDS
    )
    rng = random.Random(seed)
    choice, randint = rng.choice, rng.randint
    rows: list[dict[str, Any]] = []
    for index in range(n):
        first, last = choice(_FIRST), choice(_LAST)
        company = f"{choice(_COMPANY_A)} {choice(_COMPANY_B)}"
        domain = company.lower().replace(" ", "") + ".example"
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        row: dict[str, Any] = {
            "email": f"{local}.{seed}.{index}@{domain}",
            "first_name": first,
            "last_name": last,
            "company": company,
            "title": choice(_TITLES),
            "phone": f"+1-555-{randint(0, 999):03d}-{randint(0, 9999):04d}",
            "score": randint(0, 100),
            "lead_source": choice(sources),
            "status": choice(statuses),
            "opted_out": rng.random() < 0.05,
            "last_activity_at": now - dt.timedelta(seconds=randint(0, 90 * 86400)),
            "birthday": dt.date(randint(1950, 2002), randint(1, 12), randint(1, 28)),
            "interests": rng.sample(interests, randint(0, min(3, len(interests)))),
            "revenue": float(randint(1, 5000) * 1000),
        }
        for name in PICKLIST_FIELDS:
            if not given.get(name):
                del row[name]
        rows.append(row)
    return rows
