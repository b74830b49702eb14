"""ModelArtifactStore: the encrypted, versioned, access-logged S3 home of every model archive."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from constructs_lib.compliance import acknowledge_control_rule
from constructs_lib.errors import ValidationError
from constructs_lib.operations_key import SHORTEST_PENDING_WINDOW
from hosting_contract.served_prefix import CAPTURE_ROOT

#: How long captured inference data is kept by default: long enough to investigate a month's incidents.
DEFAULT_CAPTURE_EXPIRATION_DAYS = 30
#: A minute above the 15 minutes the CDK gives its bucket-emptying function.
AUTO_DELETE_SERVICE_TIMEOUT_SECONDS = 960
_REPLICATION_REASON = (
    "Cross-region replication is a disaster-recovery choice of the deploying organisation; within the region "
    "every object version is kept (versioning, retained in prod) and archives can be rebuilt by modelctl."
)


class ModelArtifactStore(Construct):
    """A customer-managed KMS key, a model-artifact bucket encrypted with it, and its access-log bucket.

    The artifact bucket is versioned (a rejected or overwritten archive keeps every byte), SSL-only, blocks all
    public access, logs every request to the access-log bucket, and expires noncurrent versions after
    ``noncurrent_version_expiration``. Multi-model endpoints each read one prefix of it (see ``ModelPrefix``).
    Endpoints with data capture write under ``capture/`` (see ``DataCapture``), which expires after
    ``capture_expiration``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: cdk.RemovalPolicy,
        noncurrent_version_expiration: cdk.Duration,
        access_log_expiration: cdk.Duration | None = None,
        bucket_name: str | None = None,
        capture_expiration: cdk.Duration | None = None,
    ) -> None:
        """Create the store.

        :param removal_policy: ``RETAIN`` for production (key and buckets survive stack deletion);
            ``DESTROY`` lets a development stack be torn down: CloudFormation deletes only empty buckets, so
            the artifact bucket is then emptied of every object version on deletion (the CDK's auto-delete
            custom resource), and the key is scheduled for deletion after KMS's shortest waiting period. The
            access-log bucket is retained whatever the policy (see ``access_log_bucket``).
        :param noncurrent_version_expiration: how long a replaced or deleted archive version is kept.
        :param access_log_expiration: how long access logs are kept. Default: 365 days.
        :param bucket_name: a fixed name for the artifact bucket, so that other stacks can reference it by name
            instead of through a cross-stack export. Default: a generated name.
        :param capture_expiration: how long captured requests and responses under ``capture/`` are kept, in whole
            days. Default: 30 days. A capture's replaced or deleted versions go a day later: unlike an archive,
            nobody restores a capture, and it may hold the payloads clients sent.
        """
        super().__init__(scope, construct_id)
        days = noncurrent_version_expiration.to_days()
        if not cdk.Token.is_unresolved(days) and days < 1:
            raise ValidationError(
                f"ModelArtifactStore {self.node.path}: noncurrent_version_expiration must be at least 1 day, got {days}"
            )
        capture_expiration = capture_expiration or cdk.Duration.days(DEFAULT_CAPTURE_EXPIRATION_DAYS)
        capture_days = capture_expiration.to_days(integral=False)
        if not cdk.Token.is_unresolved(capture_days) and (capture_days < 1 or capture_days != int(capture_days)):
            raise ValidationError(
                f"ModelArtifactStore {self.node.path}: capture_expiration must be a whole number of days, at least 1, "
                f"got {capture_expiration.to_human_string()}"
            )
        log_expiration = access_log_expiration or cdk.Duration.days(365)
        destroy = removal_policy == cdk.RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description=f"Model artifacts of {cdk.Stack.of(self).stack_name}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=SHORTEST_PENDING_WINDOW if destroy else None,
        )
        """The customer-managed key that encrypts every model archive."""

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging delivers only to buckets encrypted with SSE-S3, never SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=log_expiration,
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            ],
            # Retained even when the store is destroyed. S3 delivers server access logs on a best-effort basis,
            # most within a few hours of the request (Amazon S3 User Guide, "Logging requests with server access
            # logging"), so the logs of the artifact bucket's own emptying can land after this bucket was
            # emptied, and CloudFormation's delete then fails with BucketNotEmpty (aws/aws-cdk#21776): the
            # stack ends DELETE_FAILED, or ROLLBACK_FAILED when its first deploy fails. The logs are also the
            # record of what was done to the archives before the teardown; they expire with the rule above.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        """Receives the artifact bucket's server access logs. Always retained: a destroyed store leaves it behind,
        its logs expiring after ``access_log_expiration``."""
        # With its policy: the bucket left behind stays SSL-only (enforce_ssl's Deny lives in the policy).
        assert self.access_log_bucket.policy is not None
        self.access_log_bucket.policy.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        # No acknowledgment for the log bucket's own logging: cdk-nag exempts a bucket that is a log target.
        acknowledge_control_rule(
            _resource(self.access_log_bucket),
            "S3DefaultEncryptionKMS",
            "S3 server access log delivery supports only SSE-S3 (AES256) on the target bucket, not SSE-KMS.",
        )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="model-artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=noncurrent_version_expiration,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                ),
                # Overlaps the rule above on capture/: S3 honours the shorter of two overlapping expirations
                # (Amazon S3 User Guide, "How Amazon S3 handles conflicts in lifecycle configurations").
                s3.LifecycleRule(
                    id="ExpireCapturedData",
                    prefix=CAPTURE_ROOT,
                    expiration=capture_expiration,
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
                # S3 refuses ExpiredObjectDeleteMarker beside Days in one rule: the markers the rule above leaves
                # once their versions are gone are removed by their own rule.
                s3.LifecycleRule(
                    id="RemoveCaptureDeleteMarkers", prefix=CAPTURE_ROOT, expired_object_delete_marker=True
                ),
            ],
            removal_policy=removal_policy,
            auto_delete_objects=destroy,
        )
        """The model-artifact bucket: one prefix per multi-model endpoint."""
        # Every upload reaches the artifact guard through EventBridge, so this stateful bucket names no function
        # of the stateless stack. Set on the resource itself: the L2's event_bridge_enabled adds a
        # custom-resource Lambda to do what CloudFormation does natively.
        bucket_resource = self.bucket.node.default_child
        assert isinstance(bucket_resource, s3.CfnBucket)
        bucket_resource.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )

        for bucket in (self.access_log_bucket, self.bucket):
            acknowledge_control_rule(_resource(bucket), "S3BucketReplicationEnabled", _REPLICATION_REASON)
            emptier = bucket.node.try_find_child("AutoDeleteObjectsCustomResource")
            if emptier is not None:
                # CloudFormation otherwise waits up to an hour for a custom resource that never answers
                # (AWS::CloudFormation::CustomResource, ServiceTimeout); the CDK's emptying function runs 15 min.
                resource = emptier.node.default_child
                assert isinstance(resource, cdk.CfnResource)
                resource.add_property_override("ServiceTimeout", AUTO_DELETE_SERVICE_TIMEOUT_SECONDS)


def _resource(bucket: s3.Bucket) -> IConstruct:
    """The bucket's CfnBucket: acknowledgments go on the resource that causes the finding, not its wrapper."""
    return bucket.node.default_child or bucket
