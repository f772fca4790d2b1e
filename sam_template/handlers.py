"""Load a function of the template exactly as Lambda does: its ``Handler`` from its ``CodeUri``.

Each load executes the module afresh (a cold start). The layer's folder must be on ``sys.path``,
as ``/opt/python`` is on Lambda. This module imports nothing beyond the standard library: it is
what an execution environment of the local stack imports before the function's code
(``HandlerCode`` is all it is given).
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from sam_template.model import Template


def ensure_layer_on_path(template: Template) -> None:
    _put_on_path(template.layer_folders())


def _put_on_path(folders: Iterable[Path]) -> None:
    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


@dataclass(frozen=True)
class HandlerCode:
    """Where a function's handler is: its code folder, module and function (``Handler``), and the
    layers' folders."""

    folder: Path
    module: str
    function: str
    layers: tuple[Path, ...]

    @classmethod
    def of(cls, template: Template, logical_id: str) -> HandlerCode:
        folder, module_name, function_name = template.function_code(logical_id)
        return cls(folder, module_name, function_name, tuple(template.layer_folders()))

    def load(self, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
        """Import the handler's module from its code folder, as a fresh module."""
        _put_on_path(self.layers)
        spec = importlib.util.spec_from_file_location(
            f"lambda_{logical_id}_{uuid.uuid4().hex}", self.folder / f"{self.module}.py"
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {logical_id} from {self.folder}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler: Callable[[dict[str, Any], Any], Any] = getattr(module, self.function)
        return handler


def load_handler(template: Template, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import the function's handler module from its code folder, as a fresh module."""
    return HandlerCode.of(template, logical_id).load(logical_id)


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
