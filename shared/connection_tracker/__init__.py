"""Shared package of the connection tracker, shipped to every function as a Lambda layer.

Modules, in the order an event flows through them (docs/architecture.md has the contract):

- ``settings``: the environment, validated once per execution environment.
- ``runtime``: what a function builds once per execution environment (settings, table clients).
- ``websocket``: API Gateway WebSocket events parsed into requests (client input is validated here).
- ``models``: the connection item, its validation and its DynamoDB form.
- ``store``: data access to the connections table.
- ``connections_api``: API Gateway's ``@connections`` (is a connection there, close it).
- ``maintenance``: the stale-connection sweep and per-client de-duplication.
- ``streams``: stream records classified into connection events.
- ``tally``: one delivery of the stream, record by record, and what of it may be published.
- ``consumer``: the consumer's writes (gauge, set-aside records), in the order that keeps counts exact.
- ``counters``: the counters table (gauge count, markers, the sweeper's cursor).
- ``gauge``: the exact, replay-safe ``ActiveConnections`` gauge.
- ``dead_letter``: malformed records kept whole on the stream's dead-letter queue.
- ``catalogue``: every metric name and unit the product emits.
- ``observability``: the one Logger and Metrics of a function.
"""

from __future__ import annotations
