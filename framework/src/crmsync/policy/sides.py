"""Which side a mapping's direction writes, and which side a one-way mapping copies
from: the one answer the engine, doctor, mapping checks and the faces share."""

from __future__ import annotations

from crmsync.models import CRM, PLATFORM, Direction, Mapping, Side

__all__ = ["flows_to", "one_way_source", "writes", "written_sides"]

# Looked up per field of every created record and every decision: built once.
_WRITTEN: dict[Direction, frozenset[Side]] = {
    Direction.TO_CRM: frozenset({CRM}),
    Direction.TO_PLATFORM: frozenset({PLATFORM}),
    Direction.SYNC: frozenset({PLATFORM, CRM}),
}
_SOURCE: dict[Direction, Side | None] = {
    Direction.TO_CRM: PLATFORM,
    Direction.TO_PLATFORM: CRM,
    Direction.SYNC: None,
}


def written_sides(direction: Direction) -> frozenset[Side]:
    """The sides a mapping with ``direction`` may write: ``to_crm`` writes the CRM,
    ``to_platform`` the platform, ``sync`` both."""
    return _WRITTEN[direction]


def one_way_source(direction: Direction) -> Side | None:
    """The side a one-way mapping copies from (the field's owner); ``None`` for
    ``sync``, where the source of truth decides."""
    return _SOURCE[direction]


def writes(direction: Direction, side: Side) -> bool:
    """Whether a mapping with ``direction`` writes ``side``."""
    return side in _WRITTEN[direction]


def flows_to(mapping: Mapping, target: Side) -> bool:
    """Whether ``mapping`` moves values into ``target``."""
    return target in _WRITTEN[mapping.direction]
