"""The two ways a Logs Insights query is refused."""

from __future__ import annotations


class QueryError(ValueError):
    """The query cannot be parsed (AWS answers ``MalformedQueryException``)."""


class UnsupportedQuery(QueryError):
    """The query uses a command or function this engine does not implement: named in the message."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not supported by the local stack's Logs Insights: {what}")
