"""The creation-filter language: comparisons joined by ``and`` / ``or``, grouped.

::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := atom ("and" atom)*
    atom       := "(" filter ")" | FIELD OP literal | FIELD "not_blank"
    OP         := ">=" | "<=" | "!=" | "==" | "=" | ">" | "<"
    literal    := 'quoted' | "quoted" | number | true | false | bare-word

``and`` binds tighter than ``or``. A bare word is a value without spaces, quotes,
parentheses or operator characters (``title != Eng``); anything else is quoted, with
``\\'`` and ``\\\\`` as escapes inside. Keywords are matched in any case. Text the
grammar does not cover is refused with where and why, never read some other way: before
this grammar, ``title!=Eng and score>=50`` was stored as ``title != "Eng and
score>=50"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crmsync.models import FieldFilter

__all__ = ["FilterSyntaxError", "parse_filter_expression"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<lparen>\()
    | (?P<rparen>\))
    | (?P<op>>=|<=|!=|==|=|>|<)
    | (?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<word>[^\s()<>=!'"]+)
    | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_FIELD = re.compile(r"^[A-Za-z_][\w.]*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class FilterSyntaxError(ValueError):
    """The text is not a filter; ``str()`` says where and what was expected."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    at: int  # 1-based column


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "bad"
        if kind == "space":
            continue
        if kind == "bad":
            raise FilterSyntaxError(
                f"unexpected {match.group()!r} at column {match.start() + 1}"
                + (" (an unclosed quote?)" if match.group() in "'\"" else "")
            )
        tokens.append(_Token(kind, match.group(), match.start() + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError("the filter ends too early")
        self.position += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.position += 1
            return True
        return False

    def parse(self) -> FieldFilter:
        if not self.tokens:
            raise FilterSyntaxError("the filter is empty")
        result = self.or_expr()
        token = self.peek()
        if token is not None:
            raise FilterSyntaxError(
                f"unexpected {token.text!r} at column {token.at}; join conditions "
                "with 'and' or 'or', and quote values that contain spaces"
            )
        return result

    def or_expr(self) -> FieldFilter:
        terms = [self.and_expr()]
        while self.keyword("or"):
            terms.append(self.and_expr())
        return _join("or", terms)

    def and_expr(self) -> FieldFilter:
        terms = [self.atom()]
        while self.keyword("and"):
            terms.append(self.atom())
        return _join("and", terms)

    def atom(self) -> FieldFilter:
        token = self.take()
        if token.kind == "lparen":
            inner = self.or_expr()
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise FilterSyntaxError(f"the '(' at column {token.at} is never closed")
            self.position += 1
            return inner
        if (
            token.kind != "word"
            or not _FIELD.match(token.text)
            or token.text.lower() in ("and", "or")
        ):
            raise FilterSyntaxError(
                f"expected a field name at column {token.at}, found {token.text!r}"
            )
        field = token.text
        if self.keyword("not_blank"):
            return FieldFilter(field=field, op="not_blank")
        if self.keyword("is"):
            if not (self.keyword("not") and self.keyword("blank")):
                raise FilterSyntaxError(f"after '{field} is' expected 'not blank'")
            return FieldFilter(field=field, op="not_blank")
        if self.keyword("not"):
            if not self.keyword("blank"):
                raise FilterSyntaxError(f"after '{field} not' expected 'blank'")
            return FieldFilter(field=field, op="not_blank")
        operator = self.peek()
        if operator is None or operator.kind != "op":
            where = f"at column {operator.at}" if operator else "at the end"
            raise FilterSyntaxError(
                f"expected an operator (>= <= > < == !=) after {field!r} {where}"
            )
        self.position += 1
        value = self.peek()
        if value is None or value.kind not in ("word", "quoted"):
            found = f"{value.text!r} at column {value.at}" if value else "the end"
            raise FilterSyntaxError(
                f"expected a value after '{field} {operator.text}', found {found}"
            )
        self.position += 1
        op = "==" if operator.text == "=" else operator.text
        return FieldFilter(field=field, op=op, value=_literal(value))


def _join(op: str, terms: list[FieldFilter]) -> FieldFilter:
    if len(terms) == 1:
        return terms[0]
    flat: list[FieldFilter] = []
    for term in terms:  # a and (b and c) is a and b and c
        flat.extend(term.terms if term.op == op else (term,))
    return FieldFilter(op=op, terms=tuple(flat))


def _literal(token: _Token) -> Any:
    if token.kind == "quoted":
        return re.sub(r"\\(.)", r"\1", token.text[1:-1], flags=re.DOTALL)
    lowered = token.text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _NUMBER.match(token.text):
        number = float(token.text)
        return int(token.text) if re.fullmatch(r"[+-]?\d+", token.text) else number
    return token.text


def parse_filter_expression(text: str) -> FieldFilter:
    """Read a creation filter such as ``title != 'Eng' and score >= 50``.

    :raises FilterSyntaxError: the text is not in the grammar (the message says where).
    """
    return _Parser(text).parse()
