"""The scaling guard against moto (Application Auto Scaling, SSM, SageMaker), as CloudFormation's requests arrive.

Each scenario is the sequence of requests CloudFormation sends, with the stack status it reports meanwhile, and
the endpoint (in moto) switching its endpoint config where CloudFormation's update of it would:

- forward, ``release`` then the endpoint then ``restore``: CloudFormation updates a resource after those it
  depends on ("DependsOn attribute", AWS CloudFormation Template Reference: "Resource B is updated before
  resource A"); SageMaker needs the target deregistered before the update and registered after it ("Update
  endpoints that use auto scaling", Amazon SageMaker AI Developer Guide), which ``Endpoint.update`` enforces;
- rollback: a resource that was updated gets a second ``Update`` with ``ResourceProperties`` and
  ``OldResourceProperties`` swapped, while the stack is ``UPDATE_ROLLBACK_IN_PROGRESS`` ("Update request"
  for custom resources, AWS CloudFormation User Guide, for the fields; aws-cdk's docs/CLOUDFORMATION.md,
  "Custom Resources", for the swap). AWS does not document the order of the rollback's updates, so every
  rollback scenario runs in both: dependents first (``restore``, the endpoint, ``release``) and dependencies
  first (``release``, the endpoint, ``restore``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from hosting_contract.ssm_paths import GUARDED_ENDPOINTS_VARIABLE, SNAPSHOT_PATH_VARIABLE
from tests.lambdas.conftest import CfnServer
from tests.support import Moto, lambda_module

guard = lambda_module("scaling_guard", "scaling_guard")
cfn_response = lambda_module("scaling_guard", "cfn_response")
TARGET = {"ServiceNamespace": "sagemaker", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
ENDPOINT = "prod-home-values"
ROOT = "/sagemaker-hosting/prod"
STACK_ID = "arn:aws:cloudformation:eu-west-1:111111111111:stack/Hosting/0a1b2c3d"
MODEL = "home-values"


def _rid(variant: str = "AllTraffic", endpoint: str = ENDPOINT) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


RID = _rid()
M5 = [{"VariantName": "AllTraffic", "InstanceType": "ml.m5.xlarge"}]
C5 = [{"VariantName": "AllTraffic", "InstanceType": "ml.c5.xlarge"}]
CANARY = {"VariantName": "Canary", "InstanceType": "ml.m5.large"}
#: The rollback's updates of the guard's resources and the endpoint, in the two orders CloudFormation may take.
ORDERS = {
    "dependents first": ("restore", "endpoint", "release"),
    "dependencies first": ("release", "endpoint", "restore"),
}


@dataclass
class FakeCloudFormation:
    """DescribeStacks of the stack, whose status each test step sets."""

    status: str = "UPDATE_IN_PROGRESS"
    asked: list[str] = field(default_factory=list)

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803  (boto3's name)
        self.asked.append(StackName)
        return {"Stacks": [{"StackId": STACK_ID, "StackStatus": self.status}]}


class SageMakerRefusedError(AssertionError):
    """UpdateEndpoint would fail: it changes or removes a variant that is still a scalable target."""


class Endpoint:
    """The endpoint in moto, whose endpoint config each step switches as UpdateEndpoint would.

    moto has no UpdateEndpoint: the endpoint is created again, with the same name, on a new endpoint config.
    """

    def __init__(self, sagemaker: Any, autoscaling: Any) -> None:
        self.sagemaker = sagemaker
        self.autoscaling = autoscaling
        self.configs = 0
        #: For each ``update``: the variants it changed or removed that were registered (SageMaker refuses those).
        self.registered_at_updates: list[list[str]] = []

    def runs(self) -> dict[str, str]:
        """The instance type of each variant the endpoint runs now."""
        config = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
        variants = self.sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
        return {v["VariantName"]: v["InstanceType"] for v in variants}

    def deploy(self, variants: list[dict[str, str]]) -> None:
        """Make the endpoint run ``variants`` (the state before a scenario: no check)."""
        self.configs += 1
        config = f"{ENDPOINT}-{self.configs}"
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[{**v, "ModelName": MODEL, "InitialInstanceCount": 2} for v in variants],
        )
        if self.configs > 1:
            self.sagemaker.delete_endpoint(EndpointName=ENDPOINT)
        self.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config)

    def update(self, variants: list[dict[str, str]]) -> None:
        """UpdateEndpoint to ``variants``, refused as SageMaker does while a changed or removed variant is scaled."""
        new_types = {v["VariantName"]: v["InstanceType"] for v in variants}
        registered = [
            name
            for name, kind in self.runs().items()
            if new_types.get(name) != kind and guard.capture(self.autoscaling, _rid(name)) is not None
        ]
        self.registered_at_updates.append(registered)
        if registered:
            raise SageMakerRefusedError(f"{registered} are scalable targets: SageMaker refuses the update")
        self.deploy(variants)


@dataclass
class Aws:
    autoscaling: Any
    ssm: Any
    store: Any
    cloudformation: FakeCloudFormation
    sagemaker: Any
    endpoint: Endpoint


@pytest.fixture
def aws(moto: Moto) -> Aws:
    ssm = moto.client("ssm")
    autoscaling = moto.client("application-autoscaling")
    sagemaker = moto.client("sagemaker")
    sagemaker.create_model(
        ModelName=MODEL,
        ExecutionRoleArn="arn:aws:iam::111111111111:role/model",
        PrimaryContainer={"Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"},
    )
    return Aws(
        autoscaling=autoscaling,
        ssm=ssm,
        store=guard.SnapshotStore(ssm, ROOT),
        cloudformation=FakeCloudFormation(),
        sagemaker=sagemaker,
        endpoint=Endpoint(sagemaker, autoscaling),
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
    """One stack update's guard requests and endpoint updates, from the variants before and after.

    The endpoint runs ``old`` when the deployment starts.
    """

    def __init__(self, aws: Aws, old: list[dict[str, str]], new: list[dict[str, str]], old_token: str = "none"):
        self.aws = aws
        self.release_event = _update(_props("release", old), _props("release", new), "Release")
        self.old = old
        self.new = new
        self.old_token = old_token
        self.restore_event: dict[str, Any] | None = None
        aws.endpoint.deploy(old)

    def _call(self, action: Any, event: dict[str, Any], status: str) -> dict[str, str]:
        self.aws.cloudformation.status = status
        data: dict[str, str] = action(
            self.aws.autoscaling, self.aws.store, self.aws.cloudformation, self.aws.sagemaker, event
        )
        return data

    def release(self) -> dict[str, str]:
        data = self._call(guard.on_release, self.release_event, "UPDATE_IN_PROGRESS")
        # Restore's Snapshot property is Release's GetAtt: it changes exactly when the token does.
        self.restore_event = _update(
            _props("restore", self.old, self.old_token), _props("restore", self.new, data["Snapshot"]), "Restore"
        )
        return data

    def update_endpoint(self) -> None:
        self.aws.endpoint.update(self.new)

    def restore(self) -> dict[str, str]:
        assert self.restore_event is not None
        return self._call(guard.on_restore, self.restore_event, "UPDATE_IN_PROGRESS")

    def rollback_restore(self) -> dict[str, str]:
        assert self.restore_event is not None
        return self._call(guard.on_restore, _rollback_of(self.restore_event), "UPDATE_ROLLBACK_IN_PROGRESS")

    def rollback_endpoint(self) -> None:
        """The endpoint's rollback: refused (raises) while a variant whose type goes back is still registered."""
        self.aws.cloudformation.status = "UPDATE_ROLLBACK_IN_PROGRESS"
        self.aws.endpoint.update(self.old)

    def rollback_release(self) -> dict[str, str]:
        return self._call(guard.on_release, _rollback_of(self.release_event), "UPDATE_ROLLBACK_IN_PROGRESS")

    def rollback(self, order: str, *, restore_was_updated: bool = True) -> None:
        """The rollback's requests in ``order`` (one of ``ORDERS``); ``restore`` gets one only if it was updated."""
        for step in ORDERS[order]:
            if step != "restore" or restore_was_updated:
                getattr(self, f"rollback_{step}")()


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

    deployment.update_endpoint()  # to ml.c5.xlarge: SageMaker accepts, nothing is registered
    # Restore (after the endpoint): everything as before, snapshot consumed.
    deployment.restore()
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []
    assert aws.cloudformation.asked == [STACK_ID, STACK_ID]


