"""Keep auto scaling out of the way of an endpoint update that changes a scaled variant's instance type.

SageMaker refuses UpdateEndpoint when it changes the instance type of (or removes) a variant that is an
Application Auto Scaling target ("Update endpoints that use auto scaling", Amazon SageMaker AI Developer
Guide: delete the policies and deregister the target before the update, register again after it). Two custom
resources use this module, ``release`` ordered before the endpoint and ``restore`` after it.

Two primitives, both idempotent (CloudFormation may send a request again):

- *release* a transition from variants A to variants B: for each variant of A whose instance type changes or
  that B drops, write a snapshot of its scalable target (capacity, suspended state, scaling policies,
  scheduled actions) to an SSM parameter, and only then delete the policies and scheduled actions and
  deregister the target. A variant that is not registered keeps the snapshot stored earlier, if any: that is
  a repeated request whose first delivery already released it.
- *restore* variants B: apply every stored snapshot of a variant of B (register, put policies, put scheduled
  actions: all upserts, so a half-finished earlier restore is completed), then delete those snapshots.

The snapshots live in SSM because a custom resource's response ``Data`` is in no later request (and is
limited, with the whole response, to 4096 bytes): a rollback request carries no earlier answer, and after a
later failure the resource that must register again (``release``) is not the one that released last
(``restore``). ``release``'s ``Data`` is only a short token that changes ``restore``'s properties, so that
``restore`` runs after every release.

CloudFormation rolls a failed update back by sending each updated custom resource a second ``Update`` with
``ResourceProperties`` and ``OldResourceProperties`` swapped; only the stack's status (DescribeStacks) tells it
from a forward update. The rollback updates dependents before what they depend on (the reverse of the update:
``restore``, the endpoint, ``release``), so the roles swap; this module relies on that order:

- ``release``, forward: release old -> new, and delete the endpoint's other (stale) snapshots;
- ``restore``, forward: restore the new variants;
- ``restore``, rollback (before the endpoint goes back, which SageMaker would refuse otherwise): release
  new -> old, from what is registered now;
- ``release``, rollback (after the endpoint went back): restore the old variants, then delete every snapshot
  of the endpoint.

Plain Python with the clients passed in, so it is tested against moto without Lambda.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import cfn_response
from botocore.exceptions import ClientError

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_TARGET = {"ServiceNamespace": NAMESPACE, "ScalableDimension": DIMENSION}
_POLICY_FIELDS = (
    "PolicyName",
    "PolicyType",
    "TargetTrackingScalingPolicyConfiguration",
    "StepScalingPolicyConfiguration",
)
#: ``release``'s token when it released nothing.
NOTHING_RELEASED = "none"
#: SSM's limit on an advanced parameter's value; Intelligent-Tiering stores smaller ones as standard (4 KB).
MAX_SNAPSHOT_BYTES = 8192


class SnapshotTooLargeError(ValueError):
    """A snapshot does not fit in an SSM parameter (nothing was released)."""


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


class SnapshotStore:
    """Snapshots as SSM parameters ``<root>/scaling-guard/<endpoint>/<variant>`` (String, Intelligent-Tiering)."""

    def __init__(self, ssm: Any, root: str) -> None:
        """Keep snapshots under ``root`` (starts with '/', no trailing '/') with the ``ssm`` client."""
        self.ssm = ssm
        self.root = root

    def path(self, endpoint_name: str) -> str:
        """The folder of an endpoint's snapshots."""
        return f"{self.root}/scaling-guard/{endpoint_name}"

    def put(self, endpoint_name: str, variant_name: str, snapshot: dict[str, Any]) -> None:
        """Store (or replace) a variant's snapshot; refused before anything is released if it cannot fit."""
        value = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
        if len(value.encode()) > MAX_SNAPSHOT_BYTES:
            raise SnapshotTooLargeError(
                f"the snapshot of {snapshot['ResourceId']} is {len(value.encode())} bytes; an SSM parameter holds "
                f"at most {MAX_SNAPSHOT_BYTES}: deregister it by hand before the update"
            )
        # Intelligent-Tiering: a standard (free) parameter up to 4 KB, advanced above, without choosing here.
        self.ssm.put_parameter(
            Name=f"{self.path(endpoint_name)}/{variant_name}",
            Value=value,
            Type="String",
            Tier="Intelligent-Tiering",
            Overwrite=True,
            Description="Scaling guard: a released scalable target, to register again (removed once restored)",
        )

    def get(self, endpoint_name: str, variant_name: str) -> dict[str, Any] | None:
        """A variant's stored snapshot, or None."""
        try:
            value = self.ssm.get_parameter(Name=f"{self.path(endpoint_name)}/{variant_name}")["Parameter"]["Value"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise
        snapshot: dict[str, Any] = json.loads(value)
        return snapshot

    def variants(self, endpoint_name: str) -> list[str]:
        """The variants of an endpoint that have a stored snapshot."""
        names: list[str] = []
        request: dict[str, Any] = {"Path": self.path(endpoint_name), "Recursive": False}
        while True:
            page = self.ssm.get_parameters_by_path(**request)
            names += [p["Name"].rsplit("/", 1)[-1] for p in page.get("Parameters", [])]
            if not page.get("NextToken"):
                return sorted(names)
            request["NextToken"] = page["NextToken"]

    def delete(self, endpoint_name: str, variant_name: str) -> None:
        """Remove a variant's snapshot (absent already is fine: requests may repeat)."""
        try:
            self.ssm.delete_parameter(Name=f"{self.path(endpoint_name)}/{variant_name}")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
                raise


def _pages(call: Any, key: str, **request: Any) -> list[dict[str, Any]]:
    """Every item of a paginated Application Auto Scaling describe call."""
    items: list[dict[str, Any]] = []
    while True:
        page = call(**request)
        items += page[key]
        if not page.get("NextToken"):
            return items
        request["NextToken"] = page["NextToken"]


def capture(client: Any, target_id: str) -> dict[str, Any] | None:
    """The registration of ``target_id`` with its policies and scheduled actions, or None if not registered."""
    targets = client.describe_scalable_targets(ResourceIds=[target_id], **_TARGET)["ScalableTargets"]
    if not targets:
        return None
    target = targets[0]
    policies = _pages(client.describe_scaling_policies, "ScalingPolicies", ResourceId=target_id, **_TARGET)
    actions = _pages(client.describe_scheduled_actions, "ScheduledActions", ResourceId=target_id, **_TARGET)
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
    """Register the target as snapshotted, with its policies and scheduled actions (upserts: safe to repeat)."""
    target_id = snapshot["ResourceId"]
    registration: dict[str, Any] = {"MinCapacity": snapshot["MinCapacity"], "MaxCapacity": snapshot["MaxCapacity"]}
    if snapshot.get("SuspendedState"):
        registration["SuspendedState"] = snapshot["SuspendedState"]
    client.register_scalable_target(ResourceId=target_id, **_TARGET, **registration)
    for policy in snapshot["Policies"]:
        client.put_scaling_policy(ResourceId=target_id, **_TARGET, **policy)
    for action in snapshot["ScheduledActions"]:
        client.put_scheduled_action(ResourceId=target_id, **_TARGET, **action)


def release_transition(
    client: Any, store: SnapshotStore, old: dict[str, Any], new: dict[str, Any], *, clear_stale: bool = False
) -> list[str]:
    """Release the variants of ``old`` that ``new`` changes or drops; the names of those released.

    :param clear_stale: also delete the endpoint's other snapshots: left over from an update that completed,
        they must not be restored by a later rollback.
    """
    endpoint = old.get("EndpointName") or new["EndpointName"]
    changed, removed = variants_to_release(old.get("Variants", []), new.get("Variants", []))
    if clear_stale:
        for variant in store.variants(endpoint):
            if variant not in changed + removed:
                store.delete(endpoint, variant)
    released = []
    for variant in changed + removed:
        snapshot = capture(client, resource_id(endpoint, variant))
        if snapshot is None:
            # Not registered: never scaled, or released by an earlier delivery of this request (snapshot stored).
            if store.get(endpoint, variant) is not None:
                released.append(variant)
            continue
        store.put(endpoint, variant, snapshot)  # durable before anything is deleted
        release(client, snapshot)
        released.append(variant)
    return released


def restore_variants(client: Any, store: SnapshotStore, properties: dict[str, Any]) -> list[str]:
    """Apply the stored snapshot of each variant of ``properties``, then delete those; the names restored."""
    endpoint = properties["EndpointName"]
    restored = []
    for variant in [v["VariantName"] for v in properties.get("Variants", [])]:
        snapshot = store.get(endpoint, variant)
        if snapshot is not None:
            restore(client, snapshot)
            restored.append(variant)
    # Only once every one is registered: a failure leaves all snapshots for the retry (or the rollback).
    for variant in restored:
        store.delete(endpoint, variant)
    return restored


def token(released: list[str]) -> str:
    """``release``'s answer: short whatever the variants, and new after every release (so ``restore`` runs)."""
    if not released:
        return NOTHING_RELEASED
    digest = hashlib.sha256(",".join(sorted(released)).encode()).hexdigest()[:12]
    return f"{len(released)} released {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {digest}"


def on_release(client: Any, store: SnapshotStore, cloudformation: Any, event: dict[str, Any]) -> dict[str, str]:
    """The ``release`` custom resource: returns ``{"Snapshot": <token>}`` for ``restore``'s properties."""
    properties = event["ResourceProperties"]
    if event["RequestType"] == "Delete":
        # The guard is gone (or the stack): nothing will restore these any more.
        for variant in store.variants(properties["EndpointName"]):
            store.delete(properties["EndpointName"], variant)
        return {}
    if event["RequestType"] != "Update":
        return {"Snapshot": NOTHING_RELEASED}
    old = event.get("OldResourceProperties", {})
    if cfn_response.is_rolling_back(cloudformation, event):
        # The endpoint is back on the old variants (``properties``): register what was released, by this
        # resource's forward update or by ``restore``'s rollback, then forget every snapshot of the endpoint.
        restore_variants(client, store, properties)
        for endpoint in {properties["EndpointName"], old.get("EndpointName") or properties["EndpointName"]}:
            for variant in store.variants(endpoint):
                store.delete(endpoint, variant)
        return {"Snapshot": NOTHING_RELEASED}
    return {"Snapshot": token(release_transition(client, store, old, properties, clear_stale=True))}


def on_restore(client: Any, store: SnapshotStore, cloudformation: Any, event: dict[str, Any]) -> dict[str, str]:
    """The ``restore`` custom resource: registers what ``release`` released (forward), releases it (rollback)."""
    if event["RequestType"] != "Update":
        return {}
    properties = event["ResourceProperties"]
    if cfn_response.is_rolling_back(cloudformation, event):
        # The endpoint is about to go back from ``OldResourceProperties`` (what this resource restored) to
        # ``properties``: SageMaker refuses that while the variants are scalable targets.
        release_transition(client, store, event.get("OldResourceProperties", {}), properties)
        return {}
    restore_variants(client, store, properties)
    return {}
