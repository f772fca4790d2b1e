"""The time budget of an invocation: every AWS call ends before the deadline, less a margin to answer.

Two parts (docs/architecture.md, "Time budget"):

- **Per client, from the function's Timeout** (:class:`Budget`): connect and read timeouts and a
  number of attempts whose worst case — every attempt timing out, every pause between them at
  botocore's longest backoff — ends before ``Timeout - margin``. The Timeout is the invocation's
  remaining time at its start (``context.get_remaining_time_in_millis()``), rounded up to whole
  seconds as Lambda configures it.
- **Per call, from the time left** (:func:`guard`): botocore's documented events gate each attempt.
  ``before-call`` refuses a call whose first attempt would not end before the deadline less the
  margin; ``needs-retry`` refuses a retry whose longest pause and attempt would not. Both raise
  :class:`DeadlineExceeded` (a ``BotoCoreError``), so every caller's failure path — the same one a
  DynamoDB error takes — answers instead of Lambda killing the function.
  Botocore Events (before-call, needs-retry): https://docs.aws.amazon.com/botocore/latest/topics/events.html

The clients are made once per execution environment; only the deadline changes per invocation.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError
from botocore.retries.standard import RetryEventAdapter, StandardRetryConditions

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

# One attempt at most: a TCP connect in the region takes milliseconds (1 s also covers one lost
# SYN's retransmission); DynamoDB and SQS answer a request in milliseconds, so 2 s is 100 times
# their usual latency. Both are per socket operation (urllib3), not totals: see docs/architecture.md.
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
MAX_ATTEMPTS = 3  # botocore's standard mode default, when the Timeout leaves room for it
# botocore's standard mode pauses before attempt i+1 for rand(0, 1) * min(base * 2**(i-1), 20 s);
# the base is 1 s for throttling errors (25-50 ms otherwise): the longest pause is the throttling one.
THROTTLING_BASE = 1.0
MAX_BACKOFF = 20.0
# newer botocore lengthens a pause to a response's ``x-amz-retry-after``, by at most 5 s
RETRY_AFTER_HEADER, RETRY_AFTER_MAX_ADDITIONAL = "x-amz-retry-after", 5.0
# Outside an invocation (tools, tests that call the store directly): the template's Timeout.
DEFAULT_TIMEOUT = 10.0

F = TypeVar("F", bound="Callable[..., Any]")

# The clock deadlines are measured on (tests put a fake one in its place).
clock: Callable[[], float] = time.monotonic


def margin_for(timeout: float) -> float:
    """Time kept to answer after the last AWS call: logging, metrics, the response itself."""
    return min(2.0, max(0.5, timeout / 10))


def longest_pause(attempt: int) -> float:
    """botocore's longest pause after ``attempt`` (1-based) before the next one."""
    return min(THROTTLING_BASE * 2.0 ** (attempt - 1), MAX_BACKOFF)


@dataclass(frozen=True, slots=True)
class Budget:
    """The clients' settings for a function with this Timeout (seconds)."""

    timeout: float
    margin: float
    connect_timeout: float
    read_timeout: float
    max_attempts: int

    @classmethod
    def for_timeout(cls, timeout: float) -> Budget:
        margin = margin_for(timeout)
        available = timeout - margin
        connect, read = CONNECT_TIMEOUT, READ_TIMEOUT
        if connect + read > available:  # a short Timeout: one attempt, shrunk to 90 % of the room
            scale = 0.9 * available / (connect + read)  # (the invocation has begun when it is gated)
            connect, read = connect * scale, read * scale
        attempts = max(
            (n for n in range(1, MAX_ATTEMPTS + 1) if worst_case(n, connect + read) <= available), default=1
        )
        return cls(timeout, margin, connect, read, attempts)

    @property
    def attempt(self) -> float:
        """The longest one attempt takes: connecting, then waiting for the answer."""
        return self.connect_timeout + self.read_timeout

    @property
    def worst_case(self) -> float:
        """The longest one call takes: every attempt timed out, every pause at its longest."""
        return worst_case(self.max_attempts, self.attempt)

    def config(self) -> Config:
        return Config(
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )


def worst_case(attempts: int, attempt: float) -> float:
    return attempts * attempt + sum(longest_pause(n) for n in range(1, attempts))


