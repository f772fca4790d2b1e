"""A template's DynamoDB stream event source mappings and their settings, with Lambda's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sam_template.intrinsics import resource_named

if TYPE_CHECKING:
    from sam_template.model import Template


@dataclass(frozen=True)
class SourceSettings:
    batch_size: int
    batching_window: float
    filter_criteria: dict[str, Any] | None
    max_retries: int
    bisect: bool
    report_item_failures: bool
    starting_position: str
    tumbling_window: int = 0  # seconds; 0: none

    @classmethod
    def from_properties(
        cls, source: dict[str, Any], parameters: dict[str, str] | None = None
    ) -> SourceSettings:
        """The settings of an event source mapping, with Lambda's defaults (``parameters``: what a
        ``!Ref`` of a template parameter gives)."""
        window = source.get("TumblingWindowInSeconds", 0)
        if isinstance(window, dict) and set(window) == {"Ref"}:
            window = (parameters or {}).get(str(window["Ref"]), 0)
        return cls(
            tumbling_window=int(window or 0),
            batch_size=int(source.get("BatchSize", 100)),
            batching_window=float(source.get("MaximumBatchingWindowInSeconds", 0)),
            filter_criteria=source.get("FilterCriteria"),
            max_retries=int(source.get("MaximumRetryAttempts", -1)),
            bisect=bool(source.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures" in source.get("FunctionResponseTypes", []),
            starting_position=str(source.get("StartingPosition", "TRIM_HORIZON")),
        )


@dataclass(frozen=True)
class StreamSource:
    """A function's ``DynamoDB`` event: which table's stream, where failed batches go, how."""

    function: str
    table: str
    on_failure_queue: str | None
    settings: SourceSettings


def stream_sources(template: Template, parameters: dict[str, str] | None = None) -> list[StreamSource]:
    """Every enabled event source mapping of the template that reads the stream of one of its
    DynamoDB tables (what SAM makes of a function's ``DynamoDB`` event), in template order; others
    are named at start as not emulated (``stack.notices``). ``parameters``: the deployment's
    (default: the template's defaults)."""
    parameters = template.parameter_defaults() if parameters is None else parameters
    found = []
    tables = template.of_type("AWS::DynamoDB::Table")
    for mapping in template.of_type("AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        table = resource_named(properties.get("EventSourceArn"))
        function = resource_named(properties.get("FunctionName"))
        if table not in tables or function is None or properties.get("Enabled", True) is False:
            continue
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        settings = SourceSettings.from_properties(properties, parameters)
        found.append(StreamSource(function, table, resource_named(destination), settings))
    return found
