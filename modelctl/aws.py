"""What modelctl does in AWS: find an environment's bucket and prefix, upload safely, list, invoke."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from modelctl.archive_rules import QUARANTINE_PREFIX, REASON_TAG, VERDICT_TAG

SSM_ROOT = "/sagemaker-hosting"


class ModelctlError(Exception):
    """A user-facing error: printed as one line, never as a traceback."""


@dataclass(frozen=True)
class Target:
    """Where an endpoint's models live."""

    endpoint_name: str
    bucket: str
    prefix: str
    kms_key_arn: str


def endpoint_name(environment: str, endpoint: str) -> str:
    """Accept the short name (``home-values``) or the deployed one (``dev-home-values``)."""
    return endpoint if endpoint.startswith(f"{environment}-") else f"{environment}-{endpoint}"


def discover(ssm: Any, environment: str, endpoint: str) -> Target:
    """Read the SSM parameters the stacks publish for ``environment`` and ``endpoint``."""
    name = endpoint_name(environment, endpoint)
    root = f"{SSM_ROOT}/{environment}"

    def parameter(path: str, what: str) -> str:
        try:
            value: str = ssm.get_parameter(Name=path)["Parameter"]["Value"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ParameterNotFound":
                raise ModelctlError(
                    f"environment {environment!r} has no {what} (SSM parameter {path} not found)"
                ) from error
            raise
        return value

    return Target(
        endpoint_name=name,
        bucket=parameter(f"{root}/model-store/bucket-name", "model store: is ModelStore deployed?"),
        kms_key_arn=parameter(f"{root}/model-store/kms-key-arn", "model-store key"),
        prefix=parameter(f"{root}/endpoints/{name}/prefix", f"endpoint {name!r}: is Hosting deployed?"),
    )


def ensure_key_unused(s3: Any, bucket: str, key: str) -> None:
    """Refuse a key that exists or ever existed: instances that loaded it keep serving their cached copy."""
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)
    used = [v for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []) if v["Key"] == key]
    if used:
        raise ModelctlError(
            f"s3://{bucket}/{key} exists or existed: SageMaker keeps serving a cached copy of a replaced model, "
            "so upload under a new name (e.g. add a version: --as name-v2.tar.gz)"
        )


def upload(s3: Any, target: Target, archive: Path, target_model: str) -> str:
    """Upload ``archive`` as ``<prefix><target_model>`` with SSE-KMS; returns the key."""
    key = target.prefix + target_model
    ensure_key_unused(s3, target.bucket, key)
    s3.upload_file(
        str(archive),
        target.bucket,
        key,
        ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": target.kms_key_arn},
    )
    return key


def tags(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    """The object's tags, or None when there is no such object."""
    try:
        tag_set = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404", "NoSuchVersion"):
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
            if found and VERDICT_TAG in found:
                return found[VERDICT_TAG], found.get(REASON_TAG, "")
        if time.monotonic() >= deadline:
            return None
        sleep(interval)


@dataclass(frozen=True)
class ModelRow:
    """One model under a prefix."""

    target_model: str
    size: int
    uploaded: datetime
    verdict: str


def list_models(s3: Any, target: Target) -> list[ModelRow]:
    """Every archive under the endpoint's prefix, with the guard's verdict (``pending`` before it)."""
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".tar.gz"):
                continue
            found = tags(s3, target.bucket, item["Key"]) or {}
            rows.append(
                ModelRow(
                    target_model=item["Key"][len(target.prefix) :],
                    size=item["Size"],
                    uploaded=item["LastModified"],
                    verdict=found.get(VERDICT_TAG, "pending"),
                )
            )
    return rows


def invoke(
    runtime: Any,
    endpoint: str,
    body: bytes,
    content_type: str,
    *,
    target_model: str | None = None,
    target_container: str | None = None,
    accept: str | None = None,
) -> bytes:
    """One InvokeEndpoint call; returns the response body."""
    arguments: dict[str, Any] = {"EndpointName": endpoint, "Body": body, "ContentType": content_type}
    if target_model:
        arguments["TargetModel"] = target_model
    if target_container:
        arguments["TargetContainerHostname"] = target_container
    if accept:
        arguments["Accept"] = accept
    response = runtime.invoke_endpoint(**arguments)
    data: bytes = response["Body"].read()
    return data
