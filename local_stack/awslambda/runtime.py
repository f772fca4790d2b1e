"""What Lambda sets up around a Python function before its code runs: the environment variables it
defines, the few the emulation adds (named here, and only these), and the function's dependencies
(``requirements.txt`` in its ``CodeUri``, which ``sam build`` would install)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from sam_template.handlers import REGION
from sam_template.logging_config import LogSettings

if TYPE_CHECKING:
    from pathlib import Path

    from sam_template.handlers import HandlerCode
    from sam_template.model import Template

PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"


def reserved_variables(
    template: Template, logical_id: str, settings: LogSettings | None = None
) -> dict[str, str]:
    """The variables Lambda defines for every function ("Working with Lambda environment variables",
    Defined runtime environment variables,
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
    but the per-environment ``AWS_LAMBDA_LOG_STREAM_NAME`` (each execution environment has its
    own) and the credentials (``emulation_variables``)."""
    settings = settings or LogSettings.of(template, logical_id)
    folder, module, handler = template.function_code(logical_id)
    properties = template.properties(logical_id)
    globals_ = template.body.get("Globals", {}).get("Function", {})
    return {
        "_HANDLER": f"{module}.{handler}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # the functions run on this machine's interpreter (said at start when the template asks for another)
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{PYTHON}",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties.get("MemorySize", globals_.get("MemorySize", 128))),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        **settings.variables(),  # AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL
        "LAMBDA_TASK_ROOT": str(folder),
        "LAMBDA_RUNTIME_DIR": sys.prefix,  # where the runtime's own libraries (boto3) are, here
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",  # not reserved, set by Lambda all the same
    }


def emulation_variables(
    endpoint: str, access_key: str, secret_key: str, ca_bundle: Path | None
) -> dict[str, str]:
    """The only variables a function gets that its template and Lambda do not give it, because the
    emulation needs them: where AWS is (the local endpoint), the function's own credentials (its
    role's, on Lambda: the endpoint tells the functions' calls apart by them), the certificate of
    the local ``https://{domainName}/{stage}``, no shared AWS config or credentials files (Lambda has
    none: a developer's ``~/.aws`` is not read) and ``PATH`` (this machine's, for subprocesses)."""
    variables = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PATH": os.environ.get("PATH", os.defpath),
    }
    if ca_bundle is not None:
        variables["AWS_CA_BUNDLE"] = str(ca_bundle)
    return variables


# The variables of a function's environment that name a file or a folder of this machine.
PATH_VARIABLES = ("AWS_CA_BUNDLE", "LAMBDA_TASK_ROOT")


def relative_paths(code: HandlerCode, environment: dict[str, str]) -> list[str]:
    """What of a function's code (its folder, dependencies, layers) and environment names a path
    that is not absolute. An execution environment changes into its code folder before anything
    runs, so such a path would name another file than the one meant; the stack resolves every
    path where the user gives it, and refuses to start an environment with one left."""
    folders = [("code folder", code.folder), *(("layer", layer) for layer in code.layers)]
    if code.dependencies is not None:
        folders.append(("dependencies", code.dependencies))
    found = [f"{what} {folder}" for what, folder in folders if not folder.is_absolute()]
    found += [
        f"{name}={environment[name]}"
        for name in PATH_VARIABLES
        if name in environment and not os.path.isabs(environment[name])
    ]
    return found


def install_requirements(folder: Path, cache: Path) -> tuple[Path | None, list[str]]:
    """Install ``folder/requirements.txt`` (as ``sam build`` would into the function's artifact) into
    a cache folder keyed by the file's content and this interpreter, reused across starts; returns
    that folder (None without a requirements file) and the requirements that could not be
    installed (the function then fails on import, as on Lambda without them)."""
    requirements = folder / "requirements.txt"
    if not requirements.is_file():
        return None, []
    content = requirements.read_bytes()
    key = hashlib.sha256(content + f"{PYTHON}-{sys.platform}".encode()).hexdigest()[:20]
    target = cache / key
    if (target / ".installed").is_file():
        return target, []
    partial = cache / f"{key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if _pip(partial, ["-r", str(requirements)]):
        (partial / ".installed").write_text(requirements.read_text(encoding="utf-8"), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        return target, []
    # which of them: one at a time (what could be installed stays on the path for this start)
    failed = [line for line in _requirement_lines(content) if not _pip(partial, [line])]
    return partial, failed or [requirements.name]


def _requirement_lines(content: bytes) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in content.decode("utf-8", "replace").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _pip(target: Path, arguments: list[str]) -> bool:
    done = subprocess.run(  # noqa: S603 - this interpreter's pip, the function's own requirements
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check",
            "--upgrade", "--target", str(target), *arguments,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )  # fmt: skip
    return done.returncode == 0
