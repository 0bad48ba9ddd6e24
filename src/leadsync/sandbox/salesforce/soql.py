"""SOQL tokenizer and recursive-descent parser for the subset leadsync and admins use.

Grammar (keywords case-insensitive)::

    query     := SELECT (COUNT '(' ')' | field (',' field)*) FROM name
                 [WHERE or_expr] [ORDER BY order (',' order)*] [LIMIT int] [OFFSET int]
    or_expr   := and_expr (OR and_expr)*        -- AND and OR never mix without parentheses, as in SOQL
    and_expr  := unary (AND unary)*
    unary     := NOT unary | '(' or_expr ')' | field op value | field [NOT] IN '(' value, ... ')'
                 | field [NOT] IN '(' SELECT field FROM name [WHERE or_expr] ')'      -- semi-/anti-join
                 | field LIKE string
    value     := string | number | true | false | null | datetime | date | DATE_LITERAL[:n]

Semi-joins (``IN``) and anti-joins (``NOT IN``) follow the real API's rules: at most two per query, only
in the outer query (no nesting), never under ``OR`` or ``NOT``; the sub-select names exactly one field
and takes no ORDER BY, LIMIT or OFFSET. Whether both fields are id or reference fields is checked when
names are bound (:mod:`soql_eval`).

The parser knows nothing about objects or fields; :mod:`soql_eval` binds names and types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KEYWORDS = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
    "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "COUNT",
})
COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?\d+(?:\.\d+)?(?![\w.]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
  | (?P<quote>')
""", re.VERBOSE)


class SoqlError(Exception):
    """A query the real API rejects; ``code`` is its errorCode (MALFORMED_QUERY, INVALID_FIELD, ...)."""

    def __init__(self, code: str, detail: str, query: str = "", column: int | None = None) -> None:
        self.code = code
        self.detail = detail
        if column is not None:
            shown = query.replace("\n", " ")
            message = f"\n{shown}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{detail}"
        else:
            message = detail
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str  # ident, keyword, string, number, datetime, date, op, punct, eof
    text: str
    column: int
    value: Any = None
    like_regex: str | None = None  # strings only: the LIKE pattern with \% and \_ kept literal
    like_escape: bool = False  # strings only: used \% or \_, which SOQL allows in LIKE alone


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        match = _TOKEN_RE.match(query, position)
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{query[position]}'", query, position + 1)
        kind = match.lastgroup or ""
        column = position + 1
        if kind == "quote":
            token, position = _string(query, position)
            tokens.append(token)
            continue
        text = match.group()
        position = match.end()
        if kind == "ws":
            continue
        if kind == "ident" and text.upper() in KEYWORDS:
            tokens.append(Token("keyword", text.upper(), column))
        elif kind == "number":
            tokens.append(Token("number", text, column, float(text)))
        else:
            tokens.append(Token(kind, text, column))
    tokens.append(Token("eof", "", len(query) + 1))
    return tokens


def _string(query: str, start: int) -> tuple[Token, int]:
    """Read a quoted literal at ``start``; returns the token and the position after the closing quote."""
    value: list[str] = []
    like: list[str] = []
    like_escape = False
    position = start + 1
    while position < len(query):
        char = query[position]
        if char == "'":
            token = Token("string", query[start:position + 1], start + 1, "".join(value), "".join(like),
                          like_escape)
            return token, position + 1
        if char == "\\":
            escaped = query[position + 1:position + 2]
            if escaped in ("%", "_"):
                value.append(escaped)
                like.append(re.escape(escaped))
                like_escape = True
            elif escaped.lower() in _ESCAPES:
                decoded = _ESCAPES[escaped.lower()]
                value.append(decoded)
                like.append(re.escape(decoded))
            else:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal '{query[start:position + 2]}'. "
                                f"Illegal character sequence '\\{escaped}' in string literal.", query, position + 1)
            position += 2
            continue
        value.append(char)
        like.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        position += 1
    raise SoqlError("MALFORMED_QUERY", "unterminated string literal", query, start + 1)


# ----- syntax tree -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldRef:
    path: tuple[str, ...]
    column: int

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, boolean, null, datetime, date, relative
    value: Any
    token: Token


@dataclass(frozen=True)
class Compare:
    field: FieldRef
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    field: FieldRef
    negated: bool
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class SemiJoin:
    """``field [NOT] IN (SELECT one_field FROM object [WHERE ...])``."""

    field: FieldRef
    negated: bool
    subquery: Query


