"""Load a function of the template exactly as Lambda does: its ``Handler`` from its ``CodeUri``.

In an execution environment of the local stack, :meth:`HandlerCode.import_handler` imports it as
Lambda's Python runtime does (under its own name, the code folder first on ``sys.path``); in-process
tests use :func:`load_handler`, which executes the module afresh under a name of its own (a cold
start; every function's module is ``app``). This module imports nothing beyond the standard library: it is
what an execution environment of the local stack imports before the function's code
(``HandlerCode`` is all it is given).
"""

from __future__ import annotations

import importlib.util
import sys
import time
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
    """Where a function's handler is: its code folder, module and function (``Handler``), the folder
    its ``requirements.txt`` was installed into (if any) and its layers' folders, in order."""

    folder: Path
    module: str
    function: str
    layers: tuple[Path, ...]
    dependencies: Path | None = None

    @classmethod
    def of(cls, template: Template, logical_id: str, dependencies: Path | None = None) -> HandlerCode:
        folder, module_name, function_name = template.function_code(logical_id)
        return cls(folder, module_name, function_name, tuple(template.layer_folders()), dependencies)

    @property
    def search_path(self) -> list[str]:
        """``sys.path`` ahead of the interpreter's own, as Lambda's Python runtime orders it: the code
        folder (``LAMBDA_TASK_ROOT``, where ``sam build`` also installs ``requirements.txt``), then
        each layer's ``python`` folder in the layers' order ("Define Lambda function handler in
        Python", https://docs.aws.amazon.com/lambda/latest/dg/python-handler.html; "Working with
        layers for Python Lambda functions", Layer paths for each Lambda runtime:
        ``/opt/python`` and ``/opt/python/lib/python3.x/site-packages``,
        https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html)."""
        folders = [self.folder]
        if self.dependencies is not None:
            folders.append(self.dependencies)
        for layer in self.layers:
            # a layer laid out as its zip is (python/...) or a folder SAM builds into python/
            # (BuildMethod: python3.x, as ours): the folder itself stands for /opt/python
            python = layer / "python" if (layer / "python").is_dir() else layer
            version = f"python{sys.version_info.major}.{sys.version_info.minor}"
            folders += [python, python / "lib" / version / "site-packages"]
        return [str(folder) for folder in folders]

    def load(self, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
        """Import the handler's module from its code folder as a fresh module, under a name of its
        own: the in-process tests load several functions whose modules are all ``app``."""
        _put_on_path(self.layers)
        spec = importlib.util.spec_from_file_location(
            f"lambda_{logical_id}_{uuid.uuid4().hex}", self.folder / f"{self.module.replace('.', '/')}.py"
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {logical_id} from {self.folder}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler: Callable[[dict[str, Any], Any], Any] = getattr(module, self.function)
        return handler

    def import_handler(self) -> Callable[[dict[str, Any], Any], Any]:
        """Import the handler as Lambda's Python runtime does, in an execution environment of its own
        (it changes ``sys.path``): the module under its own name (``package.sub.module`` imports
        each package, its ``__init__`` run), the code folder first on ``sys.path``. A failure is a
        :class:`RuntimeFault` named as Lambda names it ("Lambda runtime errors", Troubleshoot
        invocation issues in Lambda, https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html)."""
        sys.path[:0] = [entry for entry in self.search_path if entry not in sys.path]
        module_name = self.module.replace("/", ".")
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise RuntimeFault(
                "Runtime.BuiltInModuleConflict",
                f"Cannot use built-in module {self.module} as a handler module",
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise RuntimeFault(
                "Runtime.ImportModuleError", f"Unable to import module '{self.module}': {exc}"
            ) from exc
        except SyntaxError as exc:
            raise RuntimeFault(
                "Runtime.UserCodeSyntaxError",
                f"Syntax error in module '{self.module}': {exc}",
                [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}'],
            ) from exc
        try:
            found: Callable[[dict[str, Any], Any], Any] = getattr(module, self.function)
        except AttributeError:
            raise RuntimeFault(
                "Runtime.HandlerNotFound", f"Handler '{self.function}' missing on module '{self.module}'"
            ) from None
        return found


class RuntimeFault(Exception):
    """An Init-phase failure of the runtime itself, with the ``errorType`` Lambda reports."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def load_handler(template: Template, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import the function's handler module from its code folder, as a fresh module."""
    return HandlerCode.of(template, logical_id).load(logical_id)


# The account and region a local invocation runs in (moto's default account).
ACCOUNT = "123456789012"
REGION = "us-east-1"


def function_arn(name: str) -> str:
    """A function's ARN in the local account and region."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@dataclass
class LambdaContext:
    """Lambda's context object ("Using the Lambda context object to retrieve Python function
    information", https://docs.aws.amazon.com/lambda/latest/dg/python-context.html): the time left
    counts down in real time from the deadline (``remaining_ms`` from now, when made), the memory
    limit is the function's ``MemorySize``, the log group ``/aws/lambda/<name>`` unless given."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    remaining_ms: int = 10_000  # at creation
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    deadline_ms: float = 0.0  # epoch milliseconds; from ``remaining_ms`` unless given

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = function_arn(self.function_name)
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.deadline_ms:
            self.deadline_ms = time.time() * 1000 + self.remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))
