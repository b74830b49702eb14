"""Alarms on SageMaker endpoint metrics, with thresholds in the metrics' own units (latency: microseconds)."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_topic import AlarmNames
from constructs_lib.endpoint_base import INSTANCE_NAMESPACE, EndpointBase
from constructs_lib.hosted_endpoint import AlarmSpec
from constructs_lib.production_variant import ProductionVariant

#: PutMetricAlarm: the longest evaluation window (Period x EvaluationPeriods) for periods under an hour, and for
#: longer periods.
MAX_EVALUATION_SECONDS_SHORT, MAX_EVALUATION_SECONDS = 86_400, 604_800


@dataclass(frozen=True, kw_only=True)
class AlarmThresholds:
    """When an endpoint's alarms fire; one set per environment."""

    error_rate_percent: float = 1.0
    """5XX errors as a percent of invocations, per period."""

    model_latency_p99: cdk.Duration = cdk.Duration.seconds(1)
    """p99 ModelLatency (the metric is in microseconds; the alarm converts)."""

    cache_hit_ratio_floor: float = 0.8
    """Multi-model: alarm when the average ModelCacheHit (0-1) falls below this."""

    model_unloads_per_period: float = 30
    """Multi-model: alarm when more models than this are unloaded per period (cache thrashing)."""

    model_loading_wait_max: cdk.Duration = cdk.Duration.seconds(20)
    """Multi-model: longest time a request waited for its model to be downloaded and loaded, per period. The
    Maximum, not a percentile: SageMaker lists Average, Sum, Min, Max and Sample Count as ModelLoadingWaitTime's
    statistics, percentiles only for the latency metrics (SageMaker Developer Guide, "Amazon SageMaker AI metrics
    in Amazon CloudWatch", multi-model endpoint metrics)."""

    cpu_percent: float = 85
    """Average CPU as a percent of the whole instance (converted to CPUUtilization's 0-100 x vCPUs)."""

    memory_percent: float = 85
    """Average memory utilization, percent."""

    disk_percent: float = 85
    """Average disk utilization, percent."""

    period: cdk.Duration = cdk.Duration.minutes(5)
    """The period every alarm evaluates."""

    evaluation_periods: int = 3
    """Consecutive breaching periods before an alarm fires."""

    def validate(self, owner: str) -> None:
        """Raise ``ValidationError`` naming ``owner``, the field and the value.

        Sources: the CloudWatch API Reference, PutMetricAlarm (``Period``, ``EvaluationPeriods``), and the
        SageMaker Developer Guide, "Amazon SageMaker AI metrics in Amazon CloudWatch" (units, 1-minute frequency).
        """
        # One set of thresholds serves every endpoint of an environment: checked once (each check reads durations
        # from the CDK's Node process), not once per endpoint.
        if self in _VALID_THRESHOLDS:
            return
        # Every threshold is a CloudWatch double: NaN and infinity pass a range check, so refuse them first.
        for name in ("error_rate_percent", "cpu_percent", "memory_percent", "disk_percent"):
            limits.check_finite(owner, name, getattr(self, name))
            limits.check_range(owner, name, getattr(self, name), 0.001, 100)
        # ModelCacheHit is a ratio, 0-1 (the metric's Average), not a percent.
        limits.check_finite(owner, "cache_hit_ratio_floor", self.cache_hit_ratio_floor)
        limits.check_range(owner, "cache_hit_ratio_floor", self.cache_hit_ratio_floor, 0, 1)
        limits.check_finite(owner, "model_unloads_per_period", self.model_unloads_per_period)
        limits.check_range(owner, "model_unloads_per_period", self.model_unloads_per_period, 1)
        for name in ("model_latency_p99", "model_loading_wait_max"):
            _check_latency(owner, name, getattr(self, name))
        self._check_period(owner)
        _VALID_THRESHOLDS.add(self)

    def _check_period(self, owner: str) -> None:
        # PutMetricAlarm Period: 10, 20, 30 or a multiple of 60; 10-30 only for high-resolution metrics (stored
        # with StorageResolution 1). SageMaker publishes endpoint metrics once a minute (our endpoints set no
        # MetricsConfig), so a shorter period would see no data and lapse into INSUFFICIENT_DATA.
        period = limits.whole_seconds(owner, "period", self.period)
        if not limits.is_token(period) and (period < 60 or period % 60):
            raise limits.fail(
                owner,
                "period",
                period,
                "must be a multiple of 60 seconds: SageMaker publishes endpoint metrics once a minute "
                "(10, 20 and 30 s periods are for high-resolution metrics only)",
            )
        count = self.evaluation_periods
        if isinstance(count, bool) or not isinstance(count, int):
            raise limits.fail(owner, "evaluation_periods", count, "must be a whole number")
        limits.check_range(owner, "evaluation_periods", count, 1)
        if limits.is_token(period) or limits.is_token(count):
            return
        # PutMetricAlarm Period: Period x EvaluationPeriods is at most one day for periods under an hour, and at
        # most seven days otherwise.
        if period < 3600:
            window, why = MAX_EVALUATION_SECONDS_SHORT, "one day for periods under an hour"
        else:
            window, why = MAX_EVALUATION_SECONDS, "seven days"
        if period * count > window:
            raise limits.fail(
                owner,
                "period x evaluation_periods",
                f"{period} s x {count}",
                f"must not exceed {window} s (CloudWatch evaluates an alarm over at most {why})",
            )


