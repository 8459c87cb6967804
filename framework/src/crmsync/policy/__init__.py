"""The sync rules, as pure functions of values, baselines and timestamps.

Each rule has one home here, and the engine, the operations layer and doctor ask it:

* :mod:`.rules`: :func:`decide`, who wins one field of a linked pair.
* :mod:`.sides`: which side a mapping's direction writes (:func:`written_sides`,
  :func:`flows_to`) and which side a one-way mapping copies from.
* :mod:`.creation`: which unlinked records are created, through which pair
  (:func:`creation_pair`), with which values and defaults.
* :mod:`.lock`: the source of truth is locked after the first cycle.
* :mod:`.matching`: the match key that recognises one person on both sides.
* :mod:`.values`: blanks, conversion between field types, comparison after conversion.
"""

from __future__ import annotations

from crmsync.policy.creation import (
    creation_pair,
    creation_values,
    default_creation_target,
    passes_filter,
    should_create,
)
from crmsync.policy.lock import check_source_of_truth_change, source_of_truth_locked
from crmsync.policy.matching import KeyOf, match_key, match_key_of
from crmsync.policy.rules import Baseline, Decision, SideState, decide
from crmsync.policy.sides import flows_to, one_way_source, writes, written_sides
from crmsync.policy.values import (
    ConversionError,
    can_convert,
    convert,
    is_blank,
    normalize,
)

__all__ = [
    "Baseline",
    "ConversionError",
    "Decision",
    "KeyOf",
    "SideState",
    "can_convert",
    "check_source_of_truth_change",
    "convert",
    "creation_pair",
    "creation_values",
    "decide",
    "default_creation_target",
    "flows_to",
    "is_blank",
    "match_key",
    "match_key_of",
    "normalize",
    "one_way_source",
    "passes_filter",
    "should_create",
    "source_of_truth_locked",
    "writes",
    "written_sides",
]
