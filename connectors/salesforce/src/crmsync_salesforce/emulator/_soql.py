"""A real (small) SOQL parser and evaluator for the subset a sync connector uses.

Grammar::

    query     := SELECT field (',' field)* FROM object [WHERE expr]
                 [ORDER BY key (',' key)*] [LIMIT integer]
    expr      := term (AND term)* | term (OR term)*      -- mixing needs parentheses, as in SOQL
    term      := NOT term | '(' expr ')' | field op value | field [NOT] IN '(' value, ... ')'
    op        := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
    value     := 'quoted string' | number | datetime | date | TRUE | FALSE | NULL
    key       := field [ASC | DESC] [NULLS FIRST | NULLS LAST]

Anything outside it is refused with ``MALFORMED_QUERY`` rather than guessed at; values are
checked against the field's type the way Salesforce does (a quoted datetime is an error).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from crmsync_salesforce.emulator._ids import is_valid_id, to_18
from crmsync_salesforce.emulator._schema import SCHEMAS, FieldDef, ObjectSchema

__all__ = ["Query", "SoqlError", "parse", "wire_to_python"]

Record = Mapping[str, Any]


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is its errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "_": "\\_",
    "%": "\\%",
}
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "TRUE",
    "FALSE",
    "NULL",
}
_STRINGY = {
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "combobox",
    "id",
    "reference",
}
_NUMERIC = {"int", "double", "currency", "percent", "long"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    column: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _malformed(text, pos, f"no viable alternative at character '{text[pos]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(_Tok("eof", "<EOF>", len(text) + 1))
    return tokens


def _malformed(text: str, pos: int, why: str) -> SoqlError:
    return SoqlError(
        "MALFORMED_QUERY",
        f"\n{text}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{why}",
    )


MAX_STRING_LITERAL = 4_000  # per string in a WHERE clause (fact sheet, section 7)


def _unquote(token: _Tok) -> str:
    body = token.text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    f"Invalid string literal {token.text!r}. "
                    "Illegal character sequence '\\" + nxt + "' in string literal.",
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(char)
            i += 1
    text = "".join(out)
    if len(text) > MAX_STRING_LITERAL:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"String literal of {len(text)} characters is too long: a string in a WHERE "
            f"clause may hold at most {MAX_STRING_LITERAL} characters",
        )
    return text


def parse_datetime(text: str) -> dt.datetime:
    """A SOQL/REST datetime (``Z``, ``+hh:mm`` or ``+hhmm``) as an aware UTC datetime."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    value = dt.datetime.fromisoformat(text)
    return value.astimezone(dt.UTC)


def wire_to_python(item: FieldDef, value: Any) -> Any:
    """A stored (wire format) value as a comparable Python value."""
    if value is None:
        return None
    if item.type == "datetime":
        return parse_datetime(value)
    if item.type == "date":
        return dt.date.fromisoformat(value)
    return value


def _fold(item: FieldDef, value: Any) -> Any:
    """Salesforce compares text case-insensitively; ids are compared in their 18-char form."""
    if isinstance(value, str) and item.type in _STRINGY and item.type not in {"id", "reference"}:
        return value.lower()
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return bool(left == right)
    if op in {"!=", "<>"}:
        return bool(left != right)
    if left is None or right is None:
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


Predicate = Callable[[Record], bool]


def _set_email_keys(predicate: Predicate, keys: frozenset[str] | None) -> None:
    """Record the Email values a predicate can accept, for the emulator's Email index (a
    real org indexes Email on leads and contacts, so a match-key lookup does not scan)."""
    if keys is not None:
        predicate.email_keys = keys  # type: ignore[attr-defined]


def email_key(value: Any) -> str:
    """An Email value as the emulator's index keeps it (coarser than SOQL's comparison,
    so the index can only find too much, which the filter then drops)."""
    return str(value).strip().lower()


def _sort_key(item: FieldDef) -> Callable[[Record], Any]:
    def key(record: Record) -> Any:
        return _fold(item, wire_to_python(item, record.get(item.name)))

    return key


# A lower bound on ``(SystemModstamp, Id)``: every record a predicate accepts comes after
# it in that order. ``""`` as the id admits the whole second; _AFTER_EVERY_ID none of it.
StampBound = tuple[dt.datetime, str]
_AFTER_EVERY_ID = "\U0010ffff"


