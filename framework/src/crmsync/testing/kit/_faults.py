"""Checks of failure translation: rate limits, server errors, expired sessions, secrets.

The connector's job is to *raise* the framework's error types; the framework owns every
wait and retry. So these checks call the hook directly (``connection.hook``), bypassing
the retry loop, with ``time.sleep`` replaced by a recorder and a stopwatch running: a
connector that sleeps or retries on its own is caught either way. Then the same fault
goes through the framework, to show the connector recovers once the call is repeated.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from pydantic import BaseModel, SecretBytes, SecretStr

from crmsync.contract import Capability, FieldSpec, WriteRequest
from crmsync.errors import (
    AuthenticationExpired,
    AuthenticationFailed,
    ConnectorError,
    RateLimited,
    TransientError,
)
from crmsync.plugins import Connection
from crmsync.testing.kit._base import (
    ContractBase,
    broke,
    check,
    find_text_field,
    optional,
    requires,
    seed,
    text_field,
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


def _direct_push(
    connection: Connection, sandbox: Sandbox, requests: list[WriteRequest]
) -> Any:
    return connection.hook.push_updates(
        object_name=sandbox.object_name, requests=requests
    )


def _harmless_update(sandbox: Sandbox, spec: FieldSpec) -> list[WriteRequest]:
    """A valid update of a freshly seeded record: one vendor call, safe to repeat."""
    (record_id,) = seed(sandbox, 1)
    return [
        WriteRequest(
            ref="fault-1",
            op="update",
            record_id=record_id,
            values={spec.name: "Written by the kit"},
        )
    ]


def _expect(
    connection: Connection,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    limit: float,
    fault: Fault,
    error_type: type[ConnectorError],
    rule: str,
    *,
    hook: str = "fetch_changed",
    call: Callable[[], Any] | None = None,
) -> ConnectorError:
    """Inject ``fault`` on ``hook``, make the direct call, and return the error it
    raised: of ``error_type``, without sleeping, without a secret or token in it."""
    optional(lambda: sandbox.inject(fault, hook=hook))
    watch = Watch(connection)
    caught: ConnectorError | None = None
    with no_sleeping(monkeypatch, limit, f"{hook} answering {fault!r}"):
        try:
            (call or (lambda: _direct_fetch(connection, sandbox)))()
        except error_type as error:
            caught = error
        except Exception as error:  # the wrong type is the finding
            broke(rule, f"raised {type(error).__name__}: {error}")
    if caught is None:
        broke(rule, "the call returned normally")
    watch.check_errors([caught])
    return caught


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
            error.retry_after is None or error.retry_after > 0,
            "RateLimited carries the vendor's retry delay (or None: the framework "
            "backs off)",
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

    def test_push_rate_limit_raises_without_sleeping(
        self,
        connection: Connection,
        sandbox: Sandbox,
        specs: list[FieldSpec],
        monkeypatch: pytest.MonkeyPatch,
        recorded_sleeps: list[float],
    ) -> None:
        requires(connection, Capability.FAULT_INJECTION)
        batch = _harmless_update(sandbox, text_field(specs, sandbox))
        error = _expect(
            connection,
            sandbox,
            monkeypatch,
            self.slow_call_seconds,
            "rate_limit",
            RateLimited,
            "a vendor rate limit on push_updates raises RateLimited",
            hook="push_updates",
            call=lambda: _direct_push(connection, sandbox, batch),
        )
        assert isinstance(error, RateLimited)
        check(
            error.retry_after is None or error.retry_after > 0,
            "RateLimited carries the vendor's retry delay (or None: the framework "
            "backs off)",
            f"retry_after={error.retry_after}",
        )
        optional(lambda: sandbox.inject("rate_limit", hook="push_updates"))
        results = connection.push_updates(sandbox.object_name, batch)
        check(
            recorded_sleeps and all(r.ok for r in results),
            "after RateLimited the framework waits and the call succeeds",
            f"waits {recorded_sleeps}, results {results}",
        )

    def test_push_server_error_raises_transient(
        self,
        connection: Connection,
        sandbox: Sandbox,
        specs: list[FieldSpec],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        requires(connection, Capability.FAULT_INJECTION)
        batch = _harmless_update(sandbox, text_field(specs, sandbox))
        _expect(
            connection,
            sandbox,
            monkeypatch,
            self.slow_call_seconds,
            "transient",
            TransientError,
            "a vendor server error on push_updates raises TransientError",
            hook="push_updates",
            call=lambda: _direct_push(connection, sandbox, batch),
        )
        optional(lambda: sandbox.inject("transient", hook="push_updates"))
        results = connection.push_updates(sandbox.object_name, batch)
        check(
            all(r.ok for r in results),
            "after TransientError the framework repeats the call and it succeeds",
            f"{results}",
        )

    def test_refused_credentials_raise_authentication_failed(
        self,
        connection: Connection,
        sandbox: Sandbox,
        monkeypatch: pytest.MonkeyPatch,
        recorded_sleeps: list[float],
    ) -> None:
        refuse = getattr(sandbox, "refuse_credentials", None)
        if refuse is None:
            pytest.skip("sandbox: it has no refuse_credentials()")
        optional(refuse)
        rule = "wrong or revoked credentials raise AuthenticationFailed"
        watch = Watch(connection)
        caught: AuthenticationFailed | None = None
        with no_sleeping(monkeypatch, self.slow_call_seconds, "refused authenticate"):
            try:
                connection.hook.authenticate()
            except AuthenticationFailed as error:
                caught = error
            except Exception as error:
                broke(rule, f"raised {type(error).__name__}: {error}")
        if caught is None:
            broke(rule, "authenticate returned normally")
        watch.check_errors([caught])
        with pytest.raises(AuthenticationFailed):
            connection.authenticate()
        check(
            not recorded_sleeps,
            "AuthenticationFailed is never retried",
            f"the framework waited {recorded_sleeps}",
        )

    def test_expired_credentials_raise_and_recover(
        self,
        connection: Connection,
        sandbox: Sandbox,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        optional(sandbox.expire_credentials)
        watch = Watch(connection)
        with no_sleeping(
            monkeypatch, self.slow_call_seconds, "fetch_changed on expiry"
        ):
            try:
                _direct_fetch(connection, sandbox)
            except AuthenticationExpired as error:
                watch.check_errors([error])
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
        watch = Watch(connection)
        errors: list[BaseException] = []
        record_errors: list[str] = []
        caplog.set_level(logging.DEBUG)
        with structlog.testing.capture_logs() as events:
            for provoke in _provocations(connection, sandbox):
                try:
                    for result in provoke() or []:
                        if getattr(result, "error", None) is not None:
                            record_errors.append(
                                f"{result.error.message} {result.error!r}"
                            )
                except Exception as error:
                    errors.append(error)
                    if isinstance(error, AuthenticationExpired):
                        _reauthenticate(connection)
                watch.refresh()
        watch.check_errors(errors, record_errors)
        logs = [repr(event) for event in events]
        logs += [record.getMessage() for record in caplog.records]
        leaks = [text for text in logs if watch.secret_in(text)]
        check(
            not leaks,
            "no secret appears in an error message or a log line",
            "\n".join(leaks[:5]),
        )


# A credential in an authorization header or a token parameter quoted in a message
# (the value holds a digit: "Bearer authentication failed" is prose, not a token).
_TOKEN_TEXT = re.compile(
    r"(?i)(\b(bearer|basic)\s+|\b(access|refresh|id|session)_?token[\"']?\s*[=:]\s*"
    r"[\"']?)(?=[^\s\"']*\d)[A-Za-z0-9._~+/=!-]{4,}"
)
# Names under which a connector keeps its session (``self._token``,
# ``self._session.access_token``); their string values are watched for.
_TOKEN_NAME = re.compile(
    r"(?i)token|secret|passw|api_?key|private_?key|access_?key|session|credential"
    r"|cookie|authorization"
)
_MIN_TOKEN = 4


class Watch:
    """What must never appear in an error: the settings' secrets (``SecretStr`` at any
    depth), the connector's session tokens, and any bearer token or token parameter."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.secrets = {s for s in _secret_values(connection.settings) if len(s) >= 4}
        self.tokens: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        """Remember the tokens the connector holds now (after each authentication)."""
        settings = self.connection.settings
        plain = {
            str(getattr(settings, name, None)) for name in type(settings).model_fields
        }
        self.tokens |= _held_tokens(self.connection.instance) - self.secrets - plain

    def secret_in(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def token_in(self, text: str) -> bool:
        return any(token in text for token in self.tokens) or bool(
            _TOKEN_TEXT.search(text)
        )

    def check_errors(
        self, errors: Sequence[BaseException], record_errors: Sequence[str] = ()
    ) -> None:
        texts = [text for error in errors for text in _error_texts(error)]
        texts += list(record_errors)
        secrets = [text for text in texts if self.secret_in(text)]
        check(
            not secrets,
            "no secret appears in an error message or a log line",
            "\n".join(secrets[:5]),
        )
        tokens = [text for text in texts if self.token_in(text)]
        check(
            not tokens,
            "no bearer or session token appears in an error message",
            "\n".join(tokens[:5]),
        )


def _error_texts(error: BaseException) -> list[str]:
    """What a traceback or a log line would show of ``error`` and its causes."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [
            str(current),
            repr(current),
            repr(getattr(current, "__dict__", {})),
        ]
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return texts


def _secret_values(value: Any, depth: int = 0) -> list[str]:
    """Every ``SecretStr``/``SecretBytes`` value in a settings model, nested models and
    collections included."""
    if depth > 4:
        return []
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, SecretBytes):
        return [value.get_secret_value().decode(errors="replace")]
    if isinstance(value, BaseModel):
        return [
            found
            for name in type(value).model_fields
            for found in _secret_values(getattr(value, name, None), depth + 1)
        ]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return [found for item in value for found in _secret_values(item, depth + 1)]
    return []


def _held_tokens(holder: Any, depth: int = 0) -> set[str]:
    """Strings the connector keeps under a credential-like name (an attribute, or a
    mapping key such as a client's ``Authorization`` header), up to three levels deep.
    Only token-like ones count: with a digit, so a name such as ``"default"`` does not.
    """
    if isinstance(holder, Mapping):
        attributes = {str(k): v for k, v in itertools.islice(holder.items(), 100)}
    else:
        try:
            attributes = dict(vars(holder))
        except TypeError:
            slots = getattr(type(holder), "__slots__", ())
            attributes = {n: getattr(holder, n) for n in slots if hasattr(holder, n)}
    found: set[str] = set()
    for name, value in attributes.items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            token = value.removeprefix("Bearer ").strip()
            if (
                _TOKEN_NAME.search(name)
                and len(token) >= _MIN_TOKEN
                and any(c.isdigit() for c in token)
            ):
                found.add(token)
        elif depth < 2 and not isinstance(
            value, BaseModel | type | int | float | bytes | list | tuple | set
        ):
            found |= _held_tokens(value, depth + 1)
    return found


def _reauthenticate(connection: Connection) -> None:
    with contextlib.suppress(Exception):  # the next provocation reports a failure
        connection.hook.authenticate()


def _provocations(connection: Connection, sandbox: Sandbox) -> list[Callable[[], Any]]:
    """Calls that make a connector produce errors: unknown object, bad values, faults
    on reads and writes, and (last) refused credentials."""
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
        spec = find_text_field(connection.list_fields(sandbox.object_name), sandbox)
        batch = _harmless_update(sandbox, spec) if spec is not None else None
        for fault in ("rate_limit", "transient", "permanent", "expired"):

            def fetch(fault: Fault = fault) -> Any:
                try:
                    sandbox.inject(fault, hook="fetch_changed")
                except Exception:
                    return None
                return _direct_fetch(connection, sandbox)

            calls.append(fetch)
            if batch is None:
                continue

            def push(fault: Fault = fault, batch: list[WriteRequest] = batch) -> Any:
                try:
                    sandbox.inject(fault, hook="push_updates")
                except Exception:
                    return None
                return _direct_push(connection, sandbox, batch)

            calls.append(push)
    refuse = getattr(sandbox, "refuse_credentials", None)
    if refuse is not None:

        def refused() -> Any:
            try:
                refuse()
            except Exception:
                return None
            return hook.authenticate()

        calls.append(refused)
    return calls
