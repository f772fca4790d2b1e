"""Lambda event filtering (``FilterCriteria``) for the records the local event source mapping polls.

Implements the pattern syntax the template uses and its common relatives: a value list matches
when the record's value equals one of them; nested objects match field by field; the content
filters ``{"exists": bool}``, ``{"prefix": str}`` and ``{"anything-but": [...]}`` are understood.
A record passes when any filter of the criteria matches it.
"""

from __future__ import annotations

import json
from typing import Any


def _value_matches(condition: Any, value: Any, present: bool) -> bool:  # noqa: ANN401
    if isinstance(condition, dict):
        if "exists" in condition:
            return bool(condition["exists"]) == present
        if "prefix" in condition:
            return present and isinstance(value, str) and value.startswith(condition["prefix"])
        if "anything-but" in condition:
            excluded = condition["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return present and value not in excluded
        raise ValueError(f"unsupported filter condition {condition!r}")
    return present and value == condition


def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    for key, expected in pattern.items():
        present = key in record
        value = record.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not any(_value_matches(condition, value, present) for condition in expected):
                return False
        else:
            raise TypeError(f"filter values must be lists or objects, not {expected!r}")
    return True


def passes(filter_criteria: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """Whether Lambda would deliver ``record`` under ``filter_criteria`` (none: everything passes)."""
    filters = (filter_criteria or {}).get("Filters") or []
    if not filters:
        return True
    return any(matches(json.loads(item["Pattern"]), record) for item in filters)
