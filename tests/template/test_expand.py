"""The local stack runs the plain CloudFormation SAM's own translator makes of a template: what it
reads (functions, stream sources, schedules, environments) is SAM's expansion, not ours."""

from __future__ import annotations

import textwrap

import pytest

from local_stack.awslambda.esm import stream_sources
from local_stack.emulated import function_concurrency, notices
from sam_template.expand import TranslationError, expand
from sam_template.model import declared_variables, load_template
from sam_template.schedules import schedules


@pytest.fixture(scope="module")
def ours():
    written = load_template()
    return written, expand(written, written.parameter_defaults())


def write(tmp_path, body: str):
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body))
    (tmp_path / "app").mkdir(exist_ok=True)
    return load_template(path)


def test_every_function_keeps_its_code_folder_handler_and_timeout(ours):
    written, expanded = ours
    functions = written.of_type("AWS::Serverless::Function")
    assert set(expanded.of_type("AWS::Lambda::Function")) == set(functions)
    assert not expanded.of_type("AWS::Serverless::Function")
    for logical_id in functions:
        assert expanded.function_code(logical_id) == written.function_code(logical_id)
        assert expanded.function_timeout(logical_id) == written.function_timeout(logical_id)
        # SAM merged Globals into each function: the same variables as the template declares
        assert declared_variables(expanded, logical_id) == declared_variables(written, logical_id)
    assert expanded.layer_folders() == written.layer_folders()


def test_the_stream_event_becomes_sams_event_source_mapping_with_its_settings(ours):
    written, expanded = ours
    (source,) = stream_sources(expanded)
    event = next(
        event["Properties"]
        for event in written.properties(source.function)["Events"].values()
        if event["Type"] == "DynamoDB"
    )
    assert source.table == "ConnectionsTable"
    assert source.settings.batch_size == event["BatchSize"]
    assert source.settings.batching_window == event["MaximumBatchingWindowInSeconds"]
    assert source.settings.report_item_failures
    assert source.on_failure_queue == "StreamDeadLetterQueue"


def test_schedules_come_from_sams_rules_and_scheduled_functions_get_one_environment(ours):
    written, expanded = ours
    expected = {
        logical_id
        for logical_id, function in written.of_type("AWS::Serverless::Function").items()
        if any(event["Type"] == "Schedule" for event in function["Properties"].get("Events", {}).values())
    }
    every = schedules(expanded)
    assert expected  # the sweep and the reconcile run on a schedule
    assert set(every) == expected
    assert schedules(written) == every  # the capacity model reads the template as written
    assert all(seconds >= 60 for seconds in every.values())
    concurrency = function_concurrency(expanded, stream_sources(expanded), routed={"ConnectFunction"})
    assert {name: concurrency[name] for name in expected} == dict.fromkeys(expected, 1)
    assert concurrency["ConnectFunction"] > 1


def test_what_is_not_emulated_is_named_after_expansion(tmp_path):
    template = write(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Queue:
            Type: AWS::SQS::Queue
          Worker:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: app/
              Handler: app.handler
              Runtime: python3.8
              Events:
                Nightly:
                  Type: Schedule
                  Properties:
                    Schedule: cron(0 3 * * ? *)
                Jobs:
                  Type: SQS
                  Properties:
                    Queue: !GetAtt Queue.Arn
        """,
    )
    found = notices(expand(template))
    assert any(n.startswith("WorkerNightly (cron(0 3 * * ? *)) is not emulated") for n in found)
    assert any(n.startswith("WorkerJobs (a source of Worker") for n in found)
    assert any("Worker asks for python3.8: it runs on this machine's" in n for n in found)
    assert any(n.startswith("IAM is not enforced") and "WorkerRole" in n for n in found)


def test_a_template_sam_rejects_fails_with_sams_message(tmp_path):
    template = write(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Broken:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: app/
              Handler: app.handler
              Runtime: python3.12
              Events:
                Stream:
                  Type: DynamoDB
                  Properties:
                    StartingPosition: LATEST
        """,
    )
    with pytest.raises(TranslationError, match=r"SAM cannot translate the template: .*Broken"):
        expand(template)


def test_a_managed_policy_named_without_its_arn_is_explained(tmp_path):
    template = write(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Reader:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: app/
              Handler: app.handler
              Runtime: python3.12
              Policies: [SomeTeamsOwnPolicy]
        """,
    )
    with pytest.raises(TranslationError, match="use its ARN"):
        expand(template)


def test_parameter_overrides_reach_the_expanded_template_the_mapping_reads():
    written = load_template()
    parameters = {**written.parameter_defaults(), "GaugeWindowSeconds": "5"}
    (source,) = stream_sources(expand(written, parameters), parameters)
    assert source.settings.tumbling_window == 5
    (default,) = stream_sources(expand(written, written.parameter_defaults()))
    assert default.settings.tumbling_window == int(written.parameter_defaults()["GaugeWindowSeconds"])


def test_iam_authorization_of_connect_is_said_not_emulated(tmp_path):
    template = write(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Api:
            Type: AWS::ApiGatewayV2::Api
            Properties:
              Name: signed
              ProtocolType: WEBSOCKET
              RouteSelectionExpression: $request.body.action
          ConnectRoute:
            Type: AWS::ApiGatewayV2::Route
            Properties:
              ApiId: !Ref Api
              RouteKey: $connect
              AuthorizationType: AWS_IAM
        """,
    )
    found = notices(expand(template))
    assert "AWS_IAM authorization of $connect is not emulated: every handshake is let through" in found
    assert not any("Authorizer" in notice for notice in found)


def test_an_app_client_of_a_pool_outside_the_template_is_said_not_created(tmp_path):
    template = write(
        tmp_path,
        """\
        Transform: AWS::Serverless-2016-10-31
        Parameters:
          ExistingPool:
            Type: String
            Default: us-east-1_abc
        Resources:
          Users:
            Type: AWS::Cognito::UserPool
          Mine:
            Type: AWS::Cognito::UserPoolClient
            Properties:
              UserPoolId: !Ref Users
          Theirs:
            Type: AWS::Cognito::UserPoolClient
            Properties:
              UserPoolId: !Ref ExistingPool
        """,
    )
    found = notices(expand(template))
    assert "Theirs is not created: its user pool is not one of the template's" in found
    assert not any(notice.startswith(("Mine", "AWS::Cognito")) for notice in found)
