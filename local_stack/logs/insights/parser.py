"""Query text → :class:`Query`, a tuple of commands (a recursive descent parser over the tokens).

Expressions: precedence, lowest first: or, and, not, comparisons (and like, in), + -, * / %, ^,
unary - ("Boolean, comparison, numeric, datetime, and other functions",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-operations-functions.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from local_stack.logs.insights.commands import (
    Command,
    DedupCommand,
    DisplayCommand,
    FieldsCommand,
    FilterCommand,
    LimitCommand,
    ParseCommand,
    SortCommand,
    StatsCommand,
)
from local_stack.logs.insights.errors import QueryError, UnsupportedQuery
from local_stack.logs.insights.functions import AGGREGATES, SCALAR_FUNCTIONS
from local_stack.logs.insights.syntax import (
    Binary,
    Call,
    Column,
    Expression,
    Field,
    ListOf,
    Literal,
    Regex,
    Unary,
    aggregations,
)
from local_stack.logs.insights.tokens import Token, tokenize

if TYPE_CHECKING:
    from collections.abc import Callable


def _regex(source: str) -> re.Pattern[str]:
    # named groups are written (?<name>...) in Logs Insights ("parse", named capturing groups)
    try:
        return re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", source))
    except re.error as exc:
        raise QueryError(f"bad regular expression /{source}/: {exc}") from None


class _Parser:
    def __init__(self, tokens: list[Token], query: str) -> None:
        self.tokens = tokens
        self.query = query
        self.at = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.current
        return token.kind == "name" and token.text.lower() in words

    def op(self, *ops: str) -> bool:
        return self.current.kind == "op" and self.current.text in ops

    def expect_op(self, op: str) -> None:
        if not self.op(op):
            raise QueryError(
                f"expected {op!r} at {self.current.start}, found {self.current.text or 'the end'!r}"
            )
        self.take()

    def at_end(self) -> bool:
        return self.current.kind in ("pipe", "eof")

    def expression(self) -> Expression:
        left = self.conjunction()
        while self.keyword("or"):
            self.take()
            left = Binary("or", left, self.conjunction())
        return left

    def conjunction(self) -> Expression:
        left = self.negation()
        while self.keyword("and"):
            self.take()
            left = Binary("and", left, self.negation())
        return left

    def negation(self) -> Expression:
        if self.keyword("not"):
            self.take()
            return Unary("not", self.negation())
        return self.comparison()

    def comparison(self) -> Expression:
        left = self.additive()
        if self.op("=", "!=", "<", "<=", ">", ">=", "=~"):
            op = self.take().text
            return Binary("like" if op == "=~" else op, left, self.additive())
        negated = False
        if self.keyword("not") and self.tokens[self.at + 1].text.lower() in ("like", "in"):
            self.take()
            negated = True
        if self.keyword("like"):
            self.take()
            node: Expression = Binary("like", left, self.additive())
            return Unary("not", node) if negated else node
        if self.keyword("in"):
            self.take()
            node = Binary("in", left, self.additive())
            return Unary("not", node) if negated else node
        return left

    def additive(self) -> Expression:
        left = self.multiplicative()
        while self.op("+", "-"):
            op = self.take().text
            left = Binary(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Expression:
        left = self.power()
        while self.op("*", "/", "%"):
            op = self.take().text
            left = Binary(op, left, self.power())
        return left

    def power(self) -> Expression:
        base = self.unary()
        if self.op("^"):
            self.take()
            return Binary("^", base, self.power())
        return base

    def unary(self) -> Expression:
        if self.op("-"):
            self.take()
            return Unary("-", self.unary())
        return self.primary()

    def primary(self) -> Expression:  # noqa: PLR0911
        token = self.take()
        if token.kind in ("number", "duration", "string"):
            return Literal(token.value)
        if token.kind == "regex":
            return Regex(_regex(token.word))
        if token.kind == "op" and token.text == "(":
            inner = self.expression()
            self.expect_op(")")
            return inner
        if token.kind == "op" and token.text == "[":
            items = []
            while not self.op("]"):
                items.append(self.expression())
                if not self.op("]"):
                    self.expect_op(",")
            self.take()
            return ListOf(tuple(items))
        if token.kind == "name":
            if self.op("(") and token.text[0] != "`":
                return self.call(token)
            if token.text.lower() in ("true", "false"):
                return Literal(token.text.lower() == "true")
            return Field(token.word)
        raise QueryError(f"unexpected {token.text or 'end of query'!r} at {token.start}")

    def call(self, name: Token) -> Call:
        function = name.text.lower()
        if function == "percentile":  # pct's other name in the stats documentation
            function = "pct"
        if function not in SCALAR_FUNCTIONS and function not in AGGREGATES:
            raise UnsupportedQuery(f"the function {name.text!r}")
        self.expect_op("(")
        args: list[Expression] = []
        while not self.op(")"):
            if self.op("*") and function == "count":  # count(*)
                self.take()
                args.append(Literal("*"))
            else:
                args.append(self.expression())
            if not self.op(")"):
                self.expect_op(",")
        close = self.take()
        return Call(function, tuple(args), self.query[name.start : close.end])

    def name_list(self) -> list[str]:
        names = []
        while True:
            token = self.take()
            if token.kind != "name":
                raise QueryError(f"expected a field name at {token.start}, found {token.text or 'the end'!r}")
            names.append(token.word)
            if not self.op(","):
                return names
            self.take()

    def alias(self) -> str | None:
        if self.keyword("as"):
            self.take()
            token = self.take()
            if token.kind != "name":
                raise QueryError(f"expected a name after 'as' at {token.start}")
            return token.word
        return None

    def columns(self) -> list[Column]:
        columns = []
        while True:
            start = self.current.start
            expression = self.expression()
            end = self.tokens[self.at - 1].end
            alias = self.alias()
            if alias is None:
                alias = expression.name if isinstance(expression, Field) else self.query[start:end]
            columns.append(Column(alias, expression))
            if not self.op(","):
                return columns
            self.take()


# ----- one function per command: its syntax, in the command's documentation (see commands.py) ---
def _fields(parser: _Parser) -> Command:
    return FieldsCommand(tuple(parser.columns()))


def _filter(parser: _Parser) -> Command:
    return FilterCommand(parser.expression())


def _stats(parser: _Parser) -> Command:
    aggregates = parser.columns()
    groups: list[Column] = []
    if parser.keyword("by"):
        parser.take()
        groups = parser.columns()
    for column in aggregates:
        if not aggregations(column.expression):
            raise QueryError(f"stats: {column.name!r} is not an aggregation function")
    return StatsCommand(tuple(aggregates), tuple(groups))


def _sort(parser: _Parser) -> Command:
    keys = []
    while True:
        key = parser.expression()
        descending = False  # ascending unless desc is written (the sort documentation's examples)
        if parser.keyword("asc", "desc"):
            descending = parser.take().text.lower() == "desc"
        keys.append((key, descending))
        if not parser.op(","):
            break
        parser.take()
    return SortCommand(tuple(keys))


def _limit(parser: _Parser) -> Command:
    count = parser.take()
    if count.kind != "number" or not isinstance(count.value, int) or count.value < 1:
        raise QueryError("limit takes a whole number above 0")
    return LimitCommand(count.value)


def _dedup(parser: _Parser) -> Command:
    return DedupCommand(tuple(parser.name_list()))


def _display(parser: _Parser) -> Command:
    return DisplayCommand(tuple(parser.name_list()))


def _glob(pattern: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in pattern.split("*")]
    groups = len(parts) - 1
    body = parts[0]
    for n, part in enumerate(parts[1:], start=1):
        body += f"(?P<_g{n}>.*)" if n == groups and not part else f"(?P<_g{n}>.*?)"
        body += part
    return re.compile(body, re.DOTALL)


def _parse(parser: _Parser) -> Command:
    source = "@message"
    if parser.current.kind == "name":
        source = parser.take().word
    pattern = parser.take()
    if pattern.kind == "regex":
        compiled = _regex(pattern.word)
        names = tuple(compiled.groupindex)
        if not names:
            raise QueryError("parse: a regular expression needs named capturing groups (?<name>...)")
        if parser.keyword("as"):
            raise QueryError("parse: a regular expression names its fields itself: no 'as'")
        return ParseCommand(source, compiled, names)
    if pattern.kind != "string":
        raise QueryError("parse takes a 'glob with *' or a /regular expression/")
    if not parser.keyword("as"):
        raise QueryError("parse with a glob needs 'as' and a name for each *")
    parser.take()
    names = tuple(parser.name_list())
    glob = _glob(pattern.word)
    if len(names) != glob.groups:
        raise QueryError(f"parse: the glob has {glob.groups} * but 'as' names {len(names)} fields")
    return ParseCommand(source, glob, names)


_COMMANDS: dict[str, Callable[[_Parser], Command]] = {
    "fields": _fields,
    "filter": _filter,
    "stats": _stats,
    "sort": _sort,
    "limit": _limit,
    "dedup": _dedup,
    "display": _display,
    "parse": _parse,
}


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    commands: tuple[Command, ...]


def parse(query: str) -> Query:
    """The query's commands; raises :class:`QueryError` (or :class:`UnsupportedQuery`, naming what)."""
    parser = _Parser(tokenize(query), query)
    commands: list[Command] = []
    while parser.current.kind != "eof":
        if parser.current.kind == "pipe":
            parser.take()
            continue
        token = parser.take()
        command = _COMMANDS.get(token.text.lower() if token.kind == "name" else token.text)
        if command is None:
            raise UnsupportedQuery(f"the command {token.text!r}")
        commands.append(_checked(command(parser), parser, commands))
    if not commands:
        raise QueryError("the query is empty")
    return Query(query, tuple(commands))


def _checked(command: Command, parser: _Parser, before: list[Command]) -> Command:
    """The command, if it ends where it should and may follow the commands before it."""
    if not parser.at_end():
        raise QueryError(f"unexpected {parser.current.text!r} at {parser.current.start}")
    if before and isinstance(before[-1], DedupCommand) and not isinstance(command, LimitCommand):
        raise QueryError("only limit may follow dedup")
    after_stats = any(isinstance(c, StatsCommand) for c in before)
    if (
        not after_stats
        and not isinstance(command, StatsCommand)
        and any(aggregations(expression) for expression in command.expressions())
    ):
        raise QueryError("aggregation functions belong in stats")
    return command


def referenced_fields(query: str) -> set[str]:
    """The log fields a query reads: every field it names that is neither a system field (``@``)
    nor one the query itself made (``as`` names, ``parse`` names, stats columns)."""
    made: set[str] = set()
    read: set[str] = set()
    for command in parse(query).commands:
        read.update(name for name in command.reads() if name not in made and not name.startswith("@"))
        made.update(command.makes())
    return read
