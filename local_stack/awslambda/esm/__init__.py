"""Lambda's event source mapping for DynamoDB streams, emulated: the template's settings
(``settings``), what an invocation leaves done (``outcome``), tumbling windows per shard
(``windows``), and the poller that reads the shards and delivers their batches (``poller``)."""

from local_stack.awslambda.esm.outcome import Outcome, outcome
from local_stack.awslambda.esm.poller import POLL_INTERVAL_SECONDS, StreamPoller
from local_stack.awslambda.esm.settings import SourceSettings, StreamSource, stream_sources
from local_stack.awslambda.esm.windows import CLOSING_SHARD_NOTICE, MAX_STATE_BYTES, Shard, window_start

__all__ = [
    "CLOSING_SHARD_NOTICE",
    "MAX_STATE_BYTES",
    "POLL_INTERVAL_SECONDS",
    "Outcome",
    "Shard",
    "SourceSettings",
    "StreamPoller",
    "StreamSource",
    "outcome",
    "stream_sources",
    "window_start",
]