def _check_latency(owner: str, field: str, duration: cdk.Duration) -> None:
    """A latency threshold: at least 1 ms, in whole milliseconds, finite once in microseconds (the metrics' unit)."""
    millis = duration.to_milliseconds(integral=False)
    if limits.is_token(millis):
        return
    # jsii hands an infinite duration back as None.
    if millis is None or not math.isfinite(millis * 1000):
        raise limits.fail(owner, field, duration.to_human_string(), "must be a finite duration")
    if millis != int(millis) or millis < 1:
        raise limits.fail(owner, field, duration.to_human_string(), "must be a whole number of milliseconds, >= 1 ms")


#: Thresholds that passed ``validate``.
_VALID_THRESHOLDS: weakref.WeakSet[AlarmThresholds] = weakref.WeakSet()
#: Durations read from the CDK once each: a threshold appears in every endpoint's alarms and descriptions.
_MILLISECONDS: weakref.WeakKeyDictionary[cdk.Duration, float] = weakref.WeakKeyDictionary()


def duration_milliseconds(duration: cdk.Duration) -> float:
    """``duration.to_milliseconds()``, asked of the CDK once per duration."""
    if duration not in _MILLISECONDS:
        _MILLISECONDS[duration] = duration.to_milliseconds()
    return _MILLISECONDS[duration]


def microseconds(duration: cdk.Duration) -> int:
    """A duration in the unit of SageMaker's latency metrics."""
    return int(duration_milliseconds(duration) * 1000)


