"""The sync rules, as pure functions of values, baselines and timestamps.

* :mod:`.rules`: :func:`decide`, who wins one field of a linked pair.
* :mod:`.values`: blanks, conversion between field types, comparison after conversion.
* :mod:`.creation`: which unlinked records are created, with which values and defaults.
* :mod:`.lock`: the source of truth is locked after the first cycle.
"""

from __future__ import annotations

from crmsync.policy.creation import (
    creation_values,
    flows_to,
    passes_filter,
    should_create,
)
from crmsync.policy.lock import check_source_of_truth_change
from crmsync.policy.rules import Baseline, Decision, SideState, decide
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
    "SideState",
    "can_convert",
    "check_source_of_truth_change",
    "convert",
    "creation_values",
    "decide",
    "flows_to",
    "is_blank",
    "normalize",
    "passes_filter",
    "should_create",
]