def test_the_endpoint_update_is_refused_without_the_guard(aws: Aws) -> None:
    """The test's endpoint refuses what SageMaker refuses: the scenarios below rely on it."""
    _register(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    with pytest.raises(SageMakerRefusedError, match="AllTraffic"):
        deployment.update_endpoint()
    assert aws.endpoint.runs() == {"AllTraffic": "ml.m5.xlarge"}


def test_a_new_release_always_changes_the_token(aws: Aws) -> None:
    _register(aws.autoscaling)
    forward = Deployment(aws, M5, C5)
    first = forward.release()["Snapshot"]
    forward.update_endpoint()
    forward.restore()
    second = Deployment(aws, C5, M5).release()["Snapshot"]
    assert first != second


def test_no_instance_type_change_touches_nothing(aws: Aws) -> None:
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, M5)
    assert deployment.release() == {"Snapshot": "none"}
    deployment.update_endpoint()
    deployment.restore()
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_removed_variant_is_released_and_not_restored(aws: Aws) -> None:
    _register(aws.autoscaling, _rid("Canary"))
    deployment = Deployment(aws, [*M5, CANARY], M5)
    assert deployment.release()["Snapshot"] != "none"
    deployment.update_endpoint()
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
        action(aws.autoscaling, aws.store, aws.cloudformation, aws.sagemaker, event)
    assert _state(aws.autoscaling) == before
    assert aws.cloudformation.asked == []  # only an Update can be a rollback's


