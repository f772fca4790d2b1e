"""API Gateway's WebSocket side: the endpoint, ``@connections`` and its certificate."""
