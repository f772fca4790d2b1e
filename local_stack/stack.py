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
from typing import TextIO

from local_stack.apigateway.authorizers import connect_authorizer, method_arn
from local_stack.apigateway.certificate import make_certificate, server_context
from local_stack.apigateway.connections import ConnectionRegistry
from local_stack.apigateway.management import ConnectionsApi, ManagementServer
from local_stack.apigateway.websocket import Gateway
from local_stack.awslambda.environments import IdleShutdown, LocalFunctions
from local_stack.awslambda.esm import (
    CLOSING_SHARD_NOTICE,
    POLL_INTERVAL_SECONDS,
    StreamPoller,
    StreamSource,
    stream_sources,
)
from local_stack.awslambda.runtime import emulation_variables, install_requirements, reserved_variables
from local_stack.cloudwatch.alarms import AlarmEvaluator, load_alarms
from local_stack.cloudwatch.service_metrics import QueueDepths
from local_stack.cloudwatch.shipper import MetricShipper
from local_stack.cloudwatch.store import MetricStore
from local_stack.cognito.tokens import remove_stack_file, write_stack_file
from local_stack.controls import PREFIX, Controls
from local_stack.cost.endpoint import CLOUDWATCH_SERVICE_KEY, LAMBDA_SERVICE_KEY, TTL_KEY
from local_stack.cost.meter import Meter, summary
from local_stack.dashboard.server import DashboardServer
from local_stack.dashboard.terminal import StoreReader, show, status
from local_stack.dashboard.widgets import widgets
from local_stack.dynamodb.ttl import TtlEmulator
from local_stack.emulated import EMULATED, function_concurrency, notices
from local_stack.event_loop import describe as describe_loop
from local_stack.events.schedules import Schedule
from local_stack.faults import Fault, access_key
from local_stack.logs.delivery import LogShipper, logs_notice
from local_stack.logs.delivery import provision as provision_logs
from local_stack.provisioning import emulator as aws
from local_stack.running import Running
from sam_template.conditions import deployed
from sam_template.expand import expand
from sam_template.handlers import function_arn
from sam_template.intrinsics import Deployment, Unresolvable
from sam_template.logging_config import LogSettings
from sam_template.model import TEMPLATE_PATH, declared_variables, load_template
from sam_template.outputs import resolved_outputs
from sam_template.parameters import check_overrides
from sam_template.rules import broken_rules
from sam_template.schedules import schedules
from sam_template.websocket import (
    detailed_metrics,
    routes,
    selection_expression,
    stage_name,
    two_way_routes,
    websocket_apis,
)


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

    def __post_init__(self) -> None:
        # Every path the stack hands on (the CA bundle and dependency folders under the log's folder,
        # the code and layer folders under the template's) is absolute from here, however the user
        # spelled it: an execution environment changes into its code folder (LAMBDA_TASK_ROOT), where
        # a path relative to the directory the stack was started in names nothing.
        self.log_path = self.log_path.resolve()
        if self.template_path is not None:
            self.template_path = self.template_path.resolve()


