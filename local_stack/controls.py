"""The local stack's own controls, on the management port beside ``@connections`` (they are not
API Gateway's): ``/_local/...``.

- ``GET /_local/functions``: each function's execution environments (process ids), invocations,
  errors and replacements.
- ``POST /_local/skip-disconnect`` with ``{"connectionIds": [...]}``: API Gateway loses those
  connections' ``$disconnect`` (it is best-effort on AWS too).
- ``POST /_local/invoke/{LogicalId}``: runs a function now with a scheduled event, as EventBridge
  would, and answers its result.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from local_stack.lambdas import FunctionError
from local_stack.scheduler import scheduled_event

if TYPE_CHECKING:
    from local_stack.lambdas import LocalFunctions

PREFIX = "/_local/"


class Controls:
    def __init__(self, functions: LocalFunctions, skip_disconnect: set[str]) -> None:
        self._functions = functions
        self._skip_disconnect = skip_disconnect

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """(status, JSON body) for a control request."""
        action = path.removeprefix(PREFIX)
        if method == "GET" and action == "functions":
            return 200, self.functions()
        if method == "POST" and action == "skip-disconnect":
            ids = json.loads(body or b"{}").get("connectionIds", [])
            self._skip_disconnect.update(str(connection_id) for connection_id in ids)
            return 200, {"skipping": len(self._skip_disconnect)}
        if method == "POST" and action.startswith("invoke/"):
            return self._invoke(action.removeprefix("invoke/"))
        return 404, {"message": f"no control {method} {path}"}

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

    def _invoke(self, logical_id: str) -> tuple[int, Any]:
        if logical_id not in self._functions.environments():
            return 404, {"message": f"no function {logical_id}"}
        try:
            return 200, self._functions.invoke(logical_id, scheduled_event())
        except FunctionError as exc:
            return 500, {"message": str(exc)}
