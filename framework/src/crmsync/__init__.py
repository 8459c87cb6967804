"""crmsync: keep a marketing platform's prospects and a CRM's records in agreement."""

from __future__ import annotations

from crmsync.contract import CONTRACT_VERSION
from crmsync.errors import CrmsyncError
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    Integration,
    Mapping,
    ObjectPair,
    Side,
    SourceOfTruth,
)

__version__ = "0.1.0"

__all__ = [
    "CONTRACT_VERSION",
    "CreationMode",
    "CreationRule",
    "CrmsyncError",
    "Direction",
    "Integration",
    "Mapping",
    "ObjectPair",
    "Side",
    "SourceOfTruth",
    "__version__",
]
