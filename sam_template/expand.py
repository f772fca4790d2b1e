"""A SAM template expanded into the plain CloudFormation SAM deploys, by SAM's own translator.

``Globals``, ``Events`` (stream sources become ``AWS::Lambda::EventSourceMapping``, schedules
``AWS::Events::Rule`` / ``AWS::Scheduler::Schedule``), policy templates and SAM's defaults are
SAM's, not ours: the local stack runs on what :func:`expand` returns, as CloudFormation would.

Local code stays local: before translating, a ``CodeUri`` / ``ContentUri`` that is a folder becomes
the S3 location ``s3://{LOCAL_CODE_BUCKET}/{folder}`` (what ``sam package`` would upload), which
``Template.function_code`` and ``Template.layer_folders`` read back as the folder.

The translator (aws-sam-translator) pins its own pydantic, so it runs in the interpreter that has
it — this one if it can import ``samtranslator``, else the SAM CLI's virtualenv (``make
install-sam``; ``SAM_PYTHON`` names another) — and its result is cached per template content.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sam_template.model import LOCAL_CODE_BUCKET, ROOT, Template

TRANSLATOR = Path(__file__).with_name("translate.py")
CACHE = ROOT / ".local-stack" / "expanded"
SAM_VIRTUALENV_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM_REQUIREMENTS = ROOT / "requirements-sam.txt"


class TranslationError(RuntimeError):
    """SAM could not translate the template, or no interpreter with SAM's translator was found."""


def _local_uri(value: Any) -> Any:  # noqa: ANN401 - a CodeUri as written
    if isinstance(value, str) and not value.startswith("s3://"):
        return {"Bucket": LOCAL_CODE_BUCKET, "Key": value}
    return value


def with_local_code(body: dict[str, Any]) -> dict[str, Any]:
    """The template with every local ``CodeUri`` / ``ContentUri`` (function, layer, ``Globals``) as an
    S3 location in :data:`LOCAL_CODE_BUCKET`; the input is not changed."""
    body = copy.deepcopy(body)
    sections = [resource.get("Properties", {}) for resource in body.get("Resources", {}).values()]
    sections += list(body.get("Globals", {}).values())
    for properties in sections:
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = _local_uri(properties[key])
    return body


def _translator_python() -> str:
    if importlib.util.find_spec("samtranslator") is not None:
        return sys.executable
    chosen = os.environ.get("SAM_PYTHON") or str(SAM_VIRTUALENV_PYTHON)
    if not Path(chosen).exists():
        raise TranslationError(
            f"SAM's translator (aws-sam-translator) is needed to read a SAM template; {chosen} does "
            "not exist: run `make install-sam` (or set SAM_PYTHON to a python that has it)"
        )
    return chosen


def expand(template: Template, parameters: dict[str, str] | None = None) -> Template:
    """The template as the plain CloudFormation SAM produces (a template without the SAM
    transform is returned as it is)."""
    transforms = template.body.get("Transform", [])
    if "AWS::Serverless-2016-10-31" not in (transforms if isinstance(transforms, list) else [transforms]):
        return template
    request = {"template": with_local_code(template.body), "parameters": parameters or {}}
    text = json.dumps(request, sort_keys=True)
    # the cache is keyed by the template, the translating script and the translator's pinned version
    pins = SAM_REQUIREMENTS.read_text(encoding="utf-8") if SAM_REQUIREMENTS.exists() else ""
    digest = hashlib.sha256((text + TRANSLATOR.read_text(encoding="utf-8") + pins).encode()).hexdigest()[:24]
    cached = CACHE / f"{digest}.json"
    if not cached.exists():
        done = subprocess.run(  # noqa: S603 - our own script, on an interpreter we chose
            [_translator_python(), str(TRANSLATOR)],
            input=text,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")},
        )
        if done.returncode != 0:
            raise TranslationError(f"{template.path}: {done.stderr.strip() or 'the translator failed'}")
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(done.stdout, encoding="utf-8")
        partial.replace(cached)  # whole or absent: concurrent stacks may expand the same template
    return Template(body=json.loads(cached.read_text(encoding="utf-8")), path=template.path)