@dataclass(frozen=True)
class Like:
    field: FieldRef
    pattern: Token


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND, OR
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Compare | InList | SemiJoin | Like | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    text: str
    sobject: str
    sobject_column: int
    fields: list[FieldRef] = field(default_factory=list)
    count_only: bool = False
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.current
        shown = token.text if token.kind != "eof" else "<EOF>"
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{shown}'", self.text, token.column)

    def accept(self, keyword: str) -> bool:
        if self.current.kind == "keyword" and self.current.text == keyword:
            self.advance()
            return True
        return False

    def expect(self, keyword: str) -> None:
        if not self.accept(keyword):
            raise self.unexpected()

    def expect_punct(self, char: str) -> None:
        if self.current.kind != "punct" or self.current.text != char:
            raise self.unexpected()
        self.advance()

    def field_ref(self) -> FieldRef:
        token = self.current
        if token.kind != "ident":
            raise self.unexpected()
        self.advance()
        return FieldRef(tuple(token.text.split(".")), token.column)

    def parse(self) -> Query:
        query = self.select(sub=False)
        if self.current.kind != "eof":
            raise self.unexpected()
        _check_semi_joins(query)
        return query

    def select(self, *, sub: bool) -> Query:
        start = self.current
        self.expect("SELECT")
        fields: list[FieldRef] = []
        count_only = False
        if self.current.kind == "keyword" and self.current.text == "COUNT":
            self.advance()
            self.expect_punct("(")
            self.expect_punct(")")
            count_only = True
        else:
            fields.append(self.field_ref())
            while self.current.kind == "punct" and self.current.text == ",":
                self.advance()
                fields.append(self.field_ref())
        self.expect("FROM")
        sobject = self.current
        if sobject.kind != "ident" or "." in sobject.text:
            raise self.unexpected()
        self.advance()
        query = Query(self.text, sobject.text, sobject.column, fields, count_only)
        if self.accept("WHERE"):
            query.where = self.or_expr()
        if sub:
            if count_only or len(fields) != 1:
                raise SoqlError("MALFORMED_QUERY", "a semi join sub-select names exactly one field", self.text,
                                start.column)
            if self.current.kind == "keyword" and self.current.text in ("ORDER", "LIMIT", "OFFSET"):
                raise SoqlError("MALFORMED_QUERY", f"{self.current.text} is not allowed in a semi join sub-select",
                                self.text, self.current.column)
            return query
        if self.accept("ORDER"):
            self.expect("BY")
            query.order_by.append(self.order_item())
            while self.current.kind == "punct" and self.current.text == ",":
                self.advance()
                query.order_by.append(self.order_item())
        if self.accept("LIMIT"):
            query.limit = self.integer()
        if self.accept("OFFSET"):
            query.offset = self.integer()
        return query

    def integer(self) -> int:
        token = self.current
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(token.text)

    def order_item(self) -> OrderItem:
        ref = self.field_ref()
        descending = False
        if self.accept("DESC"):
            descending = True
        else:
            self.accept("ASC")
        nulls_first = not descending
        if self.accept("NULLS"):
            if self.accept("FIRST"):
                nulls_first = True
            else:
                self.expect("LAST")
                nulls_first = False
        return OrderItem(ref, descending, nulls_first)

    def or_expr(self) -> Condition:
        return self._chain("OR", "AND", self.and_expr)

    def and_expr(self) -> Condition:
        return self._chain("AND", "OR", self.unary)

    def _chain(self, op: str, other: str, operand: Any) -> Condition:
        items = [operand()]
        while self.accept(op):
            items.append(operand())
        if len(items) > 1 and self.current.kind == "keyword" and self.current.text == other:
            # SOQL refuses `a AND b OR c`: mixing needs parentheses.
            raise self.unexpected()
        return items[0] if len(items) == 1 else BoolOp(op, tuple(items))

    def unary(self) -> Condition:
        if self.accept("NOT"):
            return Not(self.unary())
        if self.current.kind == "punct" and self.current.text == "(":
            self.advance()
            inner = self.or_expr()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        ref = self.field_ref()
        token = self.current
        if token.kind == "op":
            self.advance()
            return Compare(ref, "!=" if token.text == "<>" else token.text, self.literal())
        if self.accept("LIKE"):
            pattern = self.current
            if pattern.kind != "string":
                raise self.unexpected()
            self.advance()
            return Like(ref, pattern)
        negated = self.accept("NOT")
        if self.accept("IN"):
            self.expect_punct("(")
            if self.current.kind == "keyword" and self.current.text == "SELECT":
                subquery = self.select(sub=True)
                self.expect_punct(")")
                return SemiJoin(ref, negated, subquery)
            values = [self.literal()]
            while self.current.kind == "punct" and self.current.text == ",":
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return InList(ref, negated, tuple(values))
        raise self.unexpected()

    def literal(self) -> Literal:
        token = self.advance()
        if token.kind == "string":
            if token.like_escape:
                raise SoqlError("MALFORMED_QUERY", "\\% and \\_ are only valid in a LIKE expression",
                                self.text, token.column)
            return Literal("string", token.value, token)
        if token.kind == "number":
            return Literal("number", token.value, token)
        if token.kind in ("datetime", "date"):
            return Literal(token.kind, token.text, token)
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE"):
            return Literal("boolean", token.text == "TRUE", token)
        if token.kind == "keyword" and token.text == "NULL":
            return Literal("null", None, token)
        if token.kind == "ident" and "." not in token.text:
            return self.relative_date(token)
        raise self.unexpected(token)

    def relative_date(self, token: Token) -> Literal:
        name = token.text.upper()
        amount: int | None = None
        if self.current.kind == "punct" and self.current.text == ":":
            self.advance()
            amount = self.integer()
        return Literal("relative", (name, amount), token)


def _semi_joins(condition: Condition | None, query: Query, *, under: str | None = None) -> list[SemiJoin]:
    """The semi-joins of a WHERE tree, refusing those the API refuses (under OR or NOT, or nested)."""
    if condition is None:
        return []
    if isinstance(condition, SemiJoin):
        if under is not None:
            raise SoqlError("MALFORMED_QUERY", f"Semi join sub-selects are not allowed with the '{under}' operator",
                            query.text, condition.field.column)
        if _semi_joins(condition.subquery.where, query):
            raise SoqlError("MALFORMED_QUERY", "Nesting of semi join sub-selects is not supported", query.text,
                            condition.subquery.sobject_column)
        return [condition]
    if isinstance(condition, BoolOp):
        return [j for item in condition.items
                for j in _semi_joins(item, query, under=under or ("OR" if condition.op == "OR" else None))]
    if isinstance(condition, Not):
        return _semi_joins(condition.item, query, under="NOT")
    return []


def _check_semi_joins(query: Query) -> None:
    joins = _semi_joins(query.where, query)
    if len(joins) > 2:
        raise SoqlError("MALFORMED_QUERY", "Maximum of 2 semi join sub-selects are allowed", query.text,
                        joins[2].field.column)


def parse(text: str) -> Query:
    return _Parser(text).parse()
