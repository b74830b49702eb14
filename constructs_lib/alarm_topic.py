"""AlarmTopic: the SNS topic every alarm of a stage notifies, encrypted and SSL-only, that CloudWatch may publish to.

A topic policy replaces SNS's default policy (Amazon SNS Developer Guide, "Amazon SNS access control": the
default policy lets the owner account's principals publish). ``enforce_ssl`` gives the topic a policy holding
only a Deny, so CloudWatch, which publishes as the service principal ``cloudwatch.amazonaws.com``, must be
allowed explicitly. AWS documents the confused-deputy guard for that statement: ``aws:SourceArn`` naming the
alarms and ``aws:SourceAccount`` (Amazon CloudWatch User Guide, "Confused deputy prevention" and "Using Amazon
SNS topics with encryption for alarms"). Alarms get generated names unless named, so ``AlarmNames`` gives every
alarm of a scope a name under one prefix, and the topic allows exactly that prefix.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct, IConstruct

from constructs_lib.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
#: CloudWatch alarm names: 1-255 characters (CloudWatch API Reference, PutMetricAlarm, ``AlarmName``).
MAX_ALARM_NAME = 255
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,99}[-/.]\Z")


def is_email_address(address: str) -> bool:
    """Whether ``address`` looks like an e-mail address SNS can subscribe (one ``@``, a dot in the domain)."""
    return _EMAIL.match(address) is not None


class AlarmTopic(Construct):
    """An SNS topic for alarms: KMS-encrypted, SSL-only, publishable by the account's alarms named under
    ``alarm_name_prefix`` (see ``AlarmNames``), optional e-mail subscriptions.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        alarm_name_prefix: str,
        email_addresses: Sequence[str] = (),
    ) -> None:
        """Create the topic.

        :param encryption_key: the topic's key; CloudWatch is granted use of it for the same alarms.
        :param alarm_name_prefix: e.g. ``sagemaker-hosting/prod/``; only alarms so named may publish. End it with
            a character the next part of a name cannot start another scope's prefix with (``/``).
        :param email_addresses: subscribed by e-mail (each must confirm the subscription).
        """
        super().__init__(scope, construct_id)
        owner = f"AlarmTopic {self.node.path}"
        for address in email_addresses:
            if not is_email_address(address):
                raise ValidationError(f"{owner}: email address {address!r} is not an e-mail address")
        if not _PREFIX.match(alarm_name_prefix):
            raise ValidationError(
                f"{owner}: alarm_name_prefix {alarm_name_prefix!r} must be 2-101 letters, digits, '_', '.', '/', '-' "
                "ending with '/', '-' or '.'"
            )
        stack = cdk.Stack.of(self)
        self.alarm_name_prefix = alarm_name_prefix
        """Alarms named under this prefix may publish."""
        self.alarm_arns = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{alarm_name_prefix}*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        """The ARN pattern of the alarms that may publish."""
        conditions = {
            "ArnLike": {"aws:SourceArn": self.alarm_arns},
            "StringEquals": {"aws:SourceAccount": stack.account},
        }
        # An encrypted topic accepts an alarm's message only if CloudWatch may make data keys with its key.
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=conditions,
            )
        )
        self.topic = sns.Topic(self, "Resource", master_key=encryption_key, enforce_ssl=True)
        """The topic."""
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowStageAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=conditions,
            )
        )
        for address in email_addresses:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self.alarm_action = cloudwatch_actions.SnsAction(self.topic)
        """Pass to ``alarm.add_alarm_action``."""


@jsii.implements(cdk.IAspect)
class AlarmNames:
    """Names every unnamed alarm in a scope ``<prefix><unique id from its path>``, so that a topic policy can
    allow exactly these alarms (``AlarmTopic``). The name is stable: it derives from the construct path.
    """

    #: The construct context under which a stage records its prefix for ``name_for``.
    CONTEXT_KEY = "sagemaker-hosting:alarm-name-prefix"

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @classmethod
    def set_prefix(cls, scope: Construct, prefix: str) -> AlarmNames:
        """Record ``prefix`` for the alarms ``name_for`` names under ``scope`` (before ``scope`` has children),
        and return the aspect for scopes whose alarms other constructs create."""
        scope.node.set_context(cls.CONTEXT_KEY, prefix)
        return cls(prefix)

    @classmethod
    def name_for(cls, scope: Construct, construct_id: str) -> str | None:
        """The name the aspect would give an L2 alarm ``construct_id`` about to be created in ``scope``, if ``scope``
        recorded a prefix (``set_prefix``); pass it as the alarm's ``alarm_name``.

        An aspect is a call from the CDK's Node process for every construct of its scope, and naming an alarm once
        it exists takes several more: the name is worked out here, in Python, from the scope's path (read once per
        scope) by the CDK's own rule for ``Names.unique_resource_name`` (a test compares the two).
        """
        naming = _scope_naming(scope, cls.CONTEXT_KEY)
        if naming is None:
            return None
        prefix, components = naming
        return prefix + unique_resource_name(
            (*components, construct_id, "Resource"), max_length=MAX_ALARM_NAME - len(prefix), separator="-"
        )

    def visit(self, node: IConstruct) -> None:
        """Name ``node`` if it is an unnamed alarm."""
        # The L2 Alarm passes its optional physical name as a token that resolves to nothing when unnamed.
        if isinstance(node, cloudwatch.CfnAlarm) and cdk.Stack.of(node).resolve(node.alarm_name) is None:
            node.alarm_name = self.prefix + cdk.Names.unique_resource_name(
                node, max_length=MAX_ALARM_NAME - len(self.prefix), separator="-"
            )