# -- (b) rollback after a failed endpoint update ---------------------------------------------------------------
# Release (forward), UpdateEndpoint fails (the endpoint keeps its config), then the rollback: Release and the
# endpoint get an Update with the properties swapped while the stack is UPDATE_ROLLBACK_IN_PROGRESS ("Update
# request", custom resources, AWS CloudFormation User Guide; aws-cdk docs/CLOUDFORMATION.md, "Custom Resources":
# "If an Update fails, CloudFormation will trigger a second Update during rollback", "ResourceProperties=OLD and
# OldResourceProperties=NEW"). Restore's properties never changed (it was not reached), so it gets no request.


@pytest.mark.parametrize("order", ORDERS)
def test_rollback_after_the_endpoint_update_failed_registers_everything_again(aws: Aws, order: str) -> None:
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    # UpdateEndpoint fails: the endpoint still runs ml.m5.xlarge, which is where the rollback goes.
    deployment.rollback(order, restore_was_updated=False)
    assert aws.endpoint.runs() == {"AllTraffic": "ml.m5.xlarge"}
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_a_rollback_after_a_partial_release_completes_it(aws: Aws) -> None:
    """Release failed half-way (here: one target had a policy deleted, then the call failed)."""
    _register(aws.autoscaling, policies=2)
    before = _state(aws.autoscaling)
    snapshot = guard.capture(aws.autoscaling, RID)
    aws.store.put(ENDPOINT, "AllTraffic", snapshot)
    aws.autoscaling.delete_scaling_policy(PolicyName="Invocations0", ResourceId=RID, **TARGET)
    Deployment(aws, M5, C5).rollback_release()  # the endpoint never left ml.m5.xlarge
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


_DELETES = ("delete_scaling_policy", "delete_scheduled_action", "deregister_scalable_target")


def test_aws_answers_a_delete_of_what_is_gone_with_object_not_found() -> None:
    # What release() takes for done: Application Auto Scaling's API model lists ObjectNotFoundException for each
    # delete, thrown "if the resource cannot be found" (moto answers a ValidationException for policies instead).
    model = boto3.client("application-autoscaling", region_name="eu-west-1").meta.service_model
    for name in _DELETES:
        operation = model.operation_model("".join(part.capitalize() for part in name.split("_")))
        assert "ObjectNotFoundException" in [error.name for error in operation.error_shapes], name
    documentation = model.shape_for("ObjectNotFoundException").documentation
    assert (
        "deletes or deregisters a resource, this exception is thrown if the resource cannot be found" in documentation
    )


class _AnswerLost:
    """The client, except that the answer to one of its deletes is lost: botocore retries the call, which
    finds nothing left and gets what AWS documents for that, ObjectNotFoundException."""

    def __init__(self, client: Any, lost: str) -> None:
        self._client, self._lost = client, lost

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name != self._lost:
            return call

        def retried(**request: Any) -> Any:
            call(**request)
            raise ClientError({"Error": {"Code": "ObjectNotFoundException", "Message": "not found"}}, name)

        return retried


@pytest.mark.parametrize("lost", _DELETES)
def test_a_delete_retried_after_it_succeeded_is_done(aws: Aws, lost: str) -> None:
    _register(aws.autoscaling, policies=2, actions=2)
    snapshot = guard.capture(aws.autoscaling, RID)
    guard.release(_AnswerLost(aws.autoscaling, lost), snapshot)
    assert guard.capture(aws.autoscaling, RID) is None


