"""A CloudWatch Logs Insights query engine for the part of the query language the template uses.

Read from the Logs Insights documentation ("CloudWatch Logs Insights language query syntax",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html): commands are
separated by ``|``, ``#`` starts a comment. Supported commands: ``fields``, ``filter``, ``stats``,
``sort``, ``limit``, ``dedup``, ``display``, ``parse``; each command's rules are cited beside it
below. Any other command or function is refused by name (:class:`UnsupportedQuery`), never
ignored. Fields are discovered as Logs Insights discovers them in JSON log events (nested names
joined with dots), beside the system fields ``@timestamp``, ``@message``, ``@ingestionTime``,
``@logStream`` and ``@log``.

:func:`run` answers a query over :class:`LogEvent` values; :func:`referenced_fields` names the log
fields a query reads (what the template's contract test checks against the lines the code writes).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator


class QueryError(ValueError):
    """The query cannot be parsed (AWS answers ``MalformedQueryException``)."""


class UnsupportedQuery(QueryError):
    """The query uses a command or function this engine does not implement: named in the message."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not supported by the local stack's Logs Insights: {what}")


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp: int  # epoch milliseconds
    message: str
    log_group: str
    log_stream: str
    ingestion_time: int = 0
    account: str = "123456789012"
    event_id: str = ""


