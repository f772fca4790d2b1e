"""The query text as tokens ("CloudWatch Logs Insights language query syntax": commands separated
by ``|``, ``#`` starts a comment, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from local_stack.logs.insights.errors import QueryError, UnsupportedQuery


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name, string, number, duration, regex, op, pipe, eof
    text: str  # as written
    start: int
    end: int
    # what it means: a name without its `quotes`, a string's characters, a regex's source, a
    # number, a duration in milliseconds ("" for pipes, operators and the end)
    value: str | float = ""

    @property
    def word(self) -> str:
        """The value of a name, string or regex token."""
        assert isinstance(self.value, str), self
        return self.value


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
