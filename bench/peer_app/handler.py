"""The trivial WebSocket application both local emulators run in ``python -m bench peer``: a
``$connect`` and a ``$disconnect`` handler that answer 200 and do nothing else, so the benchmark
measures the emulators, not the application."""

from typing import Any


def connect(event: dict[str, Any], context: object) -> dict[str, int]:
    return {"statusCode": 200}


def disconnect(event: dict[str, Any], context: object) -> dict[str, int]:
    return {"statusCode": 200}
