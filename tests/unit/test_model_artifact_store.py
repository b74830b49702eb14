"""ModelArtifactStore: encryption with the CMK, versioning, SSL-only, logging, lifecycle, retention."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from constructs_lib import ModelArtifactStore, ValidationError
from hosting_contract.served_prefix import CAPTURE_ROOT, SERVED_ROOT, capture_prefix
from tests import examples
from tests.support import Synthesis, make_app


def _template(
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    days: int = 30,
    capture_expiration: cdk.Duration | None = None,
) -> Template:
    stack = cdk.Stack(make_app(), "Store")
    ModelArtifactStore(
        stack,
        "Artifacts",
        removal_policy=removal_policy,
        noncurrent_version_expiration=cdk.Duration.days(days),
        capture_expiration=capture_expiration,
    )
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def template() -> Template:
    return _template()


def _key_id(template: Template) -> str:
    return next(iter(template.find_resources("AWS::KMS::Key")))


def _bucket_ids(template: Template) -> tuple[str, str]:
    buckets = template.find_resources("AWS::S3::Bucket")
    artifact = next(k for k, v in buckets.items() if "LoggingConfiguration" in v["Properties"])
    logs = next(k for k in buckets if k != artifact)
    return artifact, logs


def test_key_is_customer_managed_with_rotation(template: Template) -> None:
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_artifact_bucket_uses_the_cmk(template: Template) -> None:
    artifact, _ = _bucket_ids(template)
    props = template.find_resources("AWS::S3::Bucket")[artifact]["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [_key_id(template), "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True


def test_artifact_bucket_versioned_private_and_logged(template: Template) -> None:
    artifact, logs = _bucket_ids(template)
    props = template.find_resources("AWS::S3::Bucket")[artifact]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs},
        "LogFilePrefix": "model-artifacts/",
    }


def test_noncurrent_versions_expire_after_configured_days() -> None:
    template = _template(days=17)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 17}, "Status": "Enabled"})]
                )
            }
        },
    )


def test_both_buckets_refuse_plain_http(template: Template) -> None:
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_access_log_bucket_is_sse_s3(template: Template) -> None:
    _, logs = _bucket_ids(template)
    props = template.find_resources("AWS::S3::Bucket")[logs]["Properties"]
    algorithm = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert algorithm == {"SSEAlgorithm": "AES256"}


@pytest.mark.parametrize(
    ("policy", "expected"), [(cdk.RemovalPolicy.RETAIN, "Retain"), (cdk.RemovalPolicy.DESTROY, "Delete")]
)
def test_removal_policy_applies_to_key_and_artifact_bucket(policy: cdk.RemovalPolicy, expected: str) -> None:
    template = _template(removal_policy=policy)
    buckets = template.find_resources("AWS::S3::Bucket")
    (artifacts,) = [i for i, r in buckets.items() if "LoggingConfiguration" in r["Properties"]]
    logs = buckets[artifacts]["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert set(buckets) == {artifacts, logs}
    for resource in (*template.find_resources("AWS::KMS::Key").values(), buckets[artifacts]):
        assert resource["DeletionPolicy"] == expected
        assert resource["UpdateReplacePolicy"] == expected
    # CloudFormation deletes only empty buckets ("DeletionPolicy attribute": a bucket must be empty to be
    # deleted): DESTROY empties the artifact bucket, every version, so a development stage can be torn down.
    # The access-log bucket is retained and never emptied, whatever the policy: S3 delivers server access logs
    # on a best-effort basis, most within a few hours (Amazon S3 User Guide, "Logging requests with server
    # access logging"), so the logs of that very emptying could land in an emptied log bucket and fail its
    # deletion with BucketNotEmpty, leaving the stack DELETE_FAILED (or ROLLBACK_FAILED on a failed first deploy).
    assert buckets[logs]["DeletionPolicy"] == buckets[logs]["UpdateReplacePolicy"] == "Retain"
    # Its policy too, so that the bucket left behind still refuses requests without TLS (aws:SecureTransport).
    (policy,) = [
        r
        for r in template.find_resources("AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": logs}
    ]
    assert policy["DeletionPolicy"] == "Retain"
    assert any(
        st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
    )
    emptied = {
        r["Properties"]["BucketName"]["Ref"] for r in template.find_resources("Custom::S3AutoDeleteObjects").values()
    }
    assert emptied == ({artifacts} if expected == "Delete" else set())
    # A destroyed key is scheduled for deletion after KMS's shortest waiting period, not kept (and billed).
    (key,) = template.find_resources("AWS::KMS::Key").values()
    assert key["Properties"].get("PendingWindowInDays") == (7 if expected == "Delete" else None)


def test_expiration_below_one_day_is_refused() -> None:
    stack = cdk.Stack(make_app(), "Store")
    with pytest.raises(ValidationError, match=r"ModelArtifactStore Store/Bad: noncurrent_version_expiration .* got 0"):
        ModelArtifactStore(
            stack, "Bad", removal_policy=cdk.RemovalPolicy.RETAIN, noncurrent_version_expiration=cdk.Duration.days(0)
        )


def _artifact_rules(template: Template) -> list[dict[str, Any]]:
    artifact, _ = _bucket_ids(template)
    rules: list[dict[str, Any]] = template.find_resources("AWS::S3::Bucket")[artifact]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    return rules


def test_captured_data_expires_after_30_days_and_its_old_versions_after_one(template: Template) -> None:
    captures = [r for r in _artifact_rules(template) if r.get("Prefix") == CAPTURE_ROOT]
    assert captures == [
        {
            "Id": "ExpireCapturedData",
            "Prefix": "capture/",
            "ExpirationInDays": 30,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "Status": "Enabled",
        },
        {
            "Id": "RemoveCaptureDeleteMarkers",
            "Prefix": "capture/",
            "ExpiredObjectDeleteMarker": True,
            "Status": "Enabled",
        },
    ]
    # Archives under models/ keep the store-wide rule only: no expiration of current versions.
    assert [r for r in _artifact_rules(template) if "Prefix" not in r] == [
        {
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "Status": "Enabled",
        }
    ]


def test_capture_expiration_is_configurable() -> None:
    rules = _artifact_rules(_template(capture_expiration=cdk.Duration.days(7)))
    assert [r["ExpirationInDays"] for r in rules if r.get("Id") == "ExpireCapturedData"] == [7]


@pytest.mark.parametrize(
    ("expiration", "shown"), [(cdk.Duration.days(0), "0 days"), (cdk.Duration.hours(36), "1 day 12 hours")]
)
def test_capture_expiration_must_be_whole_days_of_at_least_one(expiration: cdk.Duration, shown: str) -> None:
    stack = cdk.Stack(make_app(), "Store")
    with pytest.raises(
        ValidationError,
        match=rf"ModelArtifactStore Store/Bad: capture_expiration must be a whole number of days, at least 1, got {shown}",
    ):
        ModelArtifactStore(
            stack,
            "Bad",
            removal_policy=cdk.RemovalPolicy.RETAIN,
            noncurrent_version_expiration=cdk.Duration.days(30),
            capture_expiration=expiration,
        )


def test_captured_data_never_reaches_the_artifact_guard(synthesis: Synthesis) -> None:
    """A capture file is no archive: the guard's rule filters on models/, and its denials cover models/ only."""
    assert not capture_prefix("dev-churn").startswith(SERVED_ROOT)
    assert not SERVED_ROOT.startswith(CAPTURE_ROOT)
    for stage in synthesis.stages:
        resources = synthesis.resources(stage.model_store)
        (rule,) = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
        assert rule["Properties"]["EventPattern"]["detail"]["object"] == {"key": [{"prefix": SERVED_ROOT}]}
        (policy,) = [
            r
            for r in resources.values()
            if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": "ArtifactsBucket88671897"}
        ]
        denied = [
            s["Resource"]
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and "Condition" in s
            and "aws:SecureTransport" not in s["Condition"].get("Bool", {})
        ]
        assert denied
        # Every guard denial names the served root, so SageMaker's capture writes are not refused by them.
        for resource in denied:
            assert resource["Fn::Join"][1][-1] == f"/{SERVED_ROOT}*", resource


def test_every_stage_store_expires_captures(synthesis: Synthesis) -> None:
    for name in examples.NAMES:
        store = synthesis.stage(name).model_store
        bucket = synthesis.resources(store)["ArtifactsBucket88671897"]["Properties"]
        rules = bucket["LifecycleConfiguration"]["Rules"]
        assert any(r.get("Prefix") == CAPTURE_ROOT and "ExpirationInDays" in r for r in rules), name
