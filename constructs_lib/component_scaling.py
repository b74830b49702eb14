"""ComponentScaling: Application Auto Scaling of an inference component's copy count, down to zero if asked.

Sources: Application Auto Scaling API Reference (``RegisterScalableTarget``: ``ResourceId``
``inference-component/<name>``, dimension ``sagemaker:inference-component:DesiredCopyCount``, ``MinCapacity`` 0
allowed for SageMaker inference components; ``PredefinedMetricType``
``SageMakerInferenceComponentInvocationsPerCopy`` and
``SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution``), and the SageMaker Developer Guide,
"Scale an endpoint to zero instances" and "Autoscaling policies" (target tracking cannot leave zero: "you must use
step scaling if you want to enable an endpoint to scale out from zero").
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_topic import AlarmNames
from constructs_lib.endpoint_scaling import DEFAULT_COOLDOWN, service_linked_role
from constructs_lib.inference_component import InferenceComponent

#: Scale out from zero: one failed request in one minute starts a copy. The Developer Guide's CLI example uses
#: ``GreaterThanThreshold`` 1, which needs two failures within the minute, so a lone client retrying once a minute
#: would never wake the component; AWS's own CDK sample uses ``>= 1``. One minute is the metric's resolution.
WAKE_UP_PERIOD = cdk.Duration.minutes(1)
WAKE_UP_THRESHOLD = 1
#: The step policy's cooldown, as in the Developer Guide's example.
WAKE_UP_COOLDOWN = cdk.Duration.seconds(60)


@dataclass(frozen=True, kw_only=True)
class ComponentScalingPlan:
    """Copy-count scaling of a component, as data: what ``apply`` attaches with ``ComponentScaling``."""

    min_copies: int
    """Fewest copies; 0 scales the component to zero when idle (the first request after that fails and wakes it:
    provisioning an instance takes minutes)."""

    max_copies: int
    """Most copies."""

    invocations_per_copy: float | None = None
    """Track requests per copy per minute at this target (``SageMakerInferenceComponentInvocationsPerCopy``)."""

    concurrent_requests_per_copy: float | None = None
    """Track requests in flight per copy at this target (the high-resolution concurrency metric)."""

    scale_in_cooldown: cdk.Duration = DEFAULT_COOLDOWN
    """Wait after a scale-in before the next."""

    scale_out_cooldown: cdk.Duration = DEFAULT_COOLDOWN
    """Wait after a scale-out before the next."""

    @property
    def scale_to_zero(self) -> bool:
        """Whether the component may have no copy at all."""
        return self.min_copies == 0

    def apply(self, component: InferenceComponent) -> ComponentScaling:
        """Scale ``component`` as planned (``ComponentScaling`` with id ``Scaling``)."""
        scaling = ComponentScaling(
            component, "Scaling", component=component, min_copies=self.min_copies, max_copies=self.max_copies
        )
        if self.invocations_per_copy is not None:
            scaling.scale_on_invocations_per_copy(
                self.invocations_per_copy,
                scale_in_cooldown=self.scale_in_cooldown,
                scale_out_cooldown=self.scale_out_cooldown,
            )
        if self.concurrent_requests_per_copy is not None:
            scaling.scale_on_concurrent_requests_per_copy(
                self.concurrent_requests_per_copy,
                scale_in_cooldown=self.scale_in_cooldown,
                scale_out_cooldown=self.scale_out_cooldown,
            )
        if self.scale_to_zero:
            scaling.scale_out_from_zero()
        return scaling


class ComponentScaling(Construct):
    """Scales one component's copies between ``min_copies`` and ``max_copies``.

    Attach target tracking with ``scale_on_invocations_per_copy`` or ``scale_on_concurrent_requests_per_copy``;
    with ``min_copies`` 0 also ``scale_out_from_zero`` (``ComponentScalingPlan`` does both). Instances follow the
    copies through the endpoint's managed instance scaling.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, component: InferenceComponent, min_copies: int, max_copies: int
    ) -> None:
        """Register the component as a scalable target (after the component exists)."""
        super().__init__(scope, construct_id)
        self.owner = f"ComponentScaling {self.node.path}"
        limits.check_count(self.owner, "min_copies", min_copies, 0)
        limits.check_count(self.owner, "max_copies", max_copies, 1)
        if max_copies < min_copies:
            raise limits.fail(self.owner, "max_copies", max_copies, f"must be at least min_copies ({min_copies})")
        initial = component.initial_copies
        if not max(min_copies, 1) <= initial <= max_copies:
            # RegisterScalableTarget moves the current capacity into the range at once; creation needs >= 1 copy.
            raise limits.fail(
                self.owner,
                "initial_copies",
                initial,
                f"must be within {max(min_copies, 1)}..{max_copies}: Application Auto Scaling would change it as soon "
                "as the component is registered",
            )
        if component.scaling is not None:
            raise limits.fail(self.owner, "component", component.component_name, "is already scaled")
        if component.rolling_update is not None:
            component.rolling_update.check_copies(
                self.owner, component.component_name, fewest=min_copies, most=max_copies
            )
        self.component = component
        self.min_copies = min_copies
        """The fewest copies."""
        self.max_copies = max_copies
        """The most copies."""
        self.invocations_target: float | None = None
        """The InvocationsPerCopy target, once tracked."""
        self.concurrency_target: float | None = None
        """The ConcurrentRequestsPerCopy target, once tracked."""
        self.wake_up_alarm: cloudwatch.Alarm | None = None
        """The alarm that scales out from zero, once ``scale_out_from_zero`` was called."""
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"inference-component/{component.component_name}",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            min_capacity=min_copies,
            max_capacity=max_copies,
            # The same service-linked role as variant scaling: its managed policy
            # (AWSApplicationAutoscalingSageMakerEndpointPolicy) covers DescribeInferenceComponent and
            # UpdateInferenceComponentRuntimeConfig.
            role=service_linked_role(self),
        )
        """The scalable target."""
        # The resource id is a name, not a reference: registering before the component exists would fail.
        self.target.node.add_dependency(component.resource)
        component.scaling = self

    def scale_on_invocations_per_copy(
        self,
        target: float,
        *,
        scale_in_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        scale_out_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track ``InvocationsPerCopy`` (requests per copy per minute) at ``target``."""
        policy = self._track(
            "InvocationsPerCopy",
            "invocations_per_copy",
            target,
            appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY,
            scale_in_cooldown,
            scale_out_cooldown,
        )
        self.invocations_target = target
        return policy

    def scale_on_concurrent_requests_per_copy(
        self,
        target: float,
        *,
        scale_in_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
        scale_out_cooldown: cdk.Duration = DEFAULT_COOLDOWN,
    ) -> appscaling.TargetTrackingScalingPolicy:
        """Track requests in flight per copy at ``target`` (high resolution: reacts within seconds)."""
        policy = self._track(
            "ConcurrentRequestsPerCopy",
            "concurrent_requests_per_copy",
            target,
            appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_CONCURRENT_REQUESTS_PER_COPY_HIGH_RESOLUTION,
            scale_in_cooldown,
            scale_out_cooldown,
        )
        self.concurrency_target = target
        return policy

    def _track(
        self,
        construct_id: str,
        field: str,
        target: float,
        metric: appscaling.PredefinedMetric,
        scale_in_cooldown: cdk.Duration,
        scale_out_cooldown: cdk.Duration,
    ) -> appscaling.TargetTrackingScalingPolicy:
        limits.check_finite(self.owner, field, target)
        limits.check_range(self.owner, field, target, 0.001)
        return self.target.scale_to_track_metric(
            construct_id,
            target_value=target,
            predefined_metric=metric,
            scale_in_cooldown=scale_in_cooldown,
            scale_out_cooldown=scale_out_cooldown,
        )

    def scale_out_from_zero(self) -> appscaling.StepScalingAction:
        """Add one copy when a request found none: a step policy and an alarm on ``NoCapacityInvocationFailures``.

        The Developer Guide's recipe: ``ChangeInCapacity``, aggregation ``Maximum``, cooldown 60 s, one step
        (lower bound 0, +1), alarm on the Sum over one minute.
        """
        if self.min_copies != 0:
            raise limits.fail(
                self.owner, "min_copies", self.min_copies, "must be 0 to scale out from zero (nothing to wake)"
            )
        if self.invocations_target is None and self.concurrency_target is None:
            raise limits.fail(
                self.owner,
                "target tracking",
                None,
                "is required with min_copies 0: only target tracking scales the component in to zero",
            )
        action = appscaling.StepScalingAction(
            self,
            "ScaleOutFromZero",
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            cooldown=WAKE_UP_COOLDOWN,
        )
        action.add_adjustment(adjustment=1, lower_bound=0)
        self.wake_up_alarm = cloudwatch.Alarm(
            self,
            "NoCapacity",
            metric=self.component.metric_no_capacity_invocation_failures(period=WAKE_UP_PERIOD),
            threshold=WAKE_UP_THRESHOLD,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{self.component.component_name}: a request found no copy; add one (scale out from "
            "zero)",
            alarm_name=AlarmNames.name_for(self, "NoCapacity"),
        )
        self.wake_up_alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(action))
        return action


__all__ = ["WAKE_UP_THRESHOLD", "ComponentScaling", "ComponentScalingPlan"]
