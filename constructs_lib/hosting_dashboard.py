"""HostingDashboard: one CloudWatch dashboard with a section per endpoint, MME- and MCE-aware."""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.endpoint_alarms import EndpointAlarms
from constructs_lib.endpoint_base import INSTANCE_NAMESPACE, EndpointBase
from constructs_lib.endpoint_scaling import EndpointScaling
from constructs_lib.multi_container_endpoint import MultiContainerEndpoint
from constructs_lib.multi_model_endpoint import MultiModelEndpoint

_WIDTH = 24
_MINUTE = cdk.Duration.minutes(1)


def milliseconds(metric: cloudwatch.Metric, label: str) -> cloudwatch.MathExpression:
    """A microsecond latency metric shown in milliseconds."""
    # Ids must be unique within a graph: derive them from what differs between the graph's metrics.
    metric_id = re.sub(r"[^a-z0-9_]", "_", f"{metric.metric_name}_{metric.statistic}".lower())
    return cloudwatch.MathExpression(
        expression=f"{metric_id} / 1000", using_metrics={metric_id: metric}, label=label, period=metric.period
    )


class HostingDashboard(Construct):
    """A dashboard of every endpoint: traffic, errors, latency (ms), instances, scaling, and per kind:

    - multi-model: cache-hit ratio, loaded models, loading wait / download / load / unload times, unloads;
    - multi-container: a row per container (invocations, errors, container latency, CPU and memory).
    """

    def __init__(self, scope: Construct, construct_id: str, *, dashboard_name: str | None = None) -> None:
        """Create an empty dashboard; add endpoints with ``add_endpoint``."""
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Resource", dashboard_name=dashboard_name)
        """The CloudWatch dashboard."""

    def add_endpoint(
        self,
        endpoint: MultiModelEndpoint | MultiContainerEndpoint,
        *,
        scaling: Sequence[EndpointScaling] = (),
        alarms: EndpointAlarms | None = None,
    ) -> None:
        """Add ``endpoint``'s section (with its scaling targets and alarms, when given)."""
        kind = "multi-model" if isinstance(endpoint, MultiModelEndpoint) else f"multi-container, {endpoint.mode.value}"
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=f"## {endpoint.endpoint_name} ({kind})", width=_WIDTH, height=1)
        )
        for variant in endpoint.production_variants:
            self._variant_rows(endpoint, variant.variant_name, variant.instance_type)
        for each in scaling:
            self._scaling_row(endpoint, each)
        if isinstance(endpoint, MultiModelEndpoint):
            for variant in endpoint.production_variants:
                self._multi_model_rows(endpoint, variant.variant_name)
        else:
            for hostname in endpoint.hostnames:
                self._container_row(endpoint, hostname)
        if alarms is not None and alarms.alarms:
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(
                    title=f"{endpoint.endpoint_name}: alarms", alarms=list(alarms.alarms.values()), width=_WIDTH
                )
            )

    def _variant_rows(self, endpoint: EndpointBase, variant: str, instance_type: str) -> None:
        title = f"{endpoint.endpoint_name}/{variant}"
        utilization = [
            endpoint.metric_cpu_utilization(variant_name=variant, period=_MINUTE),
            endpoint.metric_memory_utilization(variant_name=variant, period=_MINUTE),
            endpoint.metric_disk_utilization(variant_name=variant, period=_MINUTE),
        ]
        if limits.is_gpu_instance_type(instance_type):
            utilization.append(endpoint.metric_gpu_utilization(variant_name=variant, period=_MINUTE))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{title}: invocations and errors",
                left=[endpoint.metric_invocations(variant_name=variant, period=_MINUTE)],
                right=[
                    endpoint.metric_invocation_4xx_errors(variant_name=variant, period=_MINUTE),
                    endpoint.metric_invocation_5xx_errors(variant_name=variant, period=_MINUTE),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: latency (ms)",
                left=[
                    milliseconds(endpoint.metric_model_latency(variant_name=variant, period=_MINUTE), "model, average"),
                    milliseconds(
                        endpoint.metric_model_latency(variant_name=variant, statistic="p99", period=_MINUTE),
                        "model, p99",
                    ),
                    milliseconds(endpoint.metric_overhead_latency(variant_name=variant, period=_MINUTE), "overhead"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(title=f"{title}: utilization (%)", left=utilization, width=8),
        )

    def _scaling_row(self, endpoint: EndpointBase, scaling: EndpointScaling) -> None:
        variant = scaling.variant.variant_name
        # Each instance reports CPUUtilization once a minute: the sample count is the instance count.
        instances = endpoint.metric(
            "CPUUtilization",
            namespace=INSTANCE_NAMESPACE,
            statistic="SampleCount",
            variant_name=variant,
            period=_MINUTE,
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
                left=[endpoint.metric_invocations_per_instance(variant_name=variant, period=_MINUTE)],
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

    def _multi_model_rows(self, endpoint: MultiModelEndpoint, variant: str) -> None:
        title = f"{endpoint.endpoint_name}/{variant}"
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{title}: model cache",
                left=[endpoint.metric_model_cache_hit(variant_name=variant, period=_MINUTE, label="cache-hit ratio")],
                right=[endpoint.metric_loaded_model_count(variant_name=variant, period=_MINUTE, label="loaded models")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: model loading (ms)",
                left=[
                    milliseconds(endpoint.metric_model_loading_wait_time(variant_name=variant, period=_MINUTE), "wait"),
                    milliseconds(
                        endpoint.metric_model_downloading_time(variant_name=variant, period=_MINUTE), "download"
                    ),
                    milliseconds(endpoint.metric_model_loading_time(variant_name=variant, period=_MINUTE), "load"),
                    milliseconds(endpoint.metric_model_unloading_time(variant_name=variant, period=_MINUTE), "unload"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: models unloaded per minute (thrashing)",
                left=[endpoint.metric_model_unloads(variant_name=variant, period=_MINUTE, label="unloads")],
                width=8,
            ),
        )

    def _container_row(self, endpoint: MultiContainerEndpoint, hostname: str) -> None:
        title = f"{endpoint.endpoint_name}/{hostname}"
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{title}: invocations and errors",
                left=[endpoint.metric_container_invocations(hostname, period=_MINUTE)],
                right=[
                    endpoint.metric_container_invocation_4xx_errors(hostname, period=_MINUTE),
                    endpoint.metric_container_invocation_5xx_errors(hostname, period=_MINUTE),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: container latency (ms)",
                left=[milliseconds(endpoint.metric_container_latency(hostname, period=_MINUTE), "average")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: CPU and memory (%)",
                left=[
                    endpoint.metric_container_cpu_utilization(hostname, period=_MINUTE),
                    endpoint.metric_container_memory_utilization(hostname, period=_MINUTE),
                ],
                width=8,
            ),
        )
