"""BlueGreenDeployment: every value SageMaker's deployment guardrails would refuse is refused at construction.

Sources: SageMaker API Reference, BlueGreenUpdatePolicy, TrafficRoutingConfig and CapacitySize; SageMaker
Developer Guide, "Use canary traffic shifting" and "Use linear traffic shifting" (a baking period per step).
"""

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
OWNER = "MultiContainerEndpoint Hosting/Mce"
LINEAR, CANARY = TrafficShift.LINEAR, TrafficShift.CANARY


def _policy(deployment: BlueGreenDeployment) -> dict[str, Any]:
    """The endpoint's rendered BlueGreenUpdatePolicy."""
    stack = cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    MultiContainerEndpoint(
        stack,
        "Mce",
        endpoint_name="mce",
        mode=InferenceMode.DIRECT,
        containers=[Container(hostname="a", image=IMAGE), Container(hostname="b", image=IMAGE)],
        variants=[ProductionVariant(instance_type="ml.c5.xlarge", initial_instance_count=4)],
        deployment=deployment,
    )
    endpoint = next(iter(Template.from_stack(stack).find_resources("AWS::SageMaker::Endpoint").values()))
    policy: dict[str, Any] = endpoint["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    return policy


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        # TrafficRoutingConfig CanarySize: at most 50% of the fleet; CapacitySize Value: an integer >= 1.
        (BlueGreenDeployment(size_percent=0), r"size_percent 0 must be between 1 and 50"),
        (BlueGreenDeployment(size_percent=51), r"size_percent 51 must be between 1 and 50"),
        (
            BlueGreenDeployment(size_percent=12.5),  # type: ignore[arg-type]
            r"size_percent 12.5 must be a whole percent \(CapacitySize Value is an integer\)",
        ),
        # TrafficRoutingConfig LinearStepSize: 10-50% of the fleet.
        (BlueGreenDeployment(traffic=LINEAR, size_percent=9), r"size_percent 9 must be between 10 and 50"),
        (BlueGreenDeployment(traffic=LINEAR, size_percent=51), r"size_percent 51 must be between 10 and 50"),
        # WaitIntervalInSeconds and TerminationWaitInSeconds: integers, 0-3600.
        (
            BlueGreenDeployment(wait_interval=cdk.Duration.seconds(3601)),
            r"wait_interval 3601 must be between 0 and 3600",
        ),
        (
            BlueGreenDeployment(wait_interval=cdk.Duration.millis(1500)),
            r"wait_interval '1 second 500 millis' must be a whole number of seconds",
        ),
        (
            BlueGreenDeployment(termination_wait=cdk.Duration.seconds(3601)),
            r"termination_wait 3601 must be between 0 and 3600",
        ),
        # MaximumExecutionTimeoutInSeconds: integers, 600-28800, larger than the waits.
        (
            BlueGreenDeployment(maximum_execution_timeout=cdk.Duration.seconds(599)),
            r"maximum_execution_timeout 599 must be between 600 and 28800",
        ),
        (
            BlueGreenDeployment(maximum_execution_timeout=cdk.Duration.seconds(28801)),
            r"maximum_execution_timeout 28801 must be between 600 and 28800",
        ),
        (
            BlueGreenDeployment(maximum_execution_timeout=cdk.Duration.millis(900_500)),
            r"maximum_execution_timeout '15 minutes 500 millis' must be a whole number of seconds",
        ),
        (
            # A linear shift of 30% takes ceil(100 / 30) = 4 steps, each with its baking period.
            BlueGreenDeployment(
                traffic=LINEAR,
                size_percent=30,
                wait_interval=cdk.Duration.minutes(10),
                maximum_execution_timeout=cdk.Duration.minutes(40),
            ),
            r"maximum_execution_timeout 2400 must exceed the sum of the waits \(2400 s\) = "
            r"4 x 600 s wait_interval \+ 0 s termination_wait",
        ),
        (
            # A canary bakes twice: after the canary and after the rest; then the old fleet waits.
            BlueGreenDeployment(
                wait_interval=cdk.Duration.minutes(10),
                termination_wait=cdk.Duration.minutes(10),
                maximum_execution_timeout=cdk.Duration.minutes(30),
            ),
            r"maximum_execution_timeout 1800 must exceed the sum of the waits \(1800 s\) = "
            r"2 x 600 s wait_interval \+ 600 s termination_wait",
        ),
        (
            # The default (waits + 10 minutes) above 28800 s is refused, not capped: 10 x 2821 s + 600 s.
            BlueGreenDeployment(traffic=LINEAR, size_percent=10, wait_interval=cdk.Duration.seconds(2821)),
            r"maximum_execution_timeout None defaults to the sum of the waits \(28210 s\) = 10 x 2821 s "
            r"wait_interval \+ 0 s termination_wait, plus 600 s: above SageMaker's maximum of 28800 s: use a "
            r"shorter wait_interval or termination_wait or a larger size_percent, or set maximum_execution_timeout "
            r"above 28210 s and at most 28800 s",
        ),
    ],
)
def test_bad_blue_green_values_are_refused(deployment: BlueGreenDeployment, message: str) -> None:
    with pytest.raises(ValidationError, match=rf"^{OWNER}: {message}$"):
        _policy(deployment)


def test_the_default_timeout_at_sagemakers_maximum_is_rendered_as_is() -> None:
    # 10 x 2820 s + 600 s = 28800 s, exactly the maximum.
    policy = _policy(BlueGreenDeployment(traffic=LINEAR, size_percent=10, wait_interval=cdk.Duration.seconds(2820)))
    assert policy["MaximumExecutionTimeoutInSeconds"] == 28800


def test_a_given_timeout_above_the_waits_is_kept_even_without_the_default_margin() -> None:
    policy = _policy(
        BlueGreenDeployment(
            traffic=LINEAR,
            size_percent=10,
            wait_interval=cdk.Duration.seconds(2821),
            maximum_execution_timeout=cdk.Duration.hours(8),
        )
    )
    assert (policy["MaximumExecutionTimeoutInSeconds"], policy["TrafficRoutingConfiguration"]["LinearStepSize"]) == (
        28800,
        {"Type": "CAPACITY_PERCENT", "Value": 10},
    )


def test_a_timeout_just_above_the_waits_is_accepted() -> None:
    policy = _policy(
        BlueGreenDeployment(
            traffic=LINEAR,
            size_percent=30,
            wait_interval=cdk.Duration.minutes(10),
            maximum_execution_timeout=cdk.Duration.seconds(2401),
        )
    )
    assert policy["MaximumExecutionTimeoutInSeconds"] == 2401
