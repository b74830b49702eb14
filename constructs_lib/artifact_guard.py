"""ArtifactGuard: checks every model archive uploaded under a served prefix (see functions/artifact_guard).

The guard's verdict decides what SageMaker may load (execution roles read only objects tagged
``guard-verdict=valid``), so the bucket policy reserves those tags to the guard. S3 authorizes tagging an
object with ``s3:PutObjectTagging`` / ``s3:PutObjectVersionTagging`` (and the Delete variants), tags sent with
an upload through ``s3:PutObject`` with the ``s3:RequestObjectTagKeys`` condition key, and a copy, which by
default copies the source's tags (``x-amz-tagging-directive: COPY``), through ``s3:PutObject`` with the
``s3:x-amz-copy-source`` key (Service Authorization Reference, "Actions, resources, and condition keys for
Amazon S3"; Amazon S3 User Guide, "Tagging and access control policies"). IAM compares condition key names
case-insensitively, so a tag key that differs from ``guard-verdict`` only in case is no safe alternative:
under ``models/`` nobody but the guard may tag, upload with tags, copy in, or replicate in.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_topic import alarm_when_any, event_rule_metric
from constructs_lib.compliance import acknowledge, default_policy, nag_resource_id
from constructs_lib.hardened_function import HardenedFunction
from hosting_contract import served_prefix
from hosting_contract.archive_rules import QUARANTINE_PREFIX, Layout
from hosting_contract.guard_limits import RANGES, GuardLimits
from hosting_contract.served_prefix import SERVED_ROOT, ServedPrefix


def validate_guard_limits(owner: str, guard_limits: GuardLimits) -> None:
    """Raise ``ValidationError`` for a limit that would pass bombs or refuse every upload (outside ``RANGES``)."""
    for name, (low, high) in RANGES.items():
        limits.check_range(owner, f"guard_limits.{name}", getattr(guard_limits, name), low, high)


class ArtifactGuard(Construct):
    """Every object created under ``models/`` is checked: valid archives are tagged ``guard-verdict=valid``,
    rejected ones tagged with the reason, copied to ``quarantine/`` and removed from the served prefix (a
    delete marker: the bucket keeps every version). Each rejection is a metric
    (``SageMakerHosting/ArtifactGuard`` ``RejectedArchives``) and a message on ``topic``.

    The bucket must send its events to EventBridge (``ModelArtifactStore`` does), and the guard must be built in
    the bucket's stack: it adds to the bucket policy the statements that reserve verdict tags to its own role.
    Alarms on its dead-letter queue, on events EventBridge could not put there, and on its errors notify ``topic``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        encryption_key: kms.IKey,
        prefixes: Sequence[ServedPrefix],
        topic: sns.ITopic,
        queue_key: kms.IKey,
        guard_limits: GuardLimits | None = None,
        rule_name: str | None = None,
    ) -> None:
        """Create the function, its event rule and its dead-letter queue.

        :param encryption_key: the bucket's key (the guard reads, tags and copies archives).
        :param prefixes: the served prefixes and their layouts.
        :param topic: notified of every rejection.
        :param queue_key: encrypts the dead-letter queue and the function's logs.
        :param rule_name: a fixed name for the event rule, so that the queue key's policy can name the rule
            without a reference (a reference would make the key depend on the rule, and the rule on the key).
        """
        super().__init__(scope, construct_id)
        owner = f"ArtifactGuard {self.node.path}"
        layouts = [layout.value for layout in Layout]
        for each in prefixes:
            if not each.prefix.startswith(SERVED_ROOT) or not each.prefix.endswith("/"):
                raise limits.fail(owner, "prefix", each.prefix, f"must be under {SERVED_ROOT!r} and end with '/'")
            if each.layout not in layouts:
                raise limits.fail(
                    owner, f"layout of {each.prefix}", each.layout, f"must be one of {', '.join(layouts)}"
                )
        bounds = guard_limits or GuardLimits()
        validate_guard_limits(owner, bounds)

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=queue_key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        """Events the guard could not handle after retries (inspect and redrive)."""
        handler = HardenedFunction(
            self,
            "Handler",
            # hosting_contract is copied into the asset: one implementation of the rules for the CLI and the guard.
            folder="artifact_guard",
            description="Checks model archives under models/: tags valid/rejected, quarantines rejects",
            log_encryption_key=queue_key,
            # Lambda's maximum: the largest archive the limits allow must be read through within it.
            timeout=cdk.Duration.minutes(15),
            # Lambda allocates CPU in proportion to memory; 2048 MB is more than one vCPU for gunzip and tar.
            memory_size=2048,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=2,
            environment={
                served_prefix.ENVIRONMENT_VARIABLE: served_prefix.encode(prefixes),
                "TOPIC_ARN": topic.topic_arn,
                "BUCKET_NAME": bucket.bucket_name,
                **bounds.to_environment(),
            },
        )
        self.function = handler.function
        """The guard function."""
        self.rule = events.Rule(
            self,
            "OnUpload",
            rule_name=rule_name,
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [bucket.bucket_name]}, "object": {"key": [{"prefix": SERVED_ROOT}]}},
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=cdk.Duration.hours(6),
                )
            ],
        )
        """Sends every upload under ``models/`` to the function."""
        self.role = handler.role
        """The guard's role: the only principal that may write verdict tags under ``models/``."""
        self._grant(handler.role, bucket, encryption_key, topic, prefixes)
        self._reserve_verdicts(bucket, owner)
        self._acknowledge(handler, bucket)
        self.alarms = self._alarms(topic)
        """The alarms on the guard itself: events it could not handle, events lost on the way to the dead-letter
        queue, and its errors."""

    def _reserve_verdicts(self, bucket: s3.IBucket, owner: str) -> None:
        """Deny, to every principal but the guard's role, each way of setting a tag under ``models/``."""
        served = bucket.arn_for_objects(f"{SERVED_ROOT}*")
        not_the_guard = {"ArnNotEquals": {"aws:PrincipalArn": self.role.role_arn}}
        statements = [
            iam.PolicyStatement(
                sid="OnlyTheArtifactGuardTagsModels",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=[
                    "s3:PutObjectTagging",
                    "s3:PutObjectVersionTagging",
                    "s3:DeleteObjectTagging",
                    "s3:DeleteObjectVersionTagging",
                ],
                resources=[served],
                conditions=not_the_guard,
            ),
            iam.PolicyStatement(
                sid="NoTagsOnModelUploads",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[served],
                conditions={**not_the_guard, "Null": {"s3:RequestObjectTagKeys": "false"}},
            ),
            # Replication writes objects with their tags (Amazon S3 User Guide, "What does Amazon S3
            # replicate?"), authorized by these actions on the destination bucket's policy.
            iam.PolicyStatement(
                sid="NoReplicationIntoModels",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:ReplicateObject", "s3:ReplicateTags"],
                resources=[served],
                conditions=not_the_guard,
            ),
            iam.PolicyStatement(
                sid="NoCopiesIntoModels",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[served],
                conditions={**not_the_guard, "Null": {"s3:x-amz-copy-source": "false"}},
            ),
        ]
        for statement in statements:
            if not bucket.add_to_resource_policy(statement).statement_added:
                raise limits.fail(
                    owner,
                    "bucket",
                    bucket.bucket_name,
                    "is imported: build the guard in the bucket's stack, so that its policy reserves verdicts",
                )

    def _alarms(self, topic: sns.ITopic) -> list[cloudwatch.Alarm]:
        action = cloudwatch_actions.SnsAction(topic)
        five_minutes = cdk.Duration.minutes(5)
        return [
            alarm_when_any(
                self,
                "DeadLettersAlarm",
                metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=five_minutes, statistic="Maximum"
                ),
                description="Artifact guard: uploads it could not check are waiting in its dead-letter queue "
                "(modelctl rescan checks them again once the cause is fixed)",
                action=action,
            ),
            # EventBridge counts the events it could not put into the dead-letter queue (permissions, the queue's
            # key, size): lost uploads that no queue alarm can see ("Monitoring Amazon EventBridge", AWS/Events).
            alarm_when_any(
                self,
                "DeadLetterFailuresAlarm",
                metric=event_rule_metric(self.rule, "InvocationsFailedToBeSentToDlq"),
                description="Artifact guard: uploads EventBridge could neither deliver nor put into the dead-letter "
                "queue (check the queue's key policy; modelctl rescan checks them again)",
                action=action,
            ),
            alarm_when_any(
                self,
                "ErrorsAlarm",
                metric=self.function.metric_errors(period=five_minutes, statistic="Sum"),
                description="Artifact guard: the function failed (it is retried; see its log group)",
                action=action,
            ),
        ]

    def _grant(
        self,
        role: iam.Role,
        bucket: s3.IBucket,
        key: kms.IKey,
        topic: sns.ITopic,
        prefixes: Sequence[ServedPrefix],
    ) -> None:
        served = bucket.arn_for_objects(f"{SERVED_ROOT}*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:GetObjectVersionTagging",
                    "s3:PutObjectTagging",
                    "s3:PutObjectVersionTagging",
                    # Removal from the served prefix leaves a delete marker; the guard cannot delete versions.
                    "s3:DeleteObject",
                ],
                resources=[served],
            )
        )
        # The copy, and a reading of its tags: a retry resumes a quarantine only if the copy is not of this version
        # yet (GetObjectTagging needs s3:GetObjectTagging, Amazon S3 API Reference).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:PutObjectTagging", "s3:GetObjectTagging"],
                resources=[bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")],
            )
        )
        # Without ListBucket a missing object (or one whose current version is a delete marker) reads as 403
        # AccessDenied instead of 404 (Amazon S3 API Reference, HeadObject and GetObject: "If you have the
        # s3:ListBucket permission on the bucket, Amazon S3 returns 404"). That check is of the bucket itself,
        # with no s3:prefix in its request context, so a prefix-conditioned grant would not count: the guard
        # needs ListBucket on the bucket ARN, unconditioned. It lists nothing.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        topic.grant_publish(role)
        warmed = [p.endpoint_name for p in prefixes if p.warm_up]
        if warmed:
            stack = cdk.Stack.of(self)
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:InvokeEndpoint"],
                    resources=[
                        stack.format_arn(service="sagemaker", resource="endpoint", resource_name=n) for n in warmed
                    ],
                )
            )

    def _acknowledge(self, handler: HardenedFunction, bucket: s3.IBucket) -> None:
        policy = default_policy(handler.role)
        for resource, why in (
            (
                bucket.arn_for_objects(f"{SERVED_ROOT}*"),
                "The guard must read and tag whatever is uploaded under any served prefix, named at upload time.",
            ),
            (
                bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*"),
                "Rejected archives are copied to quarantine/ under their original, upload-time names.",
            ),
        ):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{nag_resource_id(self, resource)}]", why)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "CDK's grant to send to the KMS-encrypted dead-letter queue; it covers one key, the queue's.",
        )
        handler.acknowledge_inline_policy()
