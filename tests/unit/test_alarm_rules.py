"""AlarmThresholds: every value CloudWatch's PutMetricAlarm would refuse, or that could never fire, is refused.

Sources: CloudWatch API Reference, PutMetricAlarm (``Period``, ``EvaluationPeriods``, ``Threshold``); SageMaker
Developer Guide, "Amazon SageMaker AI metrics in Amazon CloudWatch" (1-minute metrics, latency in microseconds).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import (
    AlarmThresholds,
    BlueGreenDeployment,
    Container,
    EndpointAlarms,
    InferenceMode,
    MultiContainerEndpoint,
    ProductionVariant,
    ServingImage,
    ValidationError,
)
from tests.support import hosting_stack, multi_model_endpoint

XGBOOST = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
OWNER = "EndpointAlarms Hosting/Alarms"


def _alarms(**thresholds: Any) -> cdk.Stack:
    stack = hosting_stack()
    mme = multi_model_endpoint(stack)
    EndpointAlarms(stack, "Alarms", endpoint=mme, thresholds=AlarmThresholds(**thresholds))
    return stack


@pytest.mark.parametrize(
    ("period", "evaluation_periods"),
    [
        (cdk.Duration.minutes(1), 1440),  # exactly one day of 1-minute periods
        (cdk.Duration.minutes(59), 24),
        (cdk.Duration.hours(1), 168),  # exactly seven days of hourly periods
        (cdk.Duration.days(1), 7),
    ],
)
def test_evaluation_windows_at_cloudwatchs_limits_are_accepted(period: cdk.Duration, evaluation_periods: int) -> None:
    template = Template.from_stack(_alarms(period=period, evaluation_periods=evaluation_periods))
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    assert {a["Properties"]["EvaluationPeriods"] for a in alarms} == {evaluation_periods}


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        # PutMetricAlarm Period: 10, 20, 30 or a multiple of 60, and 10-30 only for high-resolution metrics:
        # SageMaker's endpoint metrics are 1-minute metrics.
        ({"period": cdk.Duration.seconds(30)}, r"period 30 must be a multiple of 60 seconds: SageMaker publishes"),
        ({"period": cdk.Duration.seconds(90)}, r"period 90 must be a multiple of 60 seconds"),
        ({"period": cdk.Duration.millis(60_500)}, r"period '1 minute 500 millis' must be a whole number of seconds"),
        # Period x EvaluationPeriods: one day under hourly periods, seven days otherwise.
        (
            {"period": cdk.Duration.minutes(5), "evaluation_periods": 289},
            r"period x evaluation_periods '300 s x 289' must not exceed 86400 s \(CloudWatch evaluates an alarm "
            r"over at most one day for periods under an hour\)",
        ),
        (
            {"period": cdk.Duration.hours(1), "evaluation_periods": 169},
            r"period x evaluation_periods '3600 s x 169' must not exceed 604800 s",
        ),
        ({"evaluation_periods": 0}, r"evaluation_periods 0 must be at least 1"),
        ({"evaluation_periods": 2.5}, r"evaluation_periods 2.5 must be a whole number"),
        # Thresholds: finite, in their units' ranges.
        ({"error_rate_percent": float("nan")}, r"error_rate_percent nan must be a finite number"),
        ({"cpu_percent": float("inf")}, r"cpu_percent inf must be a finite number"),
        ({"memory_percent": 0}, r"memory_percent 0 must be between 0.001 and 100"),
        ({"disk_percent": 101}, r"disk_percent 101 must be between 0.001 and 100"),
        ({"cache_hit_ratio_floor": 80}, r"cache_hit_ratio_floor 80 must be between 0 and 1"),  # a percent
        ({"cache_hit_ratio_floor": float("nan")}, r"cache_hit_ratio_floor nan must be a finite number"),
        ({"model_unloads_per_period": float("inf")}, r"model_unloads_per_period inf must be a finite number"),
        # Latencies: the metrics are in microseconds; the alarm converts whole milliseconds.
        ({"model_latency_p99": cdk.Duration.millis(0)}, r"model_latency_p99 '0 millis' must be a whole number of"),
        (
            {"model_latency_p99": cdk.Duration.millis(1.5)},
            r"model_latency_p99 '1.5 millis' must be a whole number of milliseconds",
        ),
        ({"model_loading_wait_max": cdk.Duration.days(1e306)}, r"model_loading_wait_max .* must be a finite duration"),
    ],
)
def test_bad_thresholds_are_refused(thresholds: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{OWNER}: {message}"):
        _alarms(**thresholds)


def test_rollback_thresholds_follow_the_same_rules() -> None:
    stack = hosting_stack()
    image = ServingImage.from_deep_learning_container("pytorch-inference", "2.6.0-cpu-py312")
    with pytest.raises(
        ValidationError,
        match=r"^MultiContainerEndpoint Hosting/Mce rollback_thresholds: period 20 must be a multiple of 60 seconds",
    ):
        MultiContainerEndpoint(
            stack,
            "Mce",
            endpoint_name="mce",
            mode=InferenceMode.DIRECT,
            containers=[Container(hostname="a", image=image), Container(hostname="b", image=image)],
            variants=[ProductionVariant(instance_type="ml.c5.xlarge", initial_instance_count=2)],
            deployment=BlueGreenDeployment(rollback_thresholds=AlarmThresholds(period=cdk.Duration.seconds(20))),
        )
