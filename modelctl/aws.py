"""What modelctl does in AWS: find an environment's bucket and prefix, upload safely, list, invoke."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from hosting_contract import naming, ssm_paths
from hosting_contract.archive_rules import (
    ARCHIVE_SUFFIX,
    QUARANTINE_PREFIX,
    REASON_TAG,
    REJECTED,
    VALID,
    VERDICT_TAG,
    VERSION_TAG,
    check_key,
)
from hosting_contract.catalog_kinds import INFERENCE_COMPONENTS as INFERENCE_COMPONENTS
from hosting_contract.catalog_kinds import MULTI_CONTAINER as MULTI_CONTAINER
from hosting_contract.catalog_kinds import MULTI_MODEL as MULTI_MODEL
from modelctl.errors import NOT_FOUND_CODES

# Re-exported: preflight and the tests import them from here.
from modelctl.errors import ModelctlError as ModelctlError
from modelctl.errors import NotFoundError as NotFoundError
from modelctl.progress import Advance

#: What modelctl shows for an archive the guard has not judged yet.
PENDING = "pending"
#: A verdict tag the guard did not write for this version (a copy, or written before the bucket policy).
UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Target:
    """Where an endpoint's archives live, as the ModelStore publishes it (``ssm_paths.artifacts_parameter``)."""

    endpoint_name: str
    bucket: str
    prefix: str
    kms_key_arn: str
    kind: str = MULTI_MODEL
    layout: str = "flat"
    containers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Multi-container: hostname -> {"key": full key, "layout": layout}. Inference components: the same, by the
    component's configured (short) name."""

    def container(self, name: str | None, *, option: str = "--container") -> dict[str, str] | None:
        """The archive of container (or component) ``name``, given with ``option`` (``--container`` or
        ``--component``); None for a multi-model endpoint. Refuses a wrong combination."""
        if self.kind == MULTI_MODEL:
            if name is not None:
                raise ModelctlError(f"{self.endpoint_name} is a multi-model endpoint: it has no {option}")
            return None
        components = self.kind == INFERENCE_COMPONENTS
        expected, member = ("--component", "component") if components else ("--container", "container")
        known = ", ".join(sorted(self.containers)) or "none with an archive"
        if name is None or option != expected:
            raise ModelctlError(
                f"{self.endpoint_name} is {_described(self.kind)} endpoint: give {expected}, one of: {known}"
            )
        short = short_component(self.endpoint_name, name) if components else name
        if short not in self.containers:
            raise NotFoundError(f"{self.endpoint_name} has no {member} {name!r} with an archive; known: {known}")
        return self.containers[short]

    def folders(self) -> list[tuple[str | None, str]]:
        """(container or component, or None, folder) for every place archives of this endpoint go."""
        if self.kind == MULTI_MODEL:
            return [(None, self.prefix)]
        return [(h, c["key"].rsplit("/", 1)[0] + "/") for h, c in sorted(self.containers.items())]