class Timestamp(int):
    """Epoch milliseconds that are shown as a date (``@timestamp``, ``bin()``, ``earliest`` ...)."""

    __slots__ = ()

    def shown(self) -> str:
        return datetime.fromtimestamp(self / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# ----- counters the cost meter reads -------------------------------------------------------------
class ScanCounter:
    """Bytes scanned by queries (Logs Insights bills per GB scanned: "Amazon CloudWatch Pricing",
    Logs, Analyze (Logs Insights queries)); :data:`SCANNED` is the process's own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.queries = 0

    def add(self, scanned: int) -> None:
        with self._lock:
            self.bytes += scanned
            self.queries += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"bytesScanned": self.bytes, "queries": self.queries}


SCANNED = ScanCounter()


# ----- tokens ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name, string, number, duration, regex, op, pipe, eof
    text: str
    start: int
    end: int
    value: Any = None


_DURATION_UNITS = {
    # "stats", bin(): the time units and abbreviations, with a plural s allowed for the longer ones
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Stats.html)
    **dict.fromkeys(("ms", "msec", "millisecond"), 1),
    **dict.fromkeys(("s", "sec", "second"), 1000),
    **dict.fromkeys(("m", "min", "minute"), 60_000),
    **dict.fromkeys(("h", "hr", "hour"), 3_600_000),
    **dict.fromkeys(("d", "day"), 86_400_000),
    **dict.fromkeys(("w", "week"), 7 * 86_400_000),
}
# months, quarters and years are calendar units: refused by name (``bin(1mo)``)
_CALENDAR_UNITS = ("mo", "mon", "month", "q", "qtr", "quarter", "y", "yr", "year")
_NAME = re.compile(r"[A-Za-z_@$][A-Za-z0-9_.@$]*")
_NUMERIC = re.compile(r"\s*[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_UNIT = re.compile(r"[A-Za-z]+")
_OPERATORS = ("!=", "<=", ">=", "=~", "=", "<", ">", "+", "-", "*", "/", "%", "^", "(", ")", "[", "]", ",")


def _unit(text: str) -> int | None:
    lowered = text.lower()
    if lowered in _DURATION_UNITS:
        return _DURATION_UNITS[lowered]
    if len(lowered) > 2 and lowered.endswith("s") and lowered[:-1] in _DURATION_UNITS:
        return _DURATION_UNITS[lowered[:-1]]
    return None


def tokenize(query: str) -> list[Token]:  # noqa: PLR0912, PLR0915
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char == "#":  # a comment, to the end of the line
            while i < n and query[i] != "\n":
                i += 1
        elif char == "|":
            tokens.append(Token("pipe", "|", i, i + 1))
            i += 1
        elif char in "'\"":
            j, out = i + 1, []
            while j < n and query[j] != char:
                if query[j] == "\\" and j + 1 < n:
                    out.append(query[j + 1])
                    j += 2
                    continue
                out.append(query[j])
                j += 1
            if j >= n:
                raise QueryError(f"unterminated string starting at {i}")
            tokens.append(Token("string", query[i : j + 1], i, j + 1, "".join(out)))
            i = j + 1
        elif char == "`":  # a field name with characters a plain name cannot have
            j = query.find("`", i + 1)
            if j < 0:
                raise QueryError(f"unterminated `name` starting at {i}")
            tokens.append(Token("name", query[i : j + 1], i, j + 1, query[i + 1 : j]))
            i = j + 1
        elif char == "/" and _expects_operand(tokens):  # a regular expression literal
            j, escaped = i + 1, False
            while j < n and (escaped or query[j] != "/"):
                escaped = query[j] == "\\" and not escaped
                j += 1
            if j >= n:
                raise QueryError(f"unterminated /regular expression/ starting at {i}")
            tokens.append(Token("regex", query[i : j + 1], i, j + 1, query[i + 1 : j]))
            i = j + 1
        elif char.isdigit():
            number = _NUMBER.match(query, i)
            assert number is not None
            j = number.end()
            unit = _UNIT.match(query, j)
            if unit and _unit(unit.group()) is not None:
                millis = float(number.group()) * (_unit(unit.group()) or 0)
                tokens.append(Token("duration", query[i : unit.end()], i, unit.end(), int(millis)))
                i = unit.end()
            elif unit and unit.group().lower().rstrip("s") in _CALENDAR_UNITS:
                raise UnsupportedQuery(f"the time unit {unit.group()!r} (calendar months, quarters, years)")
            else:
                text = number.group()
                value: float = float(text) if any(c in text for c in ".eE") else int(text)
                tokens.append(Token("number", text, i, j, value))
                i = j
        elif (name := _NAME.match(query, i)) is not None:
            tokens.append(Token("name", name.group(), i, name.end(), name.group()))
            i = name.end()
        else:
            op = next((o for o in _OPERATORS if query.startswith(o, i)), None)
            if op is None:
                raise QueryError(f"unexpected character {char!r} at {i}")
            tokens.append(Token("op", op, i, i + len(op)))
            i += len(op)
    tokens.append(Token("eof", "", n, n))
    return tokens


def _expects_operand(tokens: list[Token]) -> bool:
    if not tokens:
        return True
    last = tokens[-1]
    if last.kind == "pipe":
        return True
    if last.kind == "op":
        return last.text not in (")", "]")
    if last.kind == "name" and last.text.lower() in ("like", "parse", "and", "or", "not", "in"):
        return True
    # parse @message /(?<name>...)/: the field, then the expression
    return last.kind == "name" and len(tokens) > 1 and tokens[-2].text.lower() == "parse"


# ----- expressions -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Field:
    name: str


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Any


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # lower case
    args: tuple[Any, ...]
    text: str  # as written: a stats column without an alias is named so


Expression = Literal | Regex | Field | ListOf | Unary | Binary | Call


def _regex(source: str) -> re.Pattern[str]:
    # named groups are written (?<name>...) in Logs Insights ("parse", named capturing groups)
    try:
        return re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", source))
    except re.error as exc:
        raise QueryError(f"bad regular expression /{source}/: {exc}") from None


# Functions of "Boolean, comparison, numeric, datetime, and other functions"
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-operations-functions.html)
def _text(value: Any) -> str | None:  # noqa: ANN401
    return None if value is None else shown(value)


def _number(value: Any) -> float | None:  # noqa: ANN401
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMERIC.match(value):
        return float(value)
    return None


def _whole(value: float | None) -> Any:  # noqa: ANN401
    return None if value is None else (int(value) if float(value).is_integer() else value)


def _numeric(function: Callable[[float], float]) -> Callable[..., Any]:
    def apply(value: Any) -> Any:  # noqa: ANN401
        number = _number(value)
        return None if number is None else _whole(function(number))

    return apply


def _bin(value: Any, period: Any) -> Any:  # noqa: ANN401
    number, size = _number(value), _number(period)
    if number is None or not size:
        return None
    return Timestamp(int(number // size * size))


def _datefloor(value: Any, period: Any) -> Any:  # noqa: ANN401
    return _bin(value, period)


def _dateceil(value: Any, period: Any) -> Any:  # noqa: ANN401
    number, size = _number(value), _number(period)
    if number is None or not size:
        return None
    return Timestamp(int(math.ceil(number / size) * size))


SCALAR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ispresent": lambda value: value is not None,
    "isempty": lambda value: value is None or value == "",
    "isblank": lambda value: value is None or (isinstance(value, str) and not value.strip()),
    "coalesce": lambda *values: next((v for v in values if v is not None), None),
    "concat": lambda *values: "".join(_text(v) or "" for v in values),
    "strlen": lambda value: None if value is None else len(_text(value) or ""),
    "toupper": lambda value: None if value is None else (_text(value) or "").upper(),
    "tolower": lambda value: None if value is None else (_text(value) or "").lower(),
    "trim": lambda value: None if value is None else (_text(value) or "").strip(),
    "ltrim": lambda value: None if value is None else (_text(value) or "").lstrip(),
    "rtrim": lambda value: None if value is None else (_text(value) or "").rstrip(),
    "strcontains": lambda value, part: None if value is None else (_text(part) or "") in (_text(value) or ""),
    "replace": lambda value, old, new: (
        None if value is None else (_text(value) or "").replace(_text(old) or "", _text(new) or "")
    ),
    "substr": lambda value, start, length=None: (
        None
        if value is None
        else (_text(value) or "")[
            int(_number(start) or 0) : None
            if length is None
            else int(_number(start) or 0) + int(_number(length) or 0)
        ]
    ),
    "abs": _numeric(abs),
    "ceil": _numeric(math.ceil),
    "floor": _numeric(math.floor),
    "sqrt": _numeric(math.sqrt),
    "log": _numeric(math.log),
    "greatest": lambda *values: max((n for v in values if (n := _number(v)) is not None), default=None),
    "least": lambda *values: min((n for v in values if (n := _number(v)) is not None), default=None),
    "bin": _bin,
    "datefloor": _datefloor,
    "dateceil": _dateceil,
    "frommillis": lambda value: None if _number(value) is None else Timestamp(int(_number(value) or 0)),
    "tomillis": lambda value: None if _number(value) is None else int(_number(value) or 0),
}
# "Functions to use with stats" (CWL_QuerySyntax-Stats.html): the aggregation functions
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max", "earliest", "latest", "pct", "stddev")


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

    # precedence, lowest first: or, and, not, comparisons, + -, * / %, ^, unary -
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
            return Regex(_regex(token.value))
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
            return Field(token.value)
        raise QueryError(f"unexpected {token.text or 'end of query'!r} at {token.start}")

    def call(self, name: Token) -> Call:
        function = name.text.lower()
        if function == "percentile":  # pct's other name in the stats documentation
            function = "pct"
        if function not in SCALAR_FUNCTIONS and function not in AGGREGATES:
            raise UnsupportedQuery(f"the function {name.text!r}")
        self.expect_op("(")
        args: list[Any] = []
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
            names.append(token.value)
            if not self.op(","):
                return names
            self.take()

    def alias(self) -> str | None:
        if self.keyword("as"):
            self.take()
            token = self.take()
            if token.kind != "name":
                raise QueryError(f"expected a name after 'as' at {token.start}")
            return str(token.value)
        return None


# ----- commands --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Column:
    name: str
    expression: Expression


@dataclass(frozen=True, slots=True)
class FieldsCommand:
    # "fields": shows the named fields and creates new ones from functions and operations
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Fields.html)
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class FilterCommand:
    # "filter": comparisons (= != < <= > >=), and/or/not, in [...] for set membership, like and =~
    # for substrings and regular expressions
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Filter.html)
    condition: Expression


@dataclass(frozen=True, slots=True)
class StatsCommand:
    # "stats": aggregation functions, grouped "by" fields and bin(period); several stats in one
    # query, each over the previous one's results
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Stats.html)
    aggregates: tuple[Column, ...]
    groups: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class SortCommand:
    # "sort": ascending (asc) or descending (desc) by one or more fields
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html)
    keys: tuple[tuple[Expression, bool], ...]  # (key, descending)


@dataclass(frozen=True, slots=True)
class LimitCommand:
    # "limit": the number of log events returned
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Limit.html)
    count: int


@dataclass(frozen=True, slots=True)
class DedupCommand:
    # "dedup": one result per unique combination of the fields, the first in the sort order kept
    # (by @timestamp descending when unsorted); results with a null value in any of them are all
    # kept; only limit may follow (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Dedup.html)
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DisplayCommand:
    # "display": the fields shown in the results; with several, the last one decides
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Display.html)
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParseCommand:
    # "parse": fields extracted from a log field by a glob (each * one field, in order, named by
    # "as") or a regular expression with named capturing groups (?<name>...)
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Parse.html)
    source: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]


Command = (
    FieldsCommand
    | FilterCommand
    | StatsCommand
    | SortCommand
    | LimitCommand
    | DedupCommand
    | DisplayCommand
    | ParseCommand
)


def _columns(parser: _Parser, *, stop: tuple[str, ...] = ()) -> list[Column]:
    columns = []
    while True:
        start = parser.current.start
        expression = parser.expression()
        end = parser.tokens[parser.at - 1].end
        alias = parser.alias()
        if alias is None:
            alias = expression.name if isinstance(expression, Field) else parser.query[start:end]
        columns.append(Column(alias, expression))
        if not parser.op(",") or (stop and parser.keyword(*stop)):
            return columns
        parser.take()


def _glob(pattern: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in pattern.split("*")]
    groups = len(parts) - 1
    body = parts[0]
    for n, part in enumerate(parts[1:], start=1):
        body += f"(?P<_g{n}>.*)" if n == groups and not part else f"(?P<_g{n}>.*?)"
        body += part
    return re.compile(body, re.DOTALL)


def _command(parser: _Parser) -> Command:  # noqa: PLR0911, PLR0912, PLR0915
    token = parser.take()
    name = token.text.lower() if token.kind == "name" else token.text
    if name == "fields":
        return FieldsCommand(tuple(_columns(parser)))
    if name == "filter":
        return FilterCommand(parser.expression())
    if name == "stats":
        aggregates = _columns(parser)
        groups: list[Column] = []
        if parser.keyword("by"):
            parser.take()
            groups = _columns(parser)
        for column in aggregates:
            if not _has_aggregate(column.expression):
                raise QueryError(f"stats: {column.name!r} is not an aggregation function")
        return StatsCommand(tuple(aggregates), tuple(groups))
    if name == "sort":
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
    if name == "limit":
        count = parser.take()
        if count.kind != "number" or not isinstance(count.value, int) or count.value < 1:
            raise QueryError("limit takes a whole number above 0")
        return LimitCommand(count.value)
    if name == "dedup":
        return DedupCommand(tuple(parser.name_list()))
    if name == "display":
        return DisplayCommand(tuple(parser.name_list()))
    if name == "parse":
        source = "@message"
        if parser.current.kind == "name":
            source = str(parser.take().value)
        pattern = parser.take()
        if pattern.kind == "regex":
            compiled = _regex(pattern.value)
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
        glob = _glob(pattern.value)
        if len(names) != glob.groups:
            raise QueryError(f"parse: the glob has {glob.groups} * but 'as' names {len(names)} fields")
        return ParseCommand(source, glob, names)
    raise UnsupportedQuery(f"the command {token.text!r}")


def _has_aggregate(expression: Expression) -> bool:
    return any(isinstance(node, Call) and node.name in AGGREGATES for node in _walk(expression))


def _walk(expression: Any) -> Iterator[Any]:  # noqa: ANN401
    yield expression
    if isinstance(expression, Unary):
        yield from _walk(expression.operand)
    elif isinstance(expression, Binary):
        yield from _walk(expression.left)
        yield from _walk(expression.right)
    elif isinstance(expression, Call | ListOf):
        for item in expression.args if isinstance(expression, Call) else expression.items:
            yield from _walk(item)


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
        command = _command(parser)
        if not parser.at_end():
            raise QueryError(f"unexpected {parser.current.text!r} at {parser.current.start}")
        if commands and isinstance(commands[-1], DedupCommand) and not isinstance(command, LimitCommand):
            raise QueryError("only limit may follow dedup")
        after_stats = any(isinstance(c, StatsCommand) for c in commands)
        if (
            not after_stats
            and isinstance(command, FilterCommand | FieldsCommand | SortCommand)
            and any(
                isinstance(node, Call) and node.name in AGGREGATES
                for column in _expressions(command)
                for node in _walk(column)
            )
        ):
            raise QueryError("aggregation functions belong in stats")
        commands.append(command)
    if not commands:
        raise QueryError("the query is empty")
    return Query(query, tuple(commands))


def _expressions(command: Command) -> list[Expression]:
    if isinstance(command, FieldsCommand):
        return [c.expression for c in command.columns]
    if isinstance(command, FilterCommand):
        return [command.condition]
    if isinstance(command, StatsCommand):
        return [c.expression for c in (*command.aggregates, *command.groups)]
    if isinstance(command, SortCommand):
        return [key for key, _ in command.keys]
    return []


def referenced_fields(query: str) -> set[str]:
    """The log fields a query reads: every field it names that is neither a system field (``@``)
    nor one the query itself made (``as`` names, ``parse`` names, stats columns)."""
    made: set[str] = set()
    read: set[str] = set()
    for command in parse(query).commands:
        names = [n.name for e in _expressions(command) for n in _walk(e) if isinstance(n, Field)]
        if isinstance(command, DedupCommand | DisplayCommand):
            names = list(command.names)
        if isinstance(command, ParseCommand):
            names = [command.source]
        read.update(name for name in names if name not in made and not name.startswith("@"))
        if isinstance(command, FieldsCommand):
            made.update(
                c.name
                for c in command.columns
                if not isinstance(c.expression, Field) or c.name != c.expression.name
            )
        elif isinstance(command, StatsCommand):
            made.update(c.name for c in (*command.aggregates, *command.groups))
        elif isinstance(command, ParseCommand):
            made.update(command.names)
    return read


# ----- evaluation ------------------------------------------------------------------------------
Row = dict[str, Any]


def _flatten(value: Any, prefix: str, into: Row) -> None:  # noqa: ANN401
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}{key}.", into)
        return
    name = prefix[:-1]
    if isinstance(value, list):
        for index, inner in enumerate(value):
            _flatten(inner, f"{name}.{index}.", into)
        return
    into[name] = value


def discovered(message: str) -> Row:
    """The fields Logs Insights discovers in a log event's JSON: nested names joined with dots
    ("Supported logs and discovered fields": for Lambda logs, the first embedded JSON fragment of
    the event, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html).
    A discovered name starting with @ is shown with a second @ in front."""
    start = message.find("{")
    if start < 0:
        return {}
    try:
        document = from_json(message[start:], allow_partial=False)
    except ValueError:
        end = message.rfind("}")
        try:
            document = from_json(message[start : end + 1]) if end > start else None
        except ValueError:
            return {}
    if not isinstance(document, dict):
        return {}
    fields: Row = {}
    _flatten(document, "", fields)
    return {f"@{name}" if name.startswith("@") else name: value for name, value in fields.items()}


def event_row(event: LogEvent) -> Row:
    row = discovered(event.message)
    row.update(
        {
            # the system fields ("Supported logs and discovered fields")
            "@timestamp": Timestamp(event.timestamp),
            "@message": event.message,
            "@ingestionTime": Timestamp(event.ingestion_time or event.timestamp),
            "@logStream": event.log_stream,
            "@log": f"{event.account}:{event.log_group}",
            "@ptr": event.event_id,
        }
    )
    return row


def shown(value: Any) -> str:  # noqa: ANN401
    """A value as GetQueryResults shows it (every value is a string)."""
    if isinstance(value, Timestamp):
        return value.shown()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _compare(op: str, left: Any, right: Any) -> bool:  # noqa: ANN401
    if left is None or right is None:
        return False
    a, b = _number(left), _number(right)
    pair: tuple[Any, Any] = (a, b) if a is not None and b is not None else (shown(left), shown(right))
    x, y = pair
    return bool(
        {
            "=": x == y,
            "!=": x != y,
            "<": x < y,
            "<=": x <= y,
            ">": x > y,
            ">=": x >= y,
        }[op]
    )


def _arithmetic(op: str, left: Any, right: Any) -> Any:  # noqa: ANN401
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    try:
        if op == "+":
            result = a + b
        elif op == "-":
            result = a - b
        elif op == "*":
            result = a * b
        elif op == "/":
            return a / b
        elif op == "%":
            result = a % b
        else:
            result = a**b
    except (ZeroDivisionError, OverflowError):
        return None
    return _whole(result)


def evaluate(expression: Expression, row: Row) -> Any:  # noqa: PLR0912, ANN401, PLR0911
    if isinstance(expression, Literal):
        return expression.value
    if isinstance(expression, Field):
        return row.get(expression.name)
    if isinstance(expression, Regex):
        return expression.pattern
    if isinstance(expression, ListOf):
        return [evaluate(item, row) for item in expression.items]
    if isinstance(expression, Unary):
        value = evaluate(expression.operand, row)
        if expression.op == "not":
            return not _truthy(value)
        number = _number(value)
        return None if number is None else _whole(-number)
    if isinstance(expression, Binary):
        op = expression.op
        if op == "and":
            return _truthy(evaluate(expression.left, row)) and _truthy(evaluate(expression.right, row))
        if op == "or":
            return _truthy(evaluate(expression.left, row)) or _truthy(evaluate(expression.right, row))
        left, right = evaluate(expression.left, row), evaluate(expression.right, row)
        if op == "like":
            if left is None:
                return False
            if isinstance(right, re.Pattern):
                return right.search(shown(left)) is not None
            return right is not None and shown(right) in shown(left)
        if op == "in":
            options = right if isinstance(right, list) else [right]
            return left is not None and any(_compare("=", left, option) for option in options)
        if op in ("=", "!=", "<", "<=", ">", ">="):
            return _compare(op, left, right)
        return _arithmetic(op, left, right)
    if isinstance(expression, Call):
        if expression.text in row:  # a column named by the call (stats' "count(*)", "bin(5m)")
            return row[expression.text]
        if expression.name in AGGREGATES:
            return row.get(f"\0{id(expression)}")  # computed by stats (see _aggregate)
        args = [evaluate(arg, row) for arg in expression.args]
        if expression.name == "bin" and len(args) == 1:  # bin(period): of the event's @timestamp
            args = [row.get("@timestamp"), *args]
        try:
            return SCALAR_FUNCTIONS[expression.name](*args)
        except TypeError:
            raise QueryError(f"{expression.text}: wrong number of arguments") from None
    raise QueryError(f"cannot evaluate {expression!r}")


def _truthy(value: Any) -> bool:  # noqa: ANN401
    return bool(value) and value is not None


def _aggregate(call: Call, rows: list[Row]) -> Any:  # noqa: PLR0912, ANN401, PLR0911
    name = call.name
    if name == "count":
        if not call.args or call.args[0] == Literal("*"):
            return len(rows)
        return sum(evaluate(call.args[0], row) is not None for row in rows)
    if not call.args:
        raise QueryError(f"{call.text}: which field?")
    values = [(evaluate(call.args[0], row), row) for row in rows]
    present = [(value, row) for value, row in values if value is not None]
    if name == "count_distinct":
        return len({shown(value) for value, _ in present})
    if name in ("earliest", "latest"):
        # the value from the log event with the earliest / latest timestamp (ties: the later
        # delivered counts as later)
        if not present:
            return None
        ordered = sorted(enumerate(present), key=lambda p: (p[1][1].get("@timestamp") or 0, p[0]))
        return ordered[0 if name == "earliest" else -1][1][0]
    if name in ("min", "max"):
        if not present:
            return None
        as_numbers = [_number(v) for v, _ in present]
        if all(n is not None for n in as_numbers):
            chosen = (min if name == "min" else max)(range(len(present)), key=lambda i: as_numbers[i] or 0)
        else:
            chosen = (min if name == "min" else max)(range(len(present)), key=lambda i: shown(present[i][0]))
        return present[chosen][0]
    numbers: list[float] = [n for value, _ in present if (n := _number(value)) is not None]
    if name == "sum":
        return _whole(math.fsum(numbers)) if numbers else None
    if name == "avg":
        return math.fsum(numbers) / len(numbers) if numbers else None
    if name == "stddev":
        if len(numbers) < 2:
            return 0 if numbers else None
        mean = math.fsum(numbers) / len(numbers)
        return math.sqrt(math.fsum((n - mean) ** 2 for n in numbers) / (len(numbers) - 1))
    if name == "pct":
        if len(call.args) != 2:
            raise QueryError(f"{call.text}: pct(field, percentile)")
        percentile = _number(evaluate(call.args[1], {}))
        if percentile is None or not 0 <= percentile <= 100:
            raise QueryError(f"{call.text}: the percentile is a number from 0 to 100")
        if not numbers:
            return None
        ranked = sorted(numbers)
        # the nearest rank: the smallest value with at least p% of the values at or below it
        rank = max(1, math.ceil(percentile / 100 * len(ranked)))
        return _whole(ranked[rank - 1])
    raise UnsupportedQuery(f"the function {name!r}")


def _stats(command: StatsCommand, rows: list[Row]) -> list[Row]:
    groups: dict[tuple[str | None, ...], tuple[list[Any], list[Row]]] = {}
    for row in rows:
        values = [evaluate(column.expression, row) for column in command.groups]
        key = tuple(None if v is None else shown(v) for v in values)
        groups.setdefault(key, (values, []))[1].append(row)
    if not command.groups and not groups:
        groups[()] = ([], [])
    results = []
    for values, members in groups.values():
        result: Row = {column.name: value for column, value in zip(command.groups, values, strict=True)}
        for column in command.aggregates:
            computed: Row = {}
            for node in _walk(column.expression):
                if isinstance(node, Call) and node.name in AGGREGATES:
                    computed[f"\0{id(node)}"] = _aggregate(node, members)
            result[column.name] = evaluate(column.expression, computed)
        results.append(result)
    return results


_CHUNKS = re.compile(r"\d+|\D+")


def _chunk_order(a: str, b: str) -> int:
    if a.isdigit() and b.isdigit():  # numeric portions: by length, then by value
        return (len(a) > len(b)) - (len(a) < len(b)) or (int(a) > int(b)) - (int(a) < int(b))
    return (a > b) - (a < b)  # otherwise by Unicode value


def _natural_order(a: Any, b: Any) -> int:  # noqa: ANN401
    """ "sort": the ascending order Logs Insights documents (an updated natural sort): every
    non-number value before every number value; a non-number value compared chunk by chunk
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html)."""
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    if (x is None) != (y is None):
        return -1 if x is None else 1
    for p, q in zip(_CHUNKS.findall(shown(a)), _CHUNKS.findall(shown(b)), strict=False):
        order = _chunk_order(p, q)
        if order:
            return order
    return (len(shown(a)) > len(shown(b))) - (len(shown(a)) < len(shown(b)))


_sort_key: Callable[[Any], Any] = functools.cmp_to_key(_natural_order)


def _row_key(key: Expression, row: Row) -> Any:  # noqa: ANN401
    return _sort_key(evaluate(key, row))


def _sorted(rows: list[Row], keys: tuple[tuple[Expression, bool], ...]) -> list[Row]:
    ordered = list(rows)
    for key, descending in reversed(keys):  # stable sorts, the last key first
        present = [r for r in ordered if evaluate(key, r) is not None]
        absent = [r for r in ordered if evaluate(key, r) is None]  # nulls last, either way
        present.sort(key=functools.partial(_row_key, key), reverse=descending)
        ordered = present + absent
    return ordered


@dataclass
class Result:
    rows: list[list[dict[str, str]]]  # GetQueryResults' ``results``: [{field, value}] per row
    records_matched: int
    records_scanned: int
    bytes_scanned: int
    columns: list[str] = field(default_factory=list)


# StartQuery's ``limit``: "The default is 10,000." (CloudWatch Logs API reference, StartQuery)
DEFAULT_LIMIT = 10_000


def run(  # noqa: PLR0912, PLR0915
    query: str | Query,
    events: Iterable[LogEvent],
    *,
    limit: int | None = None,
    counter: ScanCounter | None = SCANNED,
) -> Result:
    """Run a query over log events (already narrowed to the query's log groups and time range)."""
    parsed = parse(query) if isinstance(query, str) else query
    rows: list[Row] = []
    scanned = scanned_bytes = 0
    for event in events:
        scanned += 1
        scanned_bytes += len(event.message.encode("utf-8"))
        rows.append(event_row(event))
    if counter is not None:
        counter.add(scanned_bytes)
    # results come newest first when nothing sorts them (the dedup documentation's default order)
    rows.sort(key=lambda r: r["@timestamp"], reverse=True)
    shown_fields: list[str] = []
    display: list[str] | None = None
    aggregated = False
    matched = 0
    row_limit = limit or DEFAULT_LIMIT
    for command in parsed.commands:
        if isinstance(command, FieldsCommand):
            for row in rows:
                for column in command.columns:
                    if not isinstance(column.expression, Field) or column.name != column.expression.name:
                        row[column.name] = evaluate(column.expression, row)
            shown_fields += [c.name for c in command.columns if c.name not in shown_fields]
        elif isinstance(command, FilterCommand):
            rows = [row for row in rows if _truthy(evaluate(command.condition, row))]
        elif isinstance(command, ParseCommand):
            for row in rows:
                source = row.get(command.source)
                found = command.pattern.search(shown(source)) if source is not None else None
                for index, name in enumerate(command.names, start=1):
                    if found is not None:
                        row[name] = found.group(name if name in command.pattern.groupindex else f"_g{index}")
                    else:
                        row.setdefault(name, None)
        elif isinstance(command, StatsCommand):
            if not aggregated:
                matched = len(rows)
            rows = _stats(command, rows)
            aggregated = True
            shown_fields = [c.name for c in (*command.groups, *command.aggregates)]
        elif isinstance(command, SortCommand):
            rows = _sorted(rows, command.keys)
        elif isinstance(command, LimitCommand):
            row_limit = min(row_limit, command.count)
            rows = rows[: command.count]
        elif isinstance(command, DedupCommand):
            seen: set[tuple[str, ...]] = set()
            kept = []
            for row in rows:
                values = [row.get(name) for name in command.names]
                if any(v is None for v in values):
                    kept.append(row)
                    continue
                key = tuple(shown(v) for v in values)
                if key not in seen:
                    seen.add(key)
                    kept.append(row)
            rows = kept
        elif isinstance(command, DisplayCommand):
            display = list(command.names)
    if not aggregated:
        matched = len(rows)
    columns = display or shown_fields or ["@timestamp", "@message"]
    if not aggregated and "@ptr" not in columns:
        columns = [*columns, "@ptr"]
    results = [
        [{"field": name, "value": shown(row[name])} for name in columns if row.get(name) is not None]
        for row in rows[:row_limit]
    ]
    return Result(results, matched, scanned, scanned_bytes, [c for c in columns if c != "@ptr"])
