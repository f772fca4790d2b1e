"""The load generator's tokens: read once from a file or a command, sent in turn as ?token=."""

from __future__ import annotations

import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from local_stack.harness.loadgen import _url, load_tokens


def test_clients_send_the_tokens_in_turn():
    tokens = ("a.b.c", "d.e.f")
    sent = [parse_qs(urlsplit(_url("ws://h/prod", f"c{n}", tokens, n)).query)["token"] for n in range(3)]
    assert sent == [["a.b.c"], ["d.e.f"], ["a.b.c"]]


def test_without_tokens_no_token_is_sent():
    assert "token" not in parse_qs(urlsplit(_url("ws://h/prod?x=1", "c0")).query)


def test_tokens_come_from_a_file_one_a_line(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("one\n\n two \n")
    assert load_tokens(path=path) == ("one", "two")


def test_tokens_come_from_what_a_command_prints():
    command = f"{sys.executable} -c \"print('x.y.z'); print('u.v.w')\""
    assert load_tokens(command=command) == ("x.y.z", "u.v.w")


def test_a_source_without_tokens_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n")
    with pytest.raises(ValueError, match="no token"):
        load_tokens(path=path)
    assert load_tokens() == ()