def alarm(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.IMetric,
    threshold: float,
    thresholds: AlarmThresholds,
    description: str,
    below: bool = False,
) -> cloudwatch.Alarm:
    """An alarm that treats missing data (no traffic) as fine, named under its stage's prefix when it has one
    (``AlarmNames.set_prefix``)."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=thresholds.evaluation_periods,
        comparison_operator=(
            cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
            if below
            else cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
        alarm_name=AlarmNames.name_for(scope, construct_id),
    )


def alarm_from_spec(scope: Construct, spec: AlarmSpec, thresholds: AlarmThresholds) -> cloudwatch.Alarm:
    """The alarm ``spec`` describes, evaluated over ``thresholds.evaluation_periods``."""
    return alarm(
        scope,
        spec.construct_id,
        metric=spec.metric,
        threshold=spec.threshold,
        thresholds=thresholds,
        description=spec.description,
        below=spec.below,
    )


def variant_suffix(variants: Sequence[ProductionVariant], variant: ProductionVariant) -> str:
    """One variant (the usual case) keeps short alarm ids; more get the variant name as suffix."""
    return "" if len(variants) == 1 else variant.variant_name


def error_rate_spec(endpoint: EndpointBase, variant: str, thresholds: AlarmThresholds, suffix: str = "") -> AlarmSpec:
    """5XX error rate of a variant above ``thresholds.error_rate_percent``."""
    return AlarmSpec(
        construct_id=f"ErrorRate{suffix}",
        metric=endpoint.metric_error_rate(period=thresholds.period, variant_name=variant),
        threshold=thresholds.error_rate_percent,
        description=(
            f"{endpoint.endpoint_name}/{variant}: 5XX errors above {thresholds.error_rate_percent}% of requests"
        ),
    )


def model_latency_spec(
    endpoint: EndpointBase, variant: str, thresholds: AlarmThresholds, suffix: str = ""
) -> AlarmSpec:
    """p99 ModelLatency of a variant above ``thresholds.model_latency_p99`` (threshold in microseconds)."""
    return AlarmSpec(
        construct_id=f"ModelLatency{suffix}",
        metric=endpoint.metric(
            "ModelLatency",
            statistic="p99",
            unit=cloudwatch.Unit.MICROSECONDS,
            variant_name=variant,
            period=thresholds.period,
        ),
        threshold=microseconds(thresholds.model_latency_p99),
        description=(
            f"{endpoint.endpoint_name}/{variant}: p99 model latency above "
            f"{duration_milliseconds(thresholds.model_latency_p99)} ms"
        ),
    )


#: Data capture "stops capturing requests at high levels of disk usage"; AWS recommends keeping disk utilization
#: below 75% (SageMaker Developer Guide, "Capture data from real-time endpoint"): a capturing variant's disk alarm
#: fires there at the latest, before capture silently stops.
CAPTURE_DISK_PERCENT = 75


def instance_alarm_specs(
    endpoint: EndpointBase,
    variant: ProductionVariant,
    thresholds: AlarmThresholds,
    suffix: str,
    *,
    capturing: bool = False,
) -> list[AlarmSpec]:
    """What every instance-backed variant is watched for: 5XX rate, p99 latency, CPU, memory and disk (at
    ``CAPTURE_DISK_PERCENT`` at the latest when the endpoint captures data)."""
    name = variant.variant_name
    disk_percent = min(thresholds.disk_percent, CAPTURE_DISK_PERCENT) if capturing else thresholds.disk_percent
    specs = [
        error_rate_spec(endpoint, name, thresholds, suffix),
        model_latency_spec(endpoint, name, thresholds, suffix),
    ]
    cpus = limits.vcpus(variant.instance_type) or 1
    for metric_name, percent, scale in (
        ("CPUUtilization", thresholds.cpu_percent, cpus),
        ("MemoryUtilization", thresholds.memory_percent, 1),
        ("DiskUtilization", disk_percent, 1),
    ):
        specs.append(
            AlarmSpec(
                construct_id=f"{metric_name.removesuffix('Utilization')}{suffix}",
                metric=endpoint.metric(
                    metric_name,
                    namespace=INSTANCE_NAMESPACE,
                    unit=cloudwatch.Unit.PERCENT,
                    variant_name=name,
                    period=thresholds.period,
                ),
                threshold=percent * scale,
                description=f"{endpoint.endpoint_name}/{name}: {metric_name} above {percent}%",
            )
        )
    return specs


def error_rate_alarm(
    scope: Construct, construct_id: str, endpoint: EndpointBase, variant: str, thresholds: AlarmThresholds
) -> cloudwatch.Alarm:
    """5XX error rate of a variant above ``thresholds.error_rate_percent``."""
    spec = error_rate_spec(endpoint, variant, thresholds)
    return alarm_from_spec(scope, replace(spec, construct_id=construct_id), thresholds)


def model_latency_alarm(
    scope: Construct, construct_id: str, endpoint: EndpointBase, variant: str, thresholds: AlarmThresholds
) -> cloudwatch.Alarm:
    """p99 ModelLatency of a variant above ``thresholds.model_latency_p99`` (threshold in microseconds)."""
    spec = model_latency_spec(endpoint, variant, thresholds)
    return alarm_from_spec(scope, replace(spec, construct_id=construct_id), thresholds)