def test_a_failed_delete_is_not_taken_for_done(aws: Aws) -> None:
    _register(aws.autoscaling)
    snapshot = guard.capture(aws.autoscaling, RID)
    with pytest.raises(ClientError, match="ValidationException"):
        guard.release(aws.autoscaling, {**snapshot, "ResourceId": "not-a-resource-id"})


# -- (c) rollback after a later resource failed ----------------------------------------------------------------
# Release, UpdateEndpoint, Restore (forward), then a later resource fails and all three are rolled back, in an
# order AWS does not document: each test runs both. Endpoint.update refuses (raises) the endpoint's rollback if
# a variant whose instance type goes back, or that goes away, is still registered at that moment.


def _type_changed(aws: Aws) -> tuple[Deployment, dict[str, Any]]:
    """A scaled variant's M5 -> C5 update, done forward (release, endpoint, restore), and the targets before it."""
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    deployment.update_endpoint()
    deployment.restore()
    return deployment, before


@pytest.mark.parametrize("order", ORDERS)
def test_rollback_after_a_later_failure_releases_for_the_endpoint_then_registers_again(aws: Aws, order: str) -> None:
    deployment, before = _type_changed(aws)
    assert (_state(aws.autoscaling), aws.endpoint.runs()) == (before, {"AllTraffic": "ml.c5.xlarge"})

    first, endpoint, last = ORDERS[order]
    assert endpoint == "endpoint"
    getattr(deployment, f"rollback_{first}")()  # the endpoint still runs ml.c5.xlarge: released
    assert _state(aws.autoscaling) == {RID: None, "orphans": []}
    assert _stored(aws) == ["AllTraffic"]
    deployment.rollback_endpoint()
    assert aws.endpoint.registered_at_updates[-1] == []  # nothing registered when the endpoint went back
    assert aws.endpoint.runs() == {"AllTraffic": "ml.m5.xlarge"}
    getattr(deployment, f"rollback_{last}")()  # the endpoint runs ml.m5.xlarge again: restored
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


@pytest.mark.parametrize("order", ORDERS)
def test_rollback_brings_a_removed_variant_back_with_its_scaling(aws: Aws, order: str) -> None:
    _register(aws.autoscaling)
    _register(aws.autoscaling, _rid("Canary"))
    before = _state(aws.autoscaling, RID, _rid("Canary"))
    deployment = Deployment(aws, [*M5, CANARY], C5)
    deployment.release()
    deployment.update_endpoint()
    deployment.restore()
    deployment.rollback(order)  # the endpoint goes back to ml.m5.xlarge and gets Canary again
    assert aws.endpoint.registered_at_updates[-1] == []
    assert aws.endpoint.runs() == {"AllTraffic": "ml.m5.xlarge", "Canary": "ml.m5.large"}
    assert _state(aws.autoscaling, RID, _rid("Canary")) == before
    assert _stored(aws) == []


@pytest.mark.parametrize("order", ORDERS)
def test_rollback_releases_a_variant_the_update_added(aws: Aws, order: str) -> None:
    """The rolled-back endpoint drops the variant; its CloudFormation target is deleted only at cleanup."""
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, [*M5, CANARY])
    deployment.release()
    deployment.update_endpoint()
    deployment.restore()
    _register(aws.autoscaling, _rid("Canary"))  # the new AWS::ApplicationAutoScaling::ScalableTarget
    deployment.rollback(order)  # SageMaker would refuse to drop Canary while it is registered
    assert aws.endpoint.registered_at_updates[-1] == []
    assert aws.endpoint.runs() == {"AllTraffic": "ml.m5.xlarge"}
    assert _state(aws.autoscaling) == before
    assert _state(aws.autoscaling, _rid("Canary"))[_rid("Canary")] is None
    assert _stored(aws) == []


@pytest.mark.parametrize("order", ORDERS)
def test_a_half_finished_restore_is_rolled_back_from_the_snapshot(aws: Aws, order: str) -> None:
    """Restore registered the target and one policy, then failed: the stored snapshot wins over that registration."""
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    deployment.update_endpoint()
    _register(aws.autoscaling, policies=1, actions=0)  # what the failed restore got to
    deployment.rollback(order)
    assert aws.endpoint.registered_at_updates[-1] == []
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_without_restore_s_rollback_a_release_before_the_endpoint_keeps_the_snapshot(aws: Aws) -> None:
    """The limit of an order-independent guard: the stack failed after the endpoint update but before Restore.

    Only Release gets a rollback request. After the endpoint's rollback it restores (the other test); before
    it, it can only release, and no request registers the target again: the snapshot stays in SSM, for the
    stack's UPDATE_ROLLBACK_COMPLETE event (next tests).
    """
    _left_released(aws)
    assert aws.endpoint.registered_at_updates[-1] == []
    assert _state(aws.autoscaling) == {RID: None, "orphans": []}
    assert _stored(aws) == ["AllTraffic"]


