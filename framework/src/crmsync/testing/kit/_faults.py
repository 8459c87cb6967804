"""Checks of failure translation: rate limits, server errors, expired sessions, secrets.

The connector's job is to *raise* the framework's error types; the framework owns every
wait and retry. So these checks call the hook directly (``connection.hook``), bypassing
the retry loop, with ``time.sleep`` replaced by a recorder and a stopwatch running: a
connector that sleeps or retries on its own is caught either way. Then the same fault
goes through the framework, to show the connector recovers once the call is repeated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from crmsync.contract import Capability, WriteRequest
from crmsync.errors import (
    AuthenticationExpired,
    ConnectorError,
    RateLimited,
    TransientError,
)
from crmsync.plugins import Connection
from crmsync.testing.kit._base import (
    ContractBase,
    broke,
    check,
    optional,
    requires,
    seed,
)
from crmsync.testing.kit._sandbox import Fault, Sandbox


@contextmanager
def no_sleeping(
    monkeypatch: pytest.MonkeyPatch, limit: float, what: str
) -> Iterator[None]:
    """Fail if the block calls ``time.sleep`` or takes longer than ``limit`` seconds."""
    slept: list[float] = []
    with monkeypatch.context() as patch:
        patch.setattr(time, "sleep", slept.append)
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
    check(
        not slept,
        "a connector never sleeps: it raises and the framework waits",
        f"{what} called time.sleep({', '.join(map(str, slept))})",
    )
    check(
        elapsed < limit,
        "a connector never sleeps: it raises and the framework waits",
        f"{what} took {elapsed:.2f}s",
    )


def _direct_fetch(connection: Connection, sandbox: Sandbox) -> Any:
    return connection.hook.fetch_changed(
        object_name=sandbox.object_name,
        fields=[],
        cursor=None,
        page=None,
        page_size=sandbox.page_size,
    )


def _expect(
    connection: Connection,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    limit: float,
    fault: Fault,
    error_type: type[ConnectorError],
    rule: str,
) -> ConnectorError:
    optional(lambda: sandbox.inject(fault, hook="fetch_changed"))
    with no_sleeping(monkeypatch, limit, f"fetch_changed answering {fault!r}"):
        try:
            _direct_fetch(connection, sandbox)
        except error_type as error:
            return error
        except Exception as error:  # the wrong type is the finding
            broke(rule, f"raised {type(error).__name__}: {error}")
    broke(rule, "the call returned normally")


class FaultChecks(ContractBase):
    """Errors raised, never slept on; credentials never leaked."""

    def test_rate_limit_raises_without_sleeping(
        self,
        connection: Connection,
        sandbox: Sandbox,
        monkeypatch: pytest.MonkeyPatch,
        recorded_sleeps: list[float],
    ) -> None:
        requires(connection, Capability.FAULT_INJECTION)
        seed(sandbox, 1)
        error = _expect(
            connection,
            sandbox,
            monkeypatch,
            self.slow_call_seconds,
            "rate_limit",
            RateLimited,
            "a vendor rate limit raises RateLimited",
        )
        assert isinstance(error, RateLimited)
        check(
            error.retry_after > 0,
            "RateLimited carries the vendor's retry delay",
            f"retry_after={error.retry_after}",
        )
        optional(lambda: sandbox.inject("rate_limit", hook="fetch_changed"))
        connection.fetch_changed(
            sandbox.object_name, fields=[], cursor=None, page_size=sandbox.page_size
        )
        check(
            recorded_sleeps,
            "after RateLimited the framework waits and the call succeeds",
        )

    def test_server_error_raises_transient(
        self,
        connection: Connection,
        sandbox: Sandbox,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        requires(connection, Capability.FAULT_INJECTION)
        _expect(
            connection,
            sandbox,
            monkeypatch,
            self.slow_call_seconds,
            "transient",
            TransientError,
            "a vendor server error raises TransientError",
        )
        optional(lambda: sandbox.inject("transient", hook="fetch_changed"))
        connection.fetch_changed(
            sandbox.object_name, fields=[], cursor=None, page_size=sandbox.page_size
        )

    def test_expired_credentials_raise_and_recover(
        self,
        connection: Connection,
        sandbox: Sandbox,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        optional(sandbox.expire_credentials)
        with no_sleeping(
            monkeypatch, self.slow_call_seconds, "fetch_changed on expiry"
        ):
            try:
                _direct_fetch(connection, sandbox)
            except AuthenticationExpired:
                pass
            except Exception as error:
                broke(
                    "an expired credential raises AuthenticationExpired",
                    f"raised {type(error).__name__}: {error}",
                )
            else:
                broke(
                    "an expired credential raises AuthenticationExpired",
                    "the call worked",
                )
        connection.authenticate()
        _direct_fetch(connection, sandbox)  # works again after re-authentication
        optional(sandbox.expire_credentials)
        connection.fetch_changed(
            sandbox.object_name, fields=[], cursor=None, page_size=sandbox.page_size
        )

    def test_no_secret_in_errors_or_logs(
        self,
        connection: Connection,
        sandbox: Sandbox,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        secrets = [
            value.get_secret_value() for value in _secret_values(connection.settings)
        ]
        secrets = [secret for secret in secrets if len(secret) >= 4]
        if not secrets:
            pytest.skip("the sandbox's settings hold no SecretStr value to watch for")
        texts: list[str] = []
        caplog.set_level(logging.DEBUG)
        with structlog.testing.capture_logs() as events:
            for provoke in _provocations(connection, sandbox):
                try:
                    for result in provoke() or []:
                        if getattr(result, "error", None) is not None:
                            texts.append(f"{result.error.message} {result.error!r}")
                except Exception as error:
                    texts += [
                        str(error),
                        repr(error),
                        repr(getattr(error, "__dict__", {})),
                    ]
        texts += [repr(event) for event in events]
        texts += [record.getMessage() for record in caplog.records]
        leaks = [text for text in texts if any(secret in text for secret in secrets)]
        check(
            not leaks,
            "no secret appears in an error message or a log line",
            "\n".join(leaks[:5]),
        )


def _secret_values(model: Any) -> list[SecretStr]:
    found = []
    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            found.append(value)
    return found


def _provocations(connection: Connection, sandbox: Sandbox) -> list[Callable[[], Any]]:
    """Calls that make a connector produce errors: unknown object, bad values,
    faults."""
    hook = connection.hook
    calls: list[Callable[[], Any]] = [
        lambda: hook.list_fields(object_name="NoSuchObject__kit"),
        lambda: hook.fetch_changed(
            object_name="NoSuchObject__kit",
            fields=[],
            cursor=None,
            page=None,
            page_size=1,
        ),
        lambda: hook.push_updates(
            object_name=sandbox.object_name,
            requests=[
                WriteRequest(
                    ref="leak",
                    op="update",
                    record_id="NoSuchRecord__kit",
                    values={"NoSuchField__kit": "x"},
                )
            ],
        ),
    ]
    if Capability.FAULT_INJECTION in connection.description.capabilities:
        for fault in ("rate_limit", "transient", "expired", "permanent"):

            def provoke(fault: Fault = fault) -> Any:
                try:
                    sandbox.inject(fault, hook="fetch_changed")
                except Exception:
                    return None
                return _direct_fetch(connection, sandbox)

            calls.append(provoke)
    return calls
