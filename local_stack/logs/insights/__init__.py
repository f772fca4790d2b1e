"""A CloudWatch Logs Insights query engine for the part of the query language the template uses.

Read from the Logs Insights documentation ("CloudWatch Logs Insights language query syntax",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html): commands are
separated by ``|``, ``#`` starts a comment. Supported commands: ``fields``, ``filter``, ``stats``,
``sort``, ``limit``, ``dedup``, ``display``, ``parse``; each command's rules are cited beside it
(:mod:`.commands`). Any other command or function is refused by name (:class:`UnsupportedQuery`),
never ignored. Fields are discovered as Logs Insights discovers them in JSON log events (nested
names joined with dots), beside the system fields ``@timestamp``, ``@message``, ``@ingestionTime``,
``@logStream`` and ``@log``.

:func:`run` answers a query over :class:`LogEvent` values; :func:`referenced_fields` names the log
fields a query reads (what the template's contract test checks against the lines the code writes).

The modules, in the order a query goes through them: :mod:`.tokens` (text → tokens),
:mod:`.parser` (tokens → :class:`Query`, its commands over the expressions of :mod:`.syntax`),
:mod:`.engine` (the commands of :mod:`.commands` applied to the rows of :mod:`.values`, with the
functions of :mod:`.functions`).
"""

from __future__ import annotations

from local_stack.logs.insights.engine import DEFAULT_LIMIT, Result, ScanCounter, run
from local_stack.logs.insights.errors import QueryError, UnsupportedQuery
from local_stack.logs.insights.parser import Query, parse, referenced_fields
from local_stack.logs.insights.values import LogEvent, Timestamp, discovered, shown

__all__ = [
    "DEFAULT_LIMIT",
    "LogEvent",
    "Query",
    "QueryError",
    "Result",
    "ScanCounter",
    "Timestamp",
    "UnsupportedQuery",
    "discovered",
    "parse",
    "referenced_fields",
    "run",
    "shown",
]
