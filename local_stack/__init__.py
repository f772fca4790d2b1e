"""The local stack: the whole connection tracker on one machine, no AWS account.

``python -m local_stack`` (``make dev``) starts moto in server mode, provisions the table from
``template.yaml``, serves a WebSocket endpoint that emulates API Gateway, and polls the table's
stream like Lambda's event source mapping.
"""
