"""The smallest table the emulator's tests need: keyed by one string attribute, ``k``."""

from __future__ import annotations

from typing import Any


def key_table(client: Any, name: str = "t", *, stream: bool = False) -> None:
    """Create ``name`` (on-demand), with a NEW_AND_OLD_IMAGES stream when ``stream``."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **(
            {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
            if stream
            else {}
        ),
    )
