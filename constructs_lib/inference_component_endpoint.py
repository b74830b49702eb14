"""InferenceComponentEndpoint: many models on one endpoint, each with its own compute, copies, scaling and metrics.

The endpoint config of such an endpoint names no model: its one variant is a fleet of instances, and each model
arrives as an inference component (``add_component``). Sources, where the CloudFormation schema is silent:

- the variant must have no ``ModelName`` ("Inference Components are not supported in this Endpoint" otherwise)
  and the config must carry the ``ExecutionRoleArn`` (``CreateEndpointConfig`` refuses a model-less variant
  without it): SageMaker API Reference, ``CreateEndpointConfig`` and ``ProductionVariant``; both failures are
  reported from the field (terraform-provider-aws #40644, fixed by #44977);
- ``ManagedInstanceScaling`` is accepted for inference-component endpoints only, ``MinInstanceCount`` 0 lets the
  endpoint release every instance (SageMaker Developer Guide, "Scale an endpoint to zero instances");
- VPC, network isolation and the volume key are set on the endpoint config (``CreateEndpointConfig``:
  ``VpcConfig``, ``EnableNetworkIsolation``, ``KmsKeyId``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import AlarmThresholds, duration_milliseconds, microseconds
from constructs_lib.dashboard_widgets import MINUTE, milliseconds
from constructs_lib.data_capture import (
    CAPTURE_UNDOCUMENTED_INFERENCE_COMPONENTS,
    SHADOW_UNDOCUMENTED_INFERENCE_COMPONENTS,
    DataCapture,
    refuse_data_capture,
    refuse_shadow_variants,
)
from constructs_lib.endpoint_base import (
    INSTANCE_NAMESPACE,
    EndpointBase,
    EndpointNetwork,
    construct_id_from_name,
    create_model,
    model_network,
    publish_endpoint,
)
from constructs_lib.execution_role import ExecutionRole, execution_role_for
from constructs_lib.hosted_endpoint import AlarmedEndpoint, AlarmSpec, SmokeExpectations, SmokeInvocation
from constructs_lib.inference_component import (
    ComponentRollingUpdate,
    ComputeRequirements,
    InferenceComponent,
    grant_component_invoke,
)
from constructs_lib.instance_capacity import check_component_fits
from constructs_lib.model_archive import ModelArchive
from constructs_lib.region_support import check_inference_component_region
from constructs_lib.serving_image import ServingImage
from hosting_contract import naming

VARIANT = "AllTraffic"
#: ``ScaleInPolicy``: ``CooldownInMinutes`` 5-1440, ``MaximumStepSize`` 1-100 (CloudFormation schema of
#: ``AWS::SageMaker::EndpointConfig``).
MIN_COOLDOWN_MINUTES, MAX_COOLDOWN_MINUTES = 5, 1440
MAX_STEP_SIZE = 100


class RoutingStrategy(enum.Enum):
    """How the endpoint spreads requests over the instances (``RoutingConfig.RoutingStrategy``)."""

    LEAST_OUTSTANDING_REQUESTS = "LEAST_OUTSTANDING_REQUESTS"
    """To the instance with the fewest requests in flight: what AWS's inference-component examples use."""

    RANDOM = "RANDOM"
    """To a random instance."""


class ScaleInStrategy(enum.Enum):
    """How managed instance scaling releases instances (``ScaleInPolicy.Strategy``)."""

    IDLE_RELEASE = "IDLE_RELEASE"
    """Release instances that host no copy."""

    CONSOLIDATION = "CONSOLIDATION"
    """Also move copies together to release more instances."""