def _left_released(aws: Aws, **registered: int) -> dict[str, Any]:
    """The case above: register, fail after the endpoint update, roll Release back before the endpoint; what was
    registered before."""
    _register(aws.autoscaling, **registered)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    deployment.update_endpoint()
    deployment.rollback("dependencies first", restore_was_updated=False)
    return before


def _stack_status_event(status: str = "UPDATE_ROLLBACK_COMPLETE") -> dict[str, Any]:
    """EventBridge's event for a stack status change (AWS CloudFormation User Guide, "Stack Status Change event
    detail")."""
    return {
        "version": "0",
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": "111111111111",
        "region": "eu-west-1",
        "resources": [STACK_ID],
        "detail": {"stack-id": STACK_ID, "status-details": {"status": status, "status-reason": ""}},
    }


def _after_rollback(aws: Aws, status: str = "UPDATE_ROLLBACK_COMPLETE") -> dict[str, list[str]]:
    aws.cloudformation.status = status
    restored: dict[str, list[str]] = guard.on_stack_status(
        aws.autoscaling, aws.store, aws.cloudformation, aws.sagemaker, _stack_status_event(), [ENDPOINT]
    )
    return restored


def test_once_rolled_back_what_the_rollback_left_released_is_registered_again(aws: Aws) -> None:
    before = _left_released(aws, policies=2, actions=2)
    assert _after_rollback(aws) == {ENDPOINT: ["AllTraffic"]}
    assert aws.cloudformation.asked[-1] == STACK_ID
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []
    assert _after_rollback(aws) == {}  # a second delivery finds nothing left


