"""How CloudWatch decides an alarm's state from its data points.

From "Configuring how CloudWatch alarms treat missing data" (alarms-and-missing-data.html) and
"Evaluating an alarm" (AlarmThatSendsEmail.html#alarm-evaluation):

- each evaluation looks at an *evaluation range* larger than ``EvaluationPeriods`` (the table of
  the documentation, for 3 periods, shows 5 data points: :data:`EXTRA_PERIODS` more);
- when at least ``EvaluationPeriods`` real data points are in the range, the most recent
  ``EvaluationPeriods`` of them decide, and how missing data is treated does not matter;
- when fewer, the missing ones are filled with ``TreatMissingData`` (as few as possible; every real
  data point counts): ``breaching`` and ``notBreaching`` fill with breaching / good points;
  ``ignore`` keeps the current state unless the real points decide either way; ``missing`` judges
  the real points alone, and with none goes to ``INSUFFICIENT_DATA``;
- the alarm goes to ``ALARM`` when ``DatapointsToAlarm`` (M) of the ``EvaluationPeriods`` (N) data
  points breach, else to ``OK``.

The documentation's table (3 of 3; ``0`` good, ``X`` breaching, ``-`` missing; columns MISSING,
IGNORE, BREACHING, NOT BREACHING) is this module's unit test.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
EXTRA_PERIODS = 2

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class Rule:
    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str = "missing"

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"ComparisonOperator {self.comparison} is not evaluated locally")
        if self.treat_missing_data not in TREATMENTS:
            raise ValueError(f"TreatMissingData must be one of {TREATMENTS}, not {self.treat_missing_data!r}")
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError("DatapointsToAlarm must be between 1 and EvaluationPeriods")

    @property
    def range_size(self) -> int:
        return self.evaluation_periods + EXTRA_PERIODS

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison][0](value, self.threshold)


@dataclass(frozen=True)
class Decision:
    state: str
    evaluated: list[tuple[int, float]]  # (index in the range, value) of the real points that decided
    breaching: int
    filled: int  # missing data points filled with TreatMissingData


def decide(points: list[float | None], rule: Rule, current: str) -> Decision:
    """The alarm's next state from the data points of its evaluation range (oldest first; ``None``
    for a period without data)."""
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    real = [(index, value) for index, value in enumerate(points) if value is not None]
    if len(real) >= n:
        recent = real[-n:]
        breaching = sum(rule.breaches(value) for _, value in recent)
        return Decision(ALARM if breaching >= m else OK, recent, breaching, 0)
    breaching = sum(rule.breaches(value) for _, value in real)
    fill = n - len(real)
    treatment = rule.treat_missing_data
    if treatment == "breaching":
        state = ALARM if breaching + fill >= m else OK
    elif treatment == "notBreaching":
        state = ALARM if breaching >= m else OK
    elif treatment == "ignore":
        state = ALARM if breaching >= m else OK if breaching + fill < m else current
    elif not real:  # missing, nothing at all
        state = INSUFFICIENT_DATA
    else:  # missing: the real points alone
        state = ALARM if breaching >= min(m, len(real)) else OK
    return Decision(state, real, breaching, fill)


def reason(decision: Decision, rule: Rule, stamps: list[str]) -> str:
    """``StateReason`` in CloudWatch's words, naming the data points that decided."""
    if not decision.evaluated:
        if decision.state == INSUFFICIENT_DATA:
            return "Insufficient Data: no data points were received in the evaluation range."
        return (
            f"Threshold Crossed: no datapoints were received for {rule.evaluation_periods} periods and "
            f"{rule.evaluation_periods} missing datapoints were treated as [{_treated(rule)}]."
        )
    shown = ", ".join(f"{value} ({stamps[index]})" for index, value in reversed(decision.evaluated))
    words = COMPARISONS[rule.comparison][1]
    verb = "were" if decision.state == ALARM else "were not"
    count = decision.breaching if decision.state == ALARM else len(decision.evaluated) - decision.breaching
    text = (
        f"Threshold Crossed: {count} out of the last {len(decision.evaluated)} datapoints [{shown}] {verb} "
        f"{words} the threshold ({rule.threshold})"
    )
    if decision.filled:
        text += f"; {decision.filled} missing datapoints were treated as [{_treated(rule)}]"
    return text + f" (minimum {rule.datapoints_to_alarm} datapoints for OK -> ALARM transition)."


def _treated(rule: Rule) -> str:
    return {"breaching": "Breaching", "notBreaching": "NonBreaching"}.get(rule.treat_missing_data, "Missing")
