"""AlarmTopic: the SNS topic every alarm of a stage notifies, encrypted and SSL-only."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from constructs_lib.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AlarmTopic(Construct):
    """An SNS topic for alarms: KMS-encrypted (CloudWatch may use the key), SSL-only, optional e-mail."""

    def __init__(
        self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, email_addresses: Sequence[str] = ()
    ) -> None:
        """Create the topic.

        :param encryption_key: the topic's key; CloudWatch is granted use of it so that alarms can publish.
        :param email_addresses: subscribed by e-mail (each must confirm the subscription).
        """
        super().__init__(scope, construct_id)
        for address in email_addresses:
            if not _EMAIL.match(address):
                raise ValidationError(
                    f"AlarmTopic {self.node.path}: email address {address!r} is not an e-mail address"
                )
        # Alarms publish to an encrypted topic only if CloudWatch may generate data keys with its key.
        encryption_key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Resource", master_key=encryption_key, enforce_ssl=True)
        """The topic."""
        for address in email_addresses:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self.alarm_action = cloudwatch_actions.SnsAction(self.topic)
        """Pass to ``alarm.add_alarm_action``."""
