"""The scaling guard against moto (Application Auto Scaling, SSM), as the requests CloudFormation sends arrive.

Each scenario is the sequence of requests CloudFormation sends, with the stack status it reports meanwhile:

- forward, ``release`` then the endpoint then ``restore``: CloudFormation updates a resource after those it
  depends on ("DependsOn attribute", AWS CloudFormation Template Reference: "Resource B is updated before
  resource A"); SageMaker needs the target deregistered before the update and registered after it ("Update
  endpoints that use auto scaling", Amazon SageMaker AI Developer Guide);
- rollback: a resource that was updated gets a second ``Update`` with ``ResourceProperties`` and
  ``OldResourceProperties`` swapped, while the stack is ``UPDATE_ROLLBACK_IN_PROGRESS`` ("Update request"
  for custom resources, AWS CloudFormation User Guide, for the fields; aws-cdk's docs/CLOUDFORMATION.md,
  "Custom Resources", for the swap), in the reverse order of the update (dependents first).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.lambdas.conftest import CfnServer
from tests.support import lambda_module

guard = lambda_module("scaling_guard", "scaling_guard")
cfn_response = lambda_module("scaling_guard", "cfn_response")
TARGET = {"ServiceNamespace": "sagemaker", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
ENDPOINT = "prod-home-values"
ROOT = "/sagemaker-hosting/prod"
STACK_ID = "arn:aws:cloudformation:eu-west-1:111111111111:stack/Hosting/0a1b2c3d"


def _rid(variant: str = "AllTraffic", endpoint: str = ENDPOINT) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


RID = _rid()
M5 = [{"VariantName": "AllTraffic", "InstanceType": "ml.m5.xlarge"}]
C5 = [{"VariantName": "AllTraffic", "InstanceType": "ml.c5.xlarge"}]
CANARY = {"VariantName": "Canary", "InstanceType": "ml.m5.large"}


@dataclass
class FakeCloudFormation:
    """DescribeStacks of the stack, whose status each test step sets."""

    status: str = "UPDATE_IN_PROGRESS"
    asked: list[str] = field(default_factory=list)

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803  (boto3's name)
        self.asked.append(StackName)
        return {"Stacks": [{"StackId": STACK_ID, "StackStatus": self.status}]}


@dataclass
class Aws:
    autoscaling: Any
    ssm: Any
    store: Any
    cloudformation: FakeCloudFormation


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        yield Aws(
            autoscaling=boto3.client("application-autoscaling", region_name="eu-west-1"),
            ssm=ssm,
            store=guard.SnapshotStore(ssm, ROOT),
            cloudformation=FakeCloudFormation(),
        )


def _register(client: Any, resource_id: str = RID, *, policies: int = 1, actions: int = 1) -> None:
    client.register_scalable_target(
        ResourceId=resource_id,
        MinCapacity=2,
        MaxCapacity=6,
        SuspendedState={"DynamicScalingInSuspended": True},
        **TARGET,
    )
    for i in range(policies):
        client.put_scaling_policy(
            PolicyName=f"Invocations{i}",
            PolicyType="TargetTrackingScaling",
            ResourceId=resource_id,
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 300.0 + i,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 300,
            },
            **TARGET,
        )
    for i in range(actions):
        client.put_scheduled_action(
            ScheduledActionName=f"Night{i}",
            Schedule=f"cron(0 {20 - i} * * ? *)",
            Timezone="Europe/Dublin",
            ResourceId=resource_id,
            ScalableTargetAction={"MaxCapacity": 2},
            **TARGET,
        )


def _state(client: Any, *resource_ids: str) -> dict[str, Any]:
    """What is registered for each id: target, policies and scheduled actions (None: not registered)."""
    state: dict[str, Any] = {}
    for resource_id in resource_ids or (RID,):
        snapshot = guard.capture(client, resource_id)
        if snapshot is not None:
            snapshot["Policies"].sort(key=lambda p: p["PolicyName"])
            snapshot["ScheduledActions"].sort(key=lambda a: a["ScheduledActionName"])
        state[resource_id] = snapshot
    # Application Auto Scaling deletes a target's policies and actions with it; moto keeps them, so look too.
    policies = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    actions = client.describe_scheduled_actions(ServiceNamespace="sagemaker")["ScheduledActions"]
    state["orphans"] = sorted(p["PolicyName"] for p in policies if state.get(p["ResourceId"], "?") is None) + sorted(
        a["ScheduledActionName"] for a in actions if state.get(a["ResourceId"], "?") is None
    )
    return state


def _stored(aws: Aws, endpoint: str = ENDPOINT) -> list[str]:
    stored: list[str] = aws.store.variants(endpoint)
    return stored


def _props(action: str, variants: list[dict[str, str]], token: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"Action": action, "EndpointName": ENDPOINT, "Variants": variants}
    if token is not None:
        props["Snapshot"] = token
    return props


def _update(old: dict[str, Any], new: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return {
        "RequestType": "Update",
        "RequestId": f"{logical_id}-{new.get('Snapshot', '')}",
        "StackId": STACK_ID,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": f"{ENDPOINT}-{new['Action']}",
        "ResourceProperties": new,
        "OldResourceProperties": old,
    }


def _rollback_of(event: dict[str, Any]) -> dict[str, Any]:
    """The request a rollback sends for a resource updated by ``event``: the same, with the properties swapped."""
    return {
        **event,
        "RequestId": event["RequestId"] + "-rollback",
        "ResourceProperties": event["OldResourceProperties"],
        "OldResourceProperties": event["ResourceProperties"],
    }


class Deployment:
    """One stack update's guard requests, from the variants before and after (and the token restore had)."""

    def __init__(self, aws: Aws, old: list[dict[str, str]], new: list[dict[str, str]], old_token: str = "none"):
        self.aws = aws
        self.release_event = _update(_props("release", old), _props("release", new), "Release")
        self.old = old
        self.new = new
        self.old_token = old_token
        self.restore_event: dict[str, Any] | None = None

    def release(self) -> dict[str, str]:
        self.aws.cloudformation.status = "UPDATE_IN_PROGRESS"
        data: dict[str, str] = guard.on_release(
            self.aws.autoscaling, self.aws.store, self.aws.cloudformation, self.release_event
        )
        # Restore's Snapshot property is Release's GetAtt: it changes exactly when the token does.
        self.restore_event = _update(
            _props("restore", self.old, self.old_token), _props("restore", self.new, data["Snapshot"]), "Restore"
        )
        return data

    def restore(self) -> dict[str, str]:
        assert self.restore_event is not None
        self.aws.cloudformation.status = "UPDATE_IN_PROGRESS"
        data: dict[str, str] = guard.on_restore(
            self.aws.autoscaling, self.aws.store, self.aws.cloudformation, self.restore_event
        )
        return data

    def rollback_restore(self) -> dict[str, str]:
        assert self.restore_event is not None
        self.aws.cloudformation.status = "UPDATE_ROLLBACK_IN_PROGRESS"
        data: dict[str, str] = guard.on_restore(
            self.aws.autoscaling, self.aws.store, self.aws.cloudformation, _rollback_of(self.restore_event)
        )
        return data

    def rollback_release(self) -> dict[str, str]:
        self.aws.cloudformation.status = "UPDATE_ROLLBACK_IN_PROGRESS"
        data: dict[str, str] = guard.on_release(
            self.aws.autoscaling, self.aws.store, self.aws.cloudformation, _rollback_of(self.release_event)
        )
        return data


