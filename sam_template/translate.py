"""Run SAM's own translator on a template: ``python -m sam_template.translate < sam.json > cfn.json``.

This is the one module that imports ``samtranslator`` (aws-sam-translator, the library behind
``AWS::Serverless-2016-10-31``). It runs in whichever interpreter has it: the SAM CLI's virtualenv
(``.venv-sam``), where its pins (``pydantic~=2.13``) cannot fight the layer's. It reads the template
as JSON on stdin (local ``CodeUri`` already turned into S3 locations by ``sam_template.expand``) and
writes the plain CloudFormation SAM would deploy on stdout; an invalid template exits with status 2
and SAM's own message on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


class _NoManagedPolicies:
    """SAM asks for the managed-policy map only when a function names an AWS managed policy by its
    name (``Policies: [AmazonS3ReadOnlyAccess]``); offline there is none to ask IAM for."""

    def load(self) -> dict[str, str]:
        raise SystemExit(
            "the template names an AWS managed policy by name; the local stack cannot list IAM's "
            "managed policies offline: use its ARN (arn:aws:iam::aws:policy/NAME) instead"
        )


def translate(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.model.exceptions import InvalidDocumentException  # noqa: PLC0415
    from samtranslator.translator.transform import transform  # noqa: PLC0415

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # SAM adds AWS::Region's value
    try:
        result: dict[str, Any] = transform(template, parameters, _NoManagedPolicies())
    except InvalidDocumentException as exc:
        messages = "; ".join(cause.message for cause in exc.causes)
        print(f"SAM cannot translate the template: {messages}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
    return result


def main() -> None:
    request = json.load(sys.stdin)
    json.dump(translate(request["template"], request["parameters"]), sys.stdout)


if __name__ == "__main__":
    main()
