"""The core's domain: integrations, object pairs, mappings and creation rules.

These are what an administrator configures and what the state store keeps. They never
cross the plugin boundary (that is :mod:`crmsync.contract`).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crmsync.contract.models import FieldType

__all__ = [
    "CreationMode",
    "CreationRule",
    "Direction",
    "FieldFilter",
    "Integration",
    "Mapping",
    "ObjectPair",
    "Side",
    "SourceOfTruth",
]


class Side(enum.StrEnum):
    """The two ends of an integration."""

    PLATFORM = "platform"
    CRM = "crm"

    @property
    def other(self) -> Side:
        return _OTHER_SIDE[self]


# The sides bound once, for code that runs per record or per field: on Python 3.11
# every ``Side.X`` costs ~100 ns (the enum metaclass's ``__getattr__`` puts class
# attribute lookups on a slow path).
PLATFORM, CRM = Side.PLATFORM, Side.CRM
_OTHER_SIDE = {PLATFORM: CRM, CRM: PLATFORM}


class Direction(enum.StrEnum):
    """Which way a mapped field moves."""

    TO_CRM = "to_crm"
    """The platform owns the field; the CRM follows."""
    TO_PLATFORM = "to_platform"
    """The CRM owns the field; the platform follows."""
    SYNC = "sync"
    """Both sides may change it; the source of truth settles conflicts."""


class SourceOfTruth(enum.StrEnum):
    """Who wins a ``sync`` field when both sides hold different values."""

    CRM = "crm"
    PLATFORM = "platform"
    BOTH = "both"
    """The most recent change wins, decided per field against the baseline."""


class CreationMode(enum.StrEnum):
    NEVER = "never"
    ALL = "all"
    FILTER = "filter"


FilterOp = Literal["==", "!=", ">", ">=", "<", "<=", "not_blank", "and", "or"]


class FieldFilter(BaseModel):
    """A creation filter: a condition on one field of the source record
    (``score >= 50``), or ``and`` / ``or`` of such conditions in ``terms``.

    Written and read in the filter language of :mod:`crmsync.policy.filters`
    (``title != 'Eng' and (score >= 50 or country == 'FR')``); ``str()`` renders it
    back.
    """

    model_config = ConfigDict(frozen=True)

    field: str = ""
    op: FilterOp
    value: Any = None
    terms: tuple[FieldFilter, ...] = ()

    @model_validator(mode="after")
    def _leaf_or_group(self) -> FieldFilter:
        if self.op in ("and", "or"):
            if len(self.terms) < 2 or self.field:
                raise ValueError(f"an {self.op!r} filter joins two or more terms")
        elif not self.field or self.terms:
            raise ValueError(f"a {self.op!r} filter names one field and no terms")
        return self

    def leaves(self) -> tuple[FieldFilter, ...]:
        """The single-field conditions, left to right."""
        if not self.terms:
            return (self,)
        return tuple(leaf for term in self.terms for leaf in term.leaves())

    def fields(self) -> list[str]:
        """The fields the filter reads, each once, in the order written."""
        return list(dict.fromkeys(leaf.field for leaf in self.leaves()))

    def __str__(self) -> str:
        """The filter in the language it is written in (parses back to itself)."""
        if self.op in ("and", "or"):
            parts = [
                f"({term})" if term.op in ("and", "or") else str(term)
                for term in self.terms
            ]
            return f" {self.op} ".join(parts)
        if self.op == "not_blank":
            return f"{self.field} not_blank"
        return f"{self.field} {self.op} {_filter_literal(self.value)}"


def _filter_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class CreationRule(BaseModel):
    """Which unlinked records of one side are created on the other, and as what."""

    model_config = ConfigDict(frozen=True)

    mode: CreationMode = CreationMode.NEVER
    target_object: str | None = Field(
        default=None, description="Object to create (CRM side: a Lead by default)."
    )
    filter: FieldFilter | None = None

    @model_validator(mode="after")
    def _filter_needs_mode(self) -> CreationRule:
        if self.mode is CreationMode.FILTER and self.filter is None:
            raise ValueError("creation mode 'filter' needs a filter")
        return self


class Mapping(BaseModel):
    """One mapped field of an object pair."""

    model_config = ConfigDict(frozen=True)

    platform_field: str
    crm_field: str
    direction: Direction
    platform_type: FieldType = FieldType.STRING
    crm_type: FieldType = FieldType.STRING
    default: Any = Field(
        default=None, description="Used on create when the source is blank."
    )
    conflict_rule: SourceOfTruth | None = Field(
        default=None,
        description="Overrides the integration's source of truth for this field.",
    )

    @functools.cached_property
    def key(self) -> str:
        """Stable key of the mapping inside a link's baseline (computed once: every
        field decision looks it up)."""
        return f"{self.platform_field}>{self.crm_field}"


class ObjectPair(BaseModel):
    """A platform object and a CRM object that sync together, with their mappings."""

    model_config = ConfigDict(frozen=True)

    platform_object: str
    crm_object: str
    match_order: int = 0
    platform_match_field: str = "email"
    crm_match_field: str = "Email"
    mappings: tuple[Mapping, ...] = ()

    def mapping_for(self, platform_field: str, crm_field: str) -> Mapping | None:
        for mapping in self.mappings:
            if (
                mapping.platform_field == platform_field
                and mapping.crm_field == crm_field
            ):
                return mapping
        return None


class Integration(BaseModel):
    """One platform account connected to one CRM account."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    platform_connector: str
    crm_connector: str
    platform_settings: dict[str, Any] = Field(default_factory=dict)
    crm_settings: dict[str, Any] = Field(default_factory=dict)
    source_of_truth: SourceOfTruth = SourceOfTruth.BOTH
    source_of_truth_locked_at: dt.datetime | None = None
    active: bool = False
    interval_seconds: int = Field(default=300, ge=10)
    create_in_crm: CreationRule = CreationRule(mode=CreationMode.NEVER)
    create_in_platform: CreationRule = CreationRule(mode=CreationMode.NEVER)
    object_pairs: tuple[ObjectPair, ...] = ()

    def pairs_in_match_order(self) -> list[ObjectPair]:
        return sorted(self.object_pairs, key=lambda pair: pair.match_order)
