"""The core's retry policy around every connector call."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from crmsync.errors import (
    AuthenticationExpired,
    PermanentError,
    RateLimited,
    TransientError,
)
from crmsync.plugins import RetryPolicy, call_with_retries

POLICY = RetryPolicy(max_attempts=4, initial_backoff=1.0, max_backoff=8.0)


class Script:
    """A call that fails as scripted, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def run(script, *, policy=POLICY, reauth=None):
    sleeps: list[float] = []
    result = call_with_retries(
        script,
        policy=policy,
        reauthenticate=reauth or (lambda: None),
        what="test.call",
        sleep=sleeps.append,
    )
    return result, sleeps


def test_transient_errors_back_off_exponentially_with_jitter():
    script = Script(TransientError("503"), TransientError("503"), TransientError("503"))
    result, sleeps = run(script)
    assert result == "ok" and script.calls == 4
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2] <= 8.0 + 1.0


def test_a_rate_limit_waits_the_vendor_delay_and_each_wait_is_logged():
    with capture_logs() as logs:
        result, sleeps = run(Script(RateLimited("slow down", retry_after=7.5)))
    assert result == "ok" and sleeps == [7.5]
    (wait,) = [entry for entry in logs if entry["event"] == "retry_wait"]
    assert wait["reason"] == "rate_limited" and wait["wait_seconds"] == 7.5


def test_a_rate_limit_without_a_delay_backs_off_jittered_and_capped():
    # No Retry-After: the framework's backoff decides (it was a fixed 60 s wait).
    limits = [RateLimited("slow down", retry_after=None) for _ in range(3)]
    result, sleeps = run(Script(*limits))
    assert result == "ok" and len(sleeps) == 3
    cap = POLICY.max_backoff + POLICY.initial_backoff  # the jitter comes on top
    assert sleeps[0] < sleeps[1] < sleeps[2] <= cap


def test_attempts_are_bounded():
    script = Script(*[TransientError("down")] * 10)
    with pytest.raises(TransientError):
        run(script)
    assert script.calls == POLICY.max_attempts


def test_total_time_is_bounded():
    import time

    policy = RetryPolicy(max_attempts=50, max_total_seconds=0.01, initial_backoff=0)
    script = Script(*[TransientError("down")] * 100)
    with pytest.raises(TransientError):
        call_with_retries(
            script,
            policy=policy,
            reauthenticate=lambda: None,
            what="t",
            sleep=lambda seconds: time.sleep(0.005),
        )
    assert script.calls < 50


def test_a_permanent_error_is_never_retried():
    script = Script(PermanentError("bad field", code="INVALID_FIELD", field="Foo"))
    with pytest.raises(PermanentError):
        run(script)
    assert script.calls == 1


def test_an_expired_credential_reauthenticates_exactly_once():
    renewals: list[int] = []
    result, sleeps = run(
        Script(AuthenticationExpired("expired")), reauth=lambda: renewals.append(1)
    )
    assert result == "ok" and renewals == [1] and sleeps == []
    script = Script(AuthenticationExpired("expired"), AuthenticationExpired("again"))
    with pytest.raises(AuthenticationExpired, match="again"):
        run(script, reauth=lambda: renewals.append(1))
    assert renewals == [1, 1]
