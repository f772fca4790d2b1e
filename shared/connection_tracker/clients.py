"""The AWS clients of a function, from botocore directly.

``import boto3`` costs a cold start more than the clients need: boto3 imports s3transfer (and
with it multiprocessing) for S3 transfers no function here makes. The low-level clients are
botocore's own; boto3's ``boto3.client`` is a thin wrapper around the same ``create_client``. One
botocore session per execution environment, so that its loaders (service models, endpoint rules)
are read once.

Each client's timeouts and attempts follow from the function's Timeout, and each of its calls is
gated on the invocation's deadline (``connection_tracker.budget``).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session

from connection_tracker import budget

if TYPE_CHECKING:
    from botocore.session import Session


@cache
def session() -> Session:
    """This execution environment's botocore session (credentials, region and endpoint from the
    environment, as Lambda provides them)."""
    return botocore.session.get_session()


def client(service: str, **kwargs: Any) -> Any:  # noqa: ANN401 - typed by the callers
    """A low-level client of ``service`` with the running function's timeouts and attempts
    (botocore's standard retry mode), each call ending before the invocation's deadline."""
    settings = budget.current()
    made = session().create_client(service, config=settings.config(), **kwargs)
    budget.guard(made, settings)
    return made
