"""The query commands; each applies itself to the rows the commands before it left.

"CloudWatch Logs Insights language query syntax" lists the commands; each one's rules are cited
beside it (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html).
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local_stack.logs.insights.functions import aggregate
from local_stack.logs.insights.syntax import Column, Expression, Field, aggregations, walk
from local_stack.logs.insights.values import Row, number, shown, truthy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


@dataclass
class Results:
    """The rows between commands, and what the commands so far decided about showing them."""

    rows: list[Row]
    limit: int  # the most rows returned
    fields: list[str] = field(default_factory=list)  # the columns shown (fields, stats)
    display: list[str] | None = None  # the columns display chose, over the others
    aggregated: bool = False  # a stats command ran
    matched: int = 0  # the rows that reached the first stats command (recordsMatched)


class Command(ABC):
    __slots__ = ()

    @abstractmethod
    def apply(self, results: Results) -> None:
        """Changes the results as the command does."""

    def expressions(self) -> tuple[Expression, ...]:
        return ()

    def reads(self) -> list[str]:
        """The fields the command reads."""
        return [node.name for e in self.expressions() for node in walk(e) if isinstance(node, Field)]

    def makes(self) -> Iterable[str]:
        """The fields the command makes."""
        return ()


@dataclass(frozen=True, slots=True)
class FieldsCommand(Command):
    # "fields": shows the named fields and creates new ones from functions and operations
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Fields.html)
    columns: tuple[Column, ...]

    def apply(self, results: Results) -> None:
        made = [column for column in self.columns if column.renames]
        for row in results.rows:
            for column in made:
                row[column.name] = column.expression.evaluate(row)
        results.fields += [c.name for c in self.columns if c.name not in results.fields]

    def expressions(self) -> tuple[Expression, ...]:
        return tuple(c.expression for c in self.columns)

    def makes(self) -> Iterable[str]:
        return (c.name for c in self.columns if c.renames)


@dataclass(frozen=True, slots=True)
class FilterCommand(Command):
    # "filter": comparisons (= != < <= > >=), and/or/not, in [...] for set membership, like and =~
    # for substrings and regular expressions
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Filter.html)
    condition: Expression

    def apply(self, results: Results) -> None:
        results.rows = [row for row in results.rows if truthy(self.condition.evaluate(row))]

    def expressions(self) -> tuple[Expression, ...]:
        return (self.condition,)


@dataclass(frozen=True, slots=True)
class StatsCommand(Command):
    # "stats": aggregation functions, grouped "by" fields and bin(period); several stats in one
    # query, each over the previous one's results
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Stats.html)
    aggregates: tuple[Column, ...]
    groups: tuple[Column, ...]

    def apply(self, results: Results) -> None:
        if not results.aggregated:
            results.matched = len(results.rows)
        results.rows = self._grouped(results.rows)
        results.aggregated = True
        results.fields = [c.name for c in (*self.groups, *self.aggregates)]

    def _grouped(self, rows: list[Row]) -> list[Row]:
        groups: dict[tuple[str | None, ...], tuple[list[Any], list[Row]]] = {}
        for row in rows:
            values = [column.expression.evaluate(row) for column in self.groups]
            key = tuple(None if v is None else shown(v) for v in values)
            groups.setdefault(key, (values, []))[1].append(row)
        if not self.groups and not groups:
            groups[()] = ([], [])
        grouped = []
        for values, members in groups.values():
            result: Row = {column.name: value for column, value in zip(self.groups, values, strict=True)}
            for column in self.aggregates:
                computed: Row = {
                    call.slot: aggregate(call, members) for call in aggregations(column.expression)
                }
                result[column.name] = column.expression.evaluate(computed)
            grouped.append(result)
        return grouped

    def expressions(self) -> tuple[Expression, ...]:
        return tuple(c.expression for c in (*self.aggregates, *self.groups))

    def makes(self) -> Iterable[str]:
        return (c.name for c in (*self.aggregates, *self.groups))


@dataclass(frozen=True, slots=True)
class SortCommand(Command):
    # "sort": ascending (asc) or descending (desc) by one or more fields
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html)
    keys: tuple[tuple[Expression, bool], ...]  # (key, descending)

    def apply(self, results: Results) -> None:
        ordered = list(results.rows)
        for key, descending in reversed(self.keys):  # stable sorts, the last key first
            present = [r for r in ordered if key.evaluate(r) is not None]
            absent = [r for r in ordered if key.evaluate(r) is None]  # nulls last, either way
            present.sort(key=functools.partial(_row_key, key), reverse=descending)
            ordered = present + absent
        results.rows = ordered

    def expressions(self) -> tuple[Expression, ...]:
        return tuple(key for key, _ in self.keys)


_CHUNKS = re.compile(r"\d+|\D+")


def _chunk_order(a: str, b: str) -> int:
    if a.isdigit() and b.isdigit():  # numeric portions: by length, then by value
        return (len(a) > len(b)) - (len(a) < len(b)) or (int(a) > int(b)) - (int(a) < int(b))
    return (a > b) - (a < b)  # otherwise by Unicode value


def _natural_order(a: Any, b: Any) -> int:  # noqa: ANN401
    """ "sort": the ascending order Logs Insights documents (an updated natural sort): every
    non-number value before every number value; a non-number value compared chunk by chunk
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Sort.html)."""
    x, y = number(a), number(b)
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
    return _sort_key(key.evaluate(row))


@dataclass(frozen=True, slots=True)
class LimitCommand(Command):
    # "limit": the number of log events returned
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Limit.html)
    count: int

    def apply(self, results: Results) -> None:
        results.limit = min(results.limit, self.count)
        results.rows = results.rows[: self.count]


@dataclass(frozen=True, slots=True)
class DedupCommand(Command):
    # "dedup": one result per unique combination of the fields, the first in the sort order kept
    # (by @timestamp descending when unsorted); results with a null value in any of them are all
    # kept; only limit may follow (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Dedup.html)
    names: tuple[str, ...]

    def apply(self, results: Results) -> None:
        seen: set[tuple[str, ...]] = set()
        kept = []
        for row in results.rows:
            values = [row.get(name) for name in self.names]
            if any(v is None for v in values):
                kept.append(row)
                continue
            key = tuple(shown(v) for v in values)
            if key not in seen:
                seen.add(key)
                kept.append(row)
        results.rows = kept

    def reads(self) -> list[str]:
        return list(self.names)


@dataclass(frozen=True, slots=True)
class DisplayCommand(Command):
    # "display": the fields shown in the results; with several, the last one decides
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Display.html)
    names: tuple[str, ...]

    def apply(self, results: Results) -> None:
        results.display = list(self.names)

    def reads(self) -> list[str]:
        return list(self.names)


@dataclass(frozen=True, slots=True)
class ParseCommand(Command):
    # "parse": fields extracted from a log field by a glob (each * one field, in order, named by
    # "as") or a regular expression with named capturing groups (?<name>...)
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Parse.html)
    source: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]

    def apply(self, results: Results) -> None:
        for row in results.rows:
            source = row.get(self.source)
            found = self.pattern.search(shown(source)) if source is not None else None
            for index, name in enumerate(self.names, start=1):
                if found is not None:
                    row[name] = found.group(name if name in self.pattern.groupindex else f"_g{index}")
                else:
                    row.setdefault(name, None)

    def reads(self) -> list[str]:
        return [self.source]

    def makes(self) -> Iterable[str]:
        return self.names