def test_changed_and_removed_variants() -> None:
    old = [*M5, CANARY, {"VariantName": "B", "InstanceType": "ml.c5.large"}]
    new = [*C5, {"VariantName": "B", "InstanceType": "ml.c5.large"}]
    assert guard.variants_to_release(old, new) == (["AllTraffic"], ["Canary"])


# -- (a) forward ----------------------------------------------------------------------------------------------
# Release, UpdateEndpoint, Restore: CloudFormation updates a resource after the ones it depends on ("DependsOn
# attribute", AWS CloudFormation Template Reference); SageMaker wants the target deregistered for the update and
# registered again after it ("Update endpoints that use auto scaling", Amazon SageMaker AI Developer Guide).


def test_forward_update_releases_before_and_restores_after(aws: Aws) -> None:
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)

    # Release (before the endpoint): snapshot stored first, then nothing left registered for SageMaker to refuse.
    token = deployment.release()["Snapshot"]
    assert token != "none"
    assert _state(aws.autoscaling) == {RID: None, "orphans": []}
    assert _stored(aws) == ["AllTraffic"]
    assert aws.ssm.describe_parameters()["Parameters"][0]["Tier"] == "Intelligent-Tiering"

    # (UpdateEndpoint to ml.c5.xlarge.) Restore (after the endpoint): everything as before, snapshot consumed.
    deployment.restore()
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []
    assert aws.cloudformation.asked == [STACK_ID, STACK_ID]


