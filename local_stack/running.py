"""A started local stack: its parts, what the live view and ``describe`` read of them, and its
teardown (every part in the reverse order of its start, the AWS emulation last)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from local_stack.apigateway.websocket import Gateway
    from local_stack.awslambda.environments import LocalFunctions
    from local_stack.awslambda.esm import StreamPoller, StreamSource
    from local_stack.cloudwatch.alarms import AlarmEvaluator
    from local_stack.cloudwatch.store import MetricStore
    from local_stack.cost.meter import Meter
    from local_stack.dashboard.server import DashboardServer
    from local_stack.dashboard.terminal import StoreReader
    from local_stack.provisioning.emulator import Provisioned
    from local_stack.stack import Options
    from sam_template.model import Template


@dataclass
class Running:
    """A started stack: what the live view, ``describe`` and the tests read, and its teardown."""

    options: Options
    template: Template  # as deployed: SAM's expansion, the resources whose Condition holds
    template_path: Path  # the application's template, as written
    outputs: dict[str, Any]  # the template's Outputs, resolved here
    notices: list[str]
    provisioned: Provisioned
    aws_endpoint: str
    ca_bundle: Path
    connections_url: str  # the @connections endpoint handlers build from their events
    management_url: str
    store: MetricStore
    reader: StoreReader
    meter: Meter
    functions: LocalFunctions
    gateway: Gateway
    sources: list[StreamSource]
    pollers: list[StreamPoller]
    alarms: AlarmEvaluator
    dashboard: DashboardServer | None
    parts: contextlib.AsyncExitStack  # every part but the AWS emulation, stopped in reverse order
    aws_side: contextlib.AsyncExitStack  # the AWS emulation and the log file, stopped last
    final_bill: dict[str, Any] | None = None

    def distribution(self, name: str) -> list[float]:
        return self.store.recent_values(str(name))

    def describe(self) -> dict[str, Any]:
        first = self.sources[0] if self.sources else None
        provisioned = self.provisioned
        queue = provisioned.queues.get(first.on_failure_queue or "") if first else None
        return {
            "url": self.gateway.url,
            "managementUrl": self.management_url,
            "connectionsUrl": self.connections_url,  # what handlers build from their events
            "caBundle": str(self.ca_bundle),
            "awsEndpoint": self.aws_endpoint,
            # the table whose stream feeds a function, its stream and its on-failure queue
            "table": provisioned.tables[first.table] if first else None,
            "streamArn": provisioned.streams[first.table] if first else None,
            "deadLetterQueueUrl": queue,
            "tables": provisioned.tables,
            "queues": provisioned.queues,
            "topics": provisioned.topics,
            "template": str(self.template_path),
            "log": str(self.options.log_path),
            "notices": self.notices,
            # where the alarms notify (subscribe a queue to it to receive their messages)
            "alarmTopicArn": next(
                (arn for alarm in self.alarms.alarms for arns in alarm.actions.values() for arn in arns), None
            ),
            "alarmTimeScale": self.options.alarm_time_scale,
            "dashboardUrl": self.dashboard.url if self.dashboard else None,
            "outputs": self.outputs,
            # the template's Cognito user pools and their app clients (``python -m local_stack token``)
            "userPools": {
                name: {
                    "id": pool,
                    "clients": {
                        client: client_id
                        for client, client_id in provisioned.user_pool_clients.items()
                        if provisioned.client_pools[client] == name
                    },
                }
                for name, pool in provisioned.user_pools.items()
            },
        }

    async def stop(self) -> dict[str, Any] | None:
        """Close every socket (their $disconnect runs), deliver what the stream still holds, stop
        every part; then the bill (before the endpoint that holds its units goes) and the AWS
        emulation. Answers the bill."""
        try:
            await self.parts.aclose()
            with contextlib.suppress(Exception):
                self.final_bill = self.meter.bill()
        finally:
            await self.aws_side.aclose()
        return self.final_bill
