"""moto's server, as ``python -m moto.server`` runs it, with one fix and two changes for throughput:

- stream records get unique sequence numbers: moto numbers them by the shard's length without a
  lock, so two concurrent writes on the threaded server could share one (seen: 2 of 300);
- a transaction snapshots each table it touches once, not once per action: moto deep-copies the
  table for every one of up to 100 actions (a 1,000-marker gauge batch took 37 s, now ~1 s);
- requests are not logged (werkzeug writes a line per request);
- the backend of a request is looked up once per SigV4 scope and ``X-Amz-Target`` service, not by
  matching every backend's URL patterns on every request (a third of moto's time under load).

Run as ``python -m local_stack.moto_server HOST PORT``.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import sys
import threading
from types import SimpleNamespace
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard, Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class _Dispatcher(DomainDispatcherApplication):
    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._known: dict[tuple[str, str], Any] = {}

    def get_application(self, environ: dict[str, Any]) -> Any:  # noqa: ANN401
        authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
        if not authorization.startswith("AWS4-HMAC-SHA256") or str(environ.get("PATH_INFO", "")).startswith(
            "/moto-api"
        ):
            return super().get_application(environ)
        scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/", 2)[-1]
        target = str(environ.get("HTTP_X_AMZ_TARGET", "")).split(".", 1)[0]
        key = (scope, target)
        application = self._known.get(key)
        if application is None:
            application = self._known[key] = super().get_application(environ)
        return application


def _serialize_stream_appends() -> None:
    add = StreamShard.add
    lock = threading.Lock()

    def add_one_at_a_time(self: StreamShard, old: Any, new: Any) -> None:  # noqa: ANN401
        with lock:
            add(self, old, new)

    StreamShard.add = add_one_at_a_time  # type: ignore[method-assign]


def _snapshot_tables_once() -> None:
    transact = DynamoDBBackend.transact_write_items
    lock = threading.Lock()

    def transact_with_one_snapshot(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        snapshots: dict[int, Any] = {}

        def deepcopy_once(value: Any, memo: Any = None) -> Any:  # noqa: ANN401
            if not isinstance(value, Table):  # items and the rest: as moto copies them
                return copy.deepcopy(value, memo)
            if id(value) not in snapshots:
                snapshots[id(value)] = copy.deepcopy(value, memo)
            return snapshots[id(value)]

        with lock:  # the module's `copy` is swapped for the duration of one transaction
            setattr(dynamodb_models, "copy", SimpleNamespace(deepcopy=deepcopy_once))  # noqa: B010
            try:
                transact(self, transact_items)
            finally:
                setattr(dynamodb_models, "copy", copy)  # noqa: B010

    DynamoDBBackend.transact_write_items = transact_with_one_snapshot  # type: ignore[method-assign]


def main(host: str, port: int) -> None:
    _serialize_stream_appends()
    _snapshot_tables_once()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, _Dispatcher(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
