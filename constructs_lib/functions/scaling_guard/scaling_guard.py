"""Keep auto scaling out of the way of an endpoint update that changes a scaled variant's instance type.

SageMaker refuses UpdateEndpoint when it changes the instance type of (or removes) a variant that is an
Application Auto Scaling target ("Update endpoints that use auto scaling", Amazon SageMaker AI Developer
Guide: delete the policies and deregister the target before the update, register again after it). Two custom
resources use this module, ``release`` ordered before the endpoint and ``restore`` after it.

Three primitives, all idempotent (CloudFormation may send a request again, and ContinueUpdateRollback retries a
rollback request that failed):

- *release* a variant: write a snapshot of its scalable target (capacity, suspended state, scaling policies,
  scheduled actions) to an SSM parameter, and only then delete the policies and scheduled actions and
  deregister the target. A variant that is not registered keeps the snapshot stored earlier, if any: a
  repeated request whose first delivery already released it.
- *restore* a variant: apply its stored snapshot (register, put policies, put scheduled actions: all upserts,
  so a half-finished earlier restore or release is completed), and delete the snapshot only once the target
  is registered again.
- *reconcile* a variant during a rollback, from the live endpoint (below).

The snapshots live in SSM because a custom resource's response ``Data`` is in no later request (and is
limited, with the whole response, to 4096 bytes): a rollback request carries no earlier answer, and the
resource that registers again is not always the one that released. ``release``'s ``Data`` is only a short token
that changes ``restore``'s properties, so that ``restore`` runs after every release.

Forward (an ``Update`` while the stack is not rolling back): ``release`` releases the variants of the old
properties whose instance type changes or that the new ones drop, and deletes the endpoint's other (stale)
snapshots; after the endpoint update, ``restore`` restores the new variants.

Rollback. CloudFormation rolls a failed update back by sending each updated custom resource a second
``Update`` with ``ResourceProperties`` (now: the properties the stack goes back to, the *target*) and
``OldResourceProperties`` (the failed update's) swapped; only the stack's status (DescribeStacks,
``UPDATE_ROLLBACK_IN_PROGRESS``) tells it from a forward update. AWS does not document in which order the
rollback processes ``release``, the endpoint and ``restore``, so nothing here depends on it: both resources
run the same *reconcile*, which decides from what the endpoint runs now (DescribeEndpoint's
``EndpointConfigName``, then DescribeEndpointConfig's ``ProductionVariants[].InstanceType``, Amazon SageMaker
API Reference) for each variant of the target and of the failed update:

- the endpoint runs another instance type than the target's, or runs a variant the target does not have:
  the endpoint has not gone back yet, so release the variant (SageMaker would refuse the endpoint's rollback
  otherwise). A snapshot stored earlier is kept rather than replaced: it was taken before anything was
  deleted, while the registration may be a half-finished release or restore;
- the endpoint runs the target's instance type (it went back, or never changed because its update failed):
  restore the variant from its snapshot, if one is stored;
- the endpoint does not run the variant and the target does not have it: nothing will register it again,
  so its snapshot (if any) is deleted; a variant only the target has is left for after the endpoint's rollback.

Whatever the order, the endpoint's rollback comes between the two resources' requests: the one before it
releases, the one after it restores. A snapshot is deleted only once its target is registered again (or when
the variant is gone for good), so a failure at any step leaves what a retry needs.

One case remains that no order-independent request handling can cover: when the stack failed after the
endpoint update but before ``restore`` was updated, only ``release`` gets a rollback request. If CloudFormation
sends it after the endpoint's rollback it restores; if before, it releases (marking the snapshot) and no request
restores afterwards: ``after_rollback`` does, on the stack's UPDATE_ROLLBACK_COMPLETE event.

Sources: "Update endpoints that use auto scaling" (Amazon SageMaker AI Developer Guide); custom resource
``Update`` requests and their rollback ("Update request for CloudFormation custom resources", AWS CloudFormation
User Guide; aws-cdk docs/CLOUDFORMATION.md, "Custom Resources": "ResourceProperties=OLD and
OldResourceProperties=NEW"); DescribeStacks ``StackStatus`` (AWS CloudFormation API Reference); DescribeEndpoint
and DescribeEndpointConfig (Amazon SageMaker API Reference). The rollback's order of updates is not documented.

Plain Python with the clients passed in, so it is tested against moto without Lambda.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import cfn_response
from botocore.exceptions import ClientError

from hosting_contract import ssm_paths

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_TARGET = {"ServiceNamespace": NAMESPACE, "ScalableDimension": DIMENSION}
#: Set in a snapshot that a rollback released before the endpoint's own rollback (see ``after_rollback``).
RELEASED_IN_ROLLBACK = "ReleasedInRollback"
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
        return ssm_paths.endpoint_snapshots_path(self.root, endpoint_name)

    def put(self, endpoint_name: str, variant_name: str, snapshot: dict[str, Any]) -> None:
        """Store (or replace) a variant's snapshot; refused before anything is released if it cannot fit."""
        value = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
        # Room for the rollback's mark too: marking a snapshot later must never fail on its size.
        marked = json.dumps({**snapshot, RELEASED_IN_ROLLBACK: True}, sort_keys=True, separators=(",", ":"))
        if len(marked.encode()) > MAX_SNAPSHOT_BYTES:
            raise SnapshotTooLargeError(
                f"the snapshot of {snapshot['ResourceId']} is {len(value.encode())} bytes; an SSM parameter holds "
                f"at most {MAX_SNAPSHOT_BYTES}: deregister it by hand before the update"
            )
        # Intelligent-Tiering: a standard (free) parameter up to 4 KB, advanced above, without choosing here.
        self.ssm.put_parameter(
            Name=ssm_paths.snapshot_parameter(self.root, endpoint_name, variant_name),
            Value=value,
            Type="String",
            Tier="Intelligent-Tiering",
            Overwrite=True,
            Description="Scaling guard: a released scalable target, to register again (removed once restored)",
        )

    def get(self, endpoint_name: str, variant_name: str) -> dict[str, Any] | None:
        """A variant's stored snapshot, or None."""
        try:
            name = ssm_paths.snapshot_parameter(self.root, endpoint_name, variant_name)
            value = self.ssm.get_parameter(Name=name)["Parameter"]["Value"]
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
            self.ssm.delete_parameter(Name=ssm_paths.snapshot_parameter(self.root, endpoint_name, variant_name))
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