@dataclass(frozen=True, kw_only=True)
class ManagedInstanceScaling:
    """SageMaker adds instances when copies need room and releases them when they are empty."""

    min_instances: int
    """Fewest instances; 0 lets the endpoint release them all when every component is at zero copies."""

    max_instances: int
    """Most instances (at least 1)."""

    scale_in_strategy: ScaleInStrategy = ScaleInStrategy.IDLE_RELEASE
    """How instances are released."""

    scale_in_cooldown: cdk.Duration | None = None
    """Wait after the last endpoint operation before consolidating, 5-1440 minutes. Default: SageMaker's (20)."""

    max_scale_in_step: int | None = None
    """Instances released at a time when consolidating, 1-100. Default: SageMaker's (1)."""

    def validate(self, owner: str, initial_instances: int) -> None:
        """Raise ``ValidationError`` for a value SageMaker refuses."""
        limits.check_count(owner, "managed_instance_scaling.min_instances", self.min_instances, 0)
        limits.check_count(owner, "managed_instance_scaling.max_instances", self.max_instances, 1)
        if self.max_instances < self.min_instances:
            raise limits.fail(
                owner,
                "managed_instance_scaling.max_instances",
                self.max_instances,
                f"must be at least min_instances ({self.min_instances})",
            )
        if not self.min_instances <= initial_instances <= self.max_instances:
            raise limits.fail(
                owner,
                "initial_instance_count",
                initial_instances,
                f"must be within managed_instance_scaling {self.min_instances}..{self.max_instances}",
            )
        if self.scale_in_cooldown is not None:
            minutes = self.scale_in_cooldown.to_minutes(integral=False)
            if minutes != int(minutes):
                raise limits.fail(owner, "managed_instance_scaling.scale_in_cooldown", minutes, "must be whole minutes")
            limits.check_range(
                owner,
                "managed_instance_scaling.scale_in_cooldown (minutes)",
                minutes,
                MIN_COOLDOWN_MINUTES,
                MAX_COOLDOWN_MINUTES,
            )
        if self.max_scale_in_step is not None:
            limits.check_count(owner, "managed_instance_scaling.max_scale_in_step", self.max_scale_in_step, 1)
            limits.check_range(
                owner, "managed_instance_scaling.max_scale_in_step", self.max_scale_in_step, 1, MAX_STEP_SIZE
            )

    def render(self) -> sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty:
        """The CloudFormation property."""
        cooldown = self.scale_in_cooldown
        return sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
            status="ENABLED",
            min_instance_count=self.min_instances,
            max_instance_count=self.max_instances,
            scale_in_policy=sagemaker.CfnEndpointConfig.ScaleInPolicyProperty(
                strategy=self.scale_in_strategy.value,
                cooldown_in_minutes=int(cooldown.to_minutes()) if cooldown is not None else None,
                maximum_step_size=self.max_scale_in_step,
            ),
        )


