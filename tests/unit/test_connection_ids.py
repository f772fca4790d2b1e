"""Connection ids of the local gateway: shaped like API Gateway's, so a client or a handler that
parses them (or puts them in an ``@connections`` URL) behaves as it will on AWS."""

from __future__ import annotations

import re
import string

from local_stack.apigateway.events import new_connection_id


def test_an_id_is_fifteen_letters_or_digits_and_a_trailing_equals_sign():
    ids = [new_connection_id() for _ in range(2_000)]

    assert all(re.fullmatch(r"[A-Za-z0-9]{15}=", connection_id) for connection_id in ids)
    assert len(set(ids)) == len(ids)


def test_every_letter_and_digit_is_drawn():
    """30,000 draws: each of the 62 characters is expected ~480 times; one never drawn means the
    draw is biased (e.g. part of the alphabet unreachable)."""
    drawn = {character for _ in range(2_000) for character in new_connection_id()[:-1]}

    assert drawn == set(string.ascii_letters + string.digits)
