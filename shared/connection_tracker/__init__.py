"""Shared package of the connection tracker, shipped to every function as a Lambda layer.

Modules, in the order an event flows through them:

- ``settings``: the environment, validated once per cold start.
- ``websocket``: API Gateway WebSocket events parsed into requests (client input is validated here).
- ``models``: the connection item, its validation and its DynamoDB form.
- ``store``: data access to the connections table.
- ``catalogue``: every metric name and unit the product emits.
- ``observability``: the one Logger and Metrics of a function.
"""

from __future__ import annotations
