"""The artifact guard: check every archive uploaded under a served prefix, tag it, quarantine rejects.

Plain Python with clients passed in (tested against moto). Idempotent: it works on the event's object
version, skips a version that already carries its own verdict, and removes a rejected archive from the
served prefix only while that version is still the current one (a newer upload has its own event). Nothing
is deleted outright: removal leaves a delete marker and the bucket keeps every version.

A verdict is the guard's own only if it names the version it judged (``guard-version``): S3 assigns version
ids at upload, so no uploader can know one in advance, and a copy gets a new id. The bucket policy reserves
tagging under ``models/`` to the guard; this check also holds for tags written before that policy existed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from hosting_contract.archive_rules import (
    ARCHIVE_SUFFIX,
    QUARANTINE_PREFIX,
    REASON_TAG,
    REJECTED,
    VALID,
    VERDICT_TAG,
    VERSION_TAG,
    WARMUP_SUFFIX,
    Limits,
    check_archive,
    check_key,
    tag_value,
)
from hosting_contract.served_prefix import ServedPrefix

METRIC_NAMESPACE = "SageMakerHosting/ArtifactGuard"
#: CopyObject copies at most 5 GB in one request (Amazon S3 API Reference, CopyObject); the managed transfer
#: copies larger objects in parts (UploadPartCopy).
_SINGLE_COPY_LIMIT = 5 * 1024**3
#: The version id S3 reports for an object written while versioning was off.
_NULL_VERSION = "null"


@dataclass(frozen=True)
class Outcome:
    """What the guard did with one event."""

    action: str  # valid | rejected | skipped
    key: str
    reason: str = ""


@dataclass
class Guard:
    """The guard with its clients and settings."""

    s3: Any
    prefixes: list[ServedPrefix]
    limits: Limits
    notify: Callable[[str, str], None]
    """Called with (subject, message) for each rejection."""
    emit: Callable[[dict[str, Any]], None]
    """Called with an embedded-metric-format record for each verdict."""
    runtime: Any = None
    """sagemaker-runtime client, for warm-up invocations."""
    bucket: str | None = None
    """The one bucket the guard serves; events naming another are skipped."""
    should_stop: Callable[[], bool] | None = None
    """Polled while an archive is read: True when the function is about to run out of time."""

    def handle(self, event: dict[str, Any]) -> Outcome:
        """Handle one EventBridge "Object Created" event."""
        detail = event["detail"]
        bucket, key = detail["bucket"]["name"], detail["object"]["key"]
        version = detail["object"].get("version-id")
        if self.bucket is not None and bucket != self.bucket:
            return Outcome("skipped", key, f"not the guarded bucket ({bucket})")
        served = self._served(key)
        if served is None:
            return Outcome("skipped", key, "not under a served prefix")
        if key.endswith(WARMUP_SUFFIX):
            return Outcome("skipped", key, "warm-up payload")
        if not version:
            # S3's events from a versioned bucket name the version; an event without one (a rescan of an archive
            # uploaded before versioning, or a hand-made invocation) is pinned to the version current now. Read and
            # tagged by key alone, the guard would read one version and tag whichever is current when it is done:
            # a PutObjectTagging without versionId tags the current version (Amazon S3 API Reference,
            # PutObjectTagging), so an upload made while a large archive is read would be tagged valid unread.
            version = self._current_version(bucket, key)
            if version is None:
                return Outcome("skipped", key, "no current version (deleted)")
        location = {"Bucket": bucket, "Key": key, "VersionId": version}
        try:
            existing = self._tags(location)
        except ClientError as error:
            if _missing(error):
                return Outcome("skipped", key, "object version no longer exists")
            raise
        if VERDICT_TAG in existing and existing.get(VERSION_TAG) == version:
            # The verdict is the commit point; a retry after it finishes a quarantine a failure interrupted.
            reason = existing.get(REASON_TAG, "")
            if existing[VERDICT_TAG] == REJECTED and self._quarantine(bucket, key, version, served, reason):
                return Outcome("rejected", key, f"{reason} (quarantine completed on a retry)")
            return Outcome("skipped", key, f"already {existing[VERDICT_TAG]} (duplicate event)")

        problems = check_key(key, served.prefix)
        if not problems:
            body = self.s3.get_object(**location)["Body"]
            try:
                problems = check_archive(
                    body, layout=served.archive_layout, limits=self.limits, should_stop=self.should_stop
                ).problems
            finally:
                body.close()
        reason = str(problems[0]) if problems else ""
        verdict = REJECTED if problems else VALID
        existing.update(
            {VERDICT_TAG: verdict, REASON_TAG: tag_value(reason or "passed every rule"), VERSION_TAG: version}
        )
        self.s3.put_object_tagging(
            **location, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in existing.items()]}
        )
        self.emit(_metric(served, key, verdict, reason))
        if problems:
            self._quarantine(bucket, key, version, served, reason)
            return Outcome("rejected", key, reason)
        if served.warm_up:
            self._warm_up(bucket, key, served)
        return Outcome("valid", key)

    def _served(self, key: str) -> ServedPrefix | None:
        matches = [p for p in self.prefixes if key.startswith(p.prefix)]
        return max(matches, key=lambda p: len(p.prefix)) if matches else None

    def _tags(self, location: dict[str, str]) -> dict[str, str]:
        tag_set = self.s3.get_object_tagging(**location)["TagSet"]
        return {t["Key"]: t["Value"] for t in tag_set}

    def _quarantine(self, bucket: str, key: str, version: str, served: ServedPrefix, reason: str) -> bool:
        """Copy the rejected version to quarantine and take it off the served prefix, each step only if it is not
        done yet (a retry resumes); notify when anything was done. Returns whether anything was."""
        source = {"Bucket": bucket, "Key": key, "VersionId": version}
        quarantined = QUARANTINE_PREFIX + key
        did = False
        if self._quarantined_version(bucket, quarantined) != version:
            size = self.s3.head_object(**source)["ContentLength"]
            if size <= _SINGLE_COPY_LIMIT:
                self.s3.copy_object(Bucket=bucket, Key=quarantined, CopySource=source, TaggingDirective="COPY")
            else:
                # boto3's managed copy switches to a multipart copy past its threshold; parts carry no tags.
                self.s3.copy(source, bucket, quarantined)
                tag_set = self.s3.get_object_tagging(**source)["TagSet"]
                self.s3.put_object_tagging(Bucket=bucket, Key=quarantined, Tagging={"TagSet": tag_set})
            did = True
        if self._current_version(bucket, key) == version:
            # A delete marker: the rejected version stays in the bucket's history.
            self.s3.delete_object(Bucket=bucket, Key=key)
            did = True
        if not did:
            return False
        self.notify(
            f"Model archive rejected: {key}"[:99],
            f"s3://{bucket}/{key} was rejected for endpoint {served.endpoint_name}: {reason}\n"
            f"It was moved to s3://{bucket}/{quarantined} (the bucket keeps every version). "
            f"Fix it (modelctl validate) and upload it under a new name.",
        )
        return True

    def _quarantined_version(self, bucket: str, quarantined: str) -> str | None:
        """The version the quarantined copy was made from (its copied ``guard-version``), if there is one."""
        try:
            return self._tags({"Bucket": bucket, "Key": quarantined}).get(VERSION_TAG)
        except ClientError as error:
            if _missing(error):
                return None
            raise

    def _current_version(self, bucket: str, key: str) -> str | None:
        """The key's current version id (``null`` for an unversioned write); None when a delete marker is current."""
        try:
            current = self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            # HEAD on a key whose current version is a delete marker answers 404 (or 405 for a version).
            if _missing(error) or error.response.get("Error", {}).get("Code") == "405":
                return None
            raise
        version: str = current.get("VersionId") or _NULL_VERSION
        return version

    def _warm_up(self, bucket: str, key: str, served: ServedPrefix) -> None:
        """Invoke the new model once with ``NAME.warmup.json``, so the first user does not pay the cold load."""
        payload_key = key[: -len(ARCHIVE_SUFFIX)] + WARMUP_SUFFIX
        try:
            payload = json.loads(self.s3.get_object(Bucket=bucket, Key=payload_key)["Body"].read())
        except ClientError as error:
            if _missing(error):
                return
            raise
        try:
            self.runtime.invoke_endpoint(
                EndpointName=served.endpoint_name,
                TargetModel=key[len(served.prefix) :],
                ContentType=payload.get("contentType", "application/json"),
                Body=payload["body"].encode() if isinstance(payload["body"], str) else json.dumps(payload["body"]),
            )
        except ClientError as error:
            # A failed warm-up is not a bad archive: the model still loads on its first real request.
            print(json.dumps({"warmUpFailed": key, "error": str(error)}))


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404", "NotFound")


def _metric(served: ServedPrefix, key: str, verdict: str, reason: str) -> dict[str, Any]:
    """An embedded-metric-format record: CloudWatch Logs turns it into metrics, no API call needed."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [["Endpoint"]],
                    "Metrics": [
                        {"Name": "RejectedArchives", "Unit": "Count"},
                        {"Name": "ValidArchives", "Unit": "Count"},
                    ],
                }
            ],
        },
        "Endpoint": served.endpoint_name,
        "RejectedArchives": int(verdict == REJECTED),
        "ValidArchives": int(verdict == VALID),
        "key": key,
        "reason": reason,
    }