def test_a_new_release_always_changes_the_token(aws: Aws) -> None:
    _register(aws.autoscaling)
    forward = Deployment(aws, M5, C5)
    first = forward.release()["Snapshot"]
    forward.restore()
    second = Deployment(aws, C5, M5).release()["Snapshot"]
    assert first != second


def test_no_instance_type_change_touches_nothing(aws: Aws) -> None:
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, M5)
    assert deployment.release() == {"Snapshot": "none"}
    deployment.restore()
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_removed_variant_is_released_and_not_restored(aws: Aws) -> None:
    _register(aws.autoscaling, _rid("Canary"))
    deployment = Deployment(aws, [*M5, CANARY], M5)
    assert deployment.release()["Snapshot"] != "none"
    deployment.restore()
    assert _state(aws.autoscaling, _rid("Canary")) == {_rid("Canary"): None, "orphans": []}
    # Kept until the update is over: a rollback brings the variant back, and its scaling with it.
    assert _stored(aws) == ["Canary"]


def test_unregistered_variant_is_skipped(aws: Aws) -> None:
    assert Deployment(aws, M5, C5).release() == {"Snapshot": "none"}
    assert _stored(aws) == []


@pytest.mark.parametrize("request_type", ["Create", "Delete"])
def test_create_and_delete_register_nothing(aws: Aws, request_type: str) -> None:
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    for action in (guard.on_release, guard.on_restore):
        event = {**_update(_props("release", M5), _props("release", C5), "Release"), "RequestType": request_type}
        action(aws.autoscaling, aws.store, aws.cloudformation, event)
    assert _state(aws.autoscaling) == before
    assert aws.cloudformation.asked == []  # only an Update can be a rollback's


# -- (b) rollback after a failed endpoint update ---------------------------------------------------------------
# Release (forward), UpdateEndpoint fails, then Release's rollback: an Update with the properties swapped while
# the stack is UPDATE_ROLLBACK_IN_PROGRESS ("Update request", custom resources, AWS CloudFormation User Guide;
# aws-cdk docs/CLOUDFORMATION.md, "Custom Resources": "If an Update fails, CloudFormation will trigger a second
# Update during rollback", "ResourceProperties=OLD and OldResourceProperties=NEW"). Restore's properties never
# changed (it was not reached), so it gets no request.


def test_rollback_after_the_endpoint_update_failed_registers_everything_again(aws: Aws) -> None:
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    # UpdateEndpoint fails. Restore was never updated, so it gets no rollback request; Release does, last.
    deployment.rollback_release()
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_a_rollback_after_a_partial_release_completes_it(aws: Aws) -> None:
    """Release failed half-way (here: one target had a policy deleted, then the call failed)."""
    _register(aws.autoscaling, policies=2)
    before = _state(aws.autoscaling)
    snapshot = guard.capture(aws.autoscaling, RID)
    aws.store.put(ENDPOINT, "AllTraffic", snapshot)
    aws.autoscaling.delete_scaling_policy(PolicyName="Invocations0", ResourceId=RID, **TARGET)
    Deployment(aws, M5, C5).rollback_release()
    assert _state(aws.autoscaling) == before


# -- (c) rollback after a later resource failed ----------------------------------------------------------------
# Release, UpdateEndpoint, Restore (forward), a later resource fails; the rollback updates go dependents first
# (the reverse of "Resource B is updated before resource A", "DependsOn attribute"): Restore's rollback, the
# endpoint's, Release's.


def test_rollback_after_a_later_failure_releases_for_the_endpoint_then_registers_again(aws: Aws) -> None:
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    deployment.restore()
    assert _state(aws.autoscaling) == before
    # A resource after them fails. Rollback, dependents first: Restore, then the endpoint, then Release.
    deployment.rollback_restore()
    assert _state(aws.autoscaling) == {RID: None, "orphans": []}  # the endpoint can go back to ml.m5.xlarge
    assert _stored(aws) == ["AllTraffic"]
    deployment.rollback_release()
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_rollback_brings_a_removed_variant_back_with_its_scaling(aws: Aws) -> None:
    _register(aws.autoscaling)
    _register(aws.autoscaling, _rid("Canary"))
    before = _state(aws.autoscaling, RID, _rid("Canary"))
    deployment = Deployment(aws, [*M5, CANARY], C5)
    deployment.release()
    deployment.restore()
    deployment.rollback_restore()  # releases AllTraffic again: the endpoint goes back to ml.m5.xlarge
    assert _state(aws.autoscaling, RID, _rid("Canary"))[RID] is None
    deployment.rollback_release()
    assert _state(aws.autoscaling, RID, _rid("Canary")) == before
    assert _stored(aws) == []


