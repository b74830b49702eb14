"""EndpointScaling: Application Auto Scaling of one production variant of an endpoint."""

from __future__ import annotations

from typing import Any, Protocol

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, Node

from constructs_lib import sagemaker_limits as limits
from constructs_lib.endpoint_base import INSTANCE_NAMESPACE
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.scaling_guard import ScalingGuard, ScalingGuardProvider

#: SageMaker's default cooldowns for variant scaling, both directions.
DEFAULT_COOLDOWN = cdk.Duration.seconds(300)


class ScalableEndpoint(Protocol):
    """What EndpointScaling needs of an endpoint it created: MultiModelEndpoint and MultiContainerEndpoint."""

    @property
    def node(self) -> Node: ...

    endpoint_name: str
    endpoint: sagemaker.CfnEndpoint
    production_variants: tuple[ProductionVariant, ...]

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric: ...


class EndpointScaling(Construct):
    """Scales one variant's instance count between ``min_capacity`` and ``max_capacity``.

    Attach policies with ``scale_on_invocations``, ``scale_on_cpu_utilization``, ``scale_on_gpu_utilization``
    and ``scale_on_schedule``. Attaching scaling also:

    - sets ``RetainAllVariantProperties`` on the endpoint, so that a config update keeps the scaled instance
      count instead of resetting it to the initial count;
    - guards instance-type changes: SageMaker refuses to update a scaled variant's instance type, so a
      ScalingGuard releases the scalable target before the update and restores it after.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: ScalableEndpoint,
        min_capacity: int,
        max_capacity: int,
        variant_name: str | None = None,
        guard_provider: ScalingGuardProvider | None = None,
    ) -> None:
        """Register ``variant_name`` (default: the endpoint's first variant) as a scalable target.

        :param min_capacity: at least 1: instance-backed variants cannot scale to zero.
        :param max_capacity: at least ``min_capacity``.
        :param guard_provider: the function behind the instance-type guard. Default: one per stack.
        """
        super().__init__(scope, construct_id)
        variant = _variant(endpoint, variant_name)
        self.owner = f"EndpointScaling {self.node.path}"
        limits.check_range(self.owner, "min_capacity", min_capacity, 1)
        if not limits.is_token(max_capacity) and not limits.is_token(min_capacity) and max_capacity < min_capacity:
            raise limits.fail(
                self.owner, "max_capacity", max_capacity, f"must be at least min_capacity ({min_capacity})"
            )
        if variant.instance_type.startswith("ml.t"):
            raise limits.fail(
                self.owner,
                "instance_type",
                variant.instance_type,
                "is burstable: SageMaker does not scale ml.t* variants",
            )
        self.endpoint = endpoint
        self.variant = variant
        """The scaled variant."""
        self.min_capacity = min_capacity
        """The lowest instance count."""
        self.max_capacity = max_capacity
        """The highest instance count."""
        self.invocations_target: float | None = None
        """The InvocationsPerInstance target, once ``scale_on_invocations`` is attached."""
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint.endpoint_name}/variant/{variant.variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            role=_service_linked_role(self),
        )
        """The scalable target."""
        self.target.node.add_dependency(endpoint.endpoint)
        endpoint.endpoint.retain_all_variant_properties = True
        _guard(endpoint, guard_provider).add_variant(variant.variant_name, variant.instance_type, self.target)

    def scale_on_invocations(
        self,
        *,
        target_invocations_per_instance: float | None = None,
        max_requests_per_second: float | None = None,
        safety_factor: float = 0.5,
        scale_in_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        scale_out_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        disable_scale_in: bool = False,
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track ``SageMakerVariantInvocationsPerInstance`` (requests per instance per minute).

        Give the target directly, or as ``max_requests_per_second`` one instance sustains (load-tested) times
        ``safety_factor`` (0-1]: target = max_requests_per_second x safety_factor x 60.
        """
        if (target_invocations_per_instance is None) == (max_requests_per_second is None):
            raise limits.fail(
                self.owner,
                "target",
                None,
                "give exactly one of target_invocations_per_instance, max_requests_per_second",
            )
        if max_requests_per_second is not None:
            limits.check_range(self.owner, "max_requests_per_second", max_requests_per_second, 0.001)
            if not 0 < safety_factor <= 1:
                raise limits.fail(self.owner, "safety_factor", safety_factor, "must be in (0, 1]")
            target_invocations_per_instance = max_requests_per_second * safety_factor * 60
        assert target_invocations_per_instance is not None
        limits.check_range(self.owner, "target_invocations_per_instance", target_invocations_per_instance, 0.001)
        self.invocations_target = round(target_invocations_per_instance, 3)
        return self.target.scale_to_track_metric(
            "Invocations",
            target_value=self.invocations_target,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            **self._cooldowns(scale_in_cooldown, scale_out_cooldown, disable_scale_in),
        )

    def scale_on_cpu_utilization(
        self, *, target_percent: float, **options: Any
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track average CPU at ``target_percent`` (1-100) of the whole instance: for CPU MME and MCE.

        ``CPUUtilization`` runs 0-100 per vCPU; the target is scaled by the instance type's vCPUs.
        """
        limits.check_range(self.owner, "target_percent", target_percent, 1, 100)
        cpus = limits.vcpus(self.variant.instance_type) or 1
        return self._scale_on_instance_metric("CPUUtilization", target_percent * cpus, **options)

    def scale_on_gpu_utilization(
        self, *, target_percent: float, **options: Any
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track average ``GPUUtilization`` (0-100 x GPUs) of the variant: for GPU multi-model endpoints."""
        if not limits.is_gpu_instance_type(self.variant.instance_type):
            raise limits.fail(self.owner, "instance_type", self.variant.instance_type, "has no GPU to track")
        return self._scale_on_instance_metric("GPUUtilization", target_percent, **options)

    def scale_on_schedule(
        self,
        construct_id: str,
        *,
        schedule: appscaling.Schedule,
        min_capacity: int | None = None,
        max_capacity: int | None = None,
        time_zone: cdk.TimeZone | None = None,
    ) -> None:
        """Change the capacity range on a schedule (e.g. a smaller dev endpoint at night); min stays >= 1."""
        if min_capacity is None and max_capacity is None:
            raise limits.fail(self.owner, f"schedule {construct_id}", None, "must set min_capacity or max_capacity")
        limits.check_range(self.owner, f"min_capacity of schedule {construct_id}", min_capacity, 1)
        limits.check_range(self.owner, f"max_capacity of schedule {construct_id}", max_capacity, 1)
        if min_capacity is not None and max_capacity is not None and max_capacity < min_capacity:
            raise limits.fail(
                self.owner, f"max_capacity of schedule {construct_id}", max_capacity, "is below its min_capacity"
            )
        self.target.scale_on_schedule(
            construct_id, schedule=schedule, min_capacity=min_capacity, max_capacity=max_capacity, time_zone=time_zone
        )

    def _scale_on_instance_metric(
        self,
        metric_name: str,
        target_percent: float,
        *,
        scale_in_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        scale_out_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        disable_scale_in: bool = False,
    ) -> appscaling.TargetTrackingScalingPolicy:
        limits.check_range(self.owner, "target_percent", target_percent, 1)
        metric = self.endpoint.metric(
            metric_name, namespace=INSTANCE_NAMESPACE, variant_name=self.variant.variant_name, statistic="Average"
        )
        return self.target.scale_to_track_metric(
            metric_name,
            target_value=target_percent,
            custom_metric=metric,
            **self._cooldowns(scale_in_cooldown, scale_out_cooldown, disable_scale_in),
        )

    def _cooldowns(self, scale_in: cdk.Duration, scale_out: cdk.Duration, disable_scale_in: bool) -> dict[str, Any]:
        limits.check_range(self.owner, "scale_in_cooldown", scale_in.to_seconds(), 0)
        limits.check_range(self.owner, "scale_out_cooldown", scale_out.to_seconds(), 0)
        return {"scale_in_cooldown": scale_in, "scale_out_cooldown": scale_out, "disable_scale_in": disable_scale_in}


def _service_linked_role(scope: Construct) -> iam.IRole:
    """Application Auto Scaling's own role for SageMaker variants (created by AWS on first registration).

    It holds exactly the rights scaling needs (describe the endpoint, update its capacities, manage the
    alarms of target tracking); a role of our own would have to repeat them.
    """
    arn = cdk.Stack.of(scope).format_arn(
        service="iam",
        region="",
        resource="role",
        resource_name=(
            "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
        ),
    )
    return iam.Role.from_role_arn(scope, "ServiceLinkedRole", arn, mutable=False)


def _variant(endpoint: ScalableEndpoint, variant_name: str | None) -> ProductionVariant:
    for variant in endpoint.production_variants:
        if variant_name in (None, variant.variant_name):
            return variant
    names = ", ".join(v.variant_name for v in endpoint.production_variants)
    raise limits.fail(
        f"EndpointScaling of {endpoint.node.path}", "variant_name", variant_name, f"is not one of {names}"
    )


def _guard(endpoint: ScalableEndpoint, provider: ScalingGuardProvider | None) -> ScalingGuard:
    """The endpoint's one guard, created with the first scaled variant."""
    existing = endpoint.node.try_find_child("ScalingGuard")
    if isinstance(existing, ScalingGuard):
        return existing
    if provider is None:
        stack = cdk.Stack.of(endpoint.endpoint)
        found = stack.node.try_find_child("ScalingGuardProvider")
        provider = (
            found if isinstance(found, ScalingGuardProvider) else ScalingGuardProvider(stack, "ScalingGuardProvider")
        )
    assert isinstance(endpoint, Construct)
    return ScalingGuard(
        endpoint, "ScalingGuard", provider=provider, endpoint=endpoint.endpoint, endpoint_name=endpoint.endpoint_name
    )
