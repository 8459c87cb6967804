"""Blanks, conversion and comparison after conversion."""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.contract import FieldType as T
from crmsync.models import (
    CreationMode,
    CreationRule,
    Direction,
    FieldFilter,
    Mapping,
    Side,
)
from crmsync.policy import (
    ConversionError,
    can_convert,
    convert,
    creation_values,
    is_blank,
    normalize,
    should_create,
)


@pytest.mark.parametrize("value", [None, "", "  \t", [], ["", " "]])
def test_blank(value):
    assert is_blank(value)


@pytest.mark.parametrize("value", ["x", 0, False, ["a"], dt.date(2026, 1, 1)])
def test_not_blank(value):
    assert not is_blank(value)


def test_a_text_42_equals_a_number_42():
    assert normalize(convert("42", T.STRING, T.NUMBER), T.NUMBER) == normalize(
        42, T.NUMBER
    )
    assert normalize("42.50", T.NUMBER) == normalize(42.5, T.NUMBER)


def test_datetimes_at_the_same_instant_are_equal():
    utc = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    paris = dt.datetime(2026, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert normalize(utc, T.DATETIME) == normalize(paris, T.DATETIME)
    assert normalize("2026-05-01T12:00:00.000+0000", T.DATETIME) == normalize(
        utc, T.DATETIME
    )
    assert normalize("2026-05-01T12:00:00Z", T.DATETIME) == normalize(utc, T.DATETIME)


def test_multiselect_order_and_format_do_not_matter():
    assert normalize("Email;Webinar", T.MULTIPICKLIST) == normalize(
        ["Webinar", "Email"], T.MULTIPICKLIST
    )


def test_email_compares_trimmed_and_case_insensitively():
    assert normalize(" Ann@Example.com", T.EMAIL) == normalize(
        "ann@example.com", T.EMAIL
    )


def test_booleans_from_text():
    assert convert("yes", T.STRING, T.BOOLEAN) is True
    assert convert("0", T.STRING, T.BOOLEAN) is False
    with pytest.raises(ConversionError):
        convert("maybe", T.STRING, T.BOOLEAN)


def test_numbers_refuse_garbage_and_fractions_into_integers():
    with pytest.raises(ConversionError):
        convert("abc", T.STRING, T.NUMBER)
    with pytest.raises(ConversionError):
        convert(3.5, T.NUMBER, T.INTEGER)
    assert convert("3.0", T.STRING, T.INTEGER) == 3


def test_type_combinations():
    assert can_convert(T.STRING, T.NUMBER)
    assert can_convert(T.DATE, T.DATETIME)
    assert not can_convert(T.BOOLEAN, T.DATE)
    assert not can_convert(T.NUMBER, T.BOOLEAN)


def test_a_bad_value_never_equals_a_good_one_and_never_raises():
    assert normalize("abc", T.NUMBER) != normalize(0, T.NUMBER)


MAPPINGS = [
    Mapping(platform_field="last_name", crm_field="LastName", direction=Direction.SYNC),
    Mapping(
        platform_field="company",
        crm_field="Company",
        direction=Direction.TO_CRM,
        default="Unknown",
    ),
    Mapping(
        platform_field="rating", crm_field="Rating", direction=Direction.TO_PLATFORM
    ),
    Mapping(
        platform_field="score",
        crm_field="Score__c",
        direction=Direction.TO_CRM,
        platform_type=T.INTEGER,
        crm_type=T.STRING,
    ),
]


def test_creation_uses_defaults_for_blank_required_fields_and_only_flowing_mappings():
    values = creation_values(
        MAPPINGS,
        {"last_name": "Ng", "company": "", "rating": "Hot", "score": 7},
        Side.CRM,
    )
    assert values == {"LastName": "Ng", "Company": "Unknown", "Score__c": "7"}


def test_creation_filters():
    rule = CreationRule(
        mode=CreationMode.FILTER, filter=FieldFilter(field="score", op=">=", value=50)
    )
    assert should_create(rule, {"score": 75})
    assert should_create(rule, {"score": "50"})
    assert not should_create(rule, {"score": 10})
    assert not should_create(rule, {"score": None})
    assert not should_create(CreationRule(), {"score": 99})
    assert should_create(CreationRule(mode=CreationMode.ALL), {})
