"""HostingDashboard: one CloudWatch dashboard with a section per endpoint, drawn by the endpoint's kind."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_lib.dashboard_widgets import MINUTE, WIDTH
from constructs_lib.endpoint_alarms import EndpointAlarms
from constructs_lib.endpoint_base import INSTANCE_NAMESPACE
from constructs_lib.endpoint_scaling import EndpointScaling
from constructs_lib.hosted_endpoint import HostedEndpoint


class HostingDashboard(Construct):
    """A dashboard of every endpoint: a title, the rows its kind draws (``HostedEndpoint.dashboard_rows``:
    traffic, errors, latency in ms, utilization; model cache for multi-model, a row per container for
    multi-container, cold starts for serverless), its scaling (invocations per instance against the target,
    instances against capacity) and the state of its alarms.
    """

    def __init__(self, scope: Construct, construct_id: str, *, dashboard_name: str | None = None) -> None:
        """Create an empty dashboard; add endpoints with ``add_endpoint``."""
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Resource", dashboard_name=dashboard_name)
        """The CloudWatch dashboard."""

    def add_endpoint(
        self,
        endpoint: HostedEndpoint,
        *,
        scaling: Sequence[EndpointScaling] = (),
        alarms: EndpointAlarms | None = None,
    ) -> None:
        """Add ``endpoint``'s section (with its scaling targets and alarms, when given)."""
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=f"## {endpoint.endpoint_name} ({endpoint.kind})", width=WIDTH, height=1)
        )
        for row in endpoint.dashboard_rows():
            self.dashboard.add_widgets(*row)
        for each in scaling:
            self._scaling_row(each)
        if alarms is not None and alarms.alarms:
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(
                    title=f"{endpoint.endpoint_name}: alarms", alarms=list(alarms.alarms.values()), width=WIDTH
                )
            )

    def _scaling_row(self, scaling: EndpointScaling) -> None:
        endpoint = scaling.endpoint
        variant = scaling.variant.variant_name
        # Each instance reports CPUUtilization once a minute: the sample count is the instance count.
        instances = endpoint.metric(
            "CPUUtilization",
            namespace=INSTANCE_NAMESPACE,
            statistic="SampleCount",
            variant_name=variant,
            period=MINUTE,
            label="instances",
        )
        annotations = [
            cloudwatch.HorizontalAnnotation(value=scaling.min_capacity, label="min capacity"),
            cloudwatch.HorizontalAnnotation(value=scaling.max_capacity, label="max capacity"),
        ]
        target = []
        if scaling.invocations_target is not None:
            target = [cloudwatch.HorizontalAnnotation(value=scaling.invocations_target, label="scaling target")]
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{endpoint.endpoint_name}/{variant}: invocations per instance vs scaling target",
                left=[endpoint.metric("InvocationsPerInstance", statistic="Sum", variant_name=variant, period=MINUTE)],
                left_annotations=target,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title=f"{endpoint.endpoint_name}/{variant}: instances",
                left=[instances],
                left_annotations=annotations,
                width=12,
            ),
        )
