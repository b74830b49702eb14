"""Keep auto scaling out of the way of an endpoint update that changes a scaled variant's instance type.

SageMaker refuses UpdateEndpoint when it changes the instance type of (or removes) a variant that is an
Application Auto Scaling target. Two custom resources use this module:

- ``release`` runs before the endpoint update: for each variant whose instance type changes or that is
  removed, it snapshots the scalable target (capacity, suspended state, scaling policies, scheduled actions),
  then deletes the policies and scheduled actions and deregisters the target. Its result, the snapshot, is
  an input of ``restore``, so ``restore`` runs again exactly when something was released.
- ``restore`` runs after the endpoint update: it registers each snapshotted target again, with its policies
  and scheduled actions. CloudFormation's own ScalableTarget and policies then update as usual.

Plain Python with the client passed in, so it is tested against moto without Lambda.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_TARGET = {"ServiceNamespace": NAMESPACE, "ScalableDimension": DIMENSION}
_POLICY_FIELDS = (
    "PolicyName",
    "PolicyType",
    "TargetTrackingScalingPolicyConfiguration",
    "StepScalingPolicyConfiguration",
)


def resource_id(endpoint_name: str, variant_name: str) -> str:
    """Application Auto Scaling's id of a variant."""
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def variants_to_release(old: list[dict[str, str]], new: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """(variants whose instance type changes, variants that disappear), in the old order."""
    new_types = {v["VariantName"]: v["InstanceType"] for v in new}
    changed = [
        v["VariantName"]
        for v in old
        if v["VariantName"] in new_types and new_types[v["VariantName"]] != v["InstanceType"]
    ]
    removed = [v["VariantName"] for v in old if v["VariantName"] not in new_types]
    return changed, removed


def capture(client: Any, target_id: str) -> dict[str, Any] | None:
    """The registration of ``target_id`` with its policies and scheduled actions, or None if not registered."""
    targets = client.describe_scalable_targets(ResourceIds=[target_id], **_TARGET)["ScalableTargets"]
    if not targets:
        return None
    target = targets[0]
    policies = client.describe_scaling_policies(ResourceId=target_id, **_TARGET)["ScalingPolicies"]
    actions = client.describe_scheduled_actions(ResourceId=target_id, **_TARGET)["ScheduledActions"]
    return {
        "ResourceId": target_id,
        "MinCapacity": target["MinCapacity"],
        "MaxCapacity": target["MaxCapacity"],
        "SuspendedState": target.get("SuspendedState"),
        "Policies": [{k: p[k] for k in _POLICY_FIELDS if k in p} for p in policies],
        "ScheduledActions": [_scheduled_action(a) for a in actions],
    }


def _scheduled_action(action: dict[str, Any]) -> dict[str, Any]:
    names: tuple[str, ...] = ("ScheduledActionName", "Schedule", "Timezone", "ScalableTargetAction")
    kept: dict[str, Any] = {k: action[k] for k in names if k in action}
    for key in ("StartTime", "EndTime"):
        if isinstance(action.get(key), datetime):
            kept[key] = action[key].isoformat()
    return kept


def release(client: Any, snapshot: dict[str, Any]) -> None:
    """Delete the target's policies and scheduled actions, then deregister it."""
    target_id = snapshot["ResourceId"]
    for policy in snapshot["Policies"]:
        client.delete_scaling_policy(PolicyName=policy["PolicyName"], ResourceId=target_id, **_TARGET)
    for action in snapshot["ScheduledActions"]:
        client.delete_scheduled_action(
            ScheduledActionName=action["ScheduledActionName"], ResourceId=target_id, **_TARGET
        )
    client.deregister_scalable_target(ResourceId=target_id, **_TARGET)


def restore(client: Any, snapshot: dict[str, Any]) -> None:
    """Register the target again as snapshotted, with its policies and scheduled actions."""
    target_id = snapshot["ResourceId"]
    registration: dict[str, Any] = {"MinCapacity": snapshot["MinCapacity"], "MaxCapacity": snapshot["MaxCapacity"]}
    if snapshot.get("SuspendedState"):
        registration["SuspendedState"] = snapshot["SuspendedState"]
    client.register_scalable_target(ResourceId=target_id, **_TARGET, **registration)
    for policy in snapshot["Policies"]:
        client.put_scaling_policy(ResourceId=target_id, **_TARGET, **policy)
    for action in snapshot["ScheduledActions"]:
        client.put_scheduled_action(ResourceId=target_id, **_TARGET, **action)


def on_release(client: Any, event: dict[str, Any]) -> dict[str, str]:
    """The ``release`` custom resource: returns ``{"Snapshot": ...}`` for ``restore``."""
    if event["RequestType"] != "Update":
        return {"Snapshot": "[]"}
    endpoint = event["ResourceProperties"]["EndpointName"]
    old_endpoint = event.get("OldResourceProperties", {}).get("EndpointName", endpoint)
    changed, removed = variants_to_release(
        event.get("OldResourceProperties", {}).get("Variants", []), event["ResourceProperties"].get("Variants", [])
    )
    kept = []
    for variant in changed + removed:
        snapshot = capture(client, resource_id(old_endpoint, variant))
        if snapshot is None:
            continue
        release(client, snapshot)
        if variant in changed:
            kept.append(snapshot)
    if not kept:
        return {"Snapshot": "[]"}
    # The time makes the snapshot differ from any earlier one, so that restore always runs after a release.
    return {"Snapshot": json.dumps({"releasedAt": datetime.now(UTC).isoformat(), "targets": kept}, sort_keys=True)}


def on_restore(client: Any, event: dict[str, Any]) -> dict[str, str]:
    """The ``restore`` custom resource: registers what ``release`` snapshotted."""
    if event["RequestType"] == "Delete":
        return {}
    snapshot = json.loads(event["ResourceProperties"].get("Snapshot", "[]"))
    for target in snapshot.get("targets", []) if isinstance(snapshot, dict) else []:
        restore(client, target)
    return {}
