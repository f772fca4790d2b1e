"""The x86_64 rehearsal template of ``make build``: template.yaml with its architectures changed
and nothing else (this machine cannot import the arm64 build, so the same template is built for
x86_64 and its handlers imported; see ``ops.check_build``).

Written as JSON (CloudFormation's long form of the intrinsic functions), which SAM reads as well.
``python -m ops.rehearsal_template OUT`` writes it.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from sam_template.model import Template, load_template

ARCHITECTURE = "x86_64"


def for_architecture(template: Template, architecture: str = ARCHITECTURE) -> dict[str, Any]:
    """The template's body with every architecture property set to ``architecture``: the functions'
    ``Architectures`` (``Globals`` and their own) and the layers' ``CompatibleArchitectures`` and
    ``Metadata.BuildArchitecture``."""
    body = copy.deepcopy(template.body)
    function_globals = body.get("Globals", {}).get("Function", {})
    if "Architectures" in function_globals:
        function_globals["Architectures"] = [architecture]
    for resource in body["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and "Architectures" in properties:
            properties["Architectures"] = [architecture]
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            if "CompatibleArchitectures" in properties:
                properties["CompatibleArchitectures"] = [architecture]
            if "BuildArchitecture" in resource.get("Metadata", {}):
                resource["Metadata"]["BuildArchitecture"] = architecture
    return body


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ops.rehearsal_template OUT.json", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(for_architecture(load_template()), indent=1), encoding="utf-8")
    print(f"{ARCHITECTURE} rehearsal template written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
