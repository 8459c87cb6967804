"""Each important check of the kit FAILS against a connector that breaks its rule.

A contract kit that passes a broken connector is worse than none (Airbyte #22380,
Singer's uniqueness check that could never fail). Every case below is the memory
connector with one deliberate flaw, run through the kit in a throwaway project with
``pytester``; the case asserts that the named check fails and that its message names the
rule.
"""

from __future__ import annotations

import textwrap

import pytest

HEADER = """
import datetime as dt
import time

import pytest

from crmsync.contract import Cursor, hookimpl
from crmsync.errors import (
    AuthenticationFailed,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from crmsync.testing import ConnectorContract, MemorySandbox
from crmsync.testing.memory import MemoryConnector
"""

FOOTER = """
class TestBroken(ConnectorContract):
    connector_id = "memory"
    connector_class = Broken
    require_entry_point = False

    @pytest.fixture
    def sandbox(self):
        return MemorySandbox()
"""

CASES = {
    "drops_a_record_at_page_boundary": (
        "test_full_fetch_returns_each_record_once",
        "a full fetch returns every record exactly once",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def fetch_changed(self, object_name, fields, cursor, page, page_size):
                result = super().fetch_changed(
                    object_name, fields, cursor, page, page_size)
                if page is not None and result.records:  # loses a record per page
                    result = result.model_copy(update={"records": result.records[1:]})
                return result
        """,
    ),
    "cursor_goes_backwards": (
        "test_cursors_never_go_backwards",
        "a page's cursor is never before the cursor passed in nor before its own last",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def fetch_changed(self, object_name, fields, cursor, page, page_size):
                result = super().fetch_changed(
                    object_name, fields, cursor, page, page_size)
                if result.records:  # the position of the page's FIRST record
                    first = result.records[0]
                    at = Cursor(
                        modified_at=first.modified_at, record_id=first.record_id)
                    result = result.model_copy(update={"cursor": at})
                return result
        """,
    ),
    "ignores_record_id_in_cursor": (
        "test_ties_across_a_page_boundary",
        "resuming from a cursor inside a group of tied records",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def fetch_changed(self, object_name, fields, cursor, page, page_size):
                if cursor is not None and cursor.modified_at and page is None:
                    later = cursor.modified_at + dt.timedelta(microseconds=1)
                    cursor = Cursor(modified_at=later)  # "after this time": loses ties
                return super().fetch_changed(
                    object_name, fields, cursor, page, page_size)
        """,
    ),
    "reorders_write_results": (
        "test_push_creates_and_updates_in_input_order",
        "push_updates answers record by record, in the order of the requests",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                results = super().push_updates(object_name, requests)
                return sorted(results, key=lambda r: r.ref)
        """,
    ),
    "one_bad_record_fails_the_batch": (
        "test_bad_value_fails_only_its_record",
        "one bad record never fails the others",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                results = super().push_updates(object_name, requests)
                failed = next((r for r in results if not r.ok), None)
                if failed is None:
                    return results
                return [r.model_copy(update={"ok": False, "error": failed.error})
                        for r in results]
        """,
    ),
    "silently_drops_read_only_fields": (
        "test_read_only_field_is_refused",
        "a write to a read-only field is refused, never silently dropped",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                specs = {s.name: s for s in self.backend.objects[object_name]}
                kept = [r.model_copy(update={"values": {
                    k: v for k, v in r.values.items() if not specs[k].read_only}})
                    for r in requests]
                return super().push_updates(object_name, kept)
        """,
    ),
    "sleeps_on_rate_limit": (
        "test_rate_limit_raises_without_sleeping",
        "a connector never sleeps: it raises and the framework waits",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def fetch_changed(self, object_name, fields, cursor, page, page_size):
                try:
                    return super().fetch_changed(
                        object_name, fields, cursor, page, page_size)
                except RateLimited as error:
                    time.sleep(error.retry_after)
                    return super().fetch_changed(
                        object_name, fields, cursor, page, page_size)
        """,
    ),
    "leaks_its_secret": (
        "test_no_secret_in_errors_or_logs",
        "no secret appears in an error message or a log line",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def list_fields(self, object_name):
                if object_name not in self.backend.objects:
                    key = self.settings.api_key.get_secret_value()
                    raise PermanentError(f"no object {object_name} for key {key}",
                                         code="UNKNOWN_OBJECT")
                return super().list_fields(object_name)
        """,
    ),
    "push_sleeps_on_rate_limit": (
        "test_push_rate_limit_raises_without_sleeping",
        "a connector never sleeps: it raises and the framework waits",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                for attempt in range(5):
                    try:
                        return super().push_updates(object_name, requests)
                    except (TransientError, RateLimited) as error:
                        time.sleep(getattr(error, "retry_after", 2**attempt))
                raise TransientError("gave up")
        """,
    ),
    "push_retries_server_errors_itself": (
        "test_push_server_error_raises_transient",
        "a vendor server error on push_updates raises TransientError",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                try:
                    return super().push_updates(object_name, requests)
                except TransientError:  # retried at once, without a word
                    return super().push_updates(object_name, requests)
        """,
    ),
    "leaks_its_secret_from_push": (
        "test_no_secret_in_errors_or_logs",
        "no secret appears in an error message or a log line",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                try:
                    return super().push_updates(object_name, requests)
                except ConnectorError as error:
                    key = self.settings.api_key.get_secret_value()
                    raise TransientError(f"POST /batch?key={key}: {error}") from None
        """,
    ),
    "leaks_its_secret_when_refused": (
        "test_refused_credentials_raise_authentication_failed",
        "no secret appears in an error message or a log line",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def authenticate(self):
                try:
                    super().authenticate()
                except AuthenticationFailed:
                    key = self.settings.api_key.get_secret_value()
                    raise AuthenticationFailed(f"key {key} refused") from None
        """,
    ),
    "refused_credentials_raise_the_wrong_error": (
        "test_refused_credentials_raise_authentication_failed",
        "wrong or revoked credentials raise AuthenticationFailed",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def authenticate(self):
                try:
                    super().authenticate()
                except AuthenticationFailed:
                    raise PermanentError("login refused", code="LOGIN") from None
        """,
    ),
    "leaks_its_session_token": (
        "test_no_secret_in_errors_or_logs",
        "no bearer or session token appears in an error message",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def authenticate(self):
                super().authenticate()
                self._session_token = "sess-4f1b2c9d"

            @hookimpl
            def fetch_changed(self, object_name, fields, cursor, page, page_size):
                try:
                    return super().fetch_changed(
                        object_name, fields, cursor, page, page_size)
                except ConnectorError as error:
                    error.message += f" (session {self._session_token})"
                    raise
        """,
    ),
    "leaks_its_authorization_header": (
        "test_server_error_raises_transient",
        "no bearer or session token appears in an error message",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def fetch_changed(self, object_name, fields, cursor, page, page_size):
                try:
                    return super().fetch_changed(
                        object_name, fields, cursor, page, page_size)
                except ConnectorError as error:
                    error.message += " (Authorization: Bearer 00D5e!AQ4b7x9)"
                    raise
        """,
    ),
    "swaps_the_ids_of_creates": (
        "test_push_creates_and_updates_in_input_order",
        "a create's result carries the id of the record it created",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                results = super().push_updates(object_name, requests)
                creates = [i for i, r in enumerate(requests)
                           if r.op == "create" and results[i].ok]
                ids = [results[i].record_id for i in creates][::-1]
                for i, record_id in zip(creates, ids):  # answers paired wrongly
                    results[i] = results[i].model_copy(update={"record_id": record_id})
                return results
        """,
    ),
    "silently_drops_unknown_fields": (
        "test_unknown_field_is_refused",
        "an unknown field is a per-record error, never silently dropped",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def push_updates(self, object_name, requests):
                known = {s.name for s in self.backend.objects[object_name]}
                kept = [r.model_copy(update={"values": {
                    k: v for k, v in r.values.items() if k in known}})
                    for r in requests]
                return super().push_updates(object_name, kept)
        """,
    ),
    "wrong_contract_version": (
        "test_contract_version_is_supported",
        "the connector declares a contract version this crmsync speaks",
        """
        class Broken(MemoryConnector):
            @staticmethod
            @hookimpl
            def describe_connector():
                described = MemoryConnector.describe_connector()
                return described.model_copy(update={"contract_version": "2.0"})
        """,
    ),
    "answers_live_records_as_missing": (
        "test_missing_records_answers_deleted_and_not_live",
        "missing_records never answers a record that exists",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def missing_records(self, object_name, record_ids):
                return list(record_ids)  # "everything is gone": every link would go
        """,
    ),
    "misses_a_deleted_record": (
        "test_missing_records_answers_deleted_and_not_live",
        "missing_records answers a deleted record as missing",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def missing_records(self, object_name, record_ids):
                return []  # a check that can only say "all present"
        """,
    ),
    "misses_a_purged_record": (
        "test_missing_records_answers_purged",
        "missing_records answers a deleted and purged record as missing",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def missing_records(self, object_name, record_ids):
                rows = self.backend.rows.get(object_name, {})
                # Asks the recycle bin only: a purged record is not in it.
                return [i for i in record_ids if i in rows and rows[i].deleted]
        """,
    ),
    "hook_signature_differs": (
        "test_hooks_match_hookspecs",
        "hooks have the hookspecs' names and arguments",
        """
        class Broken(MemoryConnector):
            @hookimpl
            def fetch_changed(self, object_name, fields, cursor, page):  # no page_size
                return super().fetch_changed(object_name, fields, cursor, page, 2)
        """,
    ),
}