#: Per scope: its stage's alarm-name prefix and the path ``Names.unique_resource_name`` starts from (the top-level
#: stack's name, then construct ids). Read from the CDK once per scope, not once per alarm.
_NAMING: weakref.WeakKeyDictionary[IConstruct, tuple[str, tuple[str, ...]] | None] = weakref.WeakKeyDictionary()


def _scope_naming(scope: IConstruct, context_key: str) -> tuple[str, tuple[str, ...]] | None:
    if scope in _NAMING:
        return _NAMING[scope]
    prefix = scope.node.try_get_context(context_key)
    naming = None
    if prefix is not None:
        stack = cdk.Stack.of(scope)
        relative = cdk.Names.stack_relative_construct_path(scope)
        # Names.unique_resource_name starts from the last top-level stack: a nested stack's path needs its parents.
        if stack.nested:
            raise ValidationError(f"{scope.node.path}: alarms are named per top-level stack, not in a nested stack")
        naming = (prefix, (stack.stack_name, *(relative.split("/") if relative else ())))
    _NAMING[scope] = naming
    return naming


#: ``makeUniqueResourceName`` (aws-cdk-lib, core/lib/private/unique-resource-name.ts): the last 8 characters are a
#: hash of the whole path; ``Default`` is left out of both, ``Resource`` of the readable part only.
_HASH_LENGTH = 8
_HIDDEN_ID, _HIDDEN_FROM_HUMAN_ID = "Default", "Resource"


def unique_resource_name(components: Sequence[str], *, max_length: int = 256, separator: str = "") -> str:
    """``cdk.Names.unique_resource_name`` of a construct at the path ``components`` (top-level stack name, then
    construct ids), computed without a call to the CDK."""
    path = [component for component in components if component != _HIDDEN_ID]
    if not path:
        raise ValueError("a unique resource name needs a path")
    if len(path) == 1 and len(readable := _allowed(path[0])) <= max_length:
        return readable
    digest = hashlib.md5("/".join(path).encode(), usedforsecurity=False).hexdigest()[:_HASH_LENGTH].upper()
    deduplicated: list[str] = []
    for component in path:
        if not deduplicated or not deduplicated[-1].endswith(component):
            deduplicated.append(component)
    human = (
        separator.join(part for part in (_allowed(c) for c in deduplicated if c != _HIDDEN_FROM_HUMAN_ID) if part)
        + separator
    )
    longest = max_length - _HASH_LENGTH
    if len(human) > longest:
        half = int(longest / 2)  # JavaScript's slice truncates a fractional index toward zero
        human = human[:half] + (human[-half:] if half else human)  # slice(-0) is the whole string
    return human + digest


def _allowed(component: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", component)


def alarm_when_any(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.Metric,
    description: str,
    action: cloudwatch.IAlarmAction,
) -> cloudwatch.Alarm:
    """An alarm on one period of ``metric`` above zero (missing data is fine), named under its stage's prefix
    (``AlarmNames.name_for``) and notifying ``action``: how the stage's own functions and queues are watched."""
    alarm = metric.create_alarm(
        scope,
        construct_id,
        threshold=0,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
        alarm_name=AlarmNames.name_for(scope, construct_id),
    )
    alarm.add_alarm_action(action)
    return alarm


def event_rule_metric(rule: events.IRule, metric_name: str) -> cloudwatch.Metric:
    """A rule's EventBridge metric (``AWS/Events``, RuleName alone: a rule of the default event bus; "Monitoring
    Amazon EventBridge"), summed over five minutes."""
    return cloudwatch.Metric(
        namespace="AWS/Events",
        metric_name=metric_name,
        dimensions_map={"RuleName": rule.rule_name},
        period=cdk.Duration.minutes(5),
        statistic="Sum",
    )
