"""The local stack takes paths as the user spells them and hands on only absolute ones: an execution
environment changes into its code folder, where a relative path names another file."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_stack.awslambda.runtime import relative_paths
from local_stack.stack import Options
from sam_template.handlers import HandlerCode


def test_the_log_and_the_template_are_resolved_where_the_stack_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    default = Options()
    chosen = Options(log_path=Path("logs/functions.log"), template_path=Path("../app/template.yaml"))

    assert default.log_path == tmp_path.resolve() / ".local-stack" / "functions.log"
    assert chosen.log_path == tmp_path.resolve() / "logs" / "functions.log"
    assert chosen.template_path == tmp_path.resolve().parent / "app" / "template.yaml"
    assert Options(template_path=None).template_path is None  # this project's template.yaml


@pytest.mark.parametrize(
    ("code", "environment", "named"),
    [
        (HandlerCode(Path("app"), "app", "handler", ()), {}, ["code folder app"]),
        (
            HandlerCode(
                Path("/srv/app"), "app", "handler", (Path("shared"),), Path(".local-stack/dependencies/ab")
            ),
            {"AWS_CA_BUNDLE": ".local-stack/local-stack-cert.pem", "LAMBDA_TASK_ROOT": "/srv/app"},
            [
                "layer shared",
                "dependencies .local-stack/dependencies/ab",
                "AWS_CA_BUNDLE=.local-stack/local-stack-cert.pem",
            ],
        ),
        (
            HandlerCode(Path("/srv/app"), "app", "handler", (Path("/srv/shared"),), Path("/srv/deps")),
            {"AWS_CA_BUNDLE": "/srv/cert.pem", "LAMBDA_TASK_ROOT": "/srv/app"},
            [],
        ),
    ],
)
def test_a_relative_path_for_an_environment_is_named(code, environment, named):
    assert relative_paths(code, environment) == named
