"""MultiContainerEndpoint: up to 15 containers behind one endpoint, invoked directly or as a serial pipeline."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import (
    AlarmThresholds,
    error_rate_alarm,
    instance_alarm_specs,
    model_latency_alarm,
    variant_suffix,
)
from constructs_lib.dashboard_widgets import MINUTE, instance_variant_row, milliseconds
from constructs_lib.data_capture import (
    CAPTURE_UNDOCUMENTED_DIRECT,
    SHADOW_UNSUPPORTED_MULTI_CONTAINER,
    DataCapture,
    refuse_data_capture,
    refuse_shadow_variants,
)
from constructs_lib.deployment_policy import BlueGreenDeployment
from constructs_lib.endpoint_base import (
    INSTANCE_NAMESPACE,
    EndpointAttributes,
    EndpointBase,
    EndpointNetwork,
    construct_id_from_name,
    create_model,
    endpoint_name_from_arn,
    publish_endpoint,
    validate_endpoint,
)
from constructs_lib.execution_role import ExecutionRole, execution_role_for
from constructs_lib.hosted_endpoint import AlarmSpec, OperatedEndpoint, SmokeInvocation
from constructs_lib.model_archive import ModelArchive
from constructs_lib.model_prefix import ModelPrefix
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.serving_image import ServingImage

MAX_CONTAINERS = 15
_HOSTNAME_CONDITION = "sagemaker:TargetContainerHostname"


class InferenceMode(Enum):
    """How requests reach the containers."""

    DIRECT = "Direct"
    """Each request names one container (``TargetContainerHostname``); only that container runs."""

    SERIAL = "Serial"
    """An inference pipeline: every request runs through all containers in order."""


@dataclass(frozen=True, kw_only=True)
class Container:
    """One container of a multi-container endpoint."""

    image: ServingImage
    """The serving image."""

    hostname: str | None = None
    """``ContainerHostname``: required for every container in Direct mode; all or none in Serial mode."""

    model_data: ModelArchive | ModelPrefix | None = None
    """A ``.tar.gz`` archive (single model), or a prefix: a MultiModel container (Serial pipelines only)."""

    environment: Mapping[str, str] = field(default_factory=dict)
    """Environment, e.g. ``HF_MODEL_ID``, ``HF_TASK``, ``SAGEMAKER_PROGRAM``."""

    @property
    def is_multi_model(self) -> bool:
        """True when the container serves every archive under a prefix."""
        return isinstance(self.model_data, ModelPrefix)


class MultiContainerEndpointBase(EndpointBase):
    """A multi-container endpoint, created or imported: hostname-scoped grants and per-container metrics."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_names: Sequence[str],
        mode: InferenceMode,
        hostnames: Sequence[str],
        endpoint_arn: str | None = None,
    ) -> None:
        super().__init__(
            scope, construct_id, endpoint_name=endpoint_name, variant_names=variant_names, endpoint_arn=endpoint_arn
        )
        self.mode = mode
        """Direct or Serial."""
        self.hostnames = tuple(hostnames)
        """The containers' hostnames, in order."""

    @property
    def _owner(self) -> str:
        return f"MultiContainerEndpoint {self.node.path}"

    def grant_invoke(self, grantee: iam.IGrantable, *, containers: Sequence[str] | None = None) -> iam.Grant:
        """Let ``grantee`` invoke this endpoint.

        Direct mode: ``containers`` lists hostname patterns (``*`` allowed) and is required (``["*"]`` for
        all); the grant carries a ``StringLike`` condition on ``sagemaker:TargetContainerHostname``. A pattern
        that matches no container is refused. Serial mode: the whole pipeline; ``containers`` must be omitted.

        Only ``sagemaker:InvokeEndpoint`` is granted (async and streaming requests cannot be scoped to a container).
        ``sagemaker:TargetContainerHostname`` is documented in the SageMaker Developer Guide but absent from the
        Service Authorization Reference: policy linters may call it unknown.
        """
        if self.mode is InferenceMode.SERIAL:
            if containers is not None:
                raise limits.fail(
                    self._owner, "containers", containers, "cannot be scoped: a Serial pipeline runs them all"
                )
            return self._grant_invoke(grantee)
        return self._grant_invoke(grantee, condition_key=_HOSTNAME_CONDITION, patterns=self._patterns(containers))

    def deny_invoke(self, grantee: iam.IGrantable, *, containers: Sequence[str]) -> None:
        """Add an explicit Deny to ``grantee``'s policy for the containers matching ``containers`` (Direct only).

        A Deny wins over any Allow, whatever other policies the principal has; use it for a container that only
        an allow-list of principals may call.
        """
        if self.mode is InferenceMode.SERIAL:
            raise limits.fail(
                self._owner,
                "denied",
                list(containers),
                "does not apply to a Serial pipeline: it is invoked as a whole, there is no container to deny",
            )
        principal = grantee.grant_principal
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=["sagemaker:InvokeEndpoint"],
                resources=[self.endpoint_arn],
                conditions={"StringLike": {_HOSTNAME_CONDITION: self._patterns(containers)}},
            )
        )
        # Fail closed: sagemaker:TargetContainerHostname is documented in the SageMaker Developer Guide
        # ("Security for multi-container endpoints") but absent from the Service Authorization Reference. Were
        # the key ever missing from a request's context, the Deny above would not match; this one then does
        # (IAM's Null condition: true when the key is absent).
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=["sagemaker:InvokeEndpoint"],
                resources=[self.endpoint_arn],
                conditions={"Null": {_HOSTNAME_CONDITION: "true"}},
            )
        )

    def _patterns(self, containers: Sequence[str] | None) -> list[str]:
        if containers is None or isinstance(containers, str) or not containers:
            raise limits.fail(
                self._owner, "containers", containers, "must list hostname patterns (containers=['*'] for all)"
            )
        for pattern in containers:
            limits.check_target_pattern(self._owner, "containers pattern", pattern)
            if not limits.is_token(pattern) and not fnmatch.filter(self.hostnames, pattern):
                raise limits.fail(
                    self._owner,
                    "containers pattern",
                    pattern,
                    f"matches no container (hostnames: {', '.join(self.hostnames)})",
                )
        return list(containers)

    # -- per-container metrics (dimension ContainerName) -----------------------------------------------------

    def metric_container(self, container: str, metric_name: str, **props: Any) -> cloudwatch.Metric:
        """``metric_name`` of one container, with dimensions EndpointName, VariantName and ContainerName."""
        if container not in self.hostnames:
            raise limits.fail(self._owner, "container", container, f"is not one of {', '.join(self.hostnames)}")
        return self.metric(metric_name, dimensions={"ContainerName": container}, **props)

    def metric_container_invocations(self, container: str, **props: Any) -> cloudwatch.Metric:
        """Requests to one container (Sum)."""
        return self.metric_container(container, "Invocations", statistic="Sum", **props)

    def metric_container_invocation_4xx_errors(self, container: str, **props: Any) -> cloudwatch.Metric:
        """4XX answers of one container (Sum)."""
        return self.metric_container(container, "Invocation4XXErrors", statistic="Sum", **props)

    def metric_container_invocation_5xx_errors(self, container: str, **props: Any) -> cloudwatch.Metric:
        """5XX answers of one container (Sum)."""
        return self.metric_container(container, "Invocation5XXErrors", statistic="Sum", **props)

    def metric_container_latency(self, container: str, **props: Any) -> cloudwatch.Metric:
        """Time one container took to respond, in microseconds (Average)."""
        return self.metric_container(container, "ContainerLatency", unit=cloudwatch.Unit.MICROSECONDS, **props)

    def metric_container_cpu_utilization(self, container: str, **props: Any) -> cloudwatch.Metric:
        """CPU utilization of one container, percent (Average): Direct invocation only (a Serial pipeline reports
        its instances' total, per variant)."""
        return self.metric_container(
            container, "CPUUtilization", namespace=INSTANCE_NAMESPACE, unit=cloudwatch.Unit.PERCENT, **props
        )

    def metric_container_memory_utilization(self, container: str, **props: Any) -> cloudwatch.Metric:
        """Memory utilization of one container, percent (Average): Direct invocation only."""
        return self.metric_container(
            container, "MemoryUtilization", namespace=INSTANCE_NAMESPACE, unit=cloudwatch.Unit.PERCENT, **props
        )


