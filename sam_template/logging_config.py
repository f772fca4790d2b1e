"""A function's logging configuration (``LoggingConfig``) as Lambda applies it: the one reading of
the rule, for the local stack (what its runtime writes and delivers), the capacity model and the
cost meter (whether Lambda's own START, END and REPORT lines reach CloudWatch Logs).

Sources: "Configuring advanced logging controls for Lambda functions"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html), its pages
"Configuring JSON and plain text log formats"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html) and
"Log-level filtering" (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html),
the ``LoggingConfig`` API type (https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html)
and SAM's ``Globals`` (a map property: the function's own keys win over the section's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sam_template.model import Template

# Application log levels, most detail first ("Log-level filtering": TRACE is the highest level of
# detail, FATAL the lowest); Python's names map onto them (WARNING is WARN, CRITICAL is FATAL).
APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _rank(level: str) -> int | None:
    name = _ALIASES.get(level.upper(), level.upper())
    return APPLICATION_LEVELS.index(name) if name in APPLICATION_LEVELS else None


@dataclass(frozen=True)
class LogSettings:
    """A function's ``LoggingConfig`` as Lambda applies it. The format is ``Text`` unless set; the
    levels only apply to ``JSON`` (log-level filtering needs the JSON format), where they default to
    INFO; the log group is ``/aws/lambda/<function name>`` unless set."""

    log_format: str = "Text"
    application_level: str | None = None
    system_level: str | None = None
    log_group: str = ""

    @classmethod
    def of(
        cls,
        template: Template,
        logical_id: str,
        resolve: Callable[[Any], Any] | None = None,
    ) -> LogSettings:
        """The function's own ``LoggingConfig`` over ``Globals`` (as SAM merges a map property: the
        function's keys win; an expanded template has no ``Globals``, SAM merged them already);
        intrinsic values resolved by ``resolve`` when given."""
        merged = dict(template.body.get("Globals", {}).get("Function", {}).get("LoggingConfig") or {})
        merged.update(template.properties(logical_id).get("LoggingConfig") or {})
        return cls.from_config(
            {key: resolve(value) if resolve else value for key, value in merged.items()}, logical_id
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, function_name: str) -> LogSettings:
        """A ``LoggingConfig`` (``None``: none) of the function named ``function_name``."""
        given = {key: str(value) for key, value in (config or {}).items()}
        log_format = "JSON" if given.get("LogFormat", "Text").upper() == "JSON" else "Text"
        group = given.get("LogGroup") or f"/aws/lambda/{function_name}"
        if log_format != "JSON":
            return cls("Text", None, None, group)
        return cls(
            "JSON",
            given.get("ApplicationLogLevel", "INFO").upper(),
            given.get("SystemLogLevel", "INFO").upper(),
            group,
        )

    def variables(self) -> dict[str, str]:
        """What Lambda tells the runtime (and libraries such as Powertools' Logger) about it:
        ``AWS_LAMBDA_LOG_FORMAT``, and ``AWS_LAMBDA_LOG_LEVEL`` (the application level) with JSON."""
        variables = {"AWS_LAMBDA_LOG_FORMAT": self.log_format, "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group}
        if self.application_level is not None:
            variables["AWS_LAMBDA_LOG_LEVEL"] = self.application_level
        return variables

    def keeps_system(self, level: str = "INFO") -> bool:
        """Whether a system line of this level reaches CloudWatch: Lambda's START, END and REPORT
        lines are INFO, written for every invocation unless the JSON format's ``SystemLogLevel``
        filters them (the Text format filters nothing)."""
        if self.system_level is None:
            return True
        return SYSTEM_LEVELS.index(level) >= SYSTEM_LEVELS.index(self.system_level)

    def keeps(self, line: str) -> bool:
        """Whether an application log line reaches CloudWatch: with JSON, a line is filtered by the
        ``level`` of the JSON object it is; a missing or invalid level counts as INFO ("Log-level
        filtering"). EMF documents are not filtered here (their metrics are always extracted; the
        documentation does not say what becomes of one under a level above INFO)."""
        if self.application_level is None:
            return True
        level = "INFO"
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except json.JSONDecodeError:
                document = None
            if isinstance(document, dict):
                if "_aws" in document:
                    return True
                if isinstance(document.get("level"), str) and _rank(document["level"]) is not None:
                    level = document["level"]
        threshold = _rank(self.application_level)
        rank = _rank(level)
        return threshold is None or rank is None or rank >= threshold
