"""The syntax tree of Logs Insights expressions; each node evaluates itself over a row.

Operators and functions: "Boolean, comparison, numeric, datetime, and other functions"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-operations-functions.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local_stack.logs.insights.errors import QueryError
from local_stack.logs.insights.functions import AGGREGATES, OPERATORS, SCALAR_FUNCTIONS
from local_stack.logs.insights.values import Row, number, truthy, whole

if TYPE_CHECKING:
    import re
    from collections.abc import Iterator


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | float | bool

    def evaluate(self, row: Row) -> Any:  # noqa: ANN401
        return self.value

    def children(self) -> tuple[Expression, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: re.Pattern[str]

    def evaluate(self, row: Row) -> Any:  # noqa: ANN401
        return self.pattern

    def children(self) -> tuple[Expression, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Field:
    name: str

    def evaluate(self, row: Row) -> Any:  # noqa: ANN401
        return row.get(self.name)

    def children(self) -> tuple[Expression, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Expression, ...]

    def evaluate(self, row: Row) -> Any:  # noqa: ANN401
        return [item.evaluate(row) for item in self.items]

    def children(self) -> tuple[Expression, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # not, -
    operand: Expression

    def evaluate(self, row: Row) -> Any:  # noqa: ANN401
        value = self.operand.evaluate(row)
        if self.op == "not":
            return not truthy(value)
        as_number = number(value)
        return None if as_number is None else whole(-as_number)

    def children(self) -> tuple[Expression, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # and, or, like (also =~), in, a comparison or an arithmetic operator
    left: Expression
    right: Expression

    def evaluate(self, row: Row) -> Any:  # noqa: ANN401
        op = self.op
        # and, or: the right side is evaluated only when the left does not decide
        if op == "and":
            return truthy(self.left.evaluate(row)) and truthy(self.right.evaluate(row))
        if op == "or":
            return truthy(self.left.evaluate(row)) or truthy(self.right.evaluate(row))
        return OPERATORS[op](self.left.evaluate(row), self.right.evaluate(row))

    def children(self) -> tuple[Expression, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # lower case
    args: tuple[Expression, ...]
    text: str  # as written: a stats column without an alias is named so

    @property
    def is_aggregate(self) -> bool:
        return self.name in AGGREGATES

    @property
    def counts_rows(self) -> bool:
        """``count(*)``."""
        return bool(self.args) and self.args[0] == Literal("*")

    @property
    def slot(self) -> str:
        """Where stats puts this aggregation's value in the row the aggregate columns read."""
        return f"\0{id(self)}"

    def evaluate(self, row: Row) -> Any:  # noqa: ANN401
        if self.text in row:  # a column named by the call (stats' "count(*)", "bin(5m)")
            return row[self.text]
        if self.is_aggregate:
            return row.get(self.slot)  # computed by stats
        args = [arg.evaluate(row) for arg in self.args]
        if self.name == "bin" and len(args) == 1:  # bin(period): of the event's @timestamp
            args = [row.get("@timestamp"), *args]
        try:
            return SCALAR_FUNCTIONS[self.name](*args)
        except TypeError:
            raise QueryError(f"{self.text}: wrong number of arguments") from None

    def children(self) -> tuple[Expression, ...]:
        return self.args


Expression = Literal | Regex | Field | ListOf | Unary | Binary | Call


def walk(expression: Expression) -> Iterator[Expression]:
    """The expression and every expression inside it, depth first."""
    yield expression
    for child in expression.children():
        yield from walk(child)


def aggregations(expression: Expression) -> list[Call]:
    """The aggregation function calls in an expression."""
    return [node for node in walk(expression) if isinstance(node, Call) and node.is_aggregate]


@dataclass(frozen=True, slots=True)
class Column:
    """An expression and the name it is shown under (its ``as`` alias, or as written)."""

    name: str
    expression: Expression

    @property
    def renames(self) -> bool:
        """Makes a field of its own, rather than showing a field under its name."""
        return not isinstance(self.expression, Field) or self.name != self.expression.name