def parameter(ssm: Any, path: str, meaning: str) -> str:
    """An SSM parameter's value; ``meaning`` says what its absence means."""
    try:
        value: str = ssm.get_parameter(Name=path)["Parameter"]["Value"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ParameterNotFound":
            raise NotFoundError(f"{meaning} (SSM parameter {path} not found)") from error
        raise
    return value


def _described(kind: str) -> str:
    """``kind`` with its article, as messages name it: "a multi-container", "an inference-component"."""
    return "an inference-component" if kind == INFERENCE_COMPONENTS else f"a {kind}"


def catalog_entry(ssm: Any, environment: str, endpoint: str) -> dict[str, Any]:
    """The artifact catalog's entry of ``endpoint`` (short or deployed name): endpoint, kind, prefix, containers."""
    name = naming.deployed_endpoint_name(environment, endpoint)
    document: dict[str, Any] = json.loads(
        parameter(
            ssm,
            ssm_paths.artifacts_parameter(environment, name),
            f"environment {environment!r} has no endpoint {name!r} (is it in the configuration, and ModelStore "
            "deployed since it was added?)",
        )
    )
    return document


def short_component(endpoint_name: str, component: str) -> str:
    """``component`` as configured: given short (``churn``) or deployed (``dev-tabular-churn``)."""
    return component.removeprefix(f"{endpoint_name}-")


def inference_component(entry: dict[str, Any], component: str | None) -> str | None:
    """The InferenceComponentName to send to the endpoint of catalog ``entry``: ``component`` as deployed
    (``<endpoint>-<component>``, whether given short or deployed), None for an endpoint of another kind.

    Refuses ``component`` on another kind, and its absence on an endpoint of inference components: InvokeEndpoint
    requires it there (Amazon SageMaker Runtime API Reference, InvokeEndpoint: InferenceComponentName).
    """
    name, kind = entry["endpoint"], entry["kind"]
    if kind != INFERENCE_COMPONENTS:
        if component is not None:
            raise ModelctlError(f"{name} is {_described(kind)} endpoint: it has no --component")
        return None
    if component is None:
        # The catalog lists the components that have an archive: those are the ones to name here.
        known = ", ".join(sorted(entry.get("containers", {}))) or "a component name of its configuration"
        raise ModelctlError(f"{name} is an inference-component endpoint: give --component, one of: {known}")
    # A component without an archive is in no catalog, so a name it does not list is not refused here.
    deployed = naming.component_name(name, short_component(name, component))
    if not naming.is_sagemaker_name(deployed):
        raise ModelctlError(
            f"--component {component!r}: {deployed!r} is no inference component name "
            f"(1-{naming.MAX_NAME} letters, digits and inner hyphens; {len(deployed)} given)"
        )
    return deployed


def inference_components(entry: dict[str, Any], components: Sequence[str]) -> list[str]:
    """Each of ``components`` as deployed (``inference_component``); at least one, none empty."""
    if not components or not all(components):
        raise ModelctlError(f"--component {','.join(components)!r}: name at least one component, none empty")
    return [inference_component(entry, c) or c for c in components]


def discover(ssm: Any, environment: str, endpoint: str) -> Target:
    """Read what the ModelStore stack publishes for ``environment`` and ``endpoint`` (no endpoint need exist)."""
    name = naming.deployed_endpoint_name(environment, endpoint)
    store = f"environment {environment!r} has no model store: is its ModelStore stack deployed?"
    bucket = parameter(ssm, ssm_paths.model_store_parameter(environment, ssm_paths.BUCKET_NAME), store)
    key_arn = parameter(ssm, ssm_paths.model_store_parameter(environment, ssm_paths.KMS_KEY_ARN), store)
    document = catalog_entry(ssm, environment, name)
    return Target(
        endpoint_name=name,
        bucket=bucket,
        kms_key_arn=key_arn,
        prefix=document["prefix"],
        kind=document["kind"],
        layout=document.get("layout", "flat"),
        containers=document.get("containers", {}),
    )


def archive_key(
    target: Target, container: str | None, target_model: str | None, file_name: str, *, option: str = "--container"
) -> str:
    """Where an upload goes: ``<prefix><TargetModel>``, or a container's (component's) configured key (or a new
    name beside it); ``container`` given with ``option``, ``--container`` or ``--component``."""
    archive = target.container(container, option=option)
    if archive is None:
        return target.prefix + (target_model or file_name)
    if target_model is None:
        return archive["key"]
    return archive["key"].rsplit("/", 1)[0] + "/" + target_model


def verdict(tags: dict[str, str] | None, version_id: str | None) -> str:
    """The guard's verdict on this version: valid, rejected, pending, or unverified (not the guard's own)."""
    if tags is None or VERDICT_TAG not in tags:
        return PENDING
    if tags.get(VERSION_TAG) != (version_id or "null"):
        return UNVERIFIED
    return tags[VERDICT_TAG]


def ensure_key_unused(s3: Any, bucket: str, key: str) -> None:
    """Refuse a key that exists or ever existed: instances that loaded it keep serving their cached copy."""
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)
    used = [v for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []) if v["Key"] == key]
    if used:
        raise ModelctlError(
            f"s3://{bucket}/{key} exists or existed: SageMaker keeps serving a cached copy of a replaced model, "
            "so upload under a new name (e.g. add a version: --as name-v2.tar.gz)"
        )


def upload(s3: Any, target: Target, archive: Path, key: str, *, progress: Advance | None = None) -> str:
    """Upload ``archive`` as ``key`` with SSE-KMS (no tags: only the guard tags under models/); returns the key.
    ``progress`` is told of each part sent (from boto3's transfer threads)."""
    ensure_key_unused(s3, target.bucket, key)
    s3.upload_file(
        str(archive),
        target.bucket,
        key,
        ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": target.kms_key_arn},
        Callback=progress,
    )
    return key


def missing(error: BaseException) -> bool:
    """Whether ``error`` is an AWS answer that what was asked for does not exist."""
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code", "") in NOT_FOUND_CODES


