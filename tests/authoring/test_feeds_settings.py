"""MonotonicCursor, results_in_order, page tokens, SecretFileSettings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from crmsync.authoring import (
    MonotonicCursor,
    SecretFileSettings,
    checked_page_token,
    keyset_after,
    past_cursor,
    results_in_order,
)
from crmsync.contract import Cursor, WriteRequest, WriteResult
from crmsync.errors import PermanentError

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_the_cursor_never_moves_backwards() -> None:
    start = Cursor(modified_at=T0, record_id="b", token="opaque")
    cursor = MonotonicCursor(start)
    cursor.advance(T0 - dt.timedelta(seconds=5), "z")
    assert cursor.cursor == start
    cursor.advance(T0 + dt.timedelta(seconds=1), "a")
    cursor.advance(T0, "c")
    assert cursor.cursor == Cursor(
        modified_at=T0 + dt.timedelta(seconds=1), record_id="a", token="opaque"
    )
    assert MonotonicCursor(None).cursor == Cursor()
    with pytest.raises(ValueError):
        cursor.advance(dt.datetime(2024, 1, 1), "x")


def test_keyset_positions() -> None:
    t1 = T0 + dt.timedelta(seconds=1)
    assert keyset_after(None) is None and keyset_after(Cursor(token="x")) is None
    assert keyset_after(Cursor(modified_at=T0, record_id="b")) == (T0, "b")
    after_b = Cursor(modified_at=T0, record_id="b")
    assert not past_cursor(after_b, T0, "a") and not past_cursor(after_b, T0, "b")
    assert past_cursor(after_b, T0, "c") and past_cursor(after_b, t1, "a")
    window = Cursor(modified_at=T0)  # an overlap re-read: inclusive
    assert past_cursor(window, T0, "a") and not past_cursor(window, T0 - (t1 - T0), "z")
    assert past_cursor(None, T0, "a")


def test_results_in_request_order_with_missing_ones() -> None:
    requests = [
        WriteRequest(ref="r1", op="update", record_id="1", values={}),
        WriteRequest(ref="r2", op="create", values={}),
        WriteRequest(ref="r3", op="update", record_id="3", values={}),
    ]
    answers = {
        "r3": WriteResult(ref="r3", ok=True, record_id="3"),
        "r1": WriteResult(ref="r1", ok=True, record_id="1"),
    }
    results = results_in_order(requests, answers)
    assert [r.ref for r in results] == ["r1", "r2", "r3"]
    assert results[1].error is not None and results[1].error.code == "NO_RESULT"
    assert results[1].error.retryable is False  # a create may have been made
    results = results_in_order(requests[:1], {})
    assert results[0].error is not None and results[0].error.retryable


def test_page_tokens() -> None:
    assert checked_page_token(
        "/services/data/v60.0/query/01g-2", prefixes=("/services/data/",)
    )
    for bad in (
        "/services/data/../../x",
        "https://evil.com/services/data/",
        "//evil.com/x",
    ):
        with pytest.raises(PermanentError):
            checked_page_token(bad, prefixes=("/services/data/",))


class AcmeSettings(SecretFileSettings):
    model_config = SettingsConfigDict(env_prefix="CRMSYNC_ACMETEST_")

    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None


def test_secrets_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("CRMSYNC_ACMETEST_CLIENT_SECRET_FILE", str(secret))
    settings = AcmeSettings()
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == "from-the-file"
    assert "from-the-file" not in repr(settings)
    direct = AcmeSettings(client_secret="given")
    assert (
        direct.client_secret is not None
        and direct.client_secret.get_secret_value() == "given"
    )
    monkeypatch.setenv("CRMSYNC_ACMETEST_CLIENT_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="client_secret_file: cannot read"):
        AcmeSettings()


class RequiredSecret(SecretFileSettings):
    model_config = SettingsConfigDict(env_prefix="CRMSYNC_ACMEREQ_")

    api_key: SecretStr
    api_key_file: Path | None = None


def test_a_required_secret_may_come_from_its_file(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("  k-123  \n")
    assert RequiredSecret(api_key_file=key).api_key.get_secret_value() == "k-123"
    with pytest.raises(ValidationError, match="api_key"):
        RequiredSecret()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValidationError, match="is empty"):
        RequiredSecret(api_key_file=empty)
