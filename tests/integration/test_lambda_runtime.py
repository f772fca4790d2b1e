"""The local stack's Lambda loads and runs handlers as Lambda's Python runtime does: the handler
module imported under its own name with its code folder first on the path (a sibling package, a
dotted handler), its requirements installed, init errors named as Lambda names them, exactly the
function's own variables and Lambda's, and its logging configuration honoured."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from local_stack.awslambda import runtime as lambda_runtime
from local_stack.awslambda.environments import FunctionError, LocalFunctions
from local_stack.awslambda.runtime import install_requirements
from sam_template.model import load_template

APPS = Path(__file__).parent / "apps"
MULTIMODULE = Path(__file__).parent.parent / "e2e" / "apps" / "multimodule"


def start(template: Path, functions: list[str], **load: object) -> tuple[LocalFunctions, io.StringIO]:
    log = io.StringIO()
    local = LocalFunctions(load_template(template), log)
    local.load(dict.fromkeys(functions, 1), **load)  # type: ignore[arg-type]
    return local, log


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory):
    cache = tmp_path_factory.mktemp("dependencies")
    target, failed = install_requirements(MULTIMODULE / "message", cache)
    assert failed == []
    return cache, target


@pytest.fixture
def multimodule(dependencies, monkeypatch):
    # what the shell that started the stack had: no function may see it
    monkeypatch.setenv("LEAK_CANARY", "from-the-shell")
    monkeypatch.setenv("AWS_PROFILE", "developer")
    local, log = start(
        MULTIMODULE / "template.yaml",
        ["ConnectFunction", "MessageFunction"],
        environments={"MessageFunction": {"GREETING": "hello"}},
        dependencies={"MessageFunction": dependencies[1]},
    )
    yield local, log
    local.stop()


def test_a_handler_imports_the_package_beside_it(multimodule):
    local, _ = multimodule
    accepted = {"queryStringParameters": {"name": "alice"}}
    assert local.invoke("ConnectFunction", accepted) == {"statusCode": 200}
    refused = {"queryStringParameters": {"name": "no one"}}
    assert local.invoke("ConnectFunction", refused) == {"statusCode": 403}


def test_a_dotted_handler_runs_in_its_package_with_its_requirements(multimodule, dependencies):
    local, _ = multimodule
    folder = MULTIMODULE / "message"
    body = json.loads(local.invoke("MessageFunction", {"body": "café"})["body"])
    assert body["echo"] == "cafe"  # text-unidecode, from requirements.txt
    assert body["module"] == "chat.handlers.echo"  # imported under its own name
    assert body["packageInitialised"] is True
    assert body["dependencyFrom"].startswith(str(dependencies[1]))  # the cache, not the stack's own packages
    assert body["firstOnPath"] == str(folder)  # LAMBDA_TASK_ROOT first on sys.path
    assert Path(body["cwd"]) == folder
    assert (body["taskRoot"], body["handler"]) == (str(folder), "chat.handlers.echo.handler")
    assert body["greeting"] == "hello"


def test_nothing_of_the_shell_reaches_a_function(multimodule):
    local, _ = multimodule
    body = json.loads(local.invoke("MessageFunction", {"body": "x"})["body"])
    assert body["leaked"] == {"LEAK_CANARY": None, "AWS_PROFILE": None, "HTTPS_PROXY": None}


def test_stdout_stderr_and_plain_logging_reach_the_log_with_lambdas_own_lines(multimodule):
    local, log = multimodule
    body = json.loads(local.invoke("MessageFunction", {"body": "logged"})["body"])
    request_id = body["requestId"]
    lines = [line.split(" ", 2)[2] for line in log.getvalue().splitlines() if " MessageFunction " in line]
    # the runtime's text format: [LEVEL]\t<ISO time>Z\t<request id>\t<message>
    logged = next(line for line in lines if line.endswith("echoing logged"))
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(rf"\[INFO\]\t{stamp}\t{request_id}\techoing logged", logged)
    assert "printed to stdout" in lines
    assert "printed to stderr" in lines
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    end = lines.index(f"END RequestId: {request_id}")
    assert start < lines.index("printed to stdout") < end
    report = lines[end + 1]
    assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "\tMemory Size: 192 MB\t" in report  # the template's MemorySize


def test_the_context_is_lambdas(multimodule):
    local, _ = multimodule
    first = json.loads(local.invoke("MessageFunction", {"body": "1"})["body"])
    second = json.loads(local.invoke("MessageFunction", {"body": "2"})["body"])
    assert first["requestId"] != second["requestId"]  # fresh per invocation
    assert first["logGroup"] == "/aws/lambda/MessageFunction"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", first["logStream"])
    assert first["logStream"] == second["logStream"]  # one stream per execution environment
    assert first["memory"] == 192


def test_requirements_are_installed_once_and_reused(dependencies, monkeypatch):
    cache, target = dependencies
    monkeypatch.setattr(lambda_runtime, "_pip", lambda *_: pytest.fail("installed again"))
    assert install_requirements(MULTIMODULE / "message", cache) == (target, [])


def test_requirements_it_cannot_install_are_named(tmp_path):
    folder = tmp_path / "function"
    folder.mkdir()
    (folder / "requirements.txt").write_text("text-unidecode==1.3\nno-such-package-anywhere-x7q==0.0.1\n")
    target, failed = install_requirements(folder, tmp_path / "cache")
    assert failed == ["no-such-package-anywhere-x7q==0.0.1"]
    assert target is not None
    assert (target / "text_unidecode").is_dir()  # the others are there


INIT_ERRORS = {
    "ImportErrorFunction": (
        "Runtime.ImportModuleError",
        "Unable to import module 'app': No module named 'libs_that_are_not_here'",
    ),
    "HandlerNotFoundFunction": (
        "Runtime.HandlerNotFound",
        "Handler 'no_such_handler' missing on module 'app'",
    ),
    "SyntaxErrorFunction": ("Runtime.UserCodeSyntaxError", "Syntax error in module 'app': "),
}


@pytest.mark.parametrize("function", list(INIT_ERRORS))
def test_an_init_error_fails_every_invocation_and_is_named_in_the_log(function):
    local, log = start(APPS / "broken" / "template.yaml", [function])
    error_type, message = INIT_ERRORS[function]
    try:
        for _ in range(2):
            with pytest.raises(FunctionError, match=re.escape(error_type)):
                local.invoke(function, {})
    finally:
        local.stop()
    errors = [line for line in log.getvalue().splitlines() if f"[ERROR] {error_type}: {message}" in line]
    assert len(errors) == 3  # at Init, and again for each invocation (Lambda runs Init again)
    assert local.errors[function] == 2


@pytest.fixture(scope="module")
def logging_app():
    names = ["QuietFunction", "VerboseFunction", "TextFunction"]
    local, log = start(APPS / "logging" / "template.yaml", names)
    yield local, log
    local.stop()


def records(log: io.StringIO, function: str, request_id: str | None = None) -> list[str]:
    lines = [line.split(" ", 2)[2] for line in log.getvalue().splitlines() if f" {function} " in line]
    return [line for line in lines if request_id is None or request_id in line or "plain print" in line]


def test_json_with_warn_levels_drops_platform_lines_and_application_lines_below_warn(logging_app):
    local, log = logging_app
    answer = local.invoke("QuietFunction", {})
    told = (answer["format"], answer["level"], answer["group"])
    assert told == ("JSON", "WARN", "/aws/lambda/QuietFunction")
    assert answer["powertoolsLevel"] == 30  # logging.WARNING: Powertools' Logger reads AWS_LAMBDA_LOG_LEVEL
    lines = [json.loads(line) for line in records(log, "QuietFunction") if line.startswith("{")]
    assert not [line for line in lines if "type" in line]  # no platform.* records at system WARN
    root = [line for line in lines if line.get("logger") == "root"]
    assert [(line["level"], line["message"]) for line in root] == [("WARNING", "root warning")]
    assert root[0]["requestId"] == answer["requestId"]
    powertools = [line["message"] for line in lines if line.get("service") == "logging-fixture"]
    assert powertools == ["powertools warning"]
    assert "plain print" not in records(log, "QuietFunction")  # no level: INFO, below WARN


def test_json_with_debug_and_info_keeps_everything_and_writes_platform_records(logging_app):
    local, log = logging_app
    answer = local.invoke("VerboseFunction", {})
    request_id = answer["requestId"]
    assert (answer["level"], answer["group"]) == ("DEBUG", "/custom/verbose")  # its own over Globals
    lines = [json.loads(line) for line in records(log, "VerboseFunction") if line.startswith("{")]
    kinds = [line["type"] for line in lines if "type" in line]
    assert kinds[0] == "platform.initStart"
    assert kinds[1:] == ["platform.start", "platform.report"]
    start, report = (line for line in lines if line.get("type") in {"platform.start", "platform.report"})
    assert start["record"] == {"requestId": request_id, "version": "$LATEST"}
    assert report["record"]["requestId"] == request_id
    assert report["record"]["metrics"]["billedDurationMs"] >= report["record"]["metrics"]["durationMs"]
    assert "initDurationMs" in report["record"]["metrics"]  # its environment's first invocation
    root = [line["message"] for line in lines if line.get("logger") == "root"]
    assert root == ["root debug", "root info", "root warning"]


def test_text_format_has_no_levels_and_the_root_logger_stays_at_warning(logging_app):
    local, log = logging_app
    answer = local.invoke("TextFunction", {})
    assert (answer["format"], answer["level"]) == ("Text", None)
    lines = records(log, "TextFunction")
    assert f"START RequestId: {answer['requestId']} Version: $LATEST" in lines
    logged = [line for line in lines if line.startswith("[")]
    assert len(logged) == 1
    assert logged[0].startswith("[WARNING]\t")  # Python's default level
    assert "plain print" in lines
