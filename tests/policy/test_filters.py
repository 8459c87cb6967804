"""The creation-filter language: what it reads, refuses, and how it evaluates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.models import FieldFilter
from crmsync.policy import passes_filter
from crmsync.policy.filters import FilterSyntaxError, parse_filter_expression


def leaf(field, op, value=None):
    return FieldFilter(field=field, op=op, value=value)


def test_the_misread_filter_is_two_conditions_now():
    parsed = parse_filter_expression("title!=Eng and score>=50")
    assert parsed == FieldFilter(
        op="and", terms=(leaf("title", "!=", "Eng"), leaf("score", ">=", 50))
    )
    assert not passes_filter(parsed, {"title": "Eng", "score": 90})
    assert not passes_filter(parsed, {"title": "CEO", "score": 10})
    assert passes_filter(parsed, {"title": "CEO", "score": 90})


def test_and_binds_tighter_than_or_and_parentheses_group():
    assert parse_filter_expression("a==1 or b==2 and c==3") == FieldFilter(
        op="or",
        terms=(
            leaf("a", "==", 1),
            FieldFilter(op="and", terms=(leaf("b", "==", 2), leaf("c", "==", 3))),
        ),
    )
    grouped = parse_filter_expression("(a==1 or b==2) AND c==3")
    assert grouped.op == "and" and grouped.terms[0].op == "or"
    assert passes_filter(grouped, {"b": 2, "c": 3})
    assert not passes_filter(grouped, {"b": 2, "c": 4})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x == 50", 50),
        ("x == -2.5", -2.5),
        ("x == true", True),
        ("x == '50'", "50"),
        ('x == "it\'s"', "it's"),
        ("x == 'a \\' b'", "a ' b"),
        ("x == 'Eng and score>=50'", "Eng and score>=50"),
        ("x = word", "word"),
    ],
)
def test_literals_are_typed(text, value):
    parsed = parse_filter_expression(text)
    assert parsed.value == value and type(parsed.value) is type(value)


@pytest.mark.parametrize(
    "text", ["email not_blank", "email is not blank", "email NOT BLANK"]
)
def test_not_blank_spellings(text):
    assert parse_filter_expression(text) == leaf("email", "not_blank")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("score>>", "expected a value"),
        ("score=>5", "expected a value"),
        ("title != Eng Lead", "unexpected 'Lead' at column 14"),
        ("(a==1 or b==2", "never closed"),
        ("a==1 and", "ends too early"),
        ("a==1 b==2", "unexpected 'b'"),
        ("== 3", "expected a field name"),
        ("score", "expected an operator"),
        ("x == 'open", "unclosed quote"),
        ("a==1 or or b==2", "expected a field name"),
    ],
)
def test_anything_outside_the_grammar_is_refused_with_where(text, says):
    with pytest.raises(FilterSyntaxError, match=says.replace("(", r"\(")):
        parse_filter_expression(text)


def test_the_model_refuses_malformed_trees():
    with pytest.raises(ValueError):
        FieldFilter(op="and", terms=(leaf("a", "==", 1),))
    with pytest.raises(ValueError):
        FieldFilter(op="==", value=1)


names = st.sampled_from(["score", "title", "country", "a.b"])
values = st.one_of(
    st.integers(-1000, 1000),
    st.booleans(),
    st.text(alphabet="ab 'c\\\"=<>()", max_size=8),
)
leaves = st.builds(
    leaf, names, st.sampled_from(["==", "!=", ">", ">=", "<", "<="]), values
) | st.builds(lambda f: leaf(f, "not_blank"), names)
filters = st.recursive(
    leaves,
    lambda children: st.builds(
        lambda op, terms: FieldFilter(op=op, terms=tuple(terms)),
        st.sampled_from(["and", "or"]),
        st.lists(children, min_size=2, max_size=3),
    ),
    max_leaves=6,
)


def _flatten(node: FieldFilter) -> FieldFilter:
    if not node.terms:
        return node
    flat: list[FieldFilter] = []
    for term in (_flatten(t) for t in node.terms):
        flat.extend(term.terms if term.op == node.op else (term,))
    return FieldFilter(op=node.op, terms=tuple(flat))


@given(filters)
def test_a_rendered_filter_parses_back_to_itself(node):
    assert parse_filter_expression(str(node)) == _flatten(node)
    assert node.fields() == list(dict.fromkeys(x.field for x in node.leaves()))