def _set_bound(predicate: Predicate, bound: StampBound | None) -> None:
    """Record where in ``(SystemModstamp, Id)`` order a predicate's records start, for the
    emulator's index. A real org answers a change feed's keyset filter
    (``SystemModstamp > t OR (SystemModstamp = t AND Id > x)``) from its SystemModstamp
    index: the cost is what comes after the cursor, not every record sharing its second."""
    if bound is not None:
        predicate.stamp_bound = bound  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OrderKey:
    field: FieldDef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    """A parsed query, ready to run over stored records (field names in canonical case)."""

    schema: ObjectSchema
    fields: tuple[FieldDef, ...]
    where: Predicate | None
    order: tuple[OrderKey, ...]
    limit: int | None

    @property
    def stamp_bound(self) -> StampBound | None:
        """Where in ``(SystemModstamp, Id)`` order matching records start, when the filter
        says."""
        bound: StampBound | None = getattr(self.where, "stamp_bound", None)
        return bound

    @property
    def id_keys(self) -> frozenset[str] | None:
        """The Ids a matching record must have one of, when the filter says."""
        keys: frozenset[str] | None = getattr(self.where, "id_keys", None)
        return keys

    @property
    def email_keys(self) -> frozenset[str] | None:
        """The Email values a matching record must have one of, when the filter says."""
        keys: frozenset[str] | None = getattr(self.where, "email_keys", None)
        return keys

    def run(self, records: Iterable[Record]) -> list[Record]:
        rows = [r for r in records if self.where is None or self.where(r)]
        for key in reversed(self.order):
            present = [r for r in rows if r.get(key.field.name) is not None]
            absent = [r for r in rows if r.get(key.field.name) is None]
            present.sort(key=_sort_key(key.field), reverse=key.descending)
            rows = present + absent if key.nulls_last else absent + present
        if self.limit is not None:
            rows = rows[: self.limit]
        return rows


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.schema: ObjectSchema | None = None

    # -- token helpers -------------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.tokens[self.pos]

    def take(self) -> _Tok:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def error(self, token: _Tok, why: str | None = None) -> SoqlError:
        return _malformed(self.text, token.column - 1, why or f"unexpected token: '{token.text}'")

    def keyword(self, word: str) -> bool:
        if self.peek().upper == word:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.error(self.peek())

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise self.error(token)

    def ident(self) -> _Tok:
        token = self.take()
        if token.kind != "ident" or token.upper in _KEYWORDS:
            raise self.error(token)
        return token

    # -- grammar -------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        names = [self.ident()]
        if self.peek().text == "(":
            raise self.error(self.peek(), "functions and subqueries are not supported here")
        while self.peek().text == ",":
            self.take()
            names.append(self.ident())
        self.expect_keyword("FROM")
        obj = self.ident()
        schema = SCHEMAS.get(obj.text.lower())
        if schema is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"\n{self.text}\n{' ' * (obj.column - 1)}^\n"
                f"ERROR at Row:1:Column:{obj.column}\nsObject type '{obj.text}' "
                "is not supported. If you are attempting to use a custom object, be "
                "sure to append the '__c' after the entity name.",
            )
        self.schema = schema
        fields: list[FieldDef] = []
        for token in names:
            item = self.field(token)
            if item in fields:
                raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {item.name}")
            fields.append(item)
        where = None
        if self.keyword("WHERE"):
            where = self.expr()
        order: list[OrderKey] = []
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            order.append(self.order_key())
            while self.peek().text == ",":
                self.take()
                order.append(self.order_key())
        limit = None
        if self.keyword("LIMIT"):
            token = self.take()
            if token.kind != "number" or not token.text.isdigit():
                raise self.error(token)
            limit = int(token.text)
        if self.peek().kind != "eof":
            raise self.error(self.peek())
        return Query(schema, tuple(fields), where, tuple(order), limit)

    def field(self, token: _Tok) -> FieldDef:
        assert self.schema is not None
        item = self.schema.get(token.text)
        if item is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"\n{self.text}\n{' ' * (token.column - 1)}^\n"
                f"ERROR at Row:1:Column:{token.column}\nNo such column "
                f"'{token.text}' on entity '{self.schema.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' "
                "after the custom field name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            )
        return item

    def order_key(self) -> OrderKey:
        item = self.field(self.ident())
        if item.type in {"textarea", "multipicklist"}:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{item.name}' can not be sorted in a query call",
            )
        descending = False
        if self.keyword("DESC"):
            descending = True
        else:
            self.keyword("ASC")
        nulls_last = descending
        if self.keyword("NULLS"):
            if self.keyword("LAST"):
                nulls_last = True
            else:
                self.expect_keyword("FIRST")
                nulls_last = False
        return OrderKey(item, descending, nulls_last)

    def expr(self) -> Predicate:
        parts = [self.term()]
        joiner = ""
        while self.peek().upper in {"AND", "OR"}:
            word = self.take()
            if joiner and word.upper != joiner:
                raise self.error(
                    word,
                    f"unexpected token: '{word.text}' (use parentheses when mixing AND and OR)",
                )
            joiner = word.upper
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        bounds = [getattr(part, "stamp_bound", None) for part in parts]
        emails = [getattr(part, "email_keys", None) for part in parts]
        ids = [getattr(part, "id_keys", None) for part in parts]
        if joiner == "AND":

            def conjunction(r: Record) -> bool:
                return all(p(r) for p in parts)

            known = [bound for bound in bounds if bound is not None]
            # SystemModstamp = t AND Id > x: the records of second t after x.
            equal = [getattr(part, "stamp_equals", None) for part in parts]
            after = [getattr(part, "id_after", None) for part in parts]
            for moment in (m for m in equal if m is not None):
                known += [(moment, record_id) for record_id in after if record_id is not None]
            _set_bound(conjunction, max(known) if known else None)
            keys = [found for found in emails if found is not None]
            _set_email_keys(conjunction, frozenset.intersection(*keys) if keys else None)
            id_sets = [found for found in ids if found is not None]
            if id_sets:
                conjunction.id_keys = frozenset.intersection(*id_sets)  # type: ignore[attr-defined]
            return conjunction

        def disjunction(r: Record) -> bool:
            return any(p(r) for p in parts)

        if all(bound is not None for bound in bounds):
            _set_bound(disjunction, min(bounds))  # type: ignore[type-var]
        return disjunction

    def term(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.term()
            return lambda r: not inner(r)
        if self.peek().text == "(":
            self.take()
            inner = self.expr()
            self.expect(")")
            return inner
        item = self.field(self.ident())
        if item.type == "textarea":
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{item.name}' can not be filtered in a query call",
            )
        negate = self.keyword("NOT")
        if negate or self.peek().upper == "IN":
            self.expect_keyword("IN")
            self.expect("(")
            values = [self.value(item)]
            while self.peek().text == ",":
                self.take()
                values.append(self.value(item))
            self.expect(")")
            wanted = {_fold(item, v) for v in values}

            def member(r: Record) -> bool:
                found = _fold(item, wire_to_python(item, r.get(item.name))) in wanted
                return found != negate

            if item.name == "Email" and not negate and None not in values:
                _set_email_keys(member, frozenset(email_key(v) for v in values))
            if item.name == "Id" and not negate and None not in values:
                # A lookup by id (missing_records): answered from the primary key.
                member.id_keys = frozenset(str(v) for v in values)  # type: ignore[attr-defined]
            return member
        token = self.take()
        if token.kind != "op":
            raise self.error(token)
        op = token.text
        value = self.value(item)
        if value is None and op not in {"=", "!=", "<>"}:
            raise self.error(token, "null can only be compared with = or !=")
        folded = _fold(item, value)

        def comparison(r: Record) -> bool:
            return _compare(op, _fold(item, wire_to_python(item, r.get(item.name))), folded)

        if item.name == "SystemModstamp" and op in {">", ">=", "="} and value is not None:
            _set_bound(comparison, (value, _AFTER_EVERY_ID if op == ">" else ""))
            if op == "=":
                comparison.stamp_equals = value  # type: ignore[attr-defined]
        if item.name == "Id" and op == ">" and value is not None:
            comparison.id_after = value  # type: ignore[attr-defined]
        if item.name == "Email" and op == "=" and value is not None:
            _set_email_keys(comparison, frozenset({email_key(value)}))
        return comparison

    def value(self, item: FieldDef) -> Any:
        token = self.take()
        word = token.upper
        if word == "NULL":
            return None
        kind = item.type

        def wrong(expected: str, quoted: bool) -> SoqlError:
            how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            return SoqlError(
                "INVALID_FIELD",
                f"\n{self.text}\n{' ' * (token.column - 1)}^\n"
                f"ERROR at Row:1:Column:{token.column}\nvalue of filter criterion "
                f"for field '{item.name}' must be of type {expected} and {how}",
            )

        if kind == "datetime":
            if token.kind != "datetime":
                if token.kind in {"string", "date", "number"} or word in {
                    "TRUE",
                    "FALSE",
                }:
                    raise wrong("dateTime", False)
                raise self.error(token)
            return parse_datetime(token.text)
        if kind == "date":
            if token.kind != "date":
                if token.kind in {"string", "datetime", "number"}:
                    raise wrong("date", False)
                raise self.error(token)
            return dt.date.fromisoformat(token.text)
        if kind == "boolean":
            if word not in {"TRUE", "FALSE"}:
                if token.kind in {"string", "number"}:
                    raise wrong("boolean", False)
                raise self.error(token)
            return word == "TRUE"
        if kind in _NUMERIC:
            if token.kind != "number":
                if token.kind in {"string", "date", "datetime"}:
                    raise wrong("double" if kind != "int" else "int", False)
                raise self.error(token)
            number = float(token.text)
            return int(number) if number.is_integer() else number
        if token.kind != "string":
            if token.kind in {"number", "date", "datetime"} or word in {
                "TRUE",
                "FALSE",
            }:
                raise wrong("string", True)
            raise self.error(token)
        text = _unquote(token)
        if kind in {"id", "reference"}:
            if not is_valid_id(text):
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
            return to_18(text)
        return text


def parse(text: str) -> Query:
    """Parse ``text``; raises :class:`SoqlError` with Salesforce's errorCode when refused."""
    if len(text) > 100_000:
        raise SoqlError("MALFORMED_QUERY", "Query is too long: more than 100000 characters")
    return _Parser(text).query()
