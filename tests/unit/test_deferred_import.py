"""A deferred import runs the module on its first use, not before, and then behaves as the module."""

from __future__ import annotations

import importlib
import sys

import pytest

from connection_tracker.batch import defer_import

MODULE = """
import sys
sys.deferred_runs = getattr(sys, "deferred_runs", 0) + 1
ANSWER = 42
def double(x):
    return 2 * x
"""


@pytest.fixture
def module_on_path(tmp_path, monkeypatch):
    (tmp_path / "deferred_sample.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "deferred_runs", 0, raising=False)
    yield "deferred_sample"
    sys.modules.pop("deferred_sample", None)


def test_an_import_statement_does_not_run_a_deferred_module(module_on_path):
    defer_import(module_on_path)
    module = importlib.import_module(module_on_path)  # as `import deferred_sample` does
    assert sys.deferred_runs == 0
    assert module.double(21) == module.ANSWER  # the first use runs it, once
    assert sys.deferred_runs == 1
    assert sys.modules[module_on_path].ANSWER == 42  # later importers get the real module
    assert sys.deferred_runs == 1


def test_an_imported_module_is_left_as_it_is(module_on_path):
    real = importlib.import_module(module_on_path)
    defer_import(module_on_path)
    assert sys.modules[module_on_path] is real
    assert sys.deferred_runs == 1


def test_a_module_that_does_not_exist_fails_when_imported():
    defer_import("no_such_module_here")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("no_such_module_here")
