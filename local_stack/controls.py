"""The local stack's own controls, mounted on the management port beside ``@connections`` (they
are not API Gateway's): ``/_local/...``.

- ``GET /_local/functions``: each function's execution environments (process ids), invocations,
  errors and replacements.
- ``POST /_local/skip-disconnect`` with ``{"connectionIds": [...]}``: API Gateway loses those
  connections' ``$disconnect`` (it is best-effort on AWS too).
- ``POST /_local/invoke/{LogicalId}``: runs a function now with a scheduled event, as EventBridge
  would, and answers its result.
- ``GET /_local/bill``: what the run would cost on AWS (``local_stack.cost.meter``).
- ``POST /_local/ttl`` with ``{"table": LogicalId, "asOf": epoch seconds}``: runs DynamoDB's TTL
  process on that table once, as if the clock read ``asOf`` (items whose TTL lies before it are
  deleted, by the TTL service): what a marker's day-long lifetime does, seen in a test's minute.
- ``POST /_local/faults`` with a fault (``local_stack.faults``) adds it; ``GET /_local/faults``
  lists the active faults; ``DELETE /_local/faults`` clears them all.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from local_stack import faults
from local_stack.apigateway.management import Answer
from local_stack.awslambda.environments import FunctionError
from local_stack.events.schedules import scheduled_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from local_stack.apigateway.connections import ConnectionRegistry
    from local_stack.awslambda.environments import LocalFunctions

PREFIX = "/_local/"


class Controls:
    """The ``/_local/`` handler of the management port (``ManagementServer.mount``)."""

    def __init__(
        self,
        functions: LocalFunctions,
        connections: ConnectionRegistry,
        *,
        bill: Callable[[], dict[str, Any]],
        on_faults: Callable[[list[faults.Fault]], None],
        active: list[faults.Fault],
        ttl_sweep: Callable[[str, float], int],
    ) -> None:
        self._functions = functions
        self._connections = connections
        self._bill = bill  # the cost meter's bill
        self._on_faults = on_faults  # puts the HTTP-level faults into the emulated AWS endpoint
        self.faults = active  # the active faults (the event source mappings read them too)
        # a table's TTL sweep as of a time: (logical id, epoch seconds) -> items deleted
        self._ttl_sweep = ttl_sweep

    def __call__(self, method: str, path: str, body: bytes) -> Answer:
        return Answer(*self.answer(method, path, body))

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """(status, JSON body) for a control request."""
        action = path.removeprefix(PREFIX)
        if method == "GET" and action == "functions":
            return 200, self.functions()
        if method == "GET" and action == "bill":
            return 200, self._bill()
        if method == "POST" and action == "skip-disconnect":
            ids = json.loads(body or b"{}").get("connectionIds", [])
            return 200, {"skipping": self._connections.skip([str(connection_id) for connection_id in ids])}
        if method == "POST" and action.startswith("invoke/"):
            return self._invoke(action.removeprefix("invoke/"))
        if action in {"faults", "ttl"}:
            return (self._faults if action == "faults" else self._ttl)(method, body)
        return 404, {"message": f"no control {method} {path}"}

    def _ttl(self, method: str, body: bytes) -> tuple[int, Any]:
        if method != "POST":
            return 405, {"message": f"{method} /_local/ttl: use POST"}
        asked = json.loads(body or b"{}")
        try:
            return 200, {"deleted": self._ttl_sweep(str(asked["table"]), float(asked["asOf"]))}
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"message": f"POST /_local/ttl needs a table with TTL and asOf: {exc!r}"}

    def functions(self) -> dict[str, Any]:
        functions = self._functions
        return {
            name: {
                "environments": pids,
                "invocations": functions.invocations[name],
                "errors": functions.errors[name],
                "replaced": functions.replaced[name],
            }
            for name, pids in functions.environments().items()
        }

    def _faults(self, method: str, body: bytes) -> tuple[int, Any]:
        if method == "POST":
            try:
                fault = faults.parse(json.loads(body or b"null"), set(self._functions.environments()))
            except ValueError as exc:  # a JSON syntax error is a ValueError too
                return 400, {"message": f"not a fault: {exc}"}
            self.faults.append(fault)
        elif method == "DELETE":
            self.faults.clear()
        elif method != "GET":
            return 405, {"message": f"{method} /_local/faults: use GET, POST or DELETE"}
        if method != "GET":
            self._functions.faults = {f.function: kind for f in self.faults if (kind := f.at_lambda)}
            self._on_faults([f for f in self.faults if f.at_lambda is None])
        listed = [fault.model_dump(exclude_none=True) for fault in self.faults]
        return (201 if method == "POST" else 200), {"faults": listed}

    def _invoke(self, logical_id: str) -> tuple[int, Any]:
        if logical_id not in self._functions.environments():
            return 404, {"message": f"no function {logical_id}"}
        try:
            return 200, self._functions.invoke(logical_id, scheduled_event())
        except FunctionError as exc:
            return 500, {"message": str(exc)}
