"""The connection item and settings on their own: units, validation, DynamoDB form."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connection_tracker.models import ConnectionItem
from connection_tracker.settings import ConfigurationError, load_settings


def test_item_round_trips_through_dynamodb_form():
    item = ConnectionItem.opened_at(1_700_000_000.25, 3600, connectionId="c1=", clientId="svc-1")
    assert item.created_at == 1_700_000_000_250
    assert item.ttl == 1_700_003_600
    assert ConnectionItem.from_dynamodb(item.to_dynamodb()) == item


def test_item_refuses_a_ttl_in_milliseconds():
    with pytest.raises(ValidationError, match="ttl"):
        ConnectionItem(connectionId="c1=", createdAt=1_700_000_000_000, ttl=1_700_000_000_000 + 86_400_000)


def test_item_refuses_a_ttl_before_creation():
    with pytest.raises(ValidationError, match="before createdAt"):
        ConnectionItem(connectionId="c1=", createdAt=1_700_000_000_000, ttl=1_600_000_000)


def test_malformed_image_is_a_value_error():
    with pytest.raises(ValueError, match="createdAt"):
        ConnectionItem.from_dynamodb(
            {"connectionId": {"S": "c"}, "createdAt": {"S": "soon"}, "ttl": {"N": "1"}}
        )


def test_settings_defaults():
    settings = load_settings({"CONNECTIONS_TABLE": "t"})
    assert (settings.ttl_hours, settings.verify_write, settings.capture_source_ip) == (24.0, False, True)
    assert settings.service == "connection-tracker"
    assert settings.namespace == "ConnectionTracker"
    assert settings.warnings() == []


def test_settings_errors_name_every_bad_variable():
    with pytest.raises(ConfigurationError) as raised:
        load_settings({"TTL_HOURS": "0", "VERIFY_WRITE": "perhaps"})
    message = str(raised.value)
    for variable in ("CONNECTIONS_TABLE", "TTL_HOURS", "VERIFY_WRITE"):
        assert variable in message