# The inner runs need neither the cache nor hypothesis (whose plugin re-imports it
# into every in-process run, seconds each).
INNER = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


@pytest.mark.parametrize("case", sorted(CASES))
def test_kit_fails_a_broken_connector(pytester: pytest.Pytester, case: str) -> None:
    check, rule, connector = CASES[case]
    source = HEADER + textwrap.dedent(connector) + FOOTER
    pytester.makepyfile(**{f"test_{case}": source})
    result = pytester.runpytest_inprocess(*INNER, "-k", check)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, result.stdout.str()
    result.stdout.fnmatch_lines([f"*contract rule broken: {rule}*"])


def test_describe_connector_not_a_staticmethod_fails_once(
    pytester: pytest.Pytester,
) -> None:
    """The whole kit against a plain-method ``describe_connector``: one check fails
    naming the rule; the others, which need the description, are skipped (not errors
    in fixture setup)."""
    connector = """
    class Broken(MemoryConnector):
        @hookimpl
        def describe_connector(self):
            return MemoryConnector.describe_connector()
    """
    source = HEADER + textwrap.dedent(connector) + FOOTER
    pytester.makepyfile(test_not_static=source)
    result = pytester.runpytest_inprocess(*INNER, "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, result.stdout.str()
    assert not outcomes.get("errors") and not outcomes.get("error"), result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*test_hooks_match_hookspecs*",
            "*contract rule broken: hooks have the hookspecs' names and arguments*",
            "*describe_connector: must be a staticmethod*",
        ]
    )


def test_the_unbroken_memory_connector_passes_those_checks(
    pytester: pytest.Pytester,
) -> None:
    """The control: the same project with the real connector passes every selected
    check."""
    source = HEADER + "\nclass Broken(MemoryConnector):\n    pass\n" + FOOTER
    pytester.makepyfile(test_control=source)
    checks = sorted({check for check, _, _ in CASES.values()})
    result = pytester.runpytest_inprocess(*INNER, "-k", " or ".join(checks))
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, (
        result.stdout.str()
    )
    assert outcomes.get("passed", 0) >= len(checks) - 1
