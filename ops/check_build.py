"""The deploy rehearsal after ``sam build`` (``make build``).

1. The arm64 build in ``.aws-sam/build``: the layer holds the shared package and its
   dependencies, compiled ones for aarch64/cp312; every function folder holds its handler.
2. Its built handlers import: this machine cannot load aarch64 binaries, so the same template is
   built again for x86_64 into ``.aws-sam/rehearsal`` and every handler of that build is imported
   in a fresh interpreter that sees only the built function, the built layer and boto3 (which the
   Lambda runtime provides), as Lambda would load it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sam_template.model import load_template

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
REHEARSAL = ROOT / ".aws-sam" / "rehearsal"
RUNTIME = ROOT / ".aws-sam" / "runtime"  # stands for the boto3 the python3.12 runtime carries


def _fail(message: str) -> None:
    print(f"build check failed: {message}", file=sys.stderr)
    sys.exit(1)


def check_arm64_build() -> None:
    layer = BUILD / "SharedLayer" / "python"
    for package in ("connection_tracker", "aws_lambda_powertools", "pydantic", "pydantic_core"):
        if not (layer / package).is_dir():
            _fail(f"{package} is missing from the built layer {layer}")
    binaries = list((layer / "pydantic_core").glob("*.so"))
    if not binaries or not all("aarch64" in so.name and "312" in so.name for so in binaries):
        _fail(f"pydantic_core in the layer is not built for aarch64/cp312: {[so.name for so in binaries]}")
    for function in load_template().of_type("AWS::Serverless::Function"):
        if not (BUILD / function / "app.py").is_file():
            _fail(f"{function} has no app.py in {BUILD / function}")
    functions = load_template().of_type("AWS::Serverless::Function")
    print(f"arm64 build: layer and {len(functions)} functions in place")


def import_rehearsal() -> None:
    template = load_template()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CONNECTIONS_TABLE": "rehearsal",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    for function in template.of_type("AWS::Serverless::Function"):
        path = [str(REHEARSAL / function), str(REHEARSAL / "SharedLayer" / "python"), str(RUNTIME)]
        program = (
            "import sys\n"
            f"sys.path[:0] = {path!r}\n"
            "import app\n"
            "assert callable(app.lambda_handler)\n"
            "print(app.__file__)\n"
        )
        # -I -S: no site-packages, no user paths: only what Lambda would have
        result = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-I", "-S", "-c", program],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
        )
        if result.returncode != 0:
            _fail(f"{function} does not import from its build:\n{result.stderr}")
        print(f"{function}: imports from {result.stdout.strip()}")


if __name__ == "__main__":
    check_arm64_build()
    import_rehearsal()
