"""InferenceComponent: one model on an inference-component endpoint, with its own compute, copies and metrics.

Created with ``InferenceComponentEndpoint.add_component``. Sources of the rules below: SageMaker API Reference
(``CreateInferenceComponent``, ``InferenceComponentComputeResourceRequirements``,
``InferenceComponentRollingUpdatePolicy``; the limits as botocore's ``sagemaker`` service model states them) and
the ``AWS::SageMaker::InferenceComponent`` CloudFormation resource schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import metric_facts
from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import AlarmThresholds, alarm, duration_milliseconds, microseconds
from constructs_lib.endpoint_base import InvocationMetrics
from constructs_lib.errors import ValidationError

if TYPE_CHECKING:
    from constructs_lib.component_scaling import ComponentScaling

#: Invocation metrics of a component (dimension ``InferenceComponentName``).
INVOCATION_NAMESPACE = "AWS/SageMaker"
#: Utilization of a component's copies against their reservation (SageMaker Developer Guide, "Amazon SageMaker AI
#: metrics in Amazon CloudWatch", inference component metrics).
UTILIZATION_NAMESPACE = "/aws/sagemaker/InferenceComponents"
#: ``InferenceComponentRollingUpdatePolicy.MaximumBatchSize``: "between 5% to 50% of the copy count".
MIN_BATCH_PERCENT, MAX_BATCH_PERCENT = 5, 50
#: ``WaitIntervalInSeconds`` 0-3600 and ``MaximumExecutionTimeoutInSeconds`` 600-28800 (botocore).
MAX_WAIT_SECONDS = 3600
MIN_EXECUTION_SECONDS, MAX_EXECUTION_SECONDS = 600, 28_800
#: ``AutoRollbackConfig.Alarms``: 1-10 alarms.
MAX_ROLLBACK_ALARMS = 10


@dataclass(frozen=True, kw_only=True)
class ComputeRequirements:
    """What one copy of the model reserves on an instance (``ComputeResourceRequirements``)."""

    min_memory_mb: int
    """Memory reserved per copy, at least 128 MB (the API requires it)."""

    max_memory_mb: int | None = None
    """The most memory a copy may use, at least ``min_memory_mb``. Default: no limit."""

    cpu_cores: float | None = None
    """CPU cores reserved per copy, at least 0.25. Default: SageMaker's share."""

    accelerators: int | None = None
    """GPUs or Inferentia devices per copy, at least 1, at most the instance type has. Default: none."""

    def validate(self, owner: str, where: str) -> None:
        """Raise ``ValidationError`` naming ``owner``, ``where`` (the component), the field and the value."""
        limits.check_count(owner, f"compute.min_memory_mb of {where}", self.min_memory_mb, 128)
        if self.max_memory_mb is not None:
            limits.check_count(owner, f"compute.max_memory_mb of {where}", self.max_memory_mb, 128)
            if self.max_memory_mb < self.min_memory_mb:
                raise limits.fail(
                    owner,
                    f"compute.max_memory_mb of {where}",
                    self.max_memory_mb,
                    f"must be at least min_memory_mb ({self.min_memory_mb})",
                )
        if self.cpu_cores is not None:
            limits.check_finite(owner, f"compute.cpu_cores of {where}", self.cpu_cores)
            limits.check_range(owner, f"compute.cpu_cores of {where}", self.cpu_cores, 0.25)
        if self.accelerators is not None:
            limits.check_count(owner, f"compute.accelerators of {where}", self.accelerators, 1)

    def render(self) -> sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty:
        """The CloudFormation property."""
        return sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
            min_memory_required_in_mb=self.min_memory_mb,
            max_memory_required_in_mb=self.max_memory_mb,
            number_of_cpu_cores_required=self.cpu_cores,
            number_of_accelerator_devices_required=self.accelerators,
        )