def tags(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    """The object's tags, or None when there is no such object."""
    try:
        tag_set = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except ClientError as error:
        if missing(error):
            return None
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def wait_for_verdict(
    s3: Any,
    bucket: str,
    key: str,
    *,
    timeout: float,
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, str] | None:
    """(verdict, reason) once the guard tagged ``key`` (or its quarantined copy); None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for candidate in (key, QUARANTINE_PREFIX + key):
            found = tags(s3, bucket, candidate)
            # A quarantined copy keeps the rejected version's tags, naming that version, not its own.
            if found and VERDICT_TAG in found and VERSION_TAG in found:
                return found[VERDICT_TAG], found.get(REASON_TAG, "")
        if time.monotonic() >= deadline:
            return None
        sleep(interval)


@dataclass(frozen=True)
class ModelRow:
    """One archive of an endpoint."""

    target_model: str
    size: int
    uploaded: datetime
    verdict: str
    container: str | None = None
    version_id: str | None = None
    key: str = ""


def list_models(s3: Any, target: Target) -> list[ModelRow]:
    """Every archive of the endpoint (under its prefix, or each container's folder) with the guard's verdict."""
    rows = []
    for container, folder in target.folders():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=folder):
            for item in page.get("Contents", []):
                if not item["Key"].endswith(ARCHIVE_SUFFIX):
                    continue
                head = s3.head_object(Bucket=target.bucket, Key=item["Key"])
                version_id = head.get("VersionId")
                rows.append(
                    ModelRow(
                        target_model=item["Key"][len(folder) :],
                        size=item["Size"],
                        uploaded=item["LastModified"],
                        verdict=verdict(tags(s3, target.bucket, item["Key"]), version_id),
                        container=container,
                        version_id=version_id,
                        key=item["Key"],
                    )
                )
    return rows


def rescan(lambda_client: Any, function: str, bucket: str, rows: list[ModelRow]) -> list[str]:
    """Ask the guard to check each archive that has no verdict of its own; returns the keys sent.

    Each is one asynchronous invocation with the event EventBridge would have delivered for that upload, so the
    guard's retries and dead-letter queue apply; the guard skips a version it already judged (idempotent).
    """
    sent = []
    for row in rows:
        if row.verdict in (VALID, REJECTED):
            continue
        event = {
            "source": "modelctl.rescan",
            "detail-type": "Object Created",
            "detail": {
                "bucket": {"name": bucket},
                "object": {"key": row.key, **({"version-id": row.version_id} if row.version_id else {})},
            },
        }
        lambda_client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())
        sent.append(row.key)
    return sent


def invoke(
    runtime: Any,
    endpoint: str,
    body: bytes,
    content_type: str,
    *,
    target_model: str | None = None,
    target_container: str | None = None,
    inference_component: str | None = None,
    accept: str | None = None,
) -> bytes:
    """One InvokeEndpoint call; returns the response body. ``inference_component``: the deployed name."""
    arguments: dict[str, Any] = {"EndpointName": endpoint, "Body": body, "ContentType": content_type}
    if target_model:
        arguments["TargetModel"] = target_model
    if target_container:
        arguments["TargetContainerHostname"] = target_container
    if inference_component:
        arguments["InferenceComponentName"] = inference_component
    if accept:
        arguments["Accept"] = accept
    response = runtime.invoke_endpoint(**arguments)
    data: bytes = response["Body"].read()
    return data


@dataclass(frozen=True)
class Retirement:
    """A model taken out of service: the version that was current, hidden by a delete marker."""

    bucket: str
    key: str
    version_id: str
    """The retired version: kept, noncurrent (the bucket's lifecycle expires it after its noncurrent days)."""
    marker_version_id: str | None
    """The delete marker that hides it (None on a dry run): deleting the marker restores the model."""

    def restore_command(self, region: str | None) -> str:
        """The AWS CLI command that makes the retired version current again (with its guard verdict)."""
        marker = self.marker_version_id or "<the delete marker's version id>"
        command = f"aws s3api delete-object --bucket {self.bucket} --key {self.key} --version-id {marker}"
        return command + (f" --region {region}" if region else "")


def retire(s3: Any, target: Target, model: str, *, dry_run: bool = False) -> Retirement:
    """Hide the current version of TargetModel ``model`` behind a delete marker; no version is destroyed.

    Refuses anything but a multi-model endpoint's TargetModel, a bucket without versioning enabled (a delete
    there removes the bytes), and a model that is not there.
    """
    if target.kind != MULTI_MODEL:
        raise ModelctlError(
            f"{target.endpoint_name} is {_described(target.kind)} endpoint: retire takes a model of a multi-model "
            "endpoint; a container's or component's archive is named by the configuration (change it there, "
            "then deploy)"
        )
    key = target.prefix + model
    problems = check_key(key, target.prefix)
    if "/" in model or problems:
        reason = "; ".join(str(p) for p in problems) or "a TargetModel names an archive right under the prefix"
        raise ModelctlError(f"--model {model!r}: {reason}")
    status = s3.get_bucket_versioning(Bucket=target.bucket).get("Status")
    if status != "Enabled":
        raise ModelctlError(
            f"s3://{target.bucket} has versioning {status or 'never enabled'}: a delete would destroy the archive, "
            "so modelctl retires models only in a versioned bucket (the ModelStore stack's bucket is one)"
        )
    try:
        head = s3.head_object(Bucket=target.bucket, Key=key)
    except ClientError as error:
        if not missing(error):
            raise
        raise NotFoundError(
            f"s3://{target.bucket}/{key} is not there: already retired, or never uploaded "
            f"(modelctl list --env ... --endpoint {target.endpoint_name} shows what is)"
        ) from error
    version_id = head.get("VersionId") or "null"
    if dry_run:
        return Retirement(bucket=target.bucket, key=key, version_id=version_id, marker_version_id=None)
    # No VersionId: in a versioned bucket S3 adds a delete marker and keeps every version (S3 User Guide,
    # "Deleting object versions from a versioning-enabled bucket").
    response = s3.delete_object(Bucket=target.bucket, Key=key)
    if not response.get("DeleteMarker"):
        raise ModelctlError(f"S3 deleted s3://{target.bucket}/{key} without a delete marker: check its versions")
    return Retirement(bucket=target.bucket, key=key, version_id=version_id, marker_version_id=response.get("VersionId"))