class LocalStack:
    """A stack before it starts: the template as deployed with the options' parameters (checked as
    CloudFormation checks them) and what of it is not emulated. :meth:`start` starts the parts."""

    def __init__(self, options: Options) -> None:
        self.options = options
        # as its author wrote it, from an absolute path (Options): its CodeUri and ContentUri
        # folders are relative to it
        written = load_template(options.template_path or TEMPLATE_PATH)
        self.written = written  # as its author wrote it (parameters, defaults)
        check_overrides(written, options.parameter_overrides)  # ValueError: the stack cannot start
        # the template's Rules, as CloudFormation evaluates them before it creates the stack
        broken = broken_rules(written, self._parameters())
        if broken:
            raise ValueError("; ".join(f"rule {name}: {why}" for name, why in broken.items()))
        # the resources a deployment with these parameters has (their Condition holds); SAM expands
        # the template with them, as `sam deploy --parameter-overrides` has it expanded
        self.template = deployed(expand(written, self._parameters()), self._parameters())
        self.notices = notices(self.template)  # what is not emulated of the template, said at start
        self.notices.append(logs_notice(options.log_events_max))

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
                    # a reference to a resource the stack does not provision (already named "not
                    # emulated"): the variable is left out and said at start, the stack still starts
                    kind = self.template.resources.get(exc.resource, {}).get("Type")
                    if kind is None or kind in EMULATED:
                        raise ValueError(
                            f"the local stack cannot resolve {logical_id}'s {name}: {exc}"
                        ) from None
                    self.notices.append(
                        f"{logical_id}'s {name} is not set: {exc} ({kind}) is not provisioned"
                    )
            settings = LogSettings.of(self.template, logical_id, deployment.resolve)
            environment.update(reserved_variables(self.template, logical_id, settings))
            environment.update(
                emulation_variables(
                    endpoint, access_key(logical_id), aws.CREDENTIALS["AWS_SECRET_ACCESS_KEY"], ca_bundle
                )
            )
            environments[logical_id] = environment
        return environments

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

    def deployment(self, provisioned: aws.Provisioned, api_id: str, stage: str) -> Deployment:
        """What references of the template resolve to in this local deployment."""
        refs = {**provisioned.physical}
        refs.update({name: name for name in self.template.of_type("AWS::Lambda::Function")})
        refs.update(dict.fromkeys(websocket_apis(self.template), api_id))
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
            attributes[(name, "Arn")] = function_arn(name)
        # AWS::Cognito::UserPool and UserPoolClient return values (CloudFormation reference)
        for name, pool in provisioned.user_pools.items():
            attributes[(name, "Arn")] = f"arn:aws:cognito-idp:{aws.REGION}:{aws.ACCOUNT}:userpool/{pool}"
            attributes[(name, "ProviderName")] = f"cognito-idp.{aws.REGION}.amazonaws.com/{pool}"
            attributes[(name, "ProviderURL")] = f"https://cognito-idp.{aws.REGION}.amazonaws.com/{pool}"
            attributes[(name, "UserPoolId")] = pool
        for name, client_id in provisioned.user_pool_clients.items():
            attributes[(name, "ClientId")] = client_id
        return Deployment(parameters=self._parameters(), refs=refs, attributes=attributes)

    def _stage_variables(self, deployment: Deployment) -> dict[str, str]:
        """The stage's ``StageVariables`` (the authorizer's ``stageVariables``)."""
        for resource in self.template.of_type("AWS::ApiGatewayV2::Stage").values():
            variables = resource["Properties"].get("StageVariables")
            if isinstance(variables, dict):
                resolved = deployment.resolve(variables)
                return {str(name): str(value) for name, value in resolved.items()}
        return {}

    # ----- start -------------------------------------------------------------------------------
    async def start(self) -> Running:
        """Every part started, each registered for teardown as it starts: :meth:`Running.stop`
        stops them in reverse order. A start that fails part-way stops what had started."""
        aws_side, parts = contextlib.AsyncExitStack(), contextlib.AsyncExitStack()
        try:
            return await self._start(aws_side, parts)
        except BaseException:
            await parts.aclose()
            await aws_side.aclose()
            raise

    def _start_aws(
        self, aws_side: contextlib.AsyncExitStack
    ) -> tuple[aws.MotoServer, aws.Provisioned, TextIO]:
        """The AWS emulation with the template's resources, and the log file: they outlive every part
        that writes to them."""
        options = self.options
        moto = aws.MotoServer(
            port=options.aws_port or None,
            host=options.host,
            stream_retention=options.stream_retention,
            log_events_max=options.log_events_max,
            stream_shards=options.stream_shards,
            shard_rollover=options.shard_rollover,
        )
        moto.start()
        aws_side.callback(moto.stop)
        aws.apply_environment(aws.client_environment(moto.endpoint))
        provisioned = aws.provision(self.template, moto.endpoint)
        options.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = aws_side.enter_context(options.log_path.open("a", encoding="utf-8"))
        return moto, provisioned, log

    async def _start(self, aws_side: contextlib.AsyncExitStack, parts: contextlib.AsyncExitStack) -> Running:
        options = self.options
        moto, provisioned, log = self._start_aws(aws_side)
        endpoint = moto.endpoint
        store = MetricStore()  # every data point with its values: percentiles, alarms
        # the shippers' requests are the stack's own, well-formed: botocore's parameter check skipped
        shipper = MetricShipper(aws.client("cloudwatch", endpoint, validate=False), store=store)
        shipper.start()
        parts.callback(shipper.stop)
        logs = LogShipper(aws.client("logs", endpoint, validate=False))  # every function line
        logs.start()
        parts.callback(logs.stop)
        meter = Meter(self.template, endpoint)  # what the run would cost on AWS

        apis = websocket_apis(self.template)
        if len(apis) != 1:
            raise ValueError(f"the local stack serves one WebSocket API; the template has {len(apis)}")
        api, api_id = apis[0], "local"
        stage = options.stage or stage_name(self.template, api, self._parameters()) or "prod"
        functions = LocalFunctions(
            self.template,
            log,
            shipper,
            meter=meter,
            log_sink=logs.deliver,
            api=(api_id, stage, detailed_metrics(self.template, api)),
        )
        parts.callback(functions.stop)

        # the management port: @connections (also over HTTPS, with a certificate the functions
        # trust: AWS_CA_BUNDLE) and the stack's own controls
        certificate = make_certificate(options.log_path.parent, options.host)
        management = ManagementServer(options.host, options.management_port, tls=server_context(*certificate))
        connections = ConnectionRegistry(meter, on_message=lambda: functions.metrics.gateway("MessageCount"))
        connections_api = ConnectionsApi(stage, connections)
        management.mount(connections_api.prefix, connections_api)
        management.start()
        parts.callback(management.stop)

        deployment = self.deployment(provisioned, api_id, stage)  # what references resolve to here
        provision_logs(self.template, deployment, aws.client("logs", endpoint))
        connections_url = f"https://{management.secure_address}/{stage}"
        environments = self._environments(
            deployment, {"CONNECTIONS_API_ENDPOINT": connections_url}, certificate[0], endpoint
        )
        sources = stream_sources(self.template, self._parameters())
        routed = routes(self.template, api)
        functions.load(
            function_concurrency(self.template, sources, set(routed.values()), options.stream_shards),
            environments,
            dependencies=self._dependencies(),
            resolve=deployment.resolve,
        )
        idle_shutdown = IdleShutdown(functions)
        idle_shutdown.start()
        parts.callback(idle_shutdown.stop)

        active_faults: list[Fault] = []  # /_local/faults (event source mappings lose responses by them)
        pollers, ttls = self._start_streams(
            parts,
            functions,
            provisioned=provisioned,
            sources=sources,
            faults=active_faults,
            endpoint=endpoint,
        )
        controls = Controls(
            functions,
            connections,
            bill=meter.bill,
            on_faults=moto.inject,
            active=active_faults,
            ttl_sweep=lambda table, as_of: ttls[table].sweep(as_of),
        )
        management.mount(PREFIX, controls)
        self._start_schedules(parts, functions)

        alarms = self._start_alarms(
            parts, functions, provisioned=provisioned, deployment=deployment, store=store, endpoint=endpoint
        )
        dashboard = self._dashboard(deployment, store, alarms, endpoint)
        if dashboard is not None:
            dashboard.start()
            parts.callback(dashboard.stop)

        # the WebSocket endpoint last: it stops first (every socket closed, their $disconnect run,
        # before the stream's last records are delivered and the functions stop)
        gateway = Gateway(
            functions,
            connections,
            meter,
            routes=routed,
            selection_expression=selection_expression(self.template, api),
            two_way=frozenset(two_way_routes(self.template, api)),
            stage=stage,
            api_id=api_id,
            domain_name=management.secure_address,
            authorizer=connect_authorizer(
                self.template,
                api,
                arn=method_arn(aws.REGION, aws.ACCOUNT, api_id, stage),
                stage_variables=self._stage_variables(deployment),
            ),
            host=options.host,
            port=options.port,
            idle_timeout=options.idle_timeout,
            max_duration=options.max_duration,
        )
        await gateway.start()
        parts.push_async_callback(gateway.stop)
        return Running(
            options=options,
            template=self.template,
            template_path=self.written.path,
            outputs=resolved_outputs(self.written, deployment, self._parameters()),
            notices=self.notices,
            provisioned=provisioned,
            aws_endpoint=endpoint,
            ca_bundle=certificate[0],
            connections_url=connections_url,
            management_url=f"http://{options.host}:{management.port}/{stage}",
            store=store,
            reader=StoreReader(store),
            meter=meter,
            functions=functions,
            gateway=gateway,
            sources=sources,
            pollers=pollers,
            alarms=alarms,
            dashboard=dashboard,
            parts=parts,
            aws_side=aws_side,
        )

    def _start_schedules(self, parts: contextlib.AsyncExitStack, functions: LocalFunctions) -> None:
        """The template's schedules (``--schedule-every`` sets a function's period)."""
        every_option = self.options.schedule_every
        unknown = set(every_option) - set(self.template.of_type("AWS::Lambda::Function"))
        if unknown:
            raise ValueError(f"--schedule-every names no function of the template: {sorted(unknown)}")
        for name, seconds in {**schedules(self.template), **every_option}.items():
            schedule = Schedule(functions, name, seconds)
            schedule.start()
            parts.callback(schedule.stop)

    def _start_alarms(
        self,
        parts: contextlib.AsyncExitStack,
        functions: LocalFunctions,
        *,
        provisioned: aws.Provisioned,
        deployment: Deployment,
        store: MetricStore,
        endpoint: str,
    ) -> AlarmEvaluator:
        """What SQS publishes about the template's queues, and the template's alarms on it all."""
        options = self.options
        queue_depths = QueueDepths(
            functions.metrics, aws.client("sqs", endpoint), provisioned.queues, options.alarm_time_scale
        )
        queue_depths.start()
        parts.callback(queue_depths.stop)
        alarms = AlarmEvaluator(
            load_alarms(self.template, deployment),
            store,
            aws.client("cloudwatch", endpoint),
            aws.client("sns", endpoint, access_key=CLOUDWATCH_SERVICE_KEY),
            time_scale=options.alarm_time_scale,
        )
        alarms.create()
        alarms.start()
        parts.callback(alarms.stop)
        return alarms

    def _start_streams(
        self,
        parts: contextlib.AsyncExitStack,
        functions: LocalFunctions,
        *,
        provisioned: aws.Provisioned,
        sources: list[StreamSource],
        faults: list[Fault],
        endpoint: str,
    ) -> tuple[list[StreamPoller], dict[str, TtlEmulator]]:
        """The event source mappings of the template's streams, and DynamoDB's TTL process (by
        table)."""
        pollers: list[StreamPoller] = []
        for source in sources:
            settings = source.settings
            if self.options.batch_window is not None:
                settings = replace(settings, batching_window=self.options.batch_window)
            pollers.append(
                StreamPoller(
                    functions,
                    source.function,
                    aws.client("dynamodbstreams", endpoint),
                    provisioned.streams[source.table],
                    settings,
                    sqs=aws.client("sqs", endpoint, access_key=LAMBDA_SERVICE_KEY),
                    dead_letter_url=provisioned.queues.get(source.on_failure_queue or ""),
                    poll_interval=self.options.poll_interval,
                    faults=lambda: faults,  # lose_response faults
                )
            )
        # DynamoDB's TTL process, for every table whose template enables it: one whose stream a
        # function reads learns the items' TTLs from the stream (it never scans); any other is scanned
        ttls: dict[str, TtlEmulator] = {}
        for table_id, table_name in provisioned.tables.items():
            ttl_spec = self.template.properties(table_id).get("TimeToLiveSpecification") or {}
            if not ttl_spec.get("Enabled"):
                continue
            poller = next((p for p, s in zip(pollers, sources, strict=True) if s.table == table_id), None)
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
            ttls[table_id] = ttl
        if pollers and (self.options.stream_shards > 1 or self.options.shard_rollover):
            every = self.options.shard_rollover
            rollover = f", each rolled over every {every:g} s" if every else ""
            self.notices.append(f"streams have {self.options.stream_shards} open shards{rollover}")
            if any(poller.settings.tumbling_window for poller in pollers):
                self.notices.append(CLOSING_SHARD_NOTICE)
        for poller in pollers:
            poller.start()
            parts.callback(_stop_and_deliver, poller)
        for ttl in ttls.values():
            ttl.start()
            parts.callback(ttl.stop)
        return pollers, ttls

    def _dashboard(
        self, deployment: Deployment, store: MetricStore, alarms: AlarmEvaluator, endpoint: str
    ) -> DashboardServer | None:
        """The template's first dashboard, served on loopback (none without one)."""
        for logical_id, resource in self.template.of_type("AWS::CloudWatch::Dashboard").items():
            properties = deployment.resolve(resource["Properties"])
            return DashboardServer(
                str(properties.get("DashboardName", logical_id)),
                widgets(json.loads(properties["DashboardBody"])),
                store,
                alarms.states,
                host=self.options.host,
                port=self.options.dashboard_port,
                logs=aws.client("logs", endpoint),
            )
        return None