def _delete(call: Any, **request: Any) -> None:
    """``call(**request)``, a delete, done as well when there is nothing left to delete.

    botocore retries a call whose answer timed out (handler.CONFIG): a delete that succeeded the first time then
    finds nothing, which Application Auto Scaling answers with ObjectNotFoundException (API Reference:
    DeleteScalingPolicy, DeleteScheduledAction, DeregisterScalableTarget).
    """
    try:
        call(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ObjectNotFoundException":
            raise


def release(client: Any, snapshot: dict[str, Any]) -> None:
    """Delete the target's policies and scheduled actions, then deregister it (what is already gone is done)."""
    target_id = snapshot["ResourceId"]
    for policy in snapshot["Policies"]:
        _delete(client.delete_scaling_policy, PolicyName=policy["PolicyName"], ResourceId=target_id, **_TARGET)
    for action in snapshot["ScheduledActions"]:
        _delete(
            client.delete_scheduled_action,
            ScheduledActionName=action["ScheduledActionName"],
            ResourceId=target_id,
            **_TARGET,
        )
    _delete(client.deregister_scalable_target, ResourceId=target_id, **_TARGET)


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


def release_variant(
    client: Any, store: SnapshotStore, endpoint: str, variant: str, *, keep_stored: bool, in_rollback: bool = False
) -> bool:
    """Release ``variant`` of ``endpoint`` if it is registered, its snapshot durable first; True if it is released.

    :param keep_stored: keep a snapshot stored earlier instead of replacing it with what is registered now.
        During a rollback the stored one was taken before anything was deleted, while the registration may be
        a half-finished release or restore of it.
    :param in_rollback: a rollback releases it before the endpoint's own rollback: the snapshot is marked
        (``RELEASED_IN_ROLLBACK``) for ``after_rollback``. A forward release clears the mark: the update takes
        the snapshot over.
    """
    snapshot = capture(client, resource_id(endpoint, variant))
    stored = store.get(endpoint, variant)
    if snapshot is None:
        # Not registered: never scaled, or released by an earlier delivery of this request (snapshot stored).
        if stored is not None:
            _put_if_changed(store, endpoint, variant, stored, _with_mark(stored, in_rollback))
        return stored is not None
    kept = stored if keep_stored and stored is not None else snapshot
    _put_if_changed(store, endpoint, variant, stored, _with_mark(kept, in_rollback))  # durable before any delete
    release(client, snapshot)
    return True


def _with_mark(snapshot: dict[str, Any], marked: bool) -> dict[str, Any]:
    unmarked = {k: v for k, v in snapshot.items() if k != RELEASED_IN_ROLLBACK}
    return {**unmarked, RELEASED_IN_ROLLBACK: True} if marked else unmarked


def _put_if_changed(
    store: SnapshotStore, endpoint: str, variant: str, stored: dict[str, Any] | None, wanted: dict[str, Any]
) -> None:
    if wanted != stored:
        store.put(endpoint, variant, wanted)


def restore_stored(client: Any, store: SnapshotStore, endpoint: str, variants: list[str]) -> list[str]:
    """Apply the stored snapshot of each of ``variants`` of ``endpoint``, then delete those; the names restored."""
    restored = []
    for variant in variants:
        snapshot = store.get(endpoint, variant)
        if snapshot is not None:
            restore(client, snapshot)
            restored.append(variant)
    # Only once every one is registered: a failure leaves all snapshots for the retry (or the rollback).
    for variant in restored:
        store.delete(endpoint, variant)
    return restored


def release_transition(
    client: Any,
    store: SnapshotStore,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    clear_stale: bool = False,
    running: dict[str, str] | None = None,
) -> list[str]:
    """Release the variants of ``old`` that ``new`` changes or drops; the names of those released.

    :param clear_stale: also delete the endpoint's other snapshots: left over from an update that completed,
        they must not be restored by a later rollback.
    :param running: what the endpoint runs now (``running_instance_types``), to leave alone a variant it already
        runs as ``new`` says (or no longer runs): the request was delivered again after the endpoint's update
        (Lambda may deliver an asynchronous event more than once), and Restore may have registered the variant
        again already, which a release now would undo for good.
    """
    endpoint = old.get("EndpointName") or new["EndpointName"]
    changed, removed = variants_to_release(old.get("Variants", []), new.get("Variants", []))
    if clear_stale:
        for variant in store.variants(endpoint):
            if variant not in changed + removed:
                store.delete(endpoint, variant)
    if running is not None:
        new_types = {v["VariantName"]: v["InstanceType"] for v in new.get("Variants", [])}
        changed = [v for v in changed if running.get(v) != new_types[v]]
        removed = [v for v in removed if v in running]
    return [v for v in changed + removed if release_variant(client, store, endpoint, v, keep_stored=False)]


def restore_variants(client: Any, store: SnapshotStore, properties: dict[str, Any]) -> list[str]:
    """Apply the stored snapshot of each variant of ``properties``, then delete those; the names restored."""
    variants = [v["VariantName"] for v in properties.get("Variants", [])]
    return restore_stored(client, store, properties["EndpointName"], variants)


def _endpoint_missing(error: ClientError) -> bool:
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationException" and "Could not find endpoint" in details.get("Message", "")


def running_instance_types(sagemaker: Any, endpoint_name: str) -> dict[str, str]:
    """The instance type of each variant the endpoint runs now ({} if there is no such endpoint).

    DescribeEndpoint names the endpoint config in use, whose ProductionVariants hold the instance types; a
    serverless variant has none ("").
    """
    try:
        config_name = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
    except ClientError as error:
        if _endpoint_missing(error):
            return {}
        raise
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    return {v["VariantName"]: v.get("InstanceType", "") for v in config.get("ProductionVariants", [])}


def reconcile(
    client: Any, store: SnapshotStore, sagemaker: Any, target: dict[str, Any], failed: dict[str, Any]
) -> dict[str, list[str]]:
    """A rollback's step for both resources: release or restore each variant as the live endpoint requires.

    :param target: the properties the rollback goes back to (the request's ``ResourceProperties``).
    :param failed: the failed update's properties (the request's ``OldResourceProperties``).
    :returns: the variants released, restored, and forgotten (snapshot deleted: gone for good).
    """
    # The variants are the target endpoint's: a failed update that renamed the endpoint created another one,
    # which CloudFormation deletes, and the target endpoint itself was never updated.
    endpoint = target.get("EndpointName") or failed["EndpointName"]
    goal = {v["VariantName"]: v["InstanceType"] for v in target.get("Variants", [])}
    variants = list(dict.fromkeys([*goal, *(v["VariantName"] for v in failed.get("Variants", []))]))
    running = running_instance_types(sagemaker, endpoint)
    released, back, gone = [], [], []
    for variant in variants:
        now = running.get(variant)
        if now is not None and now != goal.get(variant):
            # The endpoint has not gone back yet: SageMaker would refuse its rollback while this is registered.
            # If no request runs after the endpoint's rollback, the end of the rollback registers it (after_rollback).
            if release_variant(client, store, endpoint, variant, keep_stored=True, in_rollback=True):
                released.append(variant)
        elif now is not None:
            back.append(variant)  # runs the target's instance type: register it again
        elif variant not in goal:
            gone.append(variant)  # neither runs nor will after the rollback
        # else: only the target has it; the endpoint's rollback brings it back, and the other resource restores.
    restored = restore_stored(client, store, endpoint, back)
    for variant in gone:
        store.delete(endpoint, variant)
    return {"released": released, "restored": restored, "forgotten": gone}


#: The stack status that ends a rollback (AWS CloudFormation User Guide, "Stack status codes").
ROLLED_BACK = "UPDATE_ROLLBACK_COMPLETE"


def after_rollback(client: Any, store: SnapshotStore, sagemaker: Any, endpoints: list[str]) -> dict[str, list[str]]:
    """Once the stack has rolled back: register again each variant a rollback released and left released.

    The one case the custom resources cannot settle: the stack failed after the endpoint update but before
    ``restore`` ran, and CloudFormation rolled ``release`` back before the endpoint. ``release`` then found the
    endpoint still on the new type, released the variant and marked its snapshot (``reconcile``); the endpoint
    went back to its old type, and nothing ran after it. Only such marked snapshots are registered, of variants
    the endpoint runs and that are unregistered: a snapshot left by a forward update (a variant whose scaling was
    removed) or stored by the next update (already under way) is not this rollback's to settle.

    :param endpoints: the endpoints of this stack (the snapshot folder is shared by the environment's stacks).
    :returns: the variants registered again, by endpoint.
    """
    restored: dict[str, list[str]] = {}
    for endpoint in endpoints:
        marked = [v for v in store.variants(endpoint) if (store.get(endpoint, v) or {}).get(RELEASED_IN_ROLLBACK)]
        if not marked:
            continue
        running = running_instance_types(sagemaker, endpoint)
        waiting = [v for v in marked if v in running and capture(client, resource_id(endpoint, v)) is None]
        done = restore_stored(client, store, endpoint, waiting)
        if done:
            restored[endpoint] = done
        # The mark is this rollback's: a snapshot it did not need (registered already, or of a variant the endpoint
        # does not run) must not register anything after a later, unrelated rollback.
        for variant in marked:
            if variant not in done:
                store.delete(endpoint, variant)
    return restored


def on_stack_status(
    client: Any, store: SnapshotStore, cloudformation: Any, sagemaker: Any, event: dict[str, Any], endpoints: list[str]
) -> dict[str, list[str]]:
    """EventBridge's "CloudFormation Stack Status Change" for this stack: ``after_rollback`` once it rolled back.

    The status is read again (DescribeStacks): an event may arrive late, after another update has started and
    released variants on purpose; only a stack still in ``ROLLED_BACK`` is settled.
    """
    stack_id = event["detail"]["stack-id"]
    stacks = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    if not stacks or stacks[0]["StackStatus"] != ROLLED_BACK:
        return {}
    return after_rollback(client, store, sagemaker, endpoints)


def token(released: list[str]) -> str:
    """``release``'s answer: short whatever the variants, and new after every release (so ``restore`` runs)."""
    if not released:
        return NOTHING_RELEASED
    digest = hashlib.sha256(",".join(sorted(released)).encode()).hexdigest()[:12]
    return f"{len(released)} released {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {digest}"


def on_release(
    client: Any, store: SnapshotStore, cloudformation: Any, sagemaker: Any, event: dict[str, Any]
) -> dict[str, str]:
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
    phase = _update_phase(cloudformation, event)
    if phase == cfn_response.ROLLBACK:
        reconcile(client, store, sagemaker, properties, old)
    if phase != cfn_response.FORWARD:
        return {"Snapshot": NOTHING_RELEASED}
    running = running_instance_types(sagemaker, properties["EndpointName"])
    return {"Snapshot": token(release_transition(client, store, old, properties, clear_stale=True, running=running))}


def on_restore(
    client: Any, store: SnapshotStore, cloudformation: Any, sagemaker: Any, event: dict[str, Any]
) -> dict[str, str]:
    """The ``restore`` custom resource: registers what ``release`` released (forward), reconciles (rollback)."""
    if event["RequestType"] != "Update":
        return {}
    properties = event["ResourceProperties"]
    phase = _update_phase(cloudformation, event)
    if phase == cfn_response.ROLLBACK:
        reconcile(client, store, sagemaker, properties, event.get("OldResourceProperties", {}))
    if phase == cfn_response.FORWARD:
        restore_variants(client, store, properties)
    return {}


def _update_phase(cloudformation: Any, event: dict[str, Any]) -> str:
    """``cfn_response.update_phase`` of the request's stack; a stale request is logged, and nothing is done with
    it: acting on it would release a variant that nothing restores any more (a rollback's request, read after the
    rollback completed, would look like a forward one)."""
    status = cfn_response.stack_status(cloudformation, event)
    phase = cfn_response.update_phase(status)
    if phase == cfn_response.STALE:
        logging.warning(
            "%s of %s arrived while the stack is %s, not updating: ignored",
            event["ResourceProperties"].get("Action", "request"),
            event["ResourceProperties"].get("EndpointName"),
            status or "gone",
        )
    return phase
