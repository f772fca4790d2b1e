"""A SAM template read as data: resources by type, properties, parameters, function code.

Nothing here restates the template; it only reads it (CloudFormation short-form tags become
their long form, ``!Ref X`` -> ``{"Ref": "X"}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
# The S3 bucket that stands for "this folder" in an expanded template (``sam_template.expand``).
LOCAL_CODE_BUCKET = "local-code"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    # !Ref and !Condition have no Fn:: prefix in their long form ({"Condition": "Name"})
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Template:
    body: dict[str, Any]
    path: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.body["Resources"])

    def resource(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id])

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resource(logical_id).get("Properties", {}))

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res["Type"] == resource_type}

    def _local_folder(self, location: Any) -> Path:  # noqa: ANN401 - a CodeUri or a Code
        """The folder a ``CodeUri`` / ``ContentUri`` names, or the local S3 location
        ``sam_template.expand`` made of it (``Code`` / ``Content`` of the expanded template)."""
        if isinstance(location, dict) and location.get("S3Bucket") == LOCAL_CODE_BUCKET:
            location = location["S3Key"]
        if not isinstance(location, str) or location.startswith("s3://"):
            raise ValueError(f"{self.path}: only code in a local folder runs locally, not {location!r}")
        return self.path.parent / location

    def function_code(self, logical_id: str) -> tuple[Path, str, str]:
        """(code folder, module, function) of a function's ``Handler``, as Lambda would load it."""
        props = self.properties(logical_id)
        module, function = props["Handler"].rsplit(".", 1)
        return self._local_folder(props.get("CodeUri", props.get("Code"))), module, function

    def function_timeout(self, logical_id: str) -> int:
        """The function's ``Timeout`` in seconds (its own, else ``Globals``, else Lambda's 3)."""
        globals_ = self.body.get("Globals", {}).get("Function", {})
        return int(self.properties(logical_id).get("Timeout", globals_.get("Timeout", 3)))

    def parameter_defaults(self) -> dict[str, str]:
        """Every parameter's ``Default`` as CloudFormation passes it (a string; empty when none)."""
        return {name: str(spec.get("Default", "")) for name, spec in self.body.get("Parameters", {}).items()}

    def layer_folders(self) -> list[Path]:
        """The folders of the template's layers (``/opt/python`` on Lambda)."""
        return [
            self._local_folder(layer["Properties"].get("ContentUri", layer["Properties"].get("Content")))
            for kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
            for layer in self.of_type(kind).values()
        ]


@cache
def load_template(path: Path = TEMPLATE_PATH) -> Template:
    with path.open(encoding="utf-8") as handle:
        return Template(body=yaml.load(handle, Loader=_CfnLoader), path=path)  # noqa: S506 - SafeLoader subclass


def declared_variables(template: Template, logical_id: str | None = None) -> dict[str, Any]:
    """The environment variables the template declares for a function: ``Globals`` merged with its
    own (only ``Globals`` without a function), values as written (intrinsics unresolved)."""
    variables = dict(
        template.body.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    if logical_id is not None:
        variables.update(template.properties(logical_id).get("Environment", {}).get("Variables", {}))
    return variables


def function_environment(template: Template, logical_id: str | None = None) -> dict[str, str]:
    """The literal environment variables the template gives a function; values that are intrinsic
    functions (``!Ref``) are left to the caller."""
    variables = declared_variables(template, logical_id)
    return {name: value for name, value in variables.items() if isinstance(value, str)}