class DeadlineExceeded(BotoCoreError):
    """An attempt was not made: it could not have ended before the invocation's deadline less the
    margin. ``after`` names the error of the attempt before it, when there was one."""

    fmt = "{operation}: {reason}"


# ----- the invocation's deadline --------------------------------------------------------------------
@dataclass(slots=True)
class _Invocation:
    deadline: float  # time.monotonic() at which Lambda ends the invocation
    budget: Budget


_current: _Invocation | None = None


def start(context: LambdaContext) -> Budget:
    """Begin an invocation: its deadline and its function's budget, from the context."""
    global _current  # noqa: PLW0603 - one invocation at a time per execution environment
    remaining = context.get_remaining_time_in_millis() / 1000
    budget = Budget.for_timeout(max(1.0, float(math.ceil(remaining))))
    _current = _Invocation(clock() + remaining, budget)
    return budget


def end() -> None:
    global _current  # noqa: PLW0603
    _current = None


def current() -> Budget:
    """The budget of the running invocation (the default Timeout's outside one)."""
    return _current.budget if _current else Budget.for_timeout(DEFAULT_TIMEOUT)


def time_left() -> float | None:
    """Seconds until the running invocation's deadline (``None`` outside an invocation)."""
    return None if _current is None else _current.deadline - clock()


def time_left_ms() -> int:
    """Milliseconds until the deadline, as ``get_remaining_time_in_millis`` counts them."""
    left = time_left()
    return int(current().timeout * 1000) if left is None else max(0, int(left * 1000))


def reserve_ms(calls: int) -> int:
    """Time to keep for ``calls`` more AWS calls at their worst and the answer (milliseconds)."""
    budget = current()
    return int((budget.margin + calls * budget.worst_case) * 1000)


def budgeted(handler: F) -> F:
    """Run a Lambda handler within its invocation's deadline (see :func:`start`)."""

    @functools.wraps(handler)
    def run(event: Any, context: LambdaContext, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        start(context)
        try:
            return handler(event, context, *args, **kwargs)
        finally:
            end()

    return run  # type: ignore[return-value]


# ----- the gates on each client -----------------------------------------------------------------
class _Gates:
    """botocore event handlers that refuse an attempt which could not end in time."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        # botocore's own reading of an attempt's outcome: is it retried at all?
        self._adapter = RetryEventAdapter()
        self._retryable = StandardRetryConditions(max_attempts=budget.max_attempts)

    def _room(self) -> float | None:
        left = time_left()
        return None if left is None else left - self.budget.margin

    def before_call(self, model: Any, **_: Any) -> None:  # noqa: ANN401 - botocore's OperationModel
        room = self._room()
        if room is not None and room < self.budget.attempt:
            raise DeadlineExceeded(
                operation=model.name,
                reason=f"not started: {max(room, 0):.2f} s left before the margin, an attempt takes "
                f"up to {self.budget.attempt:.2f} s",
                after=None,
            )

    def needs_retry(self, **kwargs: Any) -> None:  # noqa: ANN401 - botocore's needs-retry arguments
        room = self._room()
        if room is None:
            return
        context = self._adapter.create_retry_context(**kwargs)
        if not self._retryable.is_retryable(context):
            return  # botocore does not retry it either: its own error goes to the caller
        pause = longest_pause(context.attempt_number)
        if context.http_response is not None and RETRY_AFTER_HEADER in context.http_response.headers:
            pause += RETRY_AFTER_MAX_ADDITIONAL
        if room < pause + self.budget.attempt:
            error = (
                context.get_error_code()
                if context.http_response is not None
                else type(context.caught_exception).__name__
            )
            raise DeadlineExceeded(
                operation=kwargs["operation"].name,
                reason=f"{error} on attempt {context.attempt_number}, no time to retry: "
                f"{max(room, 0):.2f} s left before the margin",
                after=error,
            )


def guard(client: Any, budget: Budget) -> None:  # noqa: ANN401 - any botocore client
    """Gate every call and retry of ``client`` on the running invocation's deadline."""
    service = client.meta.service_model.service_id.hyphenize()
    gates = _Gates(budget)
    client.meta.events.register(f"before-call.{service}", gates.before_call)
    # first: it must decide before botocore's handler takes retry quota for a retry never made
    client.meta.events.register_first(f"needs-retry.{service}", gates.needs_retry)
