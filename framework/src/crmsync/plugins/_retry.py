"""How the core retries a connector call: tenacity policies, owned by the framework
alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from crmsync.errors import AuthenticationExpired, ConnectorError, RateLimited

T = TypeVar("T")
log = structlog.get_logger("crmsync.retry")


class RetryPolicy(BaseModel):
    """Bounds on retrying one connector call."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(
        default=6, ge=1, description="Tries of one call, the first included."
    )
    max_total_seconds: float = Field(
        default=300.0, gt=0, description="Give up after this long."
    )
    initial_backoff: float = Field(
        default=0.5, ge=0, description="First transient wait (s)."
    )
    max_backoff: float = Field(
        default=30.0, ge=0, description="Longest transient wait (s)."
    )
    max_rate_limit_wait: float = Field(
        default=120.0, ge=0, description="Longest wait a rate limit may ask for (s)."
    )


def _is_retryable(error: BaseException) -> bool:
    return (
        isinstance(error, ConnectorError)
        and error.retryable
        and not isinstance(error, AuthenticationExpired)
    )


class _Wait:
    """Rate limits wait what the vendor asked; other transient errors, and rate limits
    that did not say how long, back off exponentially with jitter, capped.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._backoff = wait_exponential_jitter(
            multiplier=policy.initial_backoff,
            max=policy.max_backoff,
            jitter=policy.initial_backoff,
        )

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(error.retry_after, self._policy.max_rate_limit_wait)
        return float(self._backoff(state))


def call_with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    reauthenticate: Callable[[], None],
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[str], None] | None = None,
) -> T:
    """Run ``call`` under ``policy``.

    Transient errors back off exponentially with jitter, rate limits wait their
    ``retry_after`` (or back off the same way when they carry none), both within
    ``max_attempts`` and ``max_total_seconds``. An expired
    credential triggers exactly one ``reauthenticate()`` and one immediate repeat; a
    second expiry is raised. Permanent errors are raised at once.
    """
    reauthenticated = False

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        reason = "rate_limited" if isinstance(error, RateLimited) else "transient"
        context: dict[str, Any] = (
            error.context() if isinstance(error, ConnectorError) else {}
        )
        log.warning(
            "retry_wait",
            call=what,
            reason=reason,
            wait_seconds=round(wait, 3),
            attempt=state.attempt_number,
            error=str(error),
            **context,
        )
        if on_wait is not None:
            on_wait(reason)

    retrying = Retrying(
        retry=retry_if_exception(_is_retryable),
        wait=_Wait(policy),
        stop=stop_after_attempt(policy.max_attempts)
        | stop_after_delay(policy.max_total_seconds),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    while True:
        try:
            return retrying(call)
        except AuthenticationExpired as error:
            if reauthenticated:
                raise
            reauthenticated = True
            log.info("reauthenticate", call=what, **error.context())
            reauthenticate()
