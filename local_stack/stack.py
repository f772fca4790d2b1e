"""The whole system on one machine: AWS emulation, API Gateway emulation, the event source
mapping, TTL, metrics and the live view, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from local_stack.apigateway.certificate import make_certificate, server_context
from local_stack.apigateway.websocket import Gateway
from local_stack.awslambda.environments import IdleShutdown, LocalFunctions, MetricShipper
from local_stack.awslambda.esm import (
    CLOSING_SHARD_NOTICE,
    POLL_INTERVAL_SECONDS,
    StreamPoller,
    StreamSource,
    stream_sources,
)
from local_stack.awslambda.logging_config import LogSettings
from local_stack.awslambda.runtime import emulation_variables, install_requirements, reserved_variables
from local_stack.cloudwatch.alarms import AlarmEvaluator, load_alarms
from local_stack.cloudwatch.service_metrics import QueueDepths
from local_stack.cloudwatch.store import MetricStore
from local_stack.cost.endpoint import CLOUDWATCH_SERVICE_KEY, LAMBDA_SERVICE_KEY, TTL_KEY
from local_stack.cost.meter import Meter, summary
from local_stack.dashboard.server import DashboardServer
from local_stack.dashboard.terminal import StoreReader, show, status
from local_stack.dashboard.widgets import widgets
from local_stack.dynamodb.ttl import TtlEmulator
from local_stack.events.schedules import Schedule, schedule_rules, schedules
from local_stack.faults import access_key
from local_stack.logs.delivery import LogShipper, logs_notice
from local_stack.logs.delivery import provision as provision_logs
from local_stack.provisioning import emulator as aws
from local_stack.provisioning.emulator import sqs_subscriptions
from sam_template.conditions import deployed
from sam_template.expand import expand
from sam_template.intrinsics import Deployment, Unresolvable, resource_named
from sam_template.model import TEMPLATE_PATH, Template, declared_variables, load_template
from sam_template.parameters import check_overrides
from sam_template.websocket import (
    detailed_metrics,
    routes,
    selection_expression,
    stage_name,
    two_way_routes,
    websocket_apis,
)

# Resource types of the expanded template (the CloudFormation SAM produces) the local stack provisions
# or emulates; others are said at start (``notices``).
EMULATED = {
    "AWS::Lambda::Function": "functions in execution environments of their own",
    "AWS::Lambda::LayerVersion": "on the functions' path, as /opt/python",
    "AWS::Lambda::EventSourceMapping": "DynamoDB streams of the template's tables",
    "AWS::Events::Rule": "rate() schedules",
    "AWS::Scheduler::Schedule": "rate() schedules",
    "AWS::DynamoDB::Table": "moto: keys, indexes, stream, TTL",
    "AWS::SQS::Queue": "moto",
    "AWS::SNS::Topic": "moto",
    "AWS::SNS::Subscription": "moto: a queue of the template subscribed (Protocol: sqs)",
    "AWS::ApiGatewayV2::Api": "the WebSocket gateway",
    "AWS::ApiGatewayV2::Route": "routes to functions",
    "AWS::ApiGatewayV2::Integration": "AWS_PROXY to functions",
    "AWS::ApiGatewayV2::RouteResponse": "two-way routes",
    "AWS::ApiGatewayV2::Stage": "its name",
    "AWS::ApiGatewayV2::Deployment": "nothing to do",
    "AWS::Lambda::Permission": "nothing to do: any route may invoke any function",
    "AWS::Logs::LogGroup": "emulated CloudWatch Logs (retention kept, bounded in memory) and the log file",
    "AWS::Logs::QueryDefinition": "saved queries, run by the local Logs Insights engine",
    "AWS::CloudWatch::Alarm": "created in moto and evaluated (statistics, percentiles, metric math)",
    "AWS::CloudWatch::Dashboard": "rendered in a browser at dashboardUrl",
    "AWS::SNS::TopicPolicy": "nothing to do: IAM is not enforced",
    "AWS::SQS::QueuePolicy": "nothing to do: IAM is not enforced",
}


def notices(template: Template) -> list[str]:
    """What of the (expanded) template the local stack does not emulate, named once at start."""
    found = []
    roles = list(template.of_type("AWS::IAM::Role"))
    if roles:
        serves = "functions may call anything the local AWS endpoint serves"
        found.append(f"IAM is not enforced: {serves} ({', '.join(roles)})")
    by_type: dict[str, list[str]] = {}
    for logical_id, resource in template.resources.items():
        if resource["Type"] not in EMULATED and resource["Type"] != "AWS::IAM::Role":
            by_type.setdefault(resource["Type"], []).append(logical_id)
    found += [f"{kind} is not emulated ({', '.join(ids)})" for kind, ids in sorted(by_type.items())]
    tables = template.of_type("AWS::DynamoDB::Table")
    for logical_id, mapping in template.of_type("AWS::Lambda::EventSourceMapping").items():
        if resource_named(mapping["Properties"].get("EventSourceArn")) not in tables:
            target = resource_named(mapping["Properties"].get("FunctionName"))
            found.append(f"{logical_id} (a source of {target} other than a table's stream) is not emulated")
    for logical_id, (expression, _) in schedule_rules(template).items():
        if not expression.startswith("rate("):
            found.append(f"{logical_id} ({expression}) is not emulated: only rate() schedules are")
    delivered = sqs_subscriptions(template)
    for logical_id, subscription in template.of_type("AWS::SNS::Subscription").items():
        if logical_id not in delivered:
            protocol = subscription["Properties"].get("Protocol")
            found.append(
                f"{logical_id} ({protocol}) is not delivered: only a template queue's subscription is"
            )
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for logical_id, function in template.of_type("AWS::Lambda::Function").items():
        wanted = function["Properties"].get("Runtime")
        if wanted != runtime:
            found.append(f"{logical_id} asks for {wanted}: it runs on this machine's {runtime}")
    return found


# Execution environments per function, unless the template reserves fewer: a stream consumer gets
# one per open shard of each event source mapping's stream (Lambda runs one batch per shard at a
# time, and a child shard only after its parent); a function invoked only by schedules gets one; any
# other (API routes) four, started on demand as Lambda scales out under load (their invocations wait
# on DynamoDB half the time).
DEFAULT_ENVIRONMENTS = 4


def function_concurrency(
    template: Template, sources: list[StreamSource], routed: set[str], shards: int = 1
) -> dict[str, int]:
    """How many execution environments each function of the template gets locally (``routed``: the
    functions a route of the WebSocket API invokes; ``shards``: the open shards of a stream)."""
    consumers = {source.function for source in sources}
    scheduled = {function for _, targets in schedule_rules(template).values() for function in targets}
    concurrency = {}
    for logical_id, function in template.of_type("AWS::Lambda::Function").items():
        if logical_id in consumers:
            wanted = shards * sum(source.function == logical_id for source in sources)
        elif logical_id in scheduled and logical_id not in routed:
            wanted = 1
        else:
            wanted = DEFAULT_ENVIRONMENTS
        reserved = function["Properties"].get("ReservedConcurrentExecutions")
        concurrency[logical_id] = max(1, min(wanted, int(reserved))) if isinstance(reserved, int) else wanted
    return concurrency


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8080
    management_port: int = 0
    aws_port: int = 0
    stage: str | None = None
    ttl_seconds: float | None = None
    ttl_period: float = 1.0
    batch_window: float | None = None
    poll_interval: float = POLL_INTERVAL_SECONDS
    idle_timeout: float = 600.0
    max_duration: float = 7200.0
    interval: float = 1.0
    headless: bool = False
    log_path: Path = Path(".local-stack/functions.log")
    schedule_every: dict[str, float] = field(default_factory=dict)  # logical id -> seconds
    max_per_client: int | None = None
    stream_retention: float | None = None  # seconds the emulated streams keep records (None: 24 h)
    stream_shards: int = 1  # open shards of every table's stream
    shard_rollover: float | None = None  # seconds between the shards' rollovers (None: never)
    log_events_max: int | None = None  # log events the emulated CloudWatch Logs keeps (None: 100,000)
    alarm_time_scale: float = 1.0  # alarms evaluated as if each Period were Period * this
    dashboard_port: int = 0  # the dashboard's web page (0: a free port)
    template_path: Path | None = None  # another SAM application (CodeUri relative to its folder)
    parameter_overrides: dict[str, str] = field(default_factory=dict)  # the SAM CLI's, checked


class LocalStack:
    def __init__(self, options: Options, template: Template | None = None) -> None:
        self.options = options
        # the plain CloudFormation SAM's translator makes of the template: what CloudFormation runs
        written = template or load_template(options.template_path or TEMPLATE_PATH)
        self.written = written  # as its author wrote it (parameters, defaults)
        check_overrides(written, options.parameter_overrides)  # ValueError: the stack cannot start
        # the resources a deployment with these parameters has (their Condition holds); SAM expands
        # the template with them, as `sam deploy --parameter-overrides` has it expanded
        self.template = deployed(expand(written, self._parameters()), self._parameters())
        self.moto = aws.MotoServer(
            port=options.aws_port or None,
            host=options.host,
            stream_retention=options.stream_retention,
            log_events_max=options.log_events_max,
            stream_shards=options.stream_shards,
            shard_rollover=options.shard_rollover,
        )
        self.notices = notices(self.template)  # what is not emulated of the template, said at start
        self.notices.append(logs_notice(options.log_events_max))

    # ----- start -------------------------------------------------------------------------------
    def _parameters(self) -> dict[str, str]:
        parameters = self.written.parameter_defaults()
        if self.options.ttl_seconds is not None:
            parameters["TtlHours"] = repr(self.options.ttl_seconds / 3600)
        if self.options.max_per_client is not None:
            parameters["MaxConnectionsPerClient"] = str(self.options.max_per_client)
        parameters.update(self.options.parameter_overrides)
        return parameters

    def _environments(
        self, deployment: Deployment, local: dict[str, str], ca_bundle: Path, endpoint: str = ""
    ) -> dict[str, dict[str, str]]:
        """Each function's own environment, as Lambda gives it: its variables (SAM merged ``Globals``),
        resolved for this machine (``local`` names what the stack serves itself, the
        ``@connections`` endpoint), the variables Lambda sets, and the few the emulation needs
        (``emulation_variables``). No function sees another's, nor the shell's that started the stack."""
        environments = {}
        for logical_id in self.template.of_type("AWS::Lambda::Function"):
            environment = {}
            for name, value in declared_variables(self.template, logical_id).items():
                try:
                    environment[name] = local[name] if name in local else str(deployment.resolve(value))
                except Unresolvable as exc:
                    raise ValueError(f"the local stack cannot resolve {logical_id}'s {name}: {exc}") from None
            settings = LogSettings.of(self.template, logical_id, deployment.resolve)
            environment.update(reserved_variables(self.template, logical_id, settings))
            environment.update(
                emulation_variables(
                    endpoint, access_key(logical_id), aws.CREDENTIALS["AWS_SECRET_ACCESS_KEY"], ca_bundle
                )
            )
            environments[logical_id] = environment
        return environments

    async def start(self) -> None:
        self.moto.start()
        endpoint = self.moto.endpoint
        aws.apply_environment(aws.client_environment(endpoint))
        self.provisioned = aws.provision(self.template, endpoint)

        self.options.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.options.log_path.open("a", encoding="utf-8")
        self.cloudwatch = aws.client("cloudwatch", endpoint)
        self.store = MetricStore()  # every data point with its values: percentiles, alarms
        self.shipper = MetricShipper(aws.client("cloudwatch", endpoint), store=self.store)
        self.shipper.start()
        self.functions = LocalFunctions(self.template, self.shipper, self._log)
        self.meter = Meter(self.template, endpoint)  # what the run would cost on AWS
        self.functions.meter = self.meter

        # @connections over HTTPS, with a certificate the functions trust (AWS_CA_BUNDLE)
        self.certificate = make_certificate(self.options.log_path.parent, self.options.host)
        # the gateway listens first: the functions' environment names its @connections endpoint
        apis = websocket_apis(self.template)
        if len(apis) != 1:
            raise ValueError(f"the local stack serves one WebSocket API; the template has {len(apis)}")
        stage = self.options.stage or stage_name(self.template, apis[0], self._parameters()) or "prod"
        self.gateway = Gateway(
            self.functions,
            routes=routes(self.template, apis[0]),
            selection_expression=selection_expression(self.template, apis[0]),
            two_way=frozenset(two_way_routes(self.template, apis[0])),
            tls=server_context(*self.certificate),
            stage=stage,
            host=self.options.host,
            port=self.options.port,
            management_port=self.options.management_port,
            idle_timeout=self.options.idle_timeout,
            max_duration=self.options.max_duration,
        )
        self.gateway.meter = self.meter
        self.gateway.controls.bill = self.meter.bill
        await self.gateway.start()
        self.functions.metrics.api = (self.gateway.api_id, stage, detailed_metrics(self.template, apis[0]))
        self.gateway.controls.on_faults = self.moto.inject
        self._deployment = self.deployment(stage)  # what the template's references resolve to here
        self.logs = LogShipper(aws.client("logs", endpoint))  # every function line, to CloudWatch Logs
        provision_logs(self.template, self._deployment, aws.client("logs", endpoint))
        self.logs.start()
        self.functions.log_sink = self.logs.deliver
        local = {"CONNECTIONS_API_ENDPOINT": self.gateway.connections_url}
        environments = self._environments(self._deployment, local, self.certificate[0], endpoint)
        self.sources = stream_sources(self.template, self._parameters())
        routed = set(self.gateway.routes.values())
        self.functions.load(
            function_concurrency(self.template, self.sources, routed, self.options.stream_shards),
            environments,
            dependencies=self._dependencies(),
            resolve=self._deployment.resolve,
        )
        self.idle_shutdown = IdleShutdown(self.functions)
        self.idle_shutdown.start()

        self._start_streams(endpoint)
        unknown = set(self.options.schedule_every) - set(self.template.of_type("AWS::Lambda::Function"))
        if unknown:
            raise ValueError(f"--schedule-every names no function of the template: {sorted(unknown)}")
        every = {**schedules(self.template), **self.options.schedule_every}
        self.schedules = [Schedule(self.functions, name, seconds) for name, seconds in every.items()]
        for schedule in self.schedules:
            schedule.start()
        self.reader = StoreReader(self.store)
        self._start_alarms(endpoint)

    def _dependencies(self) -> dict[str, Path]:
        """Each function's ``requirements.txt`` installed (as ``sam build`` would) into a cache folder
        keyed by its content, reused across starts; what could not be installed is said at start
        (the function then fails on import, as it would on Lambda without it)."""
        cache = self.options.log_path.parent / "dependencies"
        installed = {}
        for logical_id in self.template.of_type("AWS::Lambda::Function"):
            folder = self.template.function_code(logical_id)[0]
            target, failed = install_requirements(folder, cache)
            if target is not None:
                installed[logical_id] = target
            if failed:
                self.notices.append(
                    f"{logical_id}: could not install from {folder.name}/requirements.txt: "
                    + ", ".join(failed)
                )
        return installed

    def _start_streams(self, endpoint: str) -> None:
        """The event source mappings of the template's streams, and DynamoDB's TTL process."""
        self.pollers: list[StreamPoller] = []
        for source in self.sources:
            settings = source.settings
            if self.options.batch_window is not None:
                settings = replace(settings, batching_window=self.options.batch_window)
            self.pollers.append(
                StreamPoller(
                    self.functions,
                    source.function,
                    aws.client("dynamodbstreams", endpoint),
                    self.provisioned.streams[source.table],
                    settings,
                    sqs=aws.client("sqs", endpoint, access_key=LAMBDA_SERVICE_KEY),
                    dead_letter_url=self.provisioned.queues.get(source.on_failure_queue or ""),
                    poll_interval=self.options.poll_interval,
                )
            )
        # DynamoDB's TTL process, for every table whose template enables it: one whose stream a
        # function reads learns the items' TTLs from the stream (it never scans); any other is scanned
        self.ttls: dict[str, TtlEmulator] = {}
        for table_id, table_name in self.provisioned.tables.items():
            ttl_spec = self.template.properties(table_id).get("TimeToLiveSpecification") or {}
            if not ttl_spec.get("Enabled"):
                continue
            poller = next(
                (p for p, s in zip(self.pollers, self.sources, strict=True) if s.table == table_id), None
            )
            ttl = TtlEmulator(
                aws.client("dynamodb", endpoint, access_key=TTL_KEY),  # its deletes are free
                table_name=table_name,
                ttl_attribute=ttl_spec["AttributeName"],
                on_expired=poller.mark_ttl_deleted if poller is not None else None,
                period=self.options.ttl_period,
                scan=poller is None,
            )
            if poller is not None:
                poller.observers.append(ttl.learn)
            self.ttls[table_id] = ttl
        self.gateway.controls.ttl_sweep = lambda table, as_of: self.ttls[table].sweep(as_of)
        if self.pollers and (self.options.stream_shards > 1 or self.options.shard_rollover):
            every = self.options.shard_rollover
            rollover = f", each rolled over every {every:g} s" if every else ""
            self.notices.append(f"streams have {self.options.stream_shards} open shards{rollover}")
            if any(poller.settings.tumbling_window for poller in self.pollers):
                self.notices.append(CLOSING_SHARD_NOTICE)
        for poller in self.pollers:
            poller.faults = lambda: self.gateway.controls.faults  # lose_response faults
            poller.start()
        for ttl in self.ttls.values():
            ttl.start()

    def _start_alarms(self, endpoint: str) -> None:
        """What SQS publishes about the template's queues, and the template's alarms on it all."""
        self.queue_depths = QueueDepths(
            self.functions.metrics,
            aws.client("sqs", endpoint),
            self.provisioned.queues,
            self.options.alarm_time_scale,
        )
        self.queue_depths.start()
        self.alarms = AlarmEvaluator(
            load_alarms(self.template, self._deployment),
            self.store,
            self.cloudwatch,
            aws.client("sns", endpoint, access_key=CLOUDWATCH_SERVICE_KEY),
            time_scale=self.options.alarm_time_scale,
        )
        self.alarms.create()
        self.alarms.start()
        self._start_dashboard()

    def _start_dashboard(self) -> None:
        """The template's first dashboard, served on loopback (none without one)."""
        self.dashboard: DashboardServer | None = None
        for logical_id, resource in self.template.of_type("AWS::CloudWatch::Dashboard").items():
            properties = self._deployment.resolve(resource["Properties"])
            self.dashboard = DashboardServer(
                str(properties.get("DashboardName", logical_id)),
                widgets(json.loads(properties["DashboardBody"])),
                self.store,
                self.alarms.states,
                host=self.options.host,
                port=self.options.dashboard_port,
                logs=aws.client("logs", self.moto.endpoint),
            )
            self.dashboard.start()
            return

    def deployment(self, stage: str) -> Deployment:
        """What references of the template resolve to in this local deployment."""
        provisioned = self.provisioned
        refs = {**provisioned.physical}
        refs.update({name: name for name in self.template.of_type("AWS::Lambda::Function")})
        refs.update(dict.fromkeys(websocket_apis(self.template), self.gateway.api_id))
        refs.update(dict.fromkeys(self.template.of_type("AWS::ApiGatewayV2::Stage"), stage))
        attributes: dict[tuple[str, str], str] = {}
        for name, url in provisioned.queues.items():
            attributes[(name, "QueueName")] = url.rsplit("/", 1)[-1]
            attributes[(name, "Arn")] = provisioned.queue_arns[name]
            attributes[(name, "QueueUrl")] = url
        for name, table in provisioned.tables.items():
            attributes[(name, "Arn")] = f"arn:aws:dynamodb:{aws.REGION}:{aws.ACCOUNT}:table/{table}"
            if name in provisioned.streams:
                attributes[(name, "StreamArn")] = provisioned.streams[name]
        for name, arn in provisioned.topics.items():
            attributes[(name, "TopicArn")] = arn
            attributes[(name, "TopicName")] = arn.rsplit(":", 1)[-1]
        for name in self.template.of_type("AWS::Lambda::Function"):
            attributes[(name, "Arn")] = f"arn:aws:lambda:{aws.REGION}:{aws.ACCOUNT}:function:{name}"
        return Deployment(parameters=self._parameters(), refs=refs, attributes=attributes)

    def distribution(self, name: str) -> list[float]:
        return self.store.recent_values(str(name))

    @property
    def poller(self) -> StreamPoller | None:
        """The first stream event source mapping (the live view's stream figures)."""
        return self.pollers[0] if self.pollers else None

    def describe(self) -> dict[str, Any]:
        first = self.sources[0] if self.sources else None
        queue = self.provisioned.queues.get(first.on_failure_queue or "") if first else None
        return {
            "url": self.gateway.url,
            "managementUrl": self.gateway.management_url,
            "connectionsUrl": self.gateway.connections_url,  # what handlers build from their events
            "caBundle": str(self.certificate[0]),
            "awsEndpoint": self.moto.endpoint,
            # the table whose stream feeds a function, its stream and its on-failure queue
            "table": self.provisioned.tables[first.table] if first else None,
            "streamArn": self.provisioned.streams[first.table] if first else None,
            "deadLetterQueueUrl": queue,
            "tables": self.provisioned.tables,
            "queues": self.provisioned.queues,
            "topics": self.provisioned.topics,
            "log": str(self.options.log_path),
            "notices": self.notices,
            # where the alarms notify (subscribe a queue to it to receive their messages)
            "alarmTopicArn": next(
                (arn for alarm in self.alarms.alarms for arns in alarm.actions.values() for arn in arns), None
            ),
            "alarmTimeScale": self.options.alarm_time_scale,
            "dashboardUrl": self.dashboard.url if self.dashboard else None,
        }

    # ----- stop --------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Close every socket (their $disconnect runs), deliver what the stream still holds, stop.
        After a start that failed part-way, stops what had started."""
        if hasattr(self, "gateway"):
            with contextlib.suppress(Exception):
                await self.gateway.stop()
        for part in [*getattr(self, "schedules", []), *getattr(self, "ttls", {}).values()]:
            part.stop()
        for name in ("alarms", "queue_depths", "dashboard", "idle_shutdown"):
            if getattr(self, name, None) is not None:
                getattr(self, name).stop()
        for poller in getattr(self, "pollers", []):
            poller.stop()
            with contextlib.suppress(Exception):
                poller.poll_once(flush=True)
        for name in ("functions", "shipper", "logs"):
            if hasattr(self, name):
                getattr(self, name).stop()
        if hasattr(self, "meter"):
            with contextlib.suppress(Exception):
                self.final_bill = self.meter.bill()  # before the endpoint that holds its units goes
        self.moto.stop()
        if hasattr(self, "_log"):
            self._log.close()


async def serve(options: Options) -> int:
    stack = LocalStack(options)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    out = sys.__stdout__ or sys.stdout
    try:
        await stack.start()
        # what start-up made (modules, the template, SAM's translation, clients) lives as long as the
        # stack: out of the cyclic collector's full passes (two took 0.2 s of CPU while 1,000
        # clients connected, walking ~185,000 objects each)
        gc.freeze()
        described = stack.describe()
        if options.headless:
            out.write(json.dumps({"event": "ready", **described}) + "\n")
        else:
            out.write(f"WebSocket URL: {described['url']}\n@connections: {described['managementUrl']}\n")
            out.writelines(f"not emulated: {notice}\n" for notice in described["notices"])
        out.flush()
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=options.interval)
            if not stopping.is_set():
                state = await loop.run_in_executor(None, status, stack)
                show(state, described, headless=options.headless)
    finally:
        await stack.stop()
        bill = getattr(stack, "final_bill", None)
        if options.headless:
            if bill is not None:
                out.write(json.dumps({"event": "bill", **bill}) + "\n")
            out.write(json.dumps({"event": "stopped"}) + "\n")
        else:
            if bill is not None:
                out.write(summary(bill) + "\n")
            out.write("stopped\n")
        out.flush()
    return 0