def test_rollback_releases_a_variant_the_update_added(aws: Aws) -> None:
    """The rolled-back endpoint drops the variant; its CloudFormation target is deleted only at cleanup."""
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, [*M5, CANARY])
    deployment.release()
    deployment.restore()
    _register(aws.autoscaling, _rid("Canary"))  # the new AWS::ApplicationAutoScaling::ScalableTarget
    deployment.rollback_restore()
    assert _state(aws.autoscaling, RID, _rid("Canary"))[_rid("Canary")] is None
    deployment.rollback_release()
    assert _state(aws.autoscaling) == before
    assert _state(aws.autoscaling, _rid("Canary"))[_rid("Canary")] is None
    assert _stored(aws) == []


# -- (d) repeated requests -------------------------------------------------------------------------------------
# CloudFormation invokes the function asynchronously ("Adding resiliency to AWS CloudFormation custom resource
# deployments", AWS Compute Blog), so a request can arrive twice; ContinueUpdateRollback retries the rollback
# requests that failed ("ContinueUpdateRollback", AWS CloudFormation API Reference).


def test_every_request_may_arrive_twice(aws: Aws) -> None:
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    token = deployment.release()["Snapshot"]
    after_release = _state(aws.autoscaling)
    assert deployment.release()["Snapshot"] != "none"  # still a release: restore must still run
    assert deployment.restore_event is not None
    deployment.restore_event["ResourceProperties"]["Snapshot"] = token  # CloudFormation kept the first answer
    assert (_state(aws.autoscaling), _stored(aws)) == (after_release, ["AllTraffic"])
    for step in (deployment.restore, deployment.rollback_restore, deployment.rollback_release):
        step()
        once = (_state(aws.autoscaling), _stored(aws))
        step()
        assert (_state(aws.autoscaling), _stored(aws)) == once
    assert _state(aws.autoscaling) == before


def test_stale_snapshots_are_cleared_by_the_next_update_and_by_delete(aws: Aws) -> None:
    _register(aws.autoscaling, _rid("Canary"))
    first = Deployment(aws, [*M5, CANARY], M5)
    first.release()
    first.restore()
    assert _stored(aws) == ["Canary"]  # the update completed: nothing will restore it
    # The next update must not let a rollback register a variant the endpoint no longer has.
    Deployment(aws, M5, M5).release()
    assert _stored(aws) == []
    aws.store.put(ENDPOINT, "Canary", {"ResourceId": _rid("Canary")})
    event = {**_update(_props("release", M5), _props("release", M5), "Release"), "RequestType": "Delete"}
    guard.on_release(aws.autoscaling, aws.store, aws.cloudformation, event)
    assert _stored(aws) == []


def test_a_snapshot_ssm_cannot_hold_releases_nothing(aws: Aws) -> None:
    _register(aws.autoscaling, policies=40, actions=40)
    before = _state(aws.autoscaling)
    with pytest.raises(guard.SnapshotTooLargeError, match="at most 8192"):
        Deployment(aws, M5, C5).release()
    assert _state(aws.autoscaling) == before


# -- (e) response size -----------------------------------------------------------------------------------------


def test_responses_stay_small_for_ten_variants_with_five_policies_and_schedules(aws: Aws) -> None:
    variants = [f"Variant{i:02d}-{'x' * 50}" for i in range(10)]  # long names: SageMaker allows 63 characters
    for variant in variants:
        _register(aws.autoscaling, _rid(variant), policies=5, actions=5)
    old = [{"VariantName": v, "InstanceType": "ml.m5.xlarge"} for v in variants]
    new = [{"VariantName": v, "InstanceType": "ml.c5.xlarge"} for v in variants]
    deployment = Deployment(aws, old, new)
    answers = [deployment.release(), deployment.restore(), deployment.rollback_restore(), deployment.rollback_release()]
    assert deployment.restore_event is not None
    for data, event in zip(answers, [deployment.release_event, deployment.restore_event] * 2, strict=True):
        size = len(cfn_response.body(event, status="SUCCESS", physical_resource_id=f"{ENDPOINT}-release", data=data))
        assert size < 1024  # far below CloudFormation's 4096 bytes, whatever the variants hold
    assert _state(aws.autoscaling, _rid(variants[0]))[_rid(variants[0])] is not None


