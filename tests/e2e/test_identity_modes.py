"""The local stack starts with every AuthMode of the template: SAM's expansion with the authorizer,
and (cognito) the user pool, whose emulation is named at start when it is not provisioned."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODES = {
    "cognito": ["AuthMode=cognito"],
    "oidc": ["AuthMode=oidc", "AuthIssuer=https://login.example.com/tenant", "AuthAudience=api://tracker"],
}


@pytest.mark.parametrize("overrides", MODES.values(), ids=MODES)
def test_the_stack_starts_with_an_authorizer_in_the_template(tmp_path, overrides):
    stack = start_stack(tmp_path, "--parameter-overrides", *overrides)
    try:
        assert stack.ready["url"].startswith("ws://")
        # the authorizer's own requirements (PyJWT, cryptography) were installed for it, as sam build does
        assert not [notice for notice in stack.ready["notices"] if "could not install" in notice]
    finally:
        assert stack.stop() == 0
