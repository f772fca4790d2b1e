"""Faults injected into a running local stack (``/_local/faults`` on the management port).

- ``{"function": ID, "service": "dynamodb", "operation": "PutItem", "error": CODE, "rate": R}``:
  that function's calls fail as AWS fails them — at the HTTP layer, in the emulated AWS endpoint,
  so botocore sees AWS's error response and retries exactly as in production; ``"latency_ms": N``
  instead of ``"error"`` delays them. The function is told apart by the access key Lambda gives
  it (its own role's credentials on AWS; ``AWS_ACCESS_KEY_ID`` of its environment here).
- ``{"function": ID, "throttle": true}``: Lambda throttles the function (``Throttles``; API
  Gateway answers a handshake with 500 and counts ``IntegrationError``).
- ``{"function": ID, "crash": true}``: every invocation raises (a function error).
- ``{"function": ID, "lose_response": "any" | "final", "times": N}``: a stream consumer's
  invocation runs to its end, then its environment dies before answering: what it wrote stays,
  its response is lost (a function error, as the event source mapping sees it; Lambda invokes
  the batch again). ``"final"``: only a tumbling window's final invocation; ``times``: the next N
  such invocations (default: every one).

Operations are matched on JSON-protocol services (the ``X-Amz-Target`` header: DynamoDB, SQS,
CloudWatch Logs, ...) and on query-protocol ones by their ``Action`` query parameter.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# HTTP status AWS answers with for the error codes a fault may name (the services' API
# references: throttling and capacity errors are 400, internal errors 500, unavailability 503).
ERROR_STATUS = {
    "ProvisionedThroughputExceededException": 400,
    "RequestLimitExceeded": 400,
    "ThrottlingException": 400,
    "LimitExceededException": 400,
    "TransactionConflictException": 400,
    "AccessDeniedException": 400,
    "ResourceNotFoundException": 400,
    "ValidationException": 400,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}


def access_key(logical_id: str) -> str:
    """The access key a function's environment gets: how the emulated endpoint tells it apart."""
    return f"LOCAL{logical_id.upper()}"[:128]


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    function: str = Field(min_length=1)
    service: str | None = None
    operation: str | None = None
    error: str | None = None
    latency_ms: int | None = Field(default=None, ge=1, le=60_000)
    rate: float = Field(default=1.0, gt=0.0, le=1.0)
    throttle: Literal[True] | None = None
    crash: Literal[True] | None = None
    lose_response: Literal["any", "final"] | None = None
    times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def one_kind(self) -> Fault:
        kinds = [
            self.error is not None,
            self.latency_ms is not None,
            bool(self.throttle),
            bool(self.crash),
            self.lose_response is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of error, latency_ms, throttle, crash, lose_response")
        if self.times is not None and self.lose_response is None:
            raise ValueError("times goes with lose_response")
        if (self.error or self.latency_ms) and not (self.service and self.operation):
            raise ValueError("an error or a latency needs service and operation (e.g. dynamodb, PutItem)")
        if self.error is not None and self.error not in ERROR_STATUS:
            raise ValueError(f"error must be one of {sorted(ERROR_STATUS)}")
        return self

    @property
    def at_lambda(self) -> str | None:
        # lose-response: the event source mapping's (``local_stack.awslambda.esm``)
        if self.lose_response is not None:
            return "lose-response"
        return "throttle" if self.throttle else "crash" if self.crash else None

    def for_endpoint(self) -> dict[str, Any]:
        """What the emulated AWS endpoint needs to inject it."""
        return {
            "accessKey": access_key(self.function),
            "service": (self.service or "").lower(),
            "operation": self.operation,
            "error": self.error,
            "status": ERROR_STATUS.get(self.error or "", 400),
            "latencyMs": self.latency_ms,
            "rate": self.rate,
        }


def parse(body: Any, functions: set[str]) -> Fault:  # noqa: ANN401 - a JSON document
    """A fault from a request body; ``ValueError`` with a readable message when it is not one."""
    try:
        fault = Fault.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
    if fault.function not in functions:
        raise ValueError(f"function {fault.function!r} is not one of the template's: {sorted(functions)}")
    return fault