# -- (f) the handler answers on every path ---------------------------------------------------------------------


@dataclass
class Context:
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def handler(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = lambda_module("scaling_guard", "handler")
    monkeypatch.setenv("SNAPSHOT_PARAMETER_PATH", ROOT)
    real_client: Any = boto3.client

    def client(service: str, **kwargs: Any) -> Any:
        return aws.cloudformation if service == "cloudformation" else real_client(service, **kwargs)

    monkeypatch.setattr(module.boto3, "client", client)
    return module


def _cfn_event(url: str, event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "ResponseURL": url}


def test_handler_answers_success_with_a_short_token(aws: Aws, handler: Any, cfn_server: CfnServer) -> None:
    _register(aws.autoscaling)
    handler.handler(_cfn_event(cfn_server.url, Deployment(aws, M5, C5).release_event), Context())
    (body,) = cfn_server.bodies
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == f"{ENDPOINT}-release"
    assert body["Data"]["Snapshot"].startswith("1 released ")
    assert _stored(aws) == ["AllTraffic"]


@pytest.mark.parametrize("request_type", ["Create", "Delete"])
@pytest.mark.parametrize("logical_id", ["Release", "Restore"])
def test_handler_answers_create_and_delete(
    handler: Any, cfn_server: CfnServer, request_type: str, logical_id: str
) -> None:
    props = _props(logical_id.lower(), M5, "none" if logical_id == "Restore" else None)
    event = {**_update(props, props, logical_id), "RequestType": request_type}
    del event["OldResourceProperties"]
    handler.handler(_cfn_event(cfn_server.url, event), Context())
    assert [b["Status"] for b in cfn_server.bodies] == ["SUCCESS"]


def test_handler_answers_a_rollback(aws: Aws, handler: Any, cfn_server: CfnServer) -> None:
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    aws.cloudformation.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    handler.handler(_cfn_event(cfn_server.url, _rollback_of(deployment.release_event)), Context())
    assert [b["Status"] for b in cfn_server.bodies] == ["SUCCESS"]
    assert _state(aws.autoscaling) == before


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda e: e["OldResourceProperties"].update(Variants="not a list"), "TypeError"),
        (lambda e: e["ResourceProperties"].update(Action="unknown"), "KeyError"),
        (lambda e: e.pop("ResourceProperties"), "KeyError"),
    ],
)
def test_handler_answers_failure_instead_of_hanging(
    aws: Aws, handler: Any, cfn_server: CfnServer, change: Any, error: str
) -> None:
    event = _cfn_event(cfn_server.url, Deployment(aws, M5, C5).release_event)
    change(event)
    handler.handler(event, Context())
    (body,) = cfn_server.bodies
    assert (body["Status"], body["Reason"].split(":")[0]) == ("FAILED", error)


def test_handler_answers_before_its_timeout(aws: Aws, handler: Any, cfn_server: CfnServer) -> None:
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    handler.handler(_cfn_event(cfn_server.url, Deployment(aws, M5, C5).release_event), Context(remaining_ms=59_000))
    (body,) = cfn_server.bodies
    assert (body["Status"], body["Reason"].split(":")[0]) == ("FAILED", "DeadlineExceededError")
    assert _state(aws.autoscaling) == before  # no call started that could not finish


def test_handler_clients_have_bounded_retries_and_timeouts(handler: Any) -> None:
    config = handler.CONFIG
    attempts = config.retries["total_max_attempts"]  # botocore's reading of max_attempts (retries) + 1
    assert (config.retries["mode"], attempts) == ("standard", 3)
    # Each attempt's socket timeouts, then the back-offs between them (each at most 2**i x 1 s, plus 5 s when
    # the service sends x-amz-retry-after).
    worst_call = attempts * (config.connect_timeout + config.read_timeout) + sum(2**i + 5 for i in range(attempts - 1))
    assert worst_call + handler.SEND_TIMEOUT_SECONDS <= handler.ANSWER_MARGIN_SECONDS
