"""``python -m local_stack token``: a token of the running stack's user pool, for a user created
on the way when missing.

The running stack is found the way the stack leaves it: ``stack.json`` beside its log (``--log``,
by default ``.local-stack/``), written when it is ready and removed when it stops: its AWS endpoint
and the template's user pools with their app clients. The user is created with AdminCreateUser
(no invitation message) and AdminSetUserPassword (permanent), and signed in with
AdminInitiateAuth (``ADMIN_USER_PASSWORD_AUTH``): the ID token is printed, or the access token.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local_stack.provisioning import emulator as aws

if TYPE_CHECKING:
    from pathlib import Path

STACK_FILE = "stack.json"
# The password of users the command creates when none is given: the local stack's own pool only,
# never a deployed one (the command talks to the running local stack's endpoint alone). It meets
# Cognito's default password policy (8 characters, upper and lower case, a number, a symbol).
DEFAULT_PASSWORD = "Local-Passw0rd!"  # noqa: S105 - a local emulator's throwaway users


def write_stack_file(folder: Path, described: dict[str, Any]) -> Path:
    """Where ``token`` (and any tool) finds the running stack: written once it is ready."""
    path = folder / STACK_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({**described, "pid": os.getpid()}, indent=2), encoding="utf-8")
    temporary.replace(path)
    return path


def remove_stack_file(folder: Path) -> None:
    """Remove this process's stack file (not another stack's that took the folder since)."""
    path = folder / STACK_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


class NoStack(RuntimeError):
    """No running stack, or one without the user pool asked for."""


@dataclass(frozen=True)
class PoolClient:
    endpoint: str
    pool_id: str
    client_id: str


def find_pool(stack_file: Path, pool: str | None = None, app_client: str | None = None) -> PoolClient:
    """The running stack's user pool and app client (their logical ids; the first ones when not
    given), from the file it writes when ready."""
    try:
        described = json.loads(stack_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise NoStack(f"no running local stack: no {stack_file} (start one: make dev)") from None
    return pool_client(described, pool, app_client)


def pool_client(
    described: dict[str, Any], pool: str | None = None, app_client: str | None = None
) -> PoolClient:
    """The user pool and app client of a running stack's description (its ready line)."""
    pools: dict[str, Any] = described.get("userPools") or {}
    if not pools:
        raise NoStack("the running stack's template has no AWS::Cognito::UserPool")
    name = pool or next(iter(pools))
    if name not in pools:
        raise NoStack(f"the running stack has no user pool {name!r} (it has {', '.join(pools)})")
    clients: dict[str, str] = pools[name]["clients"]
    if not clients:
        raise NoStack(f"user pool {name} has no AWS::Cognito::UserPoolClient in the template")
    client_name = app_client or next(iter(clients))
    if client_name not in clients:
        raise NoStack(f"user pool {name} has no app client {client_name!r} (it has {', '.join(clients)})")
    return PoolClient(str(described["awsEndpoint"]), str(pools[name]["id"]), clients[client_name])


def issue_token(target: PoolClient, user: str, password: str | None = None, *, access: bool = False) -> str:
    """The user's ID token (access token with ``access``), creating the user first when missing."""
    cognito = aws.client("cognito-idp", target.endpoint)
    chosen = password or DEFAULT_PASSWORD
    try:
        cognito.admin_get_user(UserPoolId=target.pool_id, Username=user)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(UserPoolId=target.pool_id, Username=user, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=target.pool_id, Username=user, Password=chosen, Permanent=True
        )
    result = cognito.admin_initiate_auth(
        UserPoolId=target.pool_id,
        ClientId=target.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": chosen},
    )["AuthenticationResult"]
    return str(result["AccessToken" if access else "IdToken"])
