"""CloudWatch metric math, evaluated on time series aligned to the periods of a query.

"Using math expressions with CloudWatch metrics" (using-metric-math.html), Metric math syntax and
functions: arithmetic (``+ - * / ^``), comparison (``== != <= >= < >``, 1 when true, else 0) and
logical operators (``AND``/``&&``, ``OR``/``||``), and the functions ``FILL``, ``IF``, ``ABS``,
``CEIL``, ``FLOOR``. A time series has a value only for the periods that had data; an operation on
two series has a value where both do, a series with a scalar wherever the series does. ``FILL(m,
v)`` gives ``m`` a value in every period of the query. A division by zero gives no value for that
period (the alarm then sees it as missing). Any other function is refused by name
(:class:`UnsupportedExpression`), never evaluated to something silently wrong.
"""

from __future__ import annotations

import math
import operator
import re
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from collections.abc import Callable

Series = dict[float, float]  # period start -> value
Value = Union[Series, float]  # noqa: UP007 - an alias evaluated at run time on Python 3.11

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[-+*/^()<>,]))"
)
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


class UnsupportedExpression(ValueError):
    """The expression uses syntax or a function the local evaluator does not implement."""


def _tokens(expression: str) -> list[str]:
    found, position = [], 0
    expression = expression.rstrip()
    while position < len(expression):
        matched = _TOKEN.match(expression, position)
        if not matched:
            raise UnsupportedExpression(f"cannot read {expression[position:]!r} in {expression!r}")
        found.append(matched.group(matched.lastgroup or "op"))
        position = matched.end()
    return found


def _apply(left: Value, right: Value, function: Callable[[float, float], float | None]) -> Value:
    """``function`` on two values: scalars, or series aligned on their common periods."""
    if isinstance(left, dict) or isinstance(right, dict):
        stamps = (
            left.keys() & right.keys()
            if isinstance(left, dict) and isinstance(right, dict)
            else (left if isinstance(left, dict) else right).keys()  # type: ignore[union-attr]
        )
        result: Series = {}
        for stamp in sorted(stamps):
            a = left[stamp] if isinstance(left, dict) else left
            b = right[stamp] if isinstance(right, dict) else right
            value = function(a, b)
            if value is not None:
                result[stamp] = value
        return result
    value = function(left, right)
    return math.nan if value is None else value


def _divide(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


class _Parser:
    """Recursive descent over the tokens: OR < AND < comparison < + - < * / < ^ < unary."""

    def __init__(self, expression: str, variables: dict[str, Series], periods: list[float]) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.position = 0
        self.variables = variables
        self.periods = periods

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            raise UnsupportedExpression(f"expected {expected or 'more'} in {self.expression!r}")
        self.position += 1
        return token

    def parse(self) -> Value:
        value = self.logical_or()
        if self.peek() is not None:
            raise UnsupportedExpression(f"unexpected {self.peek()!r} in {self.expression!r}")
        return value

    def logical_or(self) -> Value:
        return self._logical(("OR", "||"), self.logical_and, lambda a, b: float(bool(a) or bool(b)))

    def logical_and(self) -> Value:
        return self._logical(("AND", "&&"), self.comparison, lambda a, b: float(bool(a) and bool(b)))

    def _logical(
        self, words: tuple[str, str], operand: Callable[[], Value], function: Callable[[float, float], float]
    ) -> Value:
        value = operand()
        while (self.peek() or "").upper() in words:
            self.take()
            value = _apply(value, operand(), function)
        return value

    def comparison(self) -> Value:
        value = self.additive()
        token = self.peek()
        if token in _COMPARISONS:
            self.take()
            compare = _COMPARISONS[token]
            value = _apply(value, self.additive(), lambda a, b: float(compare(a, b)))
        return value

    def additive(self) -> Value:
        value = self.multiplicative()
        while self.peek() in ("+", "-"):
            function = operator.add if self.take() == "+" else operator.sub
            value = _apply(value, self.multiplicative(), function)
        return value

    def multiplicative(self) -> Value:
        value = self.power()
        while self.peek() in ("*", "/"):
            symbol = self.take()
            value = _apply(value, self.power(), operator.mul if symbol == "*" else _divide)
        return value

    def power(self) -> Value:
        value = self.unary()
        if self.peek() == "^":
            self.take()
            value = _apply(value, self.unary(), operator.pow)
        return value

    def unary(self) -> Value:
        if self.peek() == "-":
            self.take()
            return _apply(self.unary(), -1.0, operator.mul)
        return self.primary()

    def primary(self) -> Value:
        token = self.take()
        if token == "(":  # noqa: S105 - a parenthesis, not a password
            value = self.logical_or()
            self.take(")")
            return value
        if token[0].isdigit() or token[0] == ".":
            return float(token)
        if self.peek() == "(":
            return self.call(token.upper())
        if token not in self.variables:
            raise UnsupportedExpression(f"{token!r} names no metric or expression in {self.expression!r}")
        return dict(self.variables[token])

    def arguments(self) -> list[Value]:
        self.take("(")
        values = [self.logical_or()]
        while self.peek() == ",":
            self.take()
            values.append(self.logical_or())
        self.take(")")
        return values

    def call(self, function: str) -> Value:
        if function not in ("FILL", "IF", "ABS", "CEIL", "FLOOR"):
            raise UnsupportedExpression(f"{function}() is not evaluated locally (in {self.expression!r})")
        arguments = self.arguments()
        if function == "FILL":
            series, fill = arguments
            if isinstance(fill, dict):
                raise UnsupportedExpression(f"FILL with a series as its value (in {self.expression!r})")
            if not isinstance(series, dict):
                return series
            return {stamp: series.get(stamp, fill) for stamp in self.periods}
        if function == "IF":
            return self._if(arguments)
        (value,) = arguments
        unary: dict[str, Callable[[float], float]] = {
            "ABS": abs,
            "CEIL": lambda a: float(math.ceil(a)),
            "FLOOR": lambda a: float(math.floor(a)),
        }
        return _apply(value, 0.0, lambda a, _: unary[function](a))

    def _if(self, arguments: list[Value]) -> Value:
        """``IF(condition, true value[, false value])``: where the condition is not 0, the true
        value; elsewhere the false value, or no value without one."""
        condition, when_true, *rest = arguments
        when_false: Value | None = rest[0] if rest else None
        if not isinstance(condition, dict):
            chosen = when_true if condition else when_false
            return math.nan if chosen is None else chosen
        result: Series = {}
        for stamp, test in condition.items():
            chosen = when_true if test else when_false
            if chosen is None:
                continue
            if isinstance(chosen, dict):
                if stamp in chosen:
                    result[stamp] = chosen[stamp]
            else:
                result[stamp] = chosen
        return result


def references(expression: str) -> set[str]:
    """The ids an expression names (of metrics or other expressions)."""
    tokens = _tokens(expression)
    return {
        token
        for index, token in enumerate(tokens)
        if (token[0].isalpha() or token[0] == "_")
        and token.upper() not in ("AND", "OR")
        and (index + 1 == len(tokens) or tokens[index + 1] != "(")
    }


def evaluate(expression: str, variables: dict[str, Series], periods: list[float]) -> Series:
    """The expression's time series over ``periods`` (the start of every period of the query);
    ``variables`` are the other queries' series by ``Id``. A scalar result has that value in every
    period, as a constant expression is drawn in CloudWatch."""
    value = _Parser(expression, variables, periods).parse()
    if isinstance(value, dict):
        return value
    return {} if math.isnan(value) else dict.fromkeys(periods, value)
