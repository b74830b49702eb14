"""AlarmNames: an alarm's name worked out in Python (``name_for``) is the one the CDK's own rule gives it.

The topic policy allows alarms by name prefix (``AlarmTopic``), so a name that drifted from what the aspect
gives other alarms would still publish, but two rules for one name would drift apart silently: the CDK's
``Names.unique_resource_name`` is the reference for every path shape its rule treats differently.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_lib.alarm_topic import MAX_ALARM_NAME, AlarmNames, unique_resource_name
from tests.support import make_app

PREFIX = "sagemaker-hosting/test/"


def _alarm(scope: Construct, construct_id: str) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocations"),
        threshold=1,
        evaluation_periods=1,
        alarm_name=AlarmNames.name_for(scope, construct_id),
    )


@pytest.mark.parametrize(
    ("stack_name", "path"),
    [
        ("Dev-Hosting", ["Endpoints", "Prices", "Alarms"]),
        ("Dev-Hosting", []),
        # Default is left out of the path, hash included; a component ending with the next one is said once.
        ("Dev-Hosting", ["Endpoints", "Default", "Alarms"]),
        ("Dev-Hosting", ["PricesAlarms", "Alarms"]),
        # What a name may not hold is dropped from the readable part only.
        ("Dev-Hosting", ["end-points_1", "a.b c"]),
        # Longer than the name may be: split in the middle, odd and even lengths.
        ("Prod-" + "x" * 60, ["E" * 90, "F" * 91]),
        ("Prod-" + "x" * 60, ["E" * 90, "F" * 92]),
    ],
)
def test_name_for_is_the_cdks_unique_resource_name(stack_name: str, path: list[str]) -> None:
    app = make_app()
    stage = cdk.Stage(app, "Stage")
    AlarmNames.set_prefix(stage, PREFIX)
    scope: Construct = cdk.Stack(stage, "Hosting", stack_name=stack_name)
    for construct_id in path:
        scope = Construct(scope, construct_id)
    predicted = AlarmNames.name_for(scope, "ErrorRate")
    alarm = _alarm(scope, "ErrorRate")
    cfn = alarm.node.default_child
    assert isinstance(cfn, cloudwatch.CfnAlarm)
    expected = PREFIX + cdk.Names.unique_resource_name(cfn, max_length=MAX_ALARM_NAME - len(PREFIX), separator="-")
    assert predicted == expected
    assert cdk.Stack.of(scope).resolve(cfn.alarm_name) == expected
    assert len(expected) <= MAX_ALARM_NAME


def test_without_a_prefix_alarms_keep_generated_names() -> None:
    stack = cdk.Stack(make_app(), "Hosting")
    assert AlarmNames.name_for(stack, "ErrorRate") is None
    cfn = _alarm(stack, "ErrorRate").node.default_child
    assert isinstance(cfn, cloudwatch.CfnAlarm)
    assert stack.resolve(cfn.alarm_name) is None


def test_a_nested_stack_is_refused_in_one_line() -> None:
    app = make_app()
    AlarmNames.set_prefix(app, PREFIX)
    nested = cdk.NestedStack(cdk.Stack(app, "Parent"), "Child")
    with pytest.raises(Exception, match="not in a nested stack"):
        AlarmNames.name_for(nested, "ErrorRate")


@pytest.mark.parametrize("max_length", [9, 10, 11, 40])
def test_the_rule_matches_the_cdk_at_short_lengths(max_length: int) -> None:
    stack = cdk.Stack(make_app(), "Hosting", stack_name="Some-Stack")
    scope = Construct(Construct(stack, "Endpoints"), "Prices")
    cfn = _alarm(scope, "Latency").node.default_child
    assert isinstance(cfn, cloudwatch.CfnAlarm)
    expected = cdk.Names.unique_resource_name(cfn, max_length=max_length, separator="-")
    components = ("Some-Stack", "Endpoints", "Prices", "Latency", "Resource")
    assert unique_resource_name(components, max_length=max_length, separator="-") == expected