def test_a_late_event_during_the_next_update_touches_nothing(aws: Aws) -> None:
    # The next update released the variant on purpose before the event arrived: its Restore registers it.
    _register(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    assert _after_rollback(aws, status="UPDATE_IN_PROGRESS") == {}
    assert _state(aws.autoscaling) == {RID: None, "orphans": []}
    assert _stored(aws) == ["AllTraffic"]


def test_once_rolled_back_only_what_that_rollback_left_released_on_this_stack_is_registered(aws: Aws) -> None:
    other = "prod-other"  # another Hosting stack's endpoint: the snapshot folder is the environment's
    canary = _rid("Canary")
    aws.endpoint.deploy([*M5, CANARY])
    for resource_id in (RID, canary):
        _register(aws.autoscaling, resource_id)
    registered = _state(aws.autoscaling, RID, canary)
    marked = {**guard.capture(aws.autoscaling, RID), guard.RELEASED_IN_ROLLBACK: True}
    # A marked snapshot of a variant registered again by hand, and one of the other stack's endpoint.
    aws.store.put(ENDPOINT, "AllTraffic", {**marked, "MinCapacity": 1})
    aws.store.put(other, "AllTraffic", {**marked, "ResourceId": _rid(endpoint=other)})
    # A forward update left a snapshot unmarked: Canary's scaling was removed, Canary stays (deregistered).
    aws.store.put(ENDPOINT, "Canary", guard.capture(aws.autoscaling, canary))
    guard.release(aws.autoscaling, guard.capture(aws.autoscaling, canary))
    assert _after_rollback(aws) == {}
    assert _state(aws.autoscaling, RID, canary) == {**registered, canary: None}
    assert _state(aws.autoscaling, _rid(endpoint=other)) == {_rid(endpoint=other): None, "orphans": []}
    # The mark is that rollback's: a marked snapshot it did not need is gone, so that a later, unrelated rollback
    # cannot register from it; the other stack's and the forward update's are not this pass's.
    assert _stored(aws) == ["Canary"]
    assert _stored(aws, other) == ["AllTraffic"]


def test_a_marked_snapshot_of_a_variant_the_endpoint_does_not_run_is_forgotten(aws: Aws) -> None:
    aws.endpoint.deploy(M5)
    _register(aws.autoscaling, _rid("Added"))
    aws.store.put(
        ENDPOINT, "Added", {**guard.capture(aws.autoscaling, _rid("Added")), guard.RELEASED_IN_ROLLBACK: True}
    )
    guard.release(aws.autoscaling, guard.capture(aws.autoscaling, _rid("Added")))
    assert _after_rollback(aws) == {}
    assert _stored(aws) == []


def test_a_forward_release_takes_over_a_marked_snapshot_it_finds(aws: Aws) -> None:
    # The pass after the rollback did not run (or failed); the next update keeps the stored snapshot of the
    # still-released variant, and it is the update's now: no later rollback may register from it.
    _left_released(aws)
    Deployment(aws, M5, C5).release()
    assert guard.RELEASED_IN_ROLLBACK not in aws.store.get(ENDPOINT, "AllTraffic")


def test_a_snapshot_leaves_room_for_the_mark_before_anything_is_released(aws: Aws) -> None:
    snapshot = guard.capture(aws.autoscaling, RID) or {"ResourceId": RID, "Policies": [], "ScheduledActions": []}
    mark = len(f',"{guard.RELEASED_IN_ROLLBACK}":true')
    unmarked = len(json.dumps({**snapshot, "Pad": ""}, sort_keys=True, separators=(",", ":")))
    fits_only_unmarked = {**snapshot, "Pad": "x" * (guard.MAX_SNAPSHOT_BYTES - unmarked - mark + 1)}
    with pytest.raises(guard.SnapshotTooLargeError):
        aws.store.put(ENDPOINT, "AllTraffic", fits_only_unmarked)
    aws.store.put(ENDPOINT, "AllTraffic", {**fits_only_unmarked, "Pad": fits_only_unmarked["Pad"][1:]})


def test_a_rollback_marks_what_it_releases_and_a_forward_release_does_not(aws: Aws) -> None:
    _left_released(aws)
    assert aws.store.get(ENDPOINT, "AllTraffic")[guard.RELEASED_IN_ROLLBACK] is True
    _register(aws.autoscaling)  # back by hand; the next update releases it afresh
    Deployment(aws, M5, C5).release()
    assert guard.RELEASED_IN_ROLLBACK not in aws.store.get(ENDPOINT, "AllTraffic")


def test_without_restore_s_rollback_a_release_after_the_endpoint_restores(aws: Aws) -> None:
    _register(aws.autoscaling)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    deployment.release()
    deployment.update_endpoint()
    deployment.rollback("dependents first", restore_was_updated=False)
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_a_rollback_of_an_endpoint_that_is_gone_forgets_only_what_cannot_come_back(aws: Aws) -> None:
    aws.store.put(ENDPOINT, "AllTraffic", {"ResourceId": RID})
    aws.store.put(ENDPOINT, "Canary", {"ResourceId": _rid("Canary")})
    deployment = Deployment(aws, M5, [*C5, CANARY])
    aws.sagemaker.delete_endpoint(EndpointName=ENDPOINT)
    assert guard.running_instance_types(aws.sagemaker, ENDPOINT) == {}
    deployment.rollback_release()
    assert _stored(aws) == ["AllTraffic"]  # the target's variant: kept for when the endpoint runs it


# -- (d) repeated requests -------------------------------------------------------------------------------------
# CloudFormation invokes the function asynchronously ("Adding resiliency to AWS CloudFormation custom resource
# deployments", AWS Compute Blog), so a request can arrive twice; ContinueUpdateRollback retries the rollback
# requests that failed ("ContinueUpdateRollback", AWS CloudFormation API Reference).


@pytest.mark.parametrize("order", ORDERS)
def test_every_request_may_arrive_twice(aws: Aws, order: str) -> None:
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    token = deployment.release()["Snapshot"]
    after_release = _state(aws.autoscaling)
    assert deployment.release()["Snapshot"] != "none"  # still a release: restore must still run
    assert deployment.restore_event is not None
    deployment.restore_event["ResourceProperties"]["Snapshot"] = token  # CloudFormation kept the first answer
    assert (_state(aws.autoscaling), _stored(aws)) == (after_release, ["AllTraffic"])
    deployment.update_endpoint()
    for name in ["restore", *(f"rollback_{step}" for step in ORDERS[order])]:
        step = getattr(deployment, name)
        step()
        if name == "rollback_endpoint":
            continue  # SageMaker's, not a request to the guard
        once = (_state(aws.autoscaling), _stored(aws))
        step()
        assert (_state(aws.autoscaling), _stored(aws)) == once, name
    assert _state(aws.autoscaling) == before
    assert _stored(aws) == []


def test_the_phase_of_an_update_is_read_from_cloudformation_s_own_stack_statuses() -> None:
    # StackStatus as the CloudFormation API model (botocore's copy) lists it: CloudFormation sends a forward Update
    # while the stack is UPDATE_IN_PROGRESS and a rollback's Update (properties swapped) while it is
    # UPDATE_ROLLBACK_IN_PROGRESS ("Custom resource request types", AWS CloudFormation User Guide); in any other
    # status nothing waits for an Update's answer.
    import botocore.session

    statuses = botocore.session.get_session().get_service_model("cloudformation").shape_for("StackStatus").enum
    assert {cfn_response.FORWARD_UPDATE_STATUS, *cfn_response.ROLLBACK_STATUSES} <= set(statuses)
    phases = {status: cfn_response.update_phase(status) for status in [*statuses, ""]}
    assert [s for s, phase in phases.items() if phase == cfn_response.FORWARD] == ["UPDATE_IN_PROGRESS"]
    assert {s for s, phase in phases.items() if phase == cfn_response.ROLLBACK} == {
        s for s in statuses if s.endswith("ROLLBACK_IN_PROGRESS")
    }
    assert phases[""] == phases["UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"] == cfn_response.STALE  # "": the stack is gone


def test_a_release_delivered_again_after_the_endpoint_s_update_changes_nothing(aws: Aws) -> None:
    # Lambda may deliver an asynchronous event more than once ("Asynchronous invocation", AWS Lambda Developer
    # Guide), and a copy may come while the stack is still UPDATE_IN_PROGRESS: after the endpoint's update, the
    # variant must stay as it is (released until Restore; registered again after it).
    _register(aws.autoscaling, policies=2, actions=2)
    before = _state(aws.autoscaling)
    deployment = Deployment(aws, M5, C5)
    token = deployment.release()["Snapshot"]
    deployment.update_endpoint()
    released = (_state(aws.autoscaling), _stored(aws))
    assert released == ({RID: None, "orphans": []}, ["AllTraffic"])
    assert deployment.release()["Snapshot"] == guard.NOTHING_RELEASED  # ignored, snapshot kept for Restore
    assert (_state(aws.autoscaling), _stored(aws)) == released
    assert deployment.restore_event is not None
    deployment.restore_event["ResourceProperties"]["Snapshot"] = token  # CloudFormation kept the first answer
    deployment.restore()
    assert (_state(aws.autoscaling), _stored(aws)) == (before, [])
    deployment.release()  # after Restore: the target it registered again stays
    assert (_state(aws.autoscaling), _stored(aws)) == (before, [])


@pytest.mark.parametrize("status", ["UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "DELETE_COMPLETE"])
def test_a_request_that_arrives_after_its_update_changes_nothing(aws: Aws, status: str) -> None:
    # CloudFormation invokes the function asynchronously, and Lambda may hand an event over hours late (a throttled
    # one is retried for up to six hours) or twice ("Asynchronous invocation", AWS Lambda Developer Guide).
    # CloudFormation waits for an Update's answer only while the stack is UPDATE_IN_PROGRESS (forward) or
    # UPDATE_ROLLBACK_IN_PROGRESS: after that, a late release would deregister the restored target for good, and a
    # late rollback request (properties swapped) would read as a forward one.
    deployment, before = _type_changed(aws)
    assert (_state(aws.autoscaling), _stored(aws)) == (before, [])
    assert deployment.restore_event is not None
    late = {
        "release": (guard.on_release, deployment.release_event),
        "restore": (guard.on_restore, deployment.restore_event),
        "rollback release": (guard.on_release, _rollback_of(deployment.release_event)),
        "rollback restore": (guard.on_restore, _rollback_of(deployment.restore_event)),
    }
    for name, (action, event) in late.items():
        data = deployment._call(action, event, status)
        assert data in ({}, {"Snapshot": guard.NOTHING_RELEASED}), name
        assert (_state(aws.autoscaling), _stored(aws)) == (before, []), name
    # The stack's next update: its own requests act (UPDATE_IN_PROGRESS again).
    assert Deployment(aws, C5, M5).release()["Snapshot"] != guard.NOTHING_RELEASED
    assert _stored(aws) == ["AllTraffic"]


def test_stale_snapshots_are_cleared_by_the_next_update_and_by_delete(aws: Aws) -> None:
    _register(aws.autoscaling, _rid("Canary"))
    first = Deployment(aws, [*M5, CANARY], M5)
    first.release()
    first.update_endpoint()
    first.restore()
    assert _stored(aws) == ["Canary"]  # the update completed: nothing will restore it
    # The next update must not let a rollback register a variant the endpoint no longer has.
    Deployment(aws, M5, M5).release()
    assert _stored(aws) == []
    aws.store.put(ENDPOINT, "Canary", {"ResourceId": _rid("Canary")})
    event = {**_update(_props("release", M5), _props("release", M5), "Release"), "RequestType": "Delete"}
    guard.on_release(aws.autoscaling, aws.store, aws.cloudformation, aws.sagemaker, event)
    assert _stored(aws) == []


def test_a_snapshot_ssm_cannot_hold_releases_nothing(aws: Aws) -> None:
    _register(aws.autoscaling, policies=40, actions=40)
    before = _state(aws.autoscaling)
    with pytest.raises(guard.SnapshotTooLargeError, match="at most 8192"):
        Deployment(aws, M5, C5).release()
    assert _state(aws.autoscaling) == before


# -- (e) response size -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_responses_stay_small_for_ten_variants_with_five_policies_and_schedules(aws: Aws, order: str) -> None:
    variants = [f"Variant{i:02d}-{'x' * 50}" for i in range(10)]  # long names: SageMaker allows 63 characters
    for variant in variants:
        _register(aws.autoscaling, _rid(variant), policies=5, actions=5)
    before = _state(aws.autoscaling, *(_rid(v) for v in variants))
    old = [{"VariantName": v, "InstanceType": "ml.m5.xlarge"} for v in variants]
    new = [{"VariantName": v, "InstanceType": "ml.c5.xlarge"} for v in variants]
    deployment = Deployment(aws, old, new)
    answers = [deployment.release()]
    deployment.update_endpoint()
    answers.append(deployment.restore())
    assert deployment.restore_event is not None
    events = [deployment.release_event, deployment.restore_event]
    for step in ORDERS[order]:
        data = getattr(deployment, f"rollback_{step}")()
        if step != "endpoint":
            answers.append(data)
            events.append(_rollback_of(deployment.release_event if step == "release" else deployment.restore_event))
    for data, event in zip(answers, events, strict=True):
        size = len(cfn_response.body(event, status="SUCCESS", physical_resource_id=f"{ENDPOINT}-release", data=data))
        assert size < 1024  # far below CloudFormation's 4096 bytes, whatever the variants hold
    assert _state(aws.autoscaling, *(_rid(v) for v in variants)) == before


# -- (f) the handler answers on every path ---------------------------------------------------------------------


@dataclass
class Context:
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def handler(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = lambda_module("scaling_guard", "handler")
    monkeypatch.setenv(SNAPSHOT_PATH_VARIABLE, ROOT)
    monkeypatch.setenv(GUARDED_ENDPOINTS_VARIABLE, f"{ENDPOINT},prod-other")
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


def test_handler_registers_again_on_the_stack_s_rollback_event_and_answers_no_one(
    aws: Aws, handler: Any, cfn_server: CfnServer
) -> None:
    before = _left_released(aws)
    aws.cloudformation.status = "UPDATE_ROLLBACK_COMPLETE"
    handler.handler(_stack_status_event(), Context())
    assert _state(aws.autoscaling) == before
    assert cfn_server.bodies == []  # an EventBridge event has no CloudFormation request to answer


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


def test_cloudformation_identifies_a_scaling_policy_by_its_arn() -> None:
    # Why docs/OPERATIONS.md asks for a sandbox check after an instance-type change: the guard re-creates the
    # policies (new ARNs), and the resource schema (cfn-lint's copy of AWS's registry schemas) keys them by ARN.
    # If AWS drops Arn from the identifier, the check and its caveat can go.
    import json

    from tools.refresh_region_support import schemas_folder

    folder = schemas_folder()
    schema_id = json.loads((folder / "providers" / "eu-west-1.json").read_text())[
        "AWS::ApplicationAutoScaling::ScalingPolicy"
    ]
    schema = json.loads((folder / "resources" / f"{schema_id}.json").read_text())
    assert "/properties/Arn" in schema["primaryIdentifier"]
    operations = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()
    assert "identifies an `AWS::ApplicationAutoScaling::ScalingPolicy` by its ARN" in operations
