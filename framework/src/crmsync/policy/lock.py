"""The source of truth is chosen at setup and locked once the first cycle has run."""

from __future__ import annotations

from crmsync.errors import ConfigurationError
from crmsync.models import Integration, SourceOfTruth


def check_source_of_truth_change(
    integration: Integration, new: SourceOfTruth, *, rebaseline: bool
) -> None:
    """Refuse a silent change of a locked source of truth.

    Before the first cycle the choice is free. After it, only an explicit re-baseline
    may change it: that starts every link's baseline afresh, so no past agreement is
    judged by a rule it was not made under.
    """
    if (
        integration.source_of_truth_locked_at is None
        or new is integration.source_of_truth
    ):
        return
    if not rebaseline:
        raise ConfigurationError(
            f"integration {integration.name!r} has run, so its source of truth "
            f"({integration.source_of_truth.value}) is locked",
            hint=f"use `crmsync integration rebaseline {integration.name} "
            f"--source-of-truth {new.value}` to change it and start a fresh baseline",
        )
