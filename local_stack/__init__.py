"""The local stack: any SAM WebSocket application (this project's connection tracker by default)
on one machine, with no AWS account.

``python -m local_stack up`` (``make dev``) reads a SAM template and runs what it declares,
laid out by the AWS service each part emulates:

- ``provisioning``: moto in server mode on loopback (with fixes for faithfulness and throughput)
  and the template's resources provisioned on it;
- ``apigateway``: the WebSocket endpoint, ``@connections`` and its certificate;
- ``awslambda``: execution environments, the worker inside one, the event source mapping
  (tumbling windows included) and its filters;
- ``dynamodb``: stream records as Lambda sees them, and the TTL process;
- ``cloudwatch``: metrics, alarms and their evaluation, EMF extraction, the services' own metrics;
- ``logs``: CloudWatch Logs and Logs Insights;
- ``events``: the template's schedules;
- ``dashboard``: the browser page, the terminal view and a screenshot;
- ``periodic``: the background loop each of those services runs on its own clock (TTL deletions,
  stream polling, alarm evaluation, schedules, log delivery...);
- ``harness``: not emulation, the stack as a child process and the load generator.

``stack`` wires them together; ``cli`` is the command line; ``controls`` and ``faults`` are the
management port's controls. Importing the package has no side effect; the program puts the
template's layers on ``sys.path`` when it starts (``__main__``), as Lambda mounts them at
``/opt/python``.
"""
