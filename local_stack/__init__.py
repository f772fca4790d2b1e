"""The local stack: the whole connection tracker on one machine, no AWS account.

``python -m local_stack`` (``make dev``) starts moto in server mode, provisions the template's
resources, serves a WebSocket endpoint that emulates API Gateway, runs the functions in execution
environments of their own and polls the table's stream like Lambda's event source mapping.
Importing the package has no side effect; the program puts the template's layers on ``sys.path``
when it starts (``__main__``), as Lambda mounts them at ``/opt/python``.
"""