class MultiContainerEndpoint(MultiContainerEndpointBase, OperatedEndpoint):
    """A SageMaker multi-container endpoint: 1-15 containers, Direct or Serial, on shared instances.

    Renders a ``CfnModel`` with ``Containers`` and ``InferenceExecutionConfig.Mode`` (no name: it is replaced on
    every change), an endpoint config (no name) and an endpoint with the stable ``endpoint_name``. Direct mode
    runs on CPU instances only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        mode: InferenceMode,
        containers: Sequence[Container],
        variants: Sequence[ProductionVariant],
        execution_role: ExecutionRole | iam.IRole | None = None,
        volume_encryption_key: kms.IKey | None = None,
        network: EndpointNetwork | None = None,
        enable_network_isolation: bool = False,
        parameter_path: str | None = None,
        deployment: BlueGreenDeployment | None = None,
        data_capture: DataCapture | None = None,
        shadow_variants: Sequence[ProductionVariant] = (),
    ) -> None:
        """Create the model, endpoint config and endpoint.

        :param endpoint_name: stable, lowercase, 1-63 letters, digits and hyphens.
        :param mode: ``InferenceMode.DIRECT`` or ``InferenceMode.SERIAL``; chosen explicitly (SageMaker would
            default to Serial).
        :param containers: 1-15 containers, in pipeline order for Serial.
        :param variants: 1-10 production variants (CPU instance types in Direct mode).
        :param execution_role: the role the model runs as: an ``ExecutionRole`` or any ``iam.IRole`` (extended with
            the grants below when it is mutable). Default: a new least-privilege role.
        :param volume_encryption_key: KMS key for the instances' ML storage volumes.
        :param network: run inside a VPC. Default: SageMaker's network.
        :param enable_network_isolation: forbid the containers any network call.
        :param parameter_path: publish the endpoint name and hostnames as SSM parameters under this path.
        :param deployment: blue/green updates with canary or linear traffic shifting, rolled back automatically
            by this endpoint's own 5XX and p99 latency alarms (``rollback_alarms``). Default: SageMaker's
            all-at-once blue/green without rollback alarms.
        :param data_capture: capture a sample of requests and responses to S3; Serial only, captured for the
            pipeline as a whole (refused in Direct mode: SageMaker does not document it there).
        :param shadow_variants: refused: SageMaker excludes multi-container endpoints from shadow tests.
        """
        hostnames = [c.hostname for c in containers if c.hostname]
        super().__init__(
            scope,
            construct_id,
            endpoint_name=endpoint_name,
            variant_names=[v.variant_name for v in variants] or ["AllTraffic"],
            mode=mode,
            hostnames=hostnames,
        )
        validate_endpoint(self._owner, endpoint_name=endpoint_name, variants=variants)
        self._validate_containers(containers, variants)
        if deployment is not None:
            deployment.validate(self._owner, variants)
        if shadow_variants:
            raise refuse_shadow_variants(self._owner, self.kind, SHADOW_UNSUPPORTED_MULTI_CONTAINER)
        if data_capture is not None:
            if mode is InferenceMode.DIRECT:
                raise refuse_data_capture(self._owner, self.kind, CAPTURE_UNDOCUMENTED_DIRECT)
            data_capture.validate(self._owner, endpoint_name=endpoint_name)

        self.execution_role = execution_role_for(self, endpoint_name, execution_role)
        """The role the model runs as."""
        rendered = [self._render(container) for container in containers]
        self.model = create_model(
            self,
            role=self.execution_role,
            network=network,
            enable_network_isolation=enable_network_isolation,
            containers=rendered,
            inference_execution_mode=mode.value,
        )
        """The SageMaker model (generated name)."""
        capture = (
            data_capture.render(self._owner, endpoint_name=endpoint_name, role=self.execution_role)
            if data_capture is not None
            else None
        )
        self._host(self.model, variants, volume_encryption_key, data_capture=capture)
        self.captures_data = capture is not None
        """Whether the endpoint captures requests and responses (its disk alarm fires before capture stops)."""
        self.rollback_alarms: list[cloudwatch.Alarm] = []
        """The alarms that roll a blue/green update back (empty without ``deployment``)."""
        if deployment is not None:
            self._roll_back_on_own_alarms(deployment, variants[0].variant_name)
        publish_endpoint(
            self,
            endpoint_name=endpoint_name,
            parameter_path=parameter_path,
            values={"mode": mode.value, "containers": ",".join(hostnames) or "-"},
        )

    # -- the endpoint protocol (HostedEndpoint) -------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"multi-container, Direct"`` or ``"multi-container, Serial"``."""
        return f"multi-container, {self.mode.value}"

    def alarm_specs(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """Per variant: the instance alarms, and in Direct mode a 5XX error rate per container."""
        specs: list[AlarmSpec] = []
        for variant in self.production_variants:
            suffix = variant_suffix(self.production_variants, variant)
            specs += instance_alarm_specs(self, variant, thresholds, suffix, capturing=self.captures_data)
            if self.mode is InferenceMode.DIRECT:
                specs += [
                    self._container_error_spec(h, variant.variant_name, thresholds, suffix) for h in self.hostnames
                ]
        return specs

    def _container_error_spec(self, hostname: str, variant: str, thresholds: AlarmThresholds, suffix: str) -> AlarmSpec:
        return AlarmSpec(
            construct_id=f"ErrorRate{construct_id_from_name(hostname)}{suffix}",
            metric=self.metric_error_rate(
                period=thresholds.period, variant_name=variant, dimensions={"ContainerName": hostname}
            ),
            threshold=thresholds.error_rate_percent,
            description=(
                f"{self.endpoint_name}/{variant}/{hostname}: 5XX errors above "
                f"{thresholds.error_rate_percent}% of requests"
            ),
        )

    def dashboard_rows(self) -> list[list[cloudwatch.IWidget]]:
        """Per variant: traffic, latency and utilization; then a row per container."""
        rows = [instance_variant_row(self, v.variant_name, v.instance_type) for v in self.production_variants]
        rows += [self._container_row(hostname) for hostname in self.hostnames]
        return rows

    def _container_row(self, hostname: str) -> list[cloudwatch.IWidget]:
        title = f"{self.endpoint_name}/{hostname}"
        # Per-container CPU and memory exist for Direct invocation only (SageMaker Developer Guide, "Metrics for
        # multi-container endpoints with direct invocation"); in a Serial pipeline CPUUtilization "is the sum of
        # CPU utilization by all containers running on the instance" ("Inference Pipeline Logs and Metrics"):
        # the variant's row shows it.
        direct = self.mode is InferenceMode.DIRECT
        width = 8 if direct else 12
        row: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title=f"{title}: invocations and errors",
                left=[self.metric_container_invocations(hostname, period=MINUTE)],
                right=[
                    self.metric_container_invocation_4xx_errors(hostname, period=MINUTE),
                    self.metric_container_invocation_5xx_errors(hostname, period=MINUTE),
                ],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: container latency (ms)",
                left=[milliseconds(self.metric_container_latency(hostname, period=MINUTE), "average")],
                width=width,
            ),
        ]
        if direct:
            row.append(
                cloudwatch.GraphWidget(
                    title=f"{title}: CPU and memory (%)",
                    left=[
                        self.metric_container_cpu_utilization(hostname, period=MINUTE),
                        self.metric_container_memory_utilization(hostname, period=MINUTE),
                    ],
                    width=8,
                )
            )
        return row

    def check_smoke_invocation(self, owner: str, invocation: SmokeInvocation) -> None:
        """Direct: one of the hostnames, no model. Serial: the pipeline as a whole, no target at all."""
        if invocation.inference_component:
            raise limits.fail(
                owner,
                "inference_component",
                invocation.inference_component,
                "does not apply to a multi-container endpoint",
            )
        if self.mode is InferenceMode.DIRECT:
            if invocation.target_container not in self.hostnames or invocation.target_model:
                raise limits.fail(
                    owner, "target_container", invocation.target_container, f"must be one of {self.hostnames}"
                )
        elif invocation.target_container or invocation.target_model:
            raise limits.fail(
                owner, "target", invocation.target_container or invocation.target_model, "does not apply to a pipeline"
            )

    def grant_smoke_invocations(self, grantee: iam.IGrantable, invocations: Sequence[SmokeInvocation]) -> iam.Grant:
        """Direct: the tested containers only. Serial: the pipeline."""
        if self.mode is InferenceMode.DIRECT:
            return self.grant_invoke(grantee, containers=[i.target_container or "" for i in invocations])
        return self.grant_invoke(grantee)

    def _roll_back_on_own_alarms(self, deployment: BlueGreenDeployment, variant: str) -> None:
        thresholds = deployment.rollback_thresholds
        self.rollback_alarms = [
            error_rate_alarm(self, "RollbackErrorRate", self, variant, thresholds),
            model_latency_alarm(self, "RollbackModelLatency", self, variant, thresholds),
        ]
        self.endpoint.deployment_config = deployment.render([a.alarm_name for a in self.rollback_alarms])
        # SageMaker reads the alarms' state with the model's role while it shifts traffic.
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"], resources=[a.alarm_arn for a in self.rollback_alarms]
            )
        )

    def _render(self, container: Container) -> sagemaker.CfnModel.ContainerDefinitionProperty:
        role = self.execution_role.role
        # Each image gets its own scope, so that two containers never share construct ids.
        image_uri = container.image.bind(self._image_scope(container), role)
        model_data_url = None
        if isinstance(container.model_data, ModelPrefix):
            container.model_data.grant_read(role)
            self.execution_role.acknowledge_wildcard(
                container.model_data.object_arns,
                "A multi-model container loads any archive under its prefix on demand, named by TargetModel.",
            )
            model_data_url = container.model_data.s3_url
        elif isinstance(container.model_data, ModelArchive):
            container.model_data.grant_read(role)
            model_data_url = container.model_data.s3_url
        return sagemaker.CfnModel.ContainerDefinitionProperty(
            image=image_uri,
            container_hostname=container.hostname,
            model_data_url=model_data_url,
            mode="MultiModel" if container.is_multi_model else None,
            environment=dict(container.environment) or None,
        )

    def _image_scope(self, container: Container) -> Construct:
        index = sum(1 for child in self.node.children if child.node.id.startswith("Container"))
        return Construct(self, f"Container{container.hostname or index}")

    def _validate_containers(self, containers: Sequence[Container], variants: Sequence[ProductionVariant]) -> None:
        owner = self._owner
        if not 1 <= len(containers) <= MAX_CONTAINERS:
            raise limits.fail(owner, "containers", f"{len(containers)} containers", "must number between 1 and 15")
        named = [c.hostname for c in containers if c.hostname]
        for hostname in named:
            limits.check_name(owner, "hostname", hostname)
            if named.count(hostname) > 1:
                raise limits.fail(owner, "hostname", hostname, "is used by more than one container")
        if self.mode is InferenceMode.DIRECT:
            if len(named) != len(containers):
                position = next(i for i, c in enumerate(containers) if not c.hostname)
                raise limits.fail(owner, f"hostname of container {position}", None, "is required in Direct mode")
            for container in containers:
                if container.is_multi_model:
                    raise limits.fail(
                        owner,
                        f"model_data of container {container.hostname!r}",
                        "a prefix",
                        "is MultiModel, not supported in Direct mode",
                    )
            for variant in variants:
                if not limits.is_token(variant.instance_type) and limits.is_gpu_instance_type(variant.instance_type):
                    raise limits.fail(
                        owner,
                        f"instance_type of variant {variant.variant_name!r}",
                        variant.instance_type,
                        "is a GPU type: SageMaker runs Direct multi-container endpoints on CPU only",
                    )
        else:
            if named and len(named) != len(containers):
                raise limits.fail(
                    owner, "hostname", f"{len(named)} of {len(containers)} set", "must be set on all containers or none"
                )
            multi_model = [i for i, c in enumerate(containers) if c.is_multi_model]
            if len(multi_model) > 1:
                raise limits.fail(
                    owner,
                    "containers",
                    f"MultiModel at positions {multi_model}",
                    "allows at most one MultiModel container",
                )
        limits.check_environment(
            owner,
            [(f"container {c.hostname or i!r}", dict(c.environment)) for i, c in enumerate(containers)],
        )

    @staticmethod
    def from_endpoint_name(
        scope: Construct,
        construct_id: str,
        endpoint_name: str,
        *,
        mode: InferenceMode,
        hostnames: Sequence[str] = (),
        variant_names: Sequence[str] = ("AllTraffic",),
    ) -> MultiContainerEndpointBase:
        """An existing multi-container endpoint, e.g. from another stack, to grant on or to monitor."""
        limits.check_name(f"MultiContainerEndpoint {construct_id}", "endpoint_name", endpoint_name, lowercase=True)
        return MultiContainerEndpointBase(
            scope,
            construct_id,
            endpoint_name=endpoint_name,
            variant_names=variant_names,
            mode=mode,
            hostnames=hostnames,
        )

    @staticmethod
    def from_endpoint_arn(
        scope: Construct,
        construct_id: str,
        endpoint_arn: str,
        *,
        mode: InferenceMode,
        hostnames: Sequence[str] = (),
        variant_names: Sequence[str] = ("AllTraffic",),
    ) -> MultiContainerEndpointBase:
        """An existing multi-container endpoint by ARN, possibly in another account or region."""
        return MultiContainerEndpoint.from_endpoint_attributes(
            scope,
            construct_id,
            EndpointAttributes(endpoint_arn=endpoint_arn, variant_names=variant_names),
            mode=mode,
            hostnames=hostnames,
        )

    @staticmethod
    def from_endpoint_attributes(
        scope: Construct,
        construct_id: str,
        attributes: EndpointAttributes,
        *,
        mode: InferenceMode,
        hostnames: Sequence[str] = (),
    ) -> MultiContainerEndpointBase:
        """An existing multi-container endpoint from its ARN and variants."""
        owner = f"MultiContainerEndpoint {construct_id}"
        return MultiContainerEndpointBase(
            scope,
            construct_id,
            endpoint_name=endpoint_name_from_arn(owner, attributes.endpoint_arn),
            variant_names=attributes.variant_names,
            mode=mode,
            hostnames=hostnames,
            endpoint_arn=attributes.endpoint_arn,
        )
