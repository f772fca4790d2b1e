"""``template.yaml`` as data: the single source of deploy facts for the tests, ``ops/``, ``bench/``
and the local stack. Importing it has no side effect.

- ``model``: loading (CloudFormation tags), resources by type, properties, parameters.
- ``intrinsics``: ``!Ref`` and friends resolved as a deployment would.
- ``tables``: the template's DynamoDB tables created under names of the caller's choosing.
- ``handlers``: a function's handler loaded as Lambda loads it, and the context object it gets.
- ``logging_config``: a function's ``LoggingConfig`` as Lambda applies it (which lines it keeps).
- ``schedules``: the functions EventBridge invokes on a ``rate(...)`` schedule, and how often.
- ``monitoring``: the alarms' metrics and the dashboards, as CloudWatch bills them.

The template's rules that both the local stack and ``ops/`` apply live here, read once (``ops``
does not import ``local_stack``).

The package imports none of them: an execution environment of the local stack imports
``handlers`` alone (no YAML loader, no template) before its function's own code.
"""