@dataclass(frozen=True, kw_only=True)
class ComponentRollingUpdate:
    """Replace a component's copies in batches, rolled back when its own alarms fire (``DeploymentConfig``).

    Without it, SageMaker updates a component blue/green: a full second set of copies first, which needs that
    much spare capacity. Applies to updates only (CloudFormation passes ``DeploymentConfig`` to
    ``UpdateInferenceComponent``; creation places the copies at once).
    """

    batch_percent: int = 20
    """Share of the copies replaced per batch, 5-50 (the API's bounds); ignored when ``batch_copies`` is given."""

    batch_copies: int | None = None
    """Copies replaced per batch (``COPY_COUNT``). Prefer it for components with few copies: AWS does not say how a
    percent of one or two copies rounds."""

    wait_interval: cdk.Duration = cdk.Duration.minutes(2)
    """Baking time per batch while the alarms are watched, 0-3600 s."""

    max_execution_timeout: cdk.Duration | None = None
    """The whole update's limit, 600-28800 s. Default: SageMaker's."""

    rollback_batch_percent: int | None = None
    """Share of capacity restored per rollback batch. Default: everything at once (blue/green rollback)."""

    auto_rollback: bool = True
    """Roll back when the component's 5XX error rate or p99 latency alarm fires during the update."""

    rollback_thresholds: AlarmThresholds = AlarmThresholds(evaluation_periods=1, period=cdk.Duration.minutes(1))
    """The thresholds of those rollback alarms. SageMaker watches them only during each batch's ``wait_interval``
    (``WaitIntervalInSeconds``: "the baking period, during which SageMaker AI monitors alarms"), so their window
    (period x evaluation periods) must fit in it: one minute, once, by default."""

    def check_copies(self, owner: str, where: str, *, fewest: int, most: int) -> None:
        """``batch_copies`` within the API's 5-50% of the copy count for every count the component may run,
        ``fewest`` to ``most`` copies (InferenceComponentRollingUpdatePolicy, ``MaximumBatchSize``: "The value
        must be between 5% to 50% of the copy count of the inference component")."""
        batch = self.batch_copies
        if batch is None:
            return
        field = f"rolling_update.batch_copies of {where}"
        if batch * 100 > MAX_BATCH_PERCENT * max(fewest, 1):
            raise limits.fail(
                owner,
                field,
                batch,
                f"must be at most {MAX_BATCH_PERCENT}% of the copy count, which may be {fewest}: run at least "
                f"{2 * batch} copies (min_copies), or update without a rolling policy (blue/green)",
            )
        if batch * 100 < MIN_BATCH_PERCENT * most:
            raise limits.fail(
                owner, field, batch, f"must be at least {MIN_BATCH_PERCENT}% of the copy count, which may be {most}"
            )

    def validate(self, owner: str, where: str) -> None:
        """Raise ``ValidationError`` for a value the API refuses."""
        for name in ("batch_percent", "rollback_batch_percent"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise limits.fail(owner, f"rolling_update.{name} of {where}", value, "must be a whole percent")
            high = MAX_BATCH_PERCENT if name == "batch_percent" else 100
            limits.check_range(owner, f"rolling_update.{name} of {where}", value, MIN_BATCH_PERCENT, high)
        if self.batch_copies is not None:
            limits.check_count(owner, f"rolling_update.batch_copies of {where}", self.batch_copies, 1)
        wait = limits.whole_seconds(owner, f"rolling_update.wait_interval of {where}", self.wait_interval)
        limits.check_range(owner, f"rolling_update.wait_interval of {where}", wait, 0, MAX_WAIT_SECONDS)
        if self.auto_rollback and not limits.is_token(wait):
            thresholds = self.rollback_thresholds
            window = int(thresholds.period.to_seconds()) * thresholds.evaluation_periods
            if window > wait:
                raise limits.fail(
                    owner,
                    f"rolling_update.wait_interval of {where}",
                    wait,
                    f"is shorter than the rollback alarms' window ({window} s = period x evaluation_periods): "
                    "SageMaker watches them only while a batch bakes, so they could never fire",
                )
        if self.max_execution_timeout is not None:
            field = f"rolling_update.max_execution_timeout of {where}"
            timeout = limits.whole_seconds(owner, field, self.max_execution_timeout)
            limits.check_range(owner, field, timeout, MIN_EXECUTION_SECONDS, MAX_EXECUTION_SECONDS)
        if self.auto_rollback:
            self.rollback_thresholds.validate(f"{owner}: rolling_update.rollback_thresholds of {where}")

    def render(
        self, alarm_names: Sequence[str]
    ) -> sagemaker.CfnInferenceComponent.InferenceComponentDeploymentConfigProperty:
        """The CloudFormation property, rolling back on ``alarm_names``."""
        rollback = (
            sagemaker.CfnInferenceComponent.InferenceComponentCapacitySizeProperty(
                type="CAPACITY_PERCENT", value=self.rollback_batch_percent
            )
            if self.rollback_batch_percent is not None
            else None
        )
        timeout = self.max_execution_timeout
        return sagemaker.CfnInferenceComponent.InferenceComponentDeploymentConfigProperty(
            rolling_update_policy=sagemaker.CfnInferenceComponent.InferenceComponentRollingUpdatePolicyProperty(
                maximum_batch_size=(
                    sagemaker.CfnInferenceComponent.InferenceComponentCapacitySizeProperty(
                        type="COPY_COUNT", value=self.batch_copies
                    )
                    if self.batch_copies is not None
                    else sagemaker.CfnInferenceComponent.InferenceComponentCapacitySizeProperty(
                        type="CAPACITY_PERCENT", value=self.batch_percent
                    )
                ),
                wait_interval_in_seconds=int(self.wait_interval.to_seconds()),
                maximum_execution_timeout_in_seconds=int(timeout.to_seconds()) if timeout is not None else None,
                rollback_maximum_batch_size=rollback,
            ),
            auto_rollback_configuration=(
                sagemaker.CfnInferenceComponent.AutoRollbackConfigurationProperty(
                    alarms=[sagemaker.CfnInferenceComponent.AlarmProperty(alarm_name=n) for n in alarm_names]
                )
                if alarm_names
                else None
            ),
        )


class InferenceComponent(InvocationMetrics, Construct):
    """One model hosted by an ``InferenceComponentEndpoint``: a SageMaker model (generated name, replaced on every
    change) and the ``AWS::SageMaker::InferenceComponent`` that places ``initial_copies`` copies of it.

    The component has an explicit name (``<endpoint>-<name>``): clients pass it as ``InferenceComponentName``,
    and Application Auto Scaling addresses it as ``inference-component/<name>``. A new model version is an
    in-place update of the component (``UpdateInferenceComponent``): rolling when ``rolling_update`` is given,
    blue/green otherwise.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        endpoint_attribute: str,
        variant_name: str,
        component_name: str,
        model: sagemaker.CfnModel | None,
        model_name: str,
        compute: ComputeRequirements,
        initial_copies: int,
        model_data_download_timeout: cdk.Duration | None,
        container_startup_health_check_timeout: cdk.Duration | None,
        rolling_update: ComponentRollingUpdate | None,
    ) -> None:
        """Not called directly: ``InferenceComponentEndpoint.add_component`` validates and creates components.

        :param endpoint_attribute: the endpoint's name as a ``GetAtt`` (a dependency on the endpoint: the
            component can only be placed on an endpoint that is in service).
        """
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name
        """The endpoint it is placed on."""
        self.component_name = component_name
        """Its ``InferenceComponentName``."""
        self.model = model
        """The SageMaker model created for it (generated name), or None for an existing model."""
        self.model_name = model_name
        """The name of the model it serves (a token for a model created here)."""
        self.compute = compute
        """What one copy reserves."""
        self.initial_copies = initial_copies
        """Copies at creation (what the template declares)."""
        self.scaling: ComponentScaling | None = None
        """Its copy-count scaling, once ``auto_scale`` was called."""
        self.rollback_alarms: list[cloudwatch.Alarm] = []
        """The alarms a rolling update rolls back on."""
        stack = cdk.Stack.of(self)
        self.component_arn = stack.format_arn(
            service="sagemaker", resource="inference-component", resource_name=component_name.lower()
        )
        """Its ARN (SageMaker lowercases names in ARNs, as for endpoints)."""
        self.resource = sagemaker.CfnInferenceComponent(
            self,
            "Resource",
            endpoint_name=endpoint_attribute,
            variant_name=variant_name,
            inference_component_name=component_name,
            specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
                model_name=model_name,
                compute_resource_requirements=compute.render(),
                startup_parameters=_startup(model_data_download_timeout, container_startup_health_check_timeout),
            ),
            # The copy count declared here is the initial one and nothing else derives from it: autoscaling owns
            # the live count (``DesiredCopyCount``). ``CopyCount`` is write-only in the resource schema and the
            # update handler may apply it with UpdateInferenceComponentRuntimeConfig, so a change of this value
            # would reset the live count: docs/OPERATIONS.md, "Copy counts across updates".
            runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(
                copy_count=initial_copies
            ),
        )
        """The ``AWS::SageMaker::InferenceComponent``."""
        self.rolling_update = rolling_update
        """How updates replace its copies (None: blue/green)."""

    def roll_back_on_own_alarms(self, role: iam.IRole) -> None:
        """Give updates their rolling policy, watched by this component's error-rate and latency alarms (which
        ``role``, the endpoint's execution role, may read: SageMaker reads their state while it rolls)."""
        update = self.rolling_update
        if update is None:
            return
        if update.auto_rollback:
            thresholds = update.rollback_thresholds
            self.rollback_alarms = [
                alarm(
                    self,
                    "RollbackErrorRate",
                    metric=self.metric_error_rate(period=thresholds.period),
                    threshold=thresholds.error_rate_percent,
                    thresholds=thresholds,
                    description=f"{self.component_name}: 5XX errors above {thresholds.error_rate_percent}% during "
                    "a rolling update (rolls it back)",
                ),
                alarm(
                    self,
                    "RollbackModelLatency",
                    metric=self.metric_model_latency(statistic="p99", period=thresholds.period),
                    threshold=microseconds(thresholds.model_latency_p99),
                    thresholds=thresholds,
                    description=f"{self.component_name}: p99 model latency above "
                    f"{duration_milliseconds(thresholds.model_latency_p99)} ms during a rolling update (rolls it back)",
                ),
            ]
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["cloudwatch:DescribeAlarms"], resources=[a.alarm_arn for a in self.rollback_alarms]
                )
            )
        self.resource.deployment_config = update.render([a.alarm_name for a in self.rollback_alarms])

    # -- grants ----------------------------------------------------------------------------------------------

    def grant_invoke(self, grantee: iam.IGrantable, *, streaming: bool = False) -> iam.Grant:
        """Let ``grantee`` invoke this component (``InvokeEndpoint``, and ``InvokeEndpointWithResponseStream``
        when ``streaming``), naming the endpoint and this component's ARN as resources.

        The Service Authorization Reference lists ``inference-component`` as a resource type of both actions and
        gives no condition key for the component's name. AWS does not document whether SageMaker checks the
        component's ARN on every request: treat this as defence in depth, not as isolation between tenants of
        one endpoint (docs/OPERATIONS.md, "Who may invoke a component").
        """
        return grant_component_invoke(grantee, self.endpoint_name, [self], streaming=streaming)

    # -- metrics ---------------------------------------------------------------------------------------------

    def metric(
        self,
        metric_name: str,
        *,
        namespace: str = INVOCATION_NAMESPACE,
        statistic: str = "Average",
        unit: cloudwatch.Unit | None = None,
        **props: Any,
    ) -> cloudwatch.Metric:
        """A metric of this component (dimension ``InferenceComponentName``)."""
        return metric_facts.metric(
            namespace=namespace,
            metric_name=metric_name,
            statistic=statistic,
            unit=unit,
            dimensions_map={"InferenceComponentName": self.component_name},
            **props,
        )

    def metric_invocations_per_copy(self, **props: Any) -> cloudwatch.Metric:
        """Requests per copy (Sum): what ``SageMakerInferenceComponentInvocationsPerCopy`` tracks."""
        return self.metric("InvocationsPerCopy", statistic="Sum", **props)

    def metric_concurrent_requests_per_copy(self, **props: Any) -> cloudwatch.Metric:
        """Requests in flight per copy (Maximum; the metric offers Minimum and Maximum only)."""
        return self.metric("ConcurrentRequestsPerCopy", statistic="Maximum", **props)

    def metric_no_capacity_invocation_failures(self, **props: Any) -> cloudwatch.Metric:
        """Requests refused because no copy was running (Sum): what wakes a component scaled to zero."""
        return self.metric("NoCapacityInvocationFailures", statistic="Sum", **props)

    def _utilization(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        return self.metric(metric_name, namespace=UTILIZATION_NAMESPACE, unit=cloudwatch.Unit.PERCENT, **props)

    def metric_cpu_utilization(self, **props: Any) -> cloudwatch.Metric:
        """CPU use of the copies against their reservation, 0-100 (Average)."""
        return self._utilization("CPUUtilizationNormalized", **props)

    def metric_memory_utilization(self, **props: Any) -> cloudwatch.Metric:
        """Memory use of the copies against their reservation, 0-100 (Average)."""
        return self._utilization("MemoryUtilizationNormalized", **props)

    def metric_gpu_utilization(self, **props: Any) -> cloudwatch.Metric:
        """GPU use of the copies against their reservation, 0-100 (Average)."""
        return self._utilization("GPUUtilizationNormalized", **props)

    def metric_gpu_memory_utilization(self, **props: Any) -> cloudwatch.Metric:
        """GPU memory use of the copies against their reservation, 0-100 (Average)."""
        return self._utilization("GPUMemoryUtilizationNormalized", **props)


def grant_component_invoke(
    grantee: iam.IGrantable, endpoint_name: str, components: Sequence[InferenceComponent], *, streaming: bool
) -> iam.Grant:
    """``InvokeEndpoint`` (and the streaming form) on the endpoint and the components' ARNs.

    Both resources are listed: the Service Authorization Reference marks ``endpoint`` as the required resource
    type of ``InvokeEndpoint`` and ``inference-component`` as an additional one.
    """
    if not components:
        raise ValidationError(f"grant on {endpoint_name}: name at least one component")
    stack = cdk.Stack.of(components[0])
    endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower())
    actions = ["sagemaker:InvokeEndpoint"] + (["sagemaker:InvokeEndpointWithResponseStream"] if streaming else [])
    return iam.Grant.add_to_principal(
        grantee=grantee, actions=actions, resource_arns=[endpoint_arn, *(c.component_arn for c in components)]
    )


def _startup(
    download: cdk.Duration | None, health_check: cdk.Duration | None
) -> sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty | None:
    if download is None and health_check is None:
        return None
    return sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty(
        model_data_download_timeout_in_seconds=int(download.to_seconds()) if download else None,
        container_startup_health_check_timeout_in_seconds=int(health_check.to_seconds()) if health_check else None,
    )


__all__ = [
    "ComponentRollingUpdate",
    "ComputeRequirements",
    "InferenceComponent",
    "grant_component_invoke",
]
