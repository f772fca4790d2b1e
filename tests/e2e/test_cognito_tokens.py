"""A template's Cognito user pool runs in the local stack (tests/e2e/apps/cognito): the pool and
its app client are provisioned, their Refs and GetAtts resolve in the functions' variables, the
pool serves its JWKS, and `python -m local_stack token` gives a token its authorizer accepts; the
load generator authenticates with such tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.provisioning import emulator as aws
from tests.e2e.conftest import handshake, start_stack
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

COGNITO = Path(__file__).parent / "apps" / "cognito" / "template.yaml"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("cognito"), "--template", str(COGNITO))
    yield stack
    stack.stop()
    print("".join(stack.printed()))


def _cli(stack, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m local_stack ...`` from the project root, as a newcomer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "local_stack", *arguments],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _token(stack, *arguments: str) -> str:
    done = _cli(stack, "token", "--stack-file", str(stack.log_path.parent / "stack.json"), *arguments)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_pool_and_its_client_are_provisioned_and_described(app):
    pools = app.ready["userPools"]
    assert list(pools) == ["Users"]
    assert list(pools["Users"]["clients"]) == ["UsersClient"]
    cognito = aws.client("cognito-idp", app.ready["awsEndpoint"])
    pool = cognito.describe_user_pool(UserPoolId=pools["Users"]["id"])["UserPool"]
    assert pool["Name"] == "local-Users"  # a name written with !Sub: the stack names it
    client = cognito.describe_user_pool_client(
        UserPoolId=pools["Users"]["id"], ClientId=pools["Users"]["clients"]["UsersClient"]
    )["UserPoolClient"]
    assert client["ClientName"] == "web"
    # the template's Outputs: !Ref of the pool is its id, of the client its client id
    assert app.ready["outputs"] == {
        "UserPoolId": pools["Users"]["id"],
        "UserPoolClientId": pools["Users"]["clients"]["UsersClient"],
    }
    assert not any("Cognito" in notice for notice in app.ready["notices"])


def test_a_token_from_the_token_command_is_accepted_and_names_the_user(app):
    token = _token(app, "--user", "alice")
    assert token.count(".") == 2  # a JWT
    assert _token(app, "--user", "alice") != ""  # the user exists now: signed in again
    assert handshake(f"{app.url}?token={token}") == 101

    authorizer = wait_for(
        lambda: [a for a in _logged(app, "connect-authorizer ") if a and a.get("user") == "alice"]
    )[-1]
    assert authorizer["tokenUse"] == "id"
    cognito = aws.client("cognito-idp", app.ready["awsEndpoint"])
    user = cognito.admin_get_user(UserPoolId=app.ready["userPools"]["Users"]["id"], Username="alice")
    sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    assert authorizer["principalId"] == sub
    # the variables made of !Ref and !GetAtt of the pool and its client resolved (the authorizer
    # verified issuer and audience with them, and logged the pool of the ARN)
    log = app.log_path.read_text(encoding="utf-8")
    assert f"allowed: alice pool={app.ready['userPools']['Users']['id']}" in log
    assert token not in log  # tokens are never logged


def test_no_token_is_401_and_a_forged_token_is_refused(app):
    assert handshake(app.url) == 401
    token = _token(app, "--user", "bob")
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert handshake(f"{app.url}?token={header}.{payload}.{flipped}") == 403
    assert handshake(f"{app.url}?token=not-a-token") == 403


def test_an_access_token_is_not_an_id_token(app):
    access = _token(app, "--user", "carol", "--access")
    assert handshake(f"{app.url}?token={access}") == 403  # no aud: the verifier wants the client's ID token


def test_a_wrong_password_is_refused_and_said(app):
    _token(app, "--user", "dave", "--password", "Right-Passw0rd!")
    done = _cli(
        app,
        "token",
        "--stack-file",
        str(app.log_path.parent / "stack.json"),
        "--user",
        "dave",
        "--password",
        "Wrong-Passw0rd!",
    )
    assert done.returncode == 1
    assert "NotAuthorized" in done.stderr


def test_without_a_running_stack_the_token_command_says_so(tmp_path):
    done = _cli(None, "token", "--user", "alice", "--stack-file", str(tmp_path / "stack.json"))
    assert done.returncode == 1
    assert "no running local stack" in done.stderr


def test_the_load_generator_authenticates_with_tokens(app, tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(_token(app, "--user", f"load-{n}") for n in range(3)) + "\n")
    done = _cli(app, "load", app.url, "-n", "6", "--hold", "0.1", "--json", "--tokens-file", str(tokens))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 6

    stack_file = app.log_path.parent / "stack.json"
    command = f"{sys.executable} -m local_stack token --user load-0 --stack-file {stack_file}"
    done = _cli(app, "load", app.url, "-n", "2", "--hold", "0.1", "--json", "--token-command", command)
    assert json.loads(done.stdout)["accepted"] == 2

    unauthenticated = _cli(app, "load", app.url, "-n", "2", "--hold", "0.1", "--json")
    assert json.loads(unauthenticated.stdout)["refused"] == {"401": 2}


def _logged(stack, prefix: str) -> list[dict]:
    lines = stack.log_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line.split(prefix, 1)[1]) for line in lines if prefix in line]
