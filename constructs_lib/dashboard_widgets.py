"""Dashboard rows shared by endpoint kinds: latency in milliseconds, a variant's traffic and utilization."""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from constructs_lib import metric_facts
from constructs_lib import sagemaker_limits as limits
from constructs_lib.endpoint_base import EndpointBase

#: A dashboard row is 24 columns wide.
WIDTH = 24
#: Dashboards show one-minute points: SageMaker publishes endpoint metrics once a minute.
MINUTE = cdk.Duration.minutes(1)


def milliseconds(metric: cloudwatch.Metric, label: str) -> cloudwatch.MathExpression:
    """A microsecond latency metric shown in milliseconds."""
    # Ids must be unique within a graph: derive them from what differs between the graph's metrics.
    facts = metric_facts.facts(metric)
    metric_id = re.sub(r"[^a-z0-9_]", "_", f"{facts.metric_name}_{facts.statistic}".lower())
    return cloudwatch.MathExpression(
        expression=f"{metric_id} / 1000", using_metrics={metric_id: metric}, label=label, period=facts.period
    )


def traffic_and_latency(endpoint: EndpointBase, variant: str) -> list[cloudwatch.IWidget]:
    """Invocations and errors, and latency (average, p99, overhead) in ms: two graphs, 8 columns each."""
    title = f"{endpoint.endpoint_name}/{variant}"
    return [
        cloudwatch.GraphWidget(
            title=f"{title}: invocations and errors",
            left=[endpoint.metric_invocations(variant_name=variant, period=MINUTE)],
            right=[
                endpoint.metric_invocation_4xx_errors(variant_name=variant, period=MINUTE),
                endpoint.metric_invocation_5xx_errors(variant_name=variant, period=MINUTE),
            ],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title=f"{title}: latency (ms)",
            left=[
                milliseconds(endpoint.metric_model_latency(variant_name=variant, period=MINUTE), "model, average"),
                milliseconds(
                    endpoint.metric_model_latency(variant_name=variant, statistic="p99", period=MINUTE),
                    "model, p99",
                ),
                milliseconds(endpoint.metric_overhead_latency(variant_name=variant, period=MINUTE), "overhead"),
            ],
            width=8,
        ),
    ]


def instance_variant_row(endpoint: EndpointBase, variant: str, instance_type: str) -> list[cloudwatch.IWidget]:
    """An instance-backed variant: traffic, latency, and CPU/memory/disk (and GPU) utilization."""
    utilization = [
        endpoint.metric_cpu_utilization(variant_name=variant, period=MINUTE),
        endpoint.metric_memory_utilization(variant_name=variant, period=MINUTE),
        endpoint.metric_disk_utilization(variant_name=variant, period=MINUTE),
    ]
    if limits.is_gpu_instance_type(instance_type):
        utilization.append(endpoint.metric_gpu_utilization(variant_name=variant, period=MINUTE))
    return [
        *traffic_and_latency(endpoint, variant),
        cloudwatch.GraphWidget(title=f"{endpoint.endpoint_name}/{variant}: utilization (%)", left=utilization, width=8),
    ]
