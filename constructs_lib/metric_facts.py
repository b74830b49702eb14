"""CloudWatch metrics that remember, in Python, what they were made of.

Reading a field back from an ``aws_cloudwatch.Metric`` is a call into the CDK's Node process; a dashboard reads
name, statistic and period of every latency metric it converts to milliseconds. Metrics made here answer from
Python; any other metric is asked as before.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch


@dataclass(frozen=True)
class MetricFacts:
    """What a metric graph or expression needs to know of a metric."""

    metric_name: str
    statistic: str
    period: cdk.Duration | None
    """None: the metric's default period (five minutes)."""


_FACTS: weakref.WeakKeyDictionary[cloudwatch.IMetric, MetricFacts] = weakref.WeakKeyDictionary()


def metric(*, metric_name: str, statistic: str, **props: Any) -> cloudwatch.Metric:
    """``cloudwatch.Metric(metric_name=..., statistic=..., **props)``, remembered for ``facts``."""
    created = cloudwatch.Metric(metric_name=metric_name, statistic=statistic, **props)
    _FACTS[created] = MetricFacts(metric_name, statistic, props.get("period"))
    return created


def facts(of: cloudwatch.Metric) -> MetricFacts:
    """Name, statistic and period of ``of``: from Python if ``metric`` made it, else from the CDK."""
    known = _FACTS.get(of)
    return known if known is not None else MetricFacts(of.metric_name, of.statistic, of.period)
