"""The AWS clients of a function, from botocore directly.

``import boto3`` costs a cold start more than the clients need: boto3 imports s3transfer (and
with it multiprocessing) for S3 transfers no function here makes. The low-level clients are
botocore's own; boto3's ``boto3.client`` is a thin wrapper around the same ``create_client``. One
botocore session per execution environment, so that its loaders (service models, endpoint rules)
are read once.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from botocore.session import Session

# botocore's standard retry mode: throttling and transient errors are retried with backoff,
# three attempts in all; timeouts well inside API Gateway's 29 s integration limit.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
)


@cache
def session() -> Session:
    """This execution environment's botocore session (credentials, region and endpoint from the
    environment, as Lambda provides them)."""
    return botocore.session.get_session()


def client(service: str, **kwargs: Any) -> Any:  # noqa: ANN401 - typed by the callers
    """A low-level client of ``service`` with the functions' retry and timeout settings."""
    return session().create_client(service, config=CLIENT_CONFIG, **kwargs)
