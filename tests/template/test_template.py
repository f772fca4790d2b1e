"""template.yaml: valid, and faithful to the contract the code and the tests rely on."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sam_template.model import TEMPLATE_PATH, load_template

ROOT = TEMPLATE_PATH.parent


def test_every_suppressed_finding_says_why():
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    suppressions = [line for line in text.splitlines() if "ignore_checks:" in line]
    assert suppressions
    for line in suppressions:
        assert "#" in line, f"no reason given: {line.strip()}"
        assert len(line.split("#", 1)[1].strip()) > 20, f"no reason given: {line.strip()}"


def _sam() -> str:
    sam = os.environ.get("SAM_CLI") or str(ROOT / ".venv-sam" / "bin" / "sam")
    if not Path(sam).exists():
        pytest.skip("SAM CLI not installed: `make test` installs it (make install-sam)")
    return sam


def test_sam_validate_lint_passes_without_credentials(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
    }
    result = subprocess.run(
        [_sam(), "validate", "--lint", "--template-file", str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_table_is_the_contracts_event_log():
    props = load_template().properties("ConnectionsTable")
    assert props["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_every_function_runs_python312_on_arm64_with_the_layer():
    template = load_template()
    functions = template.of_type("AWS::Serverless::Function")
    assert functions
    globals_ = template.body["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Layers"] == [{"Ref": "SharedLayer"}]
    for name, function in functions.items():
        props = function["Properties"]
        assert props.get("Runtime", "python3.12") == "python3.12", name
        folder, module, _ = template.function_code(name)
        assert (folder / f"{module}.py").is_file(), name
    layer = template.resource("SharedLayer")
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Metadata"]["BuildMethod"] == "python3.12"


def test_websocket_routes_reach_their_functions():
    template = load_template()
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in template.of_type("AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) >= {"$connect", "$disconnect"}
    for key, function in (("$connect", "ConnectFunction"), ("$disconnect", "DisconnectFunction")):
        integration = routes[key]["Target"]["Fn::Sub"].removeprefix("integrations/${").rstrip("}")
        uri = template.properties(integration)["IntegrationUri"]["Fn::Sub"]
        assert f"${{{function}.Arn}}" in uri


def test_the_rehearsal_template_changes_the_architectures_and_nothing_else():
    template = load_template()
    from ops.rehearsal_template import for_architecture

    rehearsal = for_architecture(template)
    assert rehearsal["Globals"]["Function"]["Architectures"] == ["x86_64"]
    layer = rehearsal["Resources"]["SharedLayer"]
    assert (layer["Properties"]["CompatibleArchitectures"], layer["Metadata"]["BuildArchitecture"]) == (
        ["x86_64"],
        "x86_64",
    )
    # put the originals back: what remains must be the template itself
    rehearsal["Globals"]["Function"]["Architectures"] = template.body["Globals"]["Function"]["Architectures"]
    layer["Properties"]["CompatibleArchitectures"] = ["arm64"]
    layer["Metadata"]["BuildArchitecture"] = "arm64"
    assert rehearsal == template.body
    assert "arm64" in json.dumps(template.body)  # the template itself is untouched


def test_the_websocket_routes_resolve_to_their_functions_through_the_integrations():
    from sam_template.websocket import routes, websocket_apis

    template = load_template()
    (api,) = websocket_apis(template)
    assert routes(template, api) == {"$connect": "ConnectFunction", "$disconnect": "DisconnectFunction"}