class InferenceComponentEndpoint(EndpointBase, AlarmedEndpoint):
    """An endpoint that hosts models as inference components.

    Each component reserves CPU cores, accelerators and memory per copy, scales its copies on its own traffic
    (down to zero with ``ComponentScalingPlan(min_copies=0)``), publishes its own metrics and is invoked by name
    (``InferenceComponentName``). Choose it over a multi-model endpoint when models need their own compute,
    scaling, metrics or rollout; over a multi-container endpoint when there are more than a handful of models.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        instance_type: str,
        initial_instance_count: int = 1,
        managed_instance_scaling: ManagedInstanceScaling | None = None,
        routing_strategy: RoutingStrategy = RoutingStrategy.LEAST_OUTSTANDING_REQUESTS,
        execution_role: ExecutionRole | iam.IRole | None = None,
        volume_encryption_key: kms.IKey | None = None,
        network: EndpointNetwork | None = None,
        enable_network_isolation: bool = False,
        parameter_path: str | None = None,
        data_capture: DataCapture | None = None,
        shadow_variants: Sequence[object] = (),
    ) -> None:
        """Create the endpoint config (no model on the variant) and the endpoint; add models with
        ``add_component``.

        :param endpoint_name: stable, lowercase, 1-63 letters, digits and hyphens.
        :param instance_type: the instances every component's copies are placed on.
        :param initial_instance_count: instances at creation (at least 1, within the managed range).
        :param managed_instance_scaling: let SageMaker add and release instances as copies need them (required
            for scale to zero). Default: a fixed fleet of ``initial_instance_count``.
        :param routing_strategy: how requests are spread over instances.
        :param execution_role: the role the endpoint and its models run as. Default: a new least-privilege role.
        :param volume_encryption_key: KMS key for the instances' ML storage volumes.
        :param network: run the models inside a VPC.
        :param enable_network_isolation: forbid every container any network call.
        :param parameter_path: publish the endpoint name as an SSM parameter under this path.
        :param data_capture: refused: AWS documents no data capture for inference components (the endpoint-wide
            ``DataCaptureConfig`` has no component field).
        :param shadow_variants: refused: AWS documents no shadow tests for inference components.
        """
        super().__init__(scope, construct_id, endpoint_name=endpoint_name, variant_names=[VARIANT])
        self.owner = f"InferenceComponentEndpoint {self.node.path}"
        owner = self.owner
        if data_capture is not None:
            raise refuse_data_capture(owner, self.kind, CAPTURE_UNDOCUMENTED_INFERENCE_COMPONENTS)
        if shadow_variants:
            raise refuse_shadow_variants(owner, self.kind, SHADOW_UNDOCUMENTED_INFERENCE_COMPONENTS)
        limits.check_name(owner, "endpoint_name", endpoint_name, lowercase=True)
        limits.check_instance_type(owner, "instance_type", instance_type)
        limits.check_count(owner, "initial_instance_count", initial_instance_count, 1)
        check_inference_component_region(owner, cdk.Stack.of(self).region)
        if managed_instance_scaling is not None:
            managed_instance_scaling.validate(owner, initial_instance_count)
        self.instance_type = instance_type
        """The instance type every copy runs on."""
        self.managed_instance_scaling = managed_instance_scaling
        """The instance range, when SageMaker manages it."""
        self.initial_instance_count = initial_instance_count
        self.enable_network_isolation = enable_network_isolation
        self.execution_role = execution_role_for(self, endpoint_name, execution_role)
        """The role the endpoint and its models run as."""
        self.components: dict[str, InferenceComponent] = {}
        """The components, by the name given to ``add_component``."""
        vpc_config = model_network(self, self.execution_role, network)

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            execution_role_arn=self.execution_role.role.role_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    instance_type=instance_type,
                    initial_instance_count=initial_instance_count,
                    managed_instance_scaling=managed_instance_scaling.render() if managed_instance_scaling else None,
                    routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                        routing_strategy=routing_strategy.value
                    ),
                )
            ],
            kms_key_id=volume_encryption_key.key_arn if volume_encryption_key else None,
            enable_network_isolation=enable_network_isolation or None,
            vpc_config=(
                sagemaker.CfnEndpointConfig.VpcConfigProperty(
                    subnets=vpc_config.subnets, security_group_ids=vpc_config.security_group_ids
                )
                if vpc_config is not None
                else None
            ),
        )
        """The endpoint config (generated name: replaced on every change)."""
        if volume_encryption_key is not None:
            # CreateEndpointConfig, KmsKeyId: the key's policy "must grant permission to the IAM role that you
            # specify"; with no model on the variant, the role SageMaker acts as is the config's. It may only make
            # grants for AWS resources (the instances' volumes) and read the key's description.
            self.execution_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant"],
                    resources=[volume_encryption_key.key_arn],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
                )
            )
            self.execution_role.add_to_policy(
                iam.PolicyStatement(actions=["kms:DescribeKey"], resources=[volume_encryption_key.key_arn])
            )
        # CreateEndpoint starts instances as the config's role: its policy must exist first.
        self.endpoint_config.node.add_dependency(self.execution_role)
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        """The endpoint (stable name)."""
        self._vpc_config = vpc_config
        publish_endpoint(self, endpoint_name=endpoint_name, parameter_path=parameter_path, values={})

    # -- components ------------------------------------------------------------------------------------------

    def add_component(
        self,
        name: str,
        *,
        image: ServingImage | None = None,
        model_data: ModelArchive | None = None,
        model_name: str | None = None,
        compute: ComputeRequirements,
        initial_copies: int = 1,
        environment: Mapping[str, str] | None = None,
        model_data_download_timeout: cdk.Duration | None = None,
        container_startup_health_check_timeout: cdk.Duration | None = None,
        rolling_update: ComponentRollingUpdate | None = None,
    ) -> InferenceComponent:
        """Host one model as the component ``<endpoint>-<name>`` (construct id: ``name`` in CamelCase).

        :param name: lowercase letters, digits and hyphens; the component is named ``<endpoint_name>-<name>``.
        :param image: its serving container (a model is created for it, replaced on every change).
        :param model_data: its ``model.tar.gz`` (one archive); the execution role may read that object only.
        :param model_name: instead of ``image`` and ``model_data``, an existing SageMaker model (e.g. from the
            model registry's deployment); its execution role and grants are the model owner's, and its VPC and
            network isolation should match this endpoint's.
        :param compute: what one copy reserves; one copy must fit one instance.
        :param initial_copies: copies at creation, at least 1, even for a component that scales to zero (it scales
            in afterwards): the API accepts a CopyCount of 0, but a component created empty would let the first
            deploy and its smoke test pass without ever loading the model.
        :param environment: container environment.
        :param model_data_download_timeout: 60-3600 s. Default: SageMaker's.
        :param container_startup_health_check_timeout: 60-3600 s. Default: SageMaker's.
        :param rolling_update: replace copies in batches on updates, rolled back on the component's alarms.
            Default: blue/green (SageMaker's).
        """
        owner = self.owner
        where = f"component {name!r}"
        if not isinstance(name, str) or not name or name != name.lower():
            raise limits.fail(owner, "component name", name, "must be lowercase letters, digits and hyphens")
        component_name = naming.component_name(self.endpoint_name, name)
        limits.check_name(owner, f"name of {where} (as {component_name!r})", component_name, lowercase=True)
        if name in self.components:
            raise limits.fail(owner, "component name", name, "is used twice on this endpoint")
        compute.validate(owner, where)
        check_component_fits(
            owner,
            instance_type=self.instance_type,
            region=cdk.Stack.of(self).region,
            cpu_cores=compute.cpu_cores,
            accelerators=compute.accelerators,
            field_prefix="compute.",
            where=where,
        )
        if isinstance(initial_copies, bool) or not isinstance(initial_copies, int) or initial_copies < 1:
            raise limits.fail(
                owner,
                f"initial_copies of {where}",
                initial_copies,
                "must be a whole number >= 1: a component created without a copy never loads its model, so the deploy "
                "and its smoke test would prove nothing",
            )
        env = dict(environment or {})
        limits.check_environment(owner, [(where, env)])
        limits.check_timeout(owner, f"model_data_download_timeout of {where}", model_data_download_timeout)
        limits.check_timeout(
            owner, f"container_startup_health_check_timeout of {where}", container_startup_health_check_timeout
        )
        if rolling_update is not None:
            rolling_update.validate(owner, where)
            # Without scaling the count stays as created (ComponentScaling checks its own range).
            rolling_update.check_copies(owner, where, fewest=initial_copies, most=initial_copies)

        if (image is None) == (model_name is None) or (model_name is not None and (model_data or env)):
            raise limits.fail(
                owner,
                f"model of {where}",
                model_name or (image and "image"),
                "give either image (with model_data and environment) or model_name (an existing model)",
            )
        if model_name is not None:
            limits.check_name(owner, f"model_name of {where}", model_name)

        scope = Construct(self, construct_id_from_name(name))
        model: sagemaker.CfnModel | None = None
        if image is not None:
            image_uri = image.bind(scope, self.execution_role.role)
            if model_data is not None:
                model_data.grant_read(self.execution_role.role)
            model = create_model(
                scope,
                role=self.execution_role,
                network=None,
                enable_network_isolation=self.enable_network_isolation,
                primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                    image=image_uri, model_data_url=model_data.s3_url if model_data else None, environment=env or None
                ),
            )
            # The containers run in the endpoint's VPC, declared on the model as on the config.
            model.vpc_config = self._vpc_config
        component = InferenceComponent(
            scope,
            "Component",
            endpoint_name=self.endpoint_name,
            endpoint_attribute=self.endpoint.attr_endpoint_name,
            variant_name=VARIANT,
            component_name=component_name,
            model=model,
            model_name=model.attr_model_name if model is not None else model_name or "",
            compute=compute,
            initial_copies=initial_copies,
            model_data_download_timeout=model_data_download_timeout,
            container_startup_health_check_timeout=container_startup_health_check_timeout,
            rolling_update=rolling_update,
        )
        component.roll_back_on_own_alarms(self.execution_role.role)
        # The component's containers log to a group of their own (created ahead by the stage, like the endpoint's).
        self.execution_role.allow_log_group(naming.component_log_group(component_name))
        self.components[name] = component
        return component

    def component(self, name: str) -> InferenceComponent:
        """The component added as ``name``."""
        if name not in self.components:
            known = ", ".join(sorted(self.components)) or "none"
            raise limits.fail(self.owner, "component", name, f"is not on this endpoint (components: {known})")
        return self.components[name]

    # -- grants ----------------------------------------------------------------------------------------------

    def grant_invoke(self, grantee: iam.IGrantable, *, components: Sequence[str], streaming: bool = False) -> iam.Grant:
        """Let ``grantee`` invoke the named components (names as given to ``add_component``).

        The statement names the endpoint and each component's ARN; see ``InferenceComponent.grant_invoke`` for
        what AWS does and does not document about how SageMaker evaluates it.
        """
        if isinstance(components, str) or not components:
            raise limits.fail(self.owner, "components", components, "must list at least one component")
        return grant_component_invoke(
            grantee, self.endpoint_name, [self.component(n) for n in components], streaming=streaming
        )

    # -- metrics of the endpoint -----------------------------------------------------------------------------

    def metric_cpu_reservation(self, **props: Any) -> cloudwatch.Metric:
        """CPU cores reserved by components, percent of the fleet's (emitted while components are placed)."""
        return self.metric("CPUReservation", namespace=INSTANCE_NAMESPACE, unit=cloudwatch.Unit.PERCENT, **props)

    def metric_memory_reservation(self, **props: Any) -> cloudwatch.Metric:
        """Memory reserved by components, percent of the fleet's."""
        return self.metric("MemoryReservation", namespace=INSTANCE_NAMESPACE, unit=cloudwatch.Unit.PERCENT, **props)

    def metric_gpu_reservation(self, **props: Any) -> cloudwatch.Metric:
        """Accelerators reserved by components, percent of the fleet's."""
        return self.metric("GPUReservation", namespace=INSTANCE_NAMESPACE, unit=cloudwatch.Unit.PERCENT, **props)

    # -- the endpoint protocol (HostedEndpoint) -------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"inference components"``."""
        return "inference components"

    def alarm_specs(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """Per component: 5XX error rate and p99 latency; requests refused for lack of a copy on components that
        never scale to zero (on those that do, a refused request is how they wake up)."""
        specs: list[AlarmSpec] = []
        for name, component in self.components.items():
            suffix = construct_id_from_name(name)
            label = component.component_name
            specs += [
                AlarmSpec(
                    construct_id=f"ErrorRate{suffix}",
                    metric=component.metric_error_rate(period=thresholds.period),
                    threshold=thresholds.error_rate_percent,
                    description=f"{label}: 5XX errors above {thresholds.error_rate_percent}% of requests",
                ),
                AlarmSpec(
                    construct_id=f"ModelLatency{suffix}",
                    metric=component.metric_model_latency(statistic="p99", period=thresholds.period),
                    threshold=microseconds(thresholds.model_latency_p99),
                    description=(
                        f"{label}: p99 model latency above {duration_milliseconds(thresholds.model_latency_p99)} ms"
                    ),
                ),
            ]
            if component.scaling is None or component.scaling.min_copies > 0:
                specs.append(
                    AlarmSpec(
                        construct_id=f"NoCapacity{suffix}",
                        metric=component.metric_no_capacity_invocation_failures(period=thresholds.period),
                        threshold=0,
                        description=f"{label}: requests refused because no copy could take them",
                    )
                )
        return specs

    def dashboard_rows(self) -> list[list[cloudwatch.IWidget]]:
        """The fleet's reservations, then per component: traffic and errors, latency, copies' utilization."""
        reservation = [
            self.metric_cpu_reservation(period=MINUTE, label="CPU reserved"),
            self.metric_memory_reservation(period=MINUTE, label="memory reserved"),
        ]
        if limits.is_gpu_instance_type(self.instance_type):
            reservation.append(self.metric_gpu_reservation(period=MINUTE, label="accelerators reserved"))
        rows: list[list[cloudwatch.IWidget]] = [
            [
                cloudwatch.GraphWidget(
                    title=f"{self.endpoint_name}: reserved share of the {self.instance_type} fleet (%)",
                    left=reservation,
                    left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                    width=24,
                )
            ]
        ]
        rows += [self._component_row(c) for c in self.components.values()]
        return rows

    def _component_row(self, component: InferenceComponent) -> list[cloudwatch.IWidget]:
        title = component.component_name
        scaling = component.scaling
        annotations = []
        if scaling is not None and scaling.invocations_target is not None:
            annotations.append(cloudwatch.HorizontalAnnotation(value=scaling.invocations_target, label="target"))
        utilization = [
            component.metric_cpu_utilization(period=MINUTE, label="CPU"),
            component.metric_memory_utilization(period=MINUTE, label="memory"),
        ]
        if component.compute.accelerators:
            utilization.append(component.metric_gpu_utilization(period=MINUTE, label="GPU"))
        return [
            cloudwatch.GraphWidget(
                title=f"{title}: invocations per copy, errors, refused for no capacity",
                left=[component.metric_invocations_per_copy(period=MINUTE, label="per copy")],
                left_annotations=annotations,
                right=[
                    component.metric_invocation_5xx_errors(period=MINUTE, label="5XX"),
                    component.metric_no_capacity_invocation_failures(period=MINUTE, label="no capacity"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: latency (ms)",
                left=[
                    milliseconds(component.metric_model_latency(period=MINUTE), "model, average"),
                    milliseconds(component.metric_model_latency(statistic="p99", period=MINUTE), "model, p99"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: use of its reservation (%)",
                left=utilization,
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                width=8,
            ),
        ]

    def check_smoke_invocation(self, owner: str, invocation: SmokeInvocation) -> None:
        """A request names one component of this endpoint (its deployed name) and no model or container."""
        target = invocation.inference_component
        names = [c.component_name for c in self.components.values()]
        if invocation.target_model or invocation.target_container:
            raise limits.fail(
                owner,
                "target",
                invocation.target_model or invocation.target_container,
                "does not apply to an inference-component endpoint (name the component)",
            )
        if target not in names:
            raise limits.fail(
                owner, "inference_component", target, f"must be one of this endpoint's components: {', '.join(names)}"
            )
        component = next(c for c in self.components.values() if c.component_name == target)
        if component.scaling is not None and component.scaling.min_copies == 0:
            # After a quiet spell the component has no copy: the canary would be refused (NoCapacity) and fail
            # the deploy; waking it takes minutes, longer than a smoke test waits.
            raise limits.fail(
                owner,
                "inference_component",
                target,
                "scales to zero copies: a canary would find no copy and fail the deploy (test a component that "
                "keeps a copy)",
            )

    def prepare_smoke_test(self, grantee: iam.IGrantable) -> SmokeExpectations:
        """The test waits for every component and its scalable target (CloudFormation creates them after the
        endpoint, and placing copies takes minutes) and checks that each runs the model this deploy set, invoked or
        not: a rolling or blue/green update SageMaker rolled back on its own leaves the component on the old model,
        CloudFormation reports success, and its cleanup then deletes that model. A changed model of any component
        changes the test's properties, so the test runs after that deploy too. ``grantee`` may describe exactly
        these components."""
        components = list(self.components.values())
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:DescribeInferenceComponent"],
            resource_arns=[c.component_arn for c in components],
        )
        # Each component's scalable target too: registering it (or a changed min or max) may move the copy count
        # while the test runs, and CloudFormation would otherwise update it beside the test.
        targets = [c.scaling.target for c in components if c.scaling is not None]
        return SmokeExpectations(
            dependencies=(*(c.resource for c in components), *targets),
            expected_models={c.component_name: c.model_name for c in components},
        )

    def grant_smoke_invocations(self, grantee: iam.IGrantable, invocations: Sequence[SmokeInvocation]) -> iam.Grant:
        """InvokeEndpoint on the tested components only."""
        by_deployed = {c.component_name: name for name, c in self.components.items()}
        return self.grant_invoke(grantee, components=[by_deployed[i.inference_component or ""] for i in invocations])


__all__ = ["InferenceComponentEndpoint", "ManagedInstanceScaling", "RoutingStrategy", "ScaleInStrategy"]
