"""Powertools' batch processing, as the stream consumer uses it: without running the import of
``asyncio`` on a cold start.

``aws_lambda_powertools.utilities.batch`` imports ``asyncio`` at the top of its base module for its
async processor, and reads it only inside that processor's methods; the consumer runs the
synchronous ``BatchProcessor``. So ``asyncio`` is put in ``sys.modules`` as a stand-in first
(:func:`defer_import`): the first attribute anything reads from it runs the real import, as it
would have run at the start. ``importlib.util.LazyLoader`` does not do here: an ``import``
statement reads the module's ``__spec__``, which makes a lazy module load at once.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module not run yet: its import metadata (``__spec__``,
    ``__name__``) is answered without running it, as an ``import`` statement reads it; any other
    attribute runs the real import, and the stand-in then answers as the real module does."""

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - only for what the stand-in lacks
        real = sys.modules.get(self.__name__)
        if real is self or real is None:
            sys.modules.pop(self.__name__, None)
            real = importlib.import_module(self.__name__)
        vars(self).update(vars(real))  # who bound the stand-in reads the real module's names
        return getattr(real, name)


def defer_import(name: str) -> None:
    """Let ``name``'s import run on its first use instead of now (no-op when already imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return  # the real import reports it
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in


defer_import("asyncio")

from aws_lambda_powertools.utilities.batch import (  # noqa: E402 - after asyncio is deferred
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse  # noqa: E402

__all__ = [
    "BatchProcessor",
    "EventType",
    "PartialItemFailureResponse",
    "defer_import",
    "process_partial_response",
]
