"""Deterministic fake prospects for demos, tests and benchmarks.

No third-party faker: a fixed seed must give the same people on every machine and every
version, so benchmark numbers and demo screenshots stay comparable. Values are built
from small word lists with one ``random.Random``; 100,000 prospects take about a second.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from crmsync.connectors.local._fields import INTERESTS, LEAD_SOURCES, STATUS_VALUES

__all__ = ["fake_prospects"]

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


def fake_prospects(n: int, *, seed: int = 0, now: dt.datetime) -> list[dict[str, Any]]:
    """``n`` prospects in canonical form; the same ``seed`` always gives the same
    list."""
    rng = random.Random(seed)
    choice, randint = rng.choice, rng.randint
    rows: list[dict[str, Any]] = []
    for index in range(n):
        first, last = choice(_FIRST), choice(_LAST)
        company = f"{choice(_COMPANY_A)} {choice(_COMPANY_B)}"
        domain = company.lower().replace(" ", "") + ".example"
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        rows.append(
            {
                "email": f"{local}.{seed}.{index}@{domain}",
                "first_name": first,
                "last_name": last,
                "company": company,
                "title": choice(_TITLES),
                "phone": f"+1-555-{randint(0, 999):03d}-{randint(0, 9999):04d}",
                "score": randint(0, 100),
                "lead_source": choice(LEAD_SOURCES),
                "status": choice(STATUS_VALUES),
                "opted_out": rng.random() < 0.05,
                "last_activity_at": now - dt.timedelta(seconds=randint(0, 90 * 86400)),
                "birthday": dt.date(
                    randint(1950, 2002), randint(1, 12), randint(1, 28)
                ),
                "interests": rng.sample(INTERESTS, randint(0, 3)),
                "revenue": float(randint(1, 5000) * 1000),
            }
        )
    return rows
