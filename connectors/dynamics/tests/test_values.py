"""Wire <-> canonical values, column by column type."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from crmsync_dynamics._values import Attribute, WireProblem, from_wire, to_wire

CHOICE = Attribute(
    "leadsourcecode", "PicklistType", "Lead Source", options=((8, "Web"), (7, "Trade Show"))
)
MULTI = Attribute(
    "hobbies", "MultiSelectPicklistType", "Hobbies", options=((1, "Golf"), (2, "Chess"))
)
WHEN = Attribute("lastcontacted", "DateTimeType", "Last contacted")
MONEY = Attribute("revenue", "MoneyType", "Revenue")
TEXT = Attribute("lastname", "StringType", "Last Name", max_length=5)
LOOKUP = Attribute("parentcontactid", "LookupType", "Contact", targets=("contact",))
STATUS = Attribute("statuscode", "StatusType", "Status Reason", options=((1, "New"),))


def test_choices_travel_as_values_and_read_as_labels():
    assert to_wire("web", CHOICE) == 8 and to_wire(" Trade Show ", CHOICE) == 7
    assert to_wire(8, CHOICE) == 8 and to_wire("8", CHOICE) == 8
    assert from_wire(7, CHOICE) == "Trade Show"
    assert from_wire(99, CHOICE) == "99"  # a value added after the metadata was read
    with pytest.raises(WireProblem) as problem:
        to_wire("Fax", CHOICE)
    assert problem.value.code == "0x8004431A"


def test_multi_select_is_a_comma_list():
    assert to_wire(["Chess", "Golf"], MULTI) == "2,1"
    assert from_wire("1,2", MULTI) == ["Golf", "Chess"]


def test_datetimes_are_utc_whole_seconds_and_dates_stay_dates():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert to_wire(dt.datetime(2024, 5, 1, 14, 30, 15, 999, tzinfo=plus_two), WHEN) == (
        "2024-05-01T12:30:15Z"
    )
    assert from_wire("2024-05-01T12:30:15Z", WHEN) == dt.datetime(
        2024, 5, 1, 12, 30, 15, tzinfo=dt.UTC
    )
    assert from_wire("2024-02-29", WHEN) == dt.date(2024, 2, 29)
    with pytest.raises(WireProblem):
        to_wire(dt.datetime(2024, 5, 1), WHEN)  # naive


def test_money_and_text_limits_and_lookups():
    assert from_wire(20000.0, MONEY) == decimal.Decimal("20000.0")
    assert to_wire(decimal.Decimal("12.50"), MONEY) == 12.5
    with pytest.raises(WireProblem) as problem:
        to_wire("toolong", TEXT)
    assert problem.value.code == "0x80044331"
    assert to_wire("9A1C7E60-2B4F-EF11-A4E6-000D3A1B2C3D", LOOKUP) == (
        "9a1c7e60-2b4f-ef11-a4e6-000d3a1b2c3d"
    )
    assert LOOKUP.bind_set == "contacts" and LOOKUP.wire_name == "_parentcontactid_value"
    with pytest.raises(WireProblem):
        to_wire(None, STATUS)
