"""The functions and operators of Logs Insights expressions.

Scalar functions: "Boolean, comparison, numeric, datetime, and other functions"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-operations-functions.html);
aggregation functions: "Functions to use with stats"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Stats.html).
A missing value (``None``) makes most functions and every comparison answer null / false.
"""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING, Any

from local_stack.logs.insights.errors import QueryError, UnsupportedQuery
from local_stack.logs.insights.values import Row, Timestamp, number, shown, text, whole

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.logs.insights.syntax import Call


def _numeric(function: Callable[[float], float]) -> Callable[..., Any]:
    def apply(value: Any) -> Any:  # noqa: ANN401
        as_number = number(value)
        return None if as_number is None else whole(function(as_number))

    return apply


def _bin(value: Any, period: Any) -> Any:  # noqa: ANN401
    as_number, size = number(value), number(period)
    if as_number is None or not size:
        return None
    return Timestamp(int(as_number // size * size))


def _datefloor(value: Any, period: Any) -> Any:  # noqa: ANN401
    return _bin(value, period)


def _dateceil(value: Any, period: Any) -> Any:  # noqa: ANN401
    as_number, size = number(value), number(period)
    if as_number is None or not size:
        return None
    return Timestamp(int(math.ceil(as_number / size) * size))


SCALAR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ispresent": lambda value: value is not None,
    "isempty": lambda value: value is None or value == "",
    "isblank": lambda value: value is None or (isinstance(value, str) and not value.strip()),
    "coalesce": lambda *values: next((v for v in values if v is not None), None),
    "concat": lambda *values: "".join(text(v) or "" for v in values),
    "strlen": lambda value: None if value is None else len(text(value) or ""),
    "toupper": lambda value: None if value is None else (text(value) or "").upper(),
    "tolower": lambda value: None if value is None else (text(value) or "").lower(),
    "trim": lambda value: None if value is None else (text(value) or "").strip(),
    "ltrim": lambda value: None if value is None else (text(value) or "").lstrip(),
    "rtrim": lambda value: None if value is None else (text(value) or "").rstrip(),
    "strcontains": lambda value, part: None if value is None else (text(part) or "") in (text(value) or ""),
    "replace": lambda value, old, new: (
        None if value is None else (text(value) or "").replace(text(old) or "", text(new) or "")
    ),
    "substr": lambda value, start, length=None: (
        None
        if value is None
        else (text(value) or "")[
            int(number(start) or 0) : None
            if length is None
            else int(number(start) or 0) + int(number(length) or 0)
        ]
    ),
    "abs": _numeric(abs),
    "ceil": _numeric(math.ceil),
    "floor": _numeric(math.floor),
    "sqrt": _numeric(math.sqrt),
    "log": _numeric(math.log),
    "greatest": lambda *values: max((n for v in values if (n := number(v)) is not None), default=None),
    "least": lambda *values: min((n for v in values if (n := number(v)) is not None), default=None),
    "bin": _bin,
    "datefloor": _datefloor,
    "dateceil": _dateceil,
    "frommillis": lambda value: None if number(value) is None else Timestamp(int(number(value) or 0)),
    "tomillis": lambda value: None if number(value) is None else int(number(value) or 0),
}
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max", "earliest", "latest", "pct", "stddev")


def compare(op: str, left: Any, right: Any) -> bool:  # noqa: ANN401
    """``= != < <= > >=``: as numbers when both are numbers, else as the strings shown."""
    if left is None or right is None:
        return False
    a, b = number(left), number(right)
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


def arithmetic(op: str, left: Any, right: Any) -> Any:  # noqa: ANN401
    """``+ - * / % ^`` on numbers; null when either side is not a number or the result is undefined."""
    a, b = number(left), number(right)
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
    return whole(result)


def like(value: Any, pattern: Any) -> bool:  # noqa: ANN401
    """``like`` / ``=~``: a regular expression search, or a substring."""
    if value is None:
        return False
    if isinstance(pattern, re.Pattern):
        return pattern.search(shown(value)) is not None
    return pattern is not None and shown(pattern) in shown(value)


def within(value: Any, options: Any) -> bool:  # noqa: ANN401
    """``in``: equal to one of a list's values."""
    choices = options if isinstance(options, list) else [options]
    return value is not None and any(compare("=", value, option) for option in choices)


# the binary operators but and / or, which evaluate their right side only when it decides
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "like": like,
    "in": within,
    **{op: functools.partial(compare, op) for op in ("=", "!=", "<", "<=", ">", ">=")},
    **{op: functools.partial(arithmetic, op) for op in ("+", "-", "*", "/", "%", "^")},
}


def aggregate(call: Call, rows: list[Row]) -> Any:  # noqa: PLR0912, ANN401, PLR0911
    """An aggregation function's value over a group of rows."""
    name = call.name
    if name == "count":
        if not call.args or call.counts_rows:
            return len(rows)
        return sum(call.args[0].evaluate(row) is not None for row in rows)
    if not call.args:
        raise QueryError(f"{call.text}: which field?")
    values = [(call.args[0].evaluate(row), row) for row in rows]
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
        as_numbers = [number(v) for v, _ in present]
        if all(n is not None for n in as_numbers):
            chosen = (min if name == "min" else max)(range(len(present)), key=lambda i: as_numbers[i] or 0)
        else:
            chosen = (min if name == "min" else max)(range(len(present)), key=lambda i: shown(present[i][0]))
        return present[chosen][0]
    numbers: list[float] = [n for value, _ in present if (n := number(value)) is not None]
    if name == "sum":
        return whole(math.fsum(numbers)) if numbers else None
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
        percentile = number(call.args[1].evaluate({}))
        if percentile is None or not 0 <= percentile <= 100:
            raise QueryError(f"{call.text}: the percentile is a number from 0 to 100")
        if not numbers:
            return None
        ranked = sorted(numbers)
        # the nearest rank: the smallest value with at least p% of the values at or below it
        rank = max(1, math.ceil(percentile / 100 * len(ranked)))
        return whole(ranked[rank - 1])
    raise UnsupportedQuery(f"the function {name!r}")
