"""The source of truth is chosen at setup and locked once the first cycle has run."""

from __future__ import annotations

from crmsync.errors import ConfigurationError
from crmsync.models import Integration, SourceOfTruth

__all__ = ["check_source_of_truth_change", "source_of_truth_locked"]


def source_of_truth_locked(integration: Integration) -> bool:
    """Whether the first cycle has run, so that the source of truth may only change
    through a re-baseline."""
    return integration.source_of_truth_locked_at is not None


def check_source_of_truth_change(integration: Integration, new: SourceOfTruth) -> None:
    """Refuse a silent change of a locked source of truth.

    Before the first cycle the choice is free. After it, only an explicit re-baseline
    may change it (which does not ask this rule: it starts every link's baseline
    afresh, so no past agreement is judged by a rule it was not made under).

    :raises ConfigurationError: the source of truth is locked and ``new`` differs.
    """
    if not source_of_truth_locked(integration) or new is integration.source_of_truth:
        return
    raise ConfigurationError(
        f"integration {integration.name!r} has run, so its source of truth "
        f"({integration.source_of_truth.value}) is locked",
        hint=f"use `crmsync integration rebaseline {integration.name} "
        f"--source-of-truth {new.value}` to change it and start a fresh baseline",
    )
