"""The endpoint protocol: what alarms, dashboard and smoke test ask of an endpoint, whatever its kind.

Each kind (multi-model, multi-container, serverless, and any a platform team adds) answers for itself:
which alarms watch it, which dashboard rows show it, which smoke requests fit it and what they may invoke.
``EndpointAlarms``, ``HostingDashboard``, ``EndpointSmokeTest`` and ``EndpointScaling`` take any object that
satisfies ``HostedEndpoint`` (or ``ScalableEndpoint`` for scaling), so adding a kind is its own module and
nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import IConstruct, Node

from constructs_lib.production_variant import ProductionVariant

if TYPE_CHECKING:
    from constructs_lib.alarm_factory import AlarmThresholds
    from constructs_lib.endpoint_alarms import EndpointAlarms
    from constructs_lib.endpoint_scaling import EndpointScaling
    from constructs_lib.scaling_guard import ScalingGuardProvider


@dataclass(frozen=True, kw_only=True)
class SmokeInvocation:
    """One request the smoke test sends."""

    body: str
    """The request body (text)."""

    content_type: str = "application/json"
    """Its content type."""

    target_model: str | None = None
    """Multi-model: the canary model (it must be uploaded, and valid, before the deploy)."""

    target_container: str | None = None
    """Direct multi-container: the container to call."""

    inference_component: str | None = None
    """Inference-component endpoint: the component's deployed InferenceComponentName
    (``<endpoint name>-<component>``), which InvokeEndpoint requires on such an endpoint."""


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """One alarm an endpoint kind asks for; ``EndpointAlarms`` creates it with the environment's periods."""

    construct_id: str
    """Unique among the endpoint's alarms; stable (it names the alarm's logical ID)."""

    metric: cloudwatch.IMetric
    """What is watched, with its period."""

    threshold: float
    """In the metric's own unit (latency: microseconds)."""

    description: str
    """Shown in the notification: endpoint, variant, what crossed which threshold."""

    below: bool = False
    """Alarm when the metric falls below ``threshold`` (default: rises above it)."""


@dataclass(frozen=True, kw_only=True)
class SmokeExpectations:
    """What a kind adds to its smoke test beyond the endpoint's own checks."""

    dependencies: tuple[IConstruct, ...] = ()
    """Resources the test must wait for (e.g. the inference components it invokes)."""

    expected_models: Mapping[str, str] = field(default_factory=dict)
    """Inference component name -> the model name this deploy set: the test fails when SageMaker runs another
    (it rolled the component's update back on its own), and runs again whenever one changes."""


class HostedEndpoint(Protocol):
    """What the operations constructs need of an endpoint created in this app."""

    @property
    def node(self) -> Node: ...

    endpoint_name: str
    endpoint_arn: str
    endpoint: sagemaker.CfnEndpoint
    endpoint_config: sagemaker.CfnEndpointConfig

    @property
    def kind(self) -> str:
        """A short description for humans, e.g. ``"multi-model"`` or ``"multi-container, Direct"``."""
        ...

    def alarm_specs(self, thresholds: AlarmThresholds) -> Sequence[AlarmSpec]:
        """Every alarm this endpoint should have under ``thresholds``."""
        ...

    def dashboard_rows(self) -> Sequence[Sequence[cloudwatch.IWidget]]:
        """Its dashboard section below the title, a row (24 columns wide at most) per entry."""
        ...

    def check_smoke_invocation(self, owner: str, invocation: SmokeInvocation) -> None:
        """Raise a ``ValidationError`` (naming ``owner``) when ``invocation`` cannot work on this endpoint."""
        ...

    def grant_smoke_invocations(self, grantee: iam.IGrantable, invocations: Sequence[SmokeInvocation]) -> iam.Grant:
        """Let ``grantee`` send exactly ``invocations`` (no wider)."""
        ...

    def prepare_smoke_test(self, grantee: iam.IGrantable) -> SmokeExpectations:
        """What the endpoint's smoke test must also wait for and check, whichever requests it sends (granting
        ``grantee`` the reads); ``AlarmedEndpoint`` gives kinds without such parts an empty answer."""
        ...


class ScalableEndpoint(Protocol):
    """What ``EndpointScaling`` needs: an endpoint whose variants run on instances it can count."""

    @property
    def node(self) -> Node: ...

    endpoint_name: str
    endpoint: sagemaker.CfnEndpoint
    production_variants: tuple[ProductionVariant, ...]

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric: ...


class AlarmedEndpoint:
    """``add_alarms`` on the endpoint itself, as the CDK's L2s offer ``metric_*``: mixed into every kind created
    here (it creates ``EndpointAlarms`` under the endpoint)."""

    def prepare_smoke_test(self, grantee: iam.IGrantable) -> SmokeExpectations:  # noqa: ARG002  (the protocol's)
        """Nothing beyond the endpoint's own checks: a kind with parts of its own (inference components) overrides
        it."""
        return SmokeExpectations()

    def add_alarms(
        self: HostedEndpoint,
        thresholds: AlarmThresholds | None = None,
        *,
        action: cloudwatch.IAlarmAction | None = None,
    ) -> EndpointAlarms:
        """The alarms this endpoint's kind asks for (``EndpointAlarms``, id ``Alarms``), notifying ``action``."""
        from constructs_lib.alarm_factory import AlarmThresholds
        from constructs_lib.endpoint_alarms import EndpointAlarms

        return EndpointAlarms(
            self,  # type: ignore[arg-type]  # a HostedEndpoint created here is a construct
            "Alarms",
            endpoint=self,
            thresholds=thresholds or AlarmThresholds(),
            action=action,
        )


class OperatedEndpoint(AlarmedEndpoint):
    """``add_alarms`` and ``auto_scale`` (instance count of a variant), mixed into the instance-backed kinds."""

    def auto_scale(
        self: ScalableEndpoint,
        *,
        min_capacity: int,
        max_capacity: int,
        variant_name: str | None = None,
        guard_provider: ScalingGuardProvider | None = None,
    ) -> EndpointScaling:
        """Application Auto Scaling of a variant (``EndpointScaling``, id ``Scaling``, or ``Scaling<Variant>``
        for a variant other than the first); attach policies to what it returns."""
        from constructs_lib.endpoint_scaling import EndpointScaling

        first = self.production_variants[0].variant_name if self.production_variants else None
        construct_id = "Scaling" if variant_name in (None, first) else f"Scaling{variant_name}"
        return EndpointScaling(
            self,  # type: ignore[arg-type]  # a ScalableEndpoint created here is a construct
            construct_id,
            endpoint=self,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            variant_name=variant_name,
            guard_provider=guard_provider,
        )


__all__ = [
    "AlarmSpec",
    "AlarmedEndpoint",
    "HostedEndpoint",
    "OperatedEndpoint",
    "ScalableEndpoint",
    "SmokeExpectations",
    "SmokeInvocation",
]
