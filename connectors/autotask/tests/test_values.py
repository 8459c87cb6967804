"""Wire values: Autotask's datetime forms and the cursor's known-id baseline."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync_autotask._baseline import Baseline
from crmsync_autotask._values import format_datetime, parse_datetime

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-02T14:05:51.273Z", dt.datetime(2025, 3, 2, 14, 5, 51, 273000, tzinfo=UTC)),
        ("2016-03-30T13:10:35.563", dt.datetime(2016, 3, 30, 13, 10, 35, 563000, tzinfo=UTC)),
        ("2018-11-13T17:32:34", dt.datetime(2018, 11, 13, 17, 32, 34, tzinfo=UTC)),
        ("2024-05-01T12:00:00.1234567Z", dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01T07:00:00-0500", dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-01", dt.datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_every_datetime_form_autotask_writes(text: str, expected: dt.datetime) -> None:
    assert parse_datetime(text) == expected


def test_filter_values_are_utc_with_z() -> None:
    moment = dt.datetime(2024, 5, 1, 14, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_datetime(moment) == "2024-05-01T12:00:00.000005Z"
    with pytest.raises(ValueError, match="not an Autotask datetime"):
        parse_datetime("yesterday")


@given(st.frozensets(st.integers(min_value=0, max_value=2**40)), st.integers(0, 2**33))
def test_the_baseline_survives_its_token(ids: frozenset[int], when: int) -> None:
    token = Baseline(ids, float(when)).encode()
    assert Baseline.decode(token) == Baseline(ids, float(when))


def test_a_foreign_or_broken_token_starts_afresh() -> None:
    assert Baseline.decode(None) is None
    assert Baseline.decode("dynamics-delta-link") is None
    assert Baseline.decode("at1:12:%%%not-base64") is None


def test_sequential_ids_cost_about_a_byte_each() -> None:
    ids = frozenset(range(30_684_100, 30_784_100))  # 100,000 contacts
    assert len(Baseline(ids, 0).encode()) < 2_000  # sequential ids compress to almost nothing
    spread = frozenset(range(30_684_100, 31_684_100, 10))
    assert len(Baseline(spread, 0).encode()) < 150_000
