"""The scaling guard's logic against moto's Application Auto Scaling, and its handler end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.lambdas.conftest import CfnServer
from tests.support import lambda_module

guard = lambda_module("scaling_guard", "scaling_guard")
TARGET = {"ServiceNamespace": "sagemaker", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
RID = "endpoint/prod-home-values/variant/AllTraffic"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("application-autoscaling", region_name="eu-west-1")


def _register(client: Any, resource_id: str = RID) -> None:
    client.register_scalable_target(ResourceId=resource_id, MinCapacity=2, MaxCapacity=6, **TARGET)
    client.put_scaling_policy(
        PolicyName="Invocations",
        PolicyType="TargetTrackingScaling",
        ResourceId=resource_id,
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 300.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 300,
        },
        **TARGET,
    )
    client.put_scheduled_action(
        ScheduledActionName="Night",
        Schedule="cron(0 20 * * ? *)",
        ResourceId=resource_id,
        ScalableTargetAction={"MaxCapacity": 2},
        **TARGET,
    )


def _event(request: str, old: list[dict[str, str]], new: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    event = {
        "RequestType": request,
        "ResourceProperties": {"Action": "release", "EndpointName": "prod-home-values", "Variants": new},
        "OldResourceProperties": {"Action": "release", "EndpointName": "prod-home-values", "Variants": old},
    }
    event.update(extra)
    return event


M5 = [{"VariantName": "AllTraffic", "InstanceType": "ml.m5.xlarge"}]
C5 = [{"VariantName": "AllTraffic", "InstanceType": "ml.c5.xlarge"}]


def test_changed_and_removed_variants() -> None:
    old = [
        *M5,
        {"VariantName": "Canary", "InstanceType": "ml.m5.large"},
        {"VariantName": "B", "InstanceType": "ml.c5.large"},
    ]
    new = [*C5, {"VariantName": "B", "InstanceType": "ml.c5.large"}]
    assert guard.variants_to_release(old, new) == (["AllTraffic"], ["Canary"])


def test_instance_type_change_releases_then_restores_everything(client: Any) -> None:
    _register(client)
    data = guard.on_release(client, _event("Update", M5, C5))
    assert client.describe_scalable_targets(ResourceIds=[RID], **TARGET)["ScalableTargets"] == []
    assert client.describe_scaling_policies(ResourceId=RID, **TARGET)["ScalingPolicies"] == []
    assert client.describe_scheduled_actions(ResourceId=RID, **TARGET)["ScheduledActions"] == []

    snapshot = json.loads(data["Snapshot"])
    assert [t["ResourceId"] for t in snapshot["targets"]] == [RID]
    guard.on_restore(client, {"RequestType": "Update", "ResourceProperties": {"Snapshot": data["Snapshot"]}})

    target = client.describe_scalable_targets(ResourceIds=[RID], **TARGET)["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    policy = client.describe_scaling_policies(ResourceId=RID, **TARGET)["ScalingPolicies"][0]
    assert policy["PolicyName"] == "Invocations"
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 300.0
    action = client.describe_scheduled_actions(ResourceId=RID, **TARGET)["ScheduledActions"][0]
    assert (action["ScheduledActionName"], action["Schedule"]) == ("Night", "cron(0 20 * * ? *)")
    assert action["ScalableTargetAction"] == {"MaxCapacity": 2}


def test_no_instance_type_change_touches_nothing(client: Any) -> None:
    _register(client)
    assert guard.on_release(client, _event("Update", M5, M5)) == {"Snapshot": "[]"}
    assert len(client.describe_scalable_targets(ResourceIds=[RID], **TARGET)["ScalableTargets"]) == 1
    assert len(client.describe_scaling_policies(ResourceId=RID, **TARGET)["ScalingPolicies"]) == 1


@pytest.mark.parametrize("request_type", ["Create", "Delete"])
def test_create_and_delete_touch_nothing(client: Any, request_type: str) -> None:
    _register(client)
    assert guard.on_release(client, _event(request_type, M5, C5)) == {"Snapshot": "[]"}
    assert len(client.describe_scalable_targets(ResourceIds=[RID], **TARGET)["ScalableTargets"]) == 1


def test_removed_variant_is_released_and_not_restored(client: Any) -> None:
    canary = "endpoint/prod-home-values/variant/Canary"
    _register(client, canary)
    old = [*M5, {"VariantName": "Canary", "InstanceType": "ml.m5.large"}]
    data = guard.on_release(client, _event("Update", old, M5))
    assert data == {"Snapshot": "[]"}
    assert client.describe_scalable_targets(ResourceIds=[canary], **TARGET)["ScalableTargets"] == []


def test_unregistered_variant_is_skipped(client: Any) -> None:
    assert guard.on_release(client, _event("Update", M5, C5)) == {"Snapshot": "[]"}


def test_restore_ignores_an_empty_snapshot_and_deletes(client: Any) -> None:
    assert guard.on_restore(client, {"RequestType": "Update", "ResourceProperties": {"Snapshot": "[]"}}) == {}
    assert guard.on_restore(client, {"RequestType": "Delete", "ResourceProperties": {"Snapshot": "{bad"}}) == {}
    assert client.describe_scalable_targets(**{"ServiceNamespace": "sagemaker"})["ScalableTargets"] == []


# -- the handler, answering CloudFormation on a local HTTP server ------------------------------------------


def _cfn_event(url: str, **overrides: Any) -> dict[str, Any]:
    event = _event("Update", M5, C5, ResponseURL=url, StackId="stack", RequestId="req", LogicalResourceId="Release")
    event["PhysicalResourceId"] = "prod-home-values-release"
    event.update(overrides)
    return event


def test_handler_reports_success_with_the_snapshot(client: Any, cfn_server: CfnServer) -> None:
    handler = lambda_module("scaling_guard", "handler")
    _register(client)
    handler.handler(_cfn_event(cfn_server.url), None)
    (body,) = cfn_server.bodies
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "prod-home-values-release"
    assert json.loads(body["Data"]["Snapshot"])["targets"][0]["ResourceId"] == RID


@pytest.mark.usefixtures("client")
def test_handler_reports_failure_instead_of_hanging(cfn_server: CfnServer) -> None:
    handler = lambda_module("scaling_guard", "handler")
    event = _cfn_event(cfn_server.url)
    del event["ResourceProperties"]["Variants"]
    event["OldResourceProperties"]["Variants"] = "not a list"
    handler.handler(event, None)
    (body,) = cfn_server.bodies
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("TypeError")
