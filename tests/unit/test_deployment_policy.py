"""BlueGreenDeployment on a multi-container endpoint: rendering, rollback alarms, and every validation rule."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import (
    BlueGreenDeployment,
    Container,
    InferenceMode,
    MultiContainerEndpoint,
    ProductionVariant,
    ServingImage,
    TrafficShift,
    ValidationError,
)
from tests.support import make_app

IMAGE = ServingImage.from_deep_learning_container("pytorch-inference", "2.6.0-cpu-py312")


def _mce(deployment: BlueGreenDeployment, variants: list[ProductionVariant] | None = None) -> cdk.Stack:
    stack = cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    MultiContainerEndpoint(
        stack,
        "Mce",
        endpoint_name="mce",
        mode=InferenceMode.DIRECT,
        containers=[Container(hostname="a", image=IMAGE), Container(hostname="b", image=IMAGE)],
        variants=variants or [ProductionVariant(instance_type="ml.c5.xlarge", initial_instance_count=4)],
        deployment=deployment,
    )
    return stack


def test_canary_with_rollback_on_its_own_alarms() -> None:
    template = Template.from_stack(
        _mce(BlueGreenDeployment(traffic=TrafficShift.CANARY, size_percent=25, wait_interval=cdk.Duration.minutes(10)))
    )
    endpoint = next(iter(template.find_resources("AWS::SageMaker::Endpoint").values()))
    config = endpoint["Properties"]["DeploymentConfig"]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    rollback = sorted(k for k in alarms if k.startswith("MceRollback"))
    assert len(rollback) == 2
    assert sorted(a["AlarmName"]["Ref"] for a in config["AutoRollbackConfiguration"]["Alarms"]) == rollback
    assert config["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            "WaitIntervalInSeconds": 600,
        },
        "TerminationWaitInSeconds": 0,
        "MaximumExecutionTimeoutInSeconds": 1800,  # two 10-minute waits plus 10 minutes
    }
    latency = next(a for k, a in alarms.items() if k.startswith("MceRollbackModelLatency"))["Properties"]
    assert (latency["Period"], latency["EvaluationPeriods"], latency["Threshold"]) == (60, 1, 1_000_000)


def test_execution_role_may_read_the_rollback_alarms() -> None:
    template = Template.from_stack(_mce(BlueGreenDeployment()))
    policy = next(p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("MceExecutionRole"))
    statement = next(
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "cloudwatch:DescribeAlarms"
    )
    assert sorted(r["Fn::GetAtt"][0] for r in statement["Resource"]) == sorted(
        k for k in template.find_resources("AWS::CloudWatch::Alarm") if k.startswith("MceRollback")
    )


def test_linear_steps() -> None:
    template = Template.from_stack(
        _mce(BlueGreenDeployment(traffic=TrafficShift.LINEAR, size_percent=20, wait_interval=cdk.Duration.minutes(2)))
    )
    routing = next(iter(template.find_resources("AWS::SageMaker::Endpoint").values()))["Properties"][
        "DeploymentConfig"
    ]["BlueGreenUpdatePolicy"]
    assert routing["TrafficRoutingConfiguration"]["LinearStepSize"] == {"Type": "CAPACITY_PERCENT", "Value": 20}
    assert routing["MaximumExecutionTimeoutInSeconds"] == 5 * 120 + 600


@pytest.mark.parametrize(
    ("deployment", "variants", "match"),
    [
        (
            BlueGreenDeployment(),
            [ProductionVariant(variant_name=n, instance_type="ml.c5.xlarge", initial_instance_count=2) for n in "ab"],
            r"deployment '2 variants' needs exactly one variant",
        ),
        (
            BlueGreenDeployment(),
            [ProductionVariant(instance_type="ml.c5.xlarge")],
            r"initial_instance_count 1 must be at least 2 to shift traffic CANARY",
        ),
        (BlueGreenDeployment(size_percent=60), None, r"size_percent 60 must be between 1 and 50"),
        (
            BlueGreenDeployment(traffic=TrafficShift.LINEAR, size_percent=5),
            None,
            r"size_percent 5 must be between 10 and 50",
        ),
        (
            BlueGreenDeployment(traffic=TrafficShift.ALL_AT_ONCE, size_percent=10),
            None,
            r"size_percent 10 does not apply to ALL_AT_ONCE",
        ),
        (
            BlueGreenDeployment(wait_interval=cdk.Duration.hours(2)),
            None,
            r"wait_interval 7200 must be between 0 and 3600",
        ),
        (
            BlueGreenDeployment(termination_wait=cdk.Duration.hours(2)),
            None,
            r"termination_wait 7200 must be between 0 and 3600",
        ),
        (
            BlueGreenDeployment(maximum_execution_timeout=cdk.Duration.seconds(300)),
            None,
            r"maximum_execution_timeout 300 must be between 600 and 28800",
        ),
        (
            BlueGreenDeployment(maximum_execution_timeout=cdk.Duration.hours(9)),
            None,
            r"maximum_execution_timeout 32400 must be between 600 and 28800",
        ),
        (
            BlueGreenDeployment(
                wait_interval=cdk.Duration.minutes(30), maximum_execution_timeout=cdk.Duration.minutes(50)
            ),
            None,
            r"maximum_execution_timeout 3000 must exceed the sum of the waits \(3600 s\)",
        ),
    ],
)
def test_validation(deployment: BlueGreenDeployment, variants: list[ProductionVariant] | None, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _mce(deployment, variants)


def test_no_deployment_means_no_rollback_alarms() -> None:
    stack = cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    mce: Any = MultiContainerEndpoint(
        stack,
        "Mce",
        endpoint_name="mce",
        mode=InferenceMode.SERIAL,
        containers=[Container(image=IMAGE)],
        variants=[ProductionVariant(instance_type="ml.c5.xlarge")],
    )
    assert mce.rollback_alarms == []
    assert (
        "DeploymentConfig"
        not in next(iter(Template.from_stack(stack).find_resources("AWS::SageMaker::Endpoint").values()))["Properties"]
    )
