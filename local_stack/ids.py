"""Request ids (Lambda's, API Gateway's): unique and random, not secrets. Drawn from a
Mersenne Twister seeded from the system's random source, not with a system call each
(``uuid.uuid4`` reads ``os.urandom`` for every id; several ids a connection). Connection ids, which
name a client's connection to ``@connections``, keep ``secrets`` (``apigateway.events``)."""

from __future__ import annotations

import random
import uuid

_random = random.Random()  # noqa: S311 - ids to tell requests apart, not secrets


def request_uuid() -> str:
    """A version 4 UUID, as Lambda's request ids are."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


def random_bytes(count: int) -> bytes:
    return _random.randbytes(count)
