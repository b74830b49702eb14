"""OperationsKey: the customer-managed key of a stack's operational data (alarm topic, queues, log groups).

Each AWS service that uses it on the stack's behalf is allowed with the condition AWS documents against the
confused-deputy problem: CloudWatch Logs through the log group's ARN in the encryption context (Amazon
CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS": ``kms:EncryptionContext:
aws:logs:arn``), EventBridge through ``aws:SourceAccount`` and the rule's ARN.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

#: KMS's shortest waiting period before a scheduled key deletion (AWS KMS API Reference, ScheduleKeyDeletion).
SHORTEST_PENDING_WINDOW = cdk.Duration.days(7)


class OperationsKey(Construct):
    """A rotated KMS key that CloudWatch Logs may use for this stack's region and account only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        """Create the key.

        :param removal_policy: ``DESTROY`` schedules the key's deletion with the stack (after KMS's shortest
            waiting period), so that a torn-down development stage leaves no key behind; ``RETAIN`` keeps it.
        """
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Resource",
            enable_key_rotation=True,
            description=description,
            removal_policy=removal_policy,
            pending_window=SHORTEST_PENDING_WINDOW if removal_policy == cdk.RemovalPolicy.DESTROY else None,
        )
        """The key."""
        log_groups = stack.format_arn(
            service="logs", resource="log-group", resource_name="*", arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )

    def allow_event_rules(self, rule_arns: Sequence[str]) -> None:
        """Let EventBridge send to queues encrypted with this key (a target's dead-letter queue) for ``rule_arns``.

        Bound by ``aws:SourceArn`` alone, the rules' full ARNs (which name this account): the SQS Developer Guide
        ("Amazon SQS Key management", confused-deputy protection) documents that key for EventBridge (CloudWatch
        Events) sending to an encrypted queue, and documents no ``aws:SourceAccount`` there; the SNS Developer
        Guide ("Key management") says neither key is supported for EventBridge and encrypted topics. A condition
        on a key the request lacks would refuse every dead letter, silently: the rule's
        ``InvocationsFailedToBeSentToDlq`` metric is the only trace (``ArtifactGuard`` alarms on it).
        """
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"ArnEquals": {"aws:SourceArn": list(rule_arns)}},
            )
        )