def _stop_and_deliver(poller: StreamPoller) -> None:
    """A mapping stops after delivering what its stream still holds."""
    poller.stop()
    with contextlib.suppress(Exception):
        poller.poll_once(flush=True)


async def serve(options: Options) -> int:
    stack = LocalStack(options)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    out = sys.__stdout__ or sys.stdout
    running: Running | None = None
    try:
        running = await stack.start()
        # what start-up made (modules, the template, SAM's translation, clients) lives as long as the
        # stack: out of the cyclic collector's full passes (two took 0.2 s of CPU while 1,000
        # clients connected, walking ~185,000 objects each)
        gc.freeze()
        described = {**running.describe(), "eventLoop": describe_loop(loop)}
        write_stack_file(options.log_path.parent, described)  # how other commands find this stack
        if options.headless:
            out.write(json.dumps({"event": "ready", **described}) + "\n")
        else:
            out.write(f"WebSocket URL: {described['url']}\n@connections: {described['managementUrl']}\n")
            out.write(f"event loop: {described['eventLoop']}\n")
            out.writelines(f"not emulated: {notice}\n" for notice in described["notices"])
        out.flush()
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=options.interval)
            if not stopping.is_set():
                state = await loop.run_in_executor(None, status, running)
                show(state, described, headless=options.headless)
    finally:
        remove_stack_file(options.log_path.parent)
        bill = await running.stop() if running is not None else None
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
