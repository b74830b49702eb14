"""Alarms reach the stage's topic, and AWS services use keys and topics only for this account.

A topic policy replaces SNS's default policy, and a request a resource policy does not allow is implicitly
denied (IAM User Guide, "Policy evaluation logic"). CloudWatch publishes an alarm's notification as the service
principal ``cloudwatch.amazonaws.com`` with the alarm's ARN as ``aws:SourceArn`` and the account as
``aws:SourceAccount`` (Amazon CloudWatch User Guide, "Setting up Amazon SNS notifications"). These tests
evaluate the synthesized topic policy for each alarm of the stage as AWS would: explicit Deny wins, then an
Allow whose principal, action and every condition match; anything else is denied.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from stacks.stage import ModelHostingStage
from tests import examples
from tests.support import Synthesis, feature_environment, policy_allows


def _render(value: Any, stage: ModelHostingStage, refs: dict[str, str]) -> Any:
    """Pseudo parameters and same-stack references as CloudFormation resolves them for this stage."""
    if isinstance(value, list):
        return [_render(v, stage, refs) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        pseudo = {"AWS::Partition": "aws", "AWS::Region": stage.region, "AWS::AccountId": stage.account}
        return pseudo.get(value["Ref"]) or refs[value["Ref"]]
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(p, stage, refs) for p in parts)
    return {k: _render(v, stage, refs) for k, v in value.items()}


def _alarm_names(synthesis: Synthesis, stage: ModelHostingStage) -> list[str]:
    names = []
    for stack in (stage.model_store, stage.hosting):
        for alarm in synthesis.resources(stack, "AWS::CloudWatch::Alarm").values():
            names.append(alarm["Properties"]["AlarmName"])
    return names


@pytest.mark.parametrize("name", examples.NAMES)
def test_every_alarm_of_the_stage_may_publish_to_its_topic(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    template = synthesis.resources(stage.model_store)
    topic_arn = f"arn:aws:sns:{stage.region}:{stage.account}:sagemaker-hosting-{name}-alarms"
    refs = {"AlarmTopicB56431CA": topic_arn}
    (policy,) = [r for r in template.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    statements = _render(policy["Properties"]["PolicyDocument"]["Statement"], stage, refs)
    # An encrypted topic takes a message only if the publisher may make a data key with the topic's key: CloudWatch
    # needs kms:GenerateDataKey* and kms:Decrypt in the key policy (SNS Developer Guide, "Key management",
    # "Enable compatibility between event sources from AWS services and encrypted topics").
    (topic,) = [r for r in template.values() if r["Type"] == "AWS::SNS::Topic"]
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_statements = _render(template[key_id]["Properties"]["KeyPolicy"]["Statement"], stage, refs)
    key_actions = ("kms:GenerateDataKey", "kms:Decrypt")
    alarms = _alarm_names(synthesis, stage)
    assert len(alarms) >= 10  # endpoint alarms in Hosting, the guard's in ModelStore
    for alarm in alarms:
        context = {
            "aws:SourceArn": f"arn:aws:cloudwatch:{stage.region}:{stage.account}:alarm:{alarm}",
            "aws:SourceAccount": stage.account,
            "aws:SecureTransport": "true",
        }
        assert policy_allows(statements, "sns:Publish", topic_arn, context, principal="cloudwatch.amazonaws.com"), alarm
        for action in key_actions:
            assert policy_allows(key_statements, action, "*", context, principal="cloudwatch.amazonaws.com"), (
                alarm,
                action,
            )
    # Not another account's alarm (confused deputy), not an alarm outside the stage, never without TLS.
    foreign = {
        "aws:SourceArn": f"arn:aws:cloudwatch:{stage.region}:999999999999:alarm:{alarms[0]}",
        "aws:SourceAccount": "999999999999",
        "aws:SecureTransport": "true",
    }
    other = {
        "aws:SourceArn": f"arn:aws:cloudwatch:{stage.region}:{stage.account}:alarm:unrelated",
        "aws:SourceAccount": stage.account,
        "aws:SecureTransport": "true",
    }
    plain = {
        **foreign,
        "aws:SourceAccount": stage.account,
        "aws:SourceArn": f"arn:aws:cloudwatch:{stage.region}:{stage.account}:alarm:{alarms[0]}",
        "aws:SecureTransport": "false",
    }
    for context in (foreign, other, plain):
        assert not policy_allows(statements, "sns:Publish", topic_arn, context, principal="cloudwatch.amazonaws.com")
    for context in (foreign, other):
        for action in key_actions:
            assert not policy_allows(key_statements, action, "*", context, principal="cloudwatch.amazonaws.com"), action


@pytest.mark.parametrize("name", examples.NAMES)
def test_service_principals_are_bound_to_this_account(synthesis: Synthesis, name: str) -> None:
    # Confused-deputy guards AWS documents for service principals in resource policies: aws:SourceAccount and
    # aws:SourceArn (SNS and SQS Developer Guides, "Key management"), CloudWatch Logs' encryption context, or for
    # EventBridge's dead letters the one key the SQS guide documents for it, aws:SourceArn.
    stage = synthesis.stage(name)
    for stack in (stage.model_store, stage.hosting):
        resources = synthesis.resources(stack)
        documents = [r["Properties"]["KeyPolicy"] for r in resources.values() if r["Type"] == "AWS::KMS::Key"]
        documents += [
            r["Properties"]["PolicyDocument"] for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"
        ]
        for document in documents:
            for statement in document["Statement"]:
                service = (
                    statement.get("Principal", {}).get("Service")
                    if isinstance(statement.get("Principal"), dict)
                    else None
                )
                if service is None or statement["Effect"] != "Allow":
                    continue
                keys = {k for pairs in statement.get("Condition", {}).values() for k in pairs}
                bound = {"aws:SourceAccount", "aws:SourceArn"} <= keys or "kms:EncryptionContext:aws:logs:arn" in keys
                if service == "events.amazonaws.com":
                    # EventBridge and an encrypted queue: aws:SourceArn is the key AWS documents (SQS Developer
                    # Guide, "Amazon SQS Key management"), an exact rule ARN of this account.
                    arns = statement["Condition"].get("ArnEquals", {}).get("aws:SourceArn", [])
                    arns = [arns] if isinstance(arns, str) else arns
                    prefix = f"arn:aws:events:{stage.region}:{stage.account}:rule/"
                    bound = bool(arns) and all(a.startswith(prefix) and "*" not in a for a in arns)
                assert bound, f"{stack.node.path}: {service} is not bound to this account: {json.dumps(statement)}"


def test_one_environments_alarm_prefix_never_covers_another_environments_alarms() -> None:
    # The topic allows alarms by name pattern: dev's pattern must not match an environment named dev-eu.
    dev = feature_environment()
    other = dev.replace(name=f"{dev.name}-eu")
    assert not fnmatch.fnmatchcase(f"{other.alarm_name_prefix}x", f"{dev.alarm_name_prefix}*")
    assert fnmatch.fnmatchcase(f"{dev.alarm_name_prefix}x", f"{dev.alarm_name_prefix}*")
