"""Load a function of the template exactly as Lambda does: its ``Handler`` from its ``CodeUri``.

Each load executes the module afresh (a cold start). The layer's folder must be on ``sys.path``,
as ``/opt/python`` is on Lambda.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from sam_template.model import Template


def ensure_layer_on_path(template: Template) -> None:
    for folder in template.layer_folders():
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def load_handler(template: Template, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import the function's handler module from its code folder, as a fresh module."""
    ensure_layer_on_path(template)
    folder, module_name, function_name = template.function_code(logical_id)
    spec = importlib.util.spec_from_file_location(
        f"lambda_{logical_id}_{uuid.uuid4().hex}", folder / f"{module_name}.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {logical_id} from {folder}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = getattr(module, function_name)
    return handler


# The account and region a local invocation runs in (moto's default account).
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    remaining_ms: int = 10_000

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
