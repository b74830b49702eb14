"""Least privilege, read from the synthesized templates of every stage.

The compliance packs flag some wildcards and miss others (a wildcard action inside a key policy, an
``endpoint/*`` that could name the stage's endpoints). Here every policy document of every template is read,
and each wildcard in an Allow must be in the short list below, with the reason AWS offers nothing narrower.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.environments import ENVIRONMENTS
from stacks.stage import ModelHostingStage

#: (policy owner's logical-id prefix, the wildcard action or resource pattern, why AWS offers nothing narrower)
REVIEWED_WILDCARDS: tuple[tuple[str, str, str], ...] = (
    # Key policies: "Resource": "*" in a key policy means the key itself (AWS KMS Developer Guide, "Key policies").
    ("", "resource:*@KeyPolicy", "A key policy's Resource '*' is the key it is attached to."),
    ("", "action:kms:*@KeyPolicy", "The account root's statement every key keeps, so IAM policies can grant use."),
    (
        "OperationsKey",
        "action:kms:Encrypt*",
        "CloudWatch Logs' documented key-policy statement, bound by the log group ARN.",
    ),
    (
        "OperationsKey",
        "action:kms:Decrypt*",
        "CloudWatch Logs' documented key-policy statement, bound by the log group ARN.",
    ),
    (
        "OperationsKey",
        "action:kms:ReEncrypt*",
        "CloudWatch Logs' documented key-policy statement, bound by the log group ARN.",
    ),
    ("OperationsKey", "action:kms:GenerateDataKey*", "CloudWatch Logs and CloudWatch alarms' documented statements."),
    (
        "OperationsKey",
        "action:kms:Describe*",
        "CloudWatch Logs' documented key-policy statement, bound by the log group ARN.",
    ),
    (
        "ArtifactGuardHandlerRole",
        "action:kms:GenerateDataKey*",
        "CDK's grant to send to its KMS-encrypted queue and topic.",
    ),
    # Resources that carry names known only at run time.
    ("ArtifactGuardHandlerRole", "resource:/models/*", "Archives are named at upload time, under any served prefix."),
    ("ArtifactGuardHandlerRole", "resource:/quarantine/*", "Rejected archives keep their upload-time names."),
    ("ArtifactsAccessLogsPolicy", "resource:/model-artifacts/*", "S3 names each access-log object itself."),
    ("ExecutionRole", "resource:/models/", "A multi-model endpoint loads any archive of its own prefix."),
    ("ExecutionRole", "resource::log-stream:*", "SageMaker names its log streams per variant and instance."),
    ("ExecutionRole", "resource:*", "cloudwatch:PutMetricData and ecr:GetAuthorizationToken take no resource."),
    (
        "ScalingGuardProviderRole",
        "resource:*",
        "Application Auto Scaling: Describe* take no resource; writes are condition-bound.",
    ),
    ("ScalingGuardProviderRole", "resource::endpoint-config/*", "Endpoint configs have generated names."),
    ("ScalingGuardProviderRole", "resource::alarm:TargetTracking-endpoint/*", "Alarm names end in a generated id."),
    ("ScalingGuardProviderRole", "resource:/scaling-guard/*", "One snapshot parameter per released variant."),
    # Dev only: the CDK's bucket-emptying custom resource, granted in the bucket policy to its own role.
    ("Artifacts", "action:s3:DeleteObject*@BucketPolicy", "CDK's auto-delete: every object version, on destroy."),
    ("Artifacts", "action:s3:GetBucket*@BucketPolicy", "CDK's auto-delete reads the bucket's settings first."),
    ("Artifacts", "action:s3:List*@BucketPolicy", "CDK's auto-delete lists every object version."),
    ("Artifacts", 'resource:"/*"@BucketPolicy', "CDK's auto-delete empties the whole bucket."),
)


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, document kind, statement) for every policy document in ``template``."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = {
            "AWS::IAM::Policy": [("Policy", properties.get("PolicyDocument"))],
            "AWS::IAM::Role": [("Trust", properties.get("AssumeRolePolicyDocument"))],
            "AWS::S3::BucketPolicy": [("BucketPolicy", properties.get("PolicyDocument"))],
            "AWS::SNS::TopicPolicy": [("TopicPolicy", properties.get("PolicyDocument"))],
            "AWS::SQS::QueuePolicy": [("QueuePolicy", properties.get("PolicyDocument"))],
            "AWS::KMS::Key": [("KeyPolicy", properties.get("KeyPolicy"))],
        }.get(resource["Type"], [])
        for kind, document in documents:
            for statement in (document or {}).get("Statement", []):
                yield logical_id, kind, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(entry: tuple[str, str, str], logical_id: str, kind: str, wildcard: str) -> bool:
    """Whether the reviewed ``entry`` covers ``wildcard`` (``action:...`` or ``resource:...``) of this policy."""
    owner, pattern, _ = entry
    scope, _, only_in = pattern.partition("@")
    if (only_in and only_in != kind) or owner not in logical_id:
        return False
    what, _, text = scope.partition(":")
    if not wildcard.startswith(f"{what}:"):
        return False
    value = wildcard[len(what) + 1 :]
    return value == text or (text != "*" and text in value)


def _reviewed(logical_id: str, kind: str, wildcard: str) -> bool:
    return any(_matches(entry, logical_id, kind, wildcard) for entry in REVIEWED_WILDCARDS)


def _wildcards(statement: dict[str, Any]) -> list[str]:
    values = [f"action:{a}" for a in _as_list(statement.get("Action", []))]
    values += [
        f"resource:{r if isinstance(r, str) else json.dumps(r)}" for r in _as_list(statement.get("Resource", []))
    ]
    return [v for v in values if "*" in v]


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_every_wildcard_is_reviewed(stages: list[ModelHostingStage], name: str) -> None:
    stage = next(s for s in stages if s.config.name == name)
    unreviewed = []
    for stack in (stage.model_store, stage.hosting):
        for logical_id, kind, statement in _statements(Template.from_stack(stack).to_json()):
            if statement.get("Effect") != "Allow" or kind == "Trust":
                continue
            for wildcard in _wildcards(statement):
                if not _reviewed(logical_id, kind, wildcard):
                    unreviewed.append(f"{stack.stack_name}/{logical_id} ({kind}): {wildcard}")
            if "NotAction" in statement or "NotResource" in statement:
                unreviewed.append(f"{stack.stack_name}/{logical_id}: NotAction/NotResource in an Allow")
    assert unreviewed == []


def test_the_reviewed_list_has_no_stale_entry(stages: list[ModelHostingStage]) -> None:
    used = set()
    for stage in stages:
        for stack in (stage.model_store, stage.hosting):
            for logical_id, kind, statement in _statements(Template.from_stack(stack).to_json()):
                if statement.get("Effect") == "Allow" and kind != "Trust":
                    for wildcard in _wildcards(statement):
                        used |= {e for e in REVIEWED_WILDCARDS if _matches(e, logical_id, kind, wildcard)}
    assert set(REVIEWED_WILDCARDS) - used == set()


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_execution_roles_trust_sagemaker_for_this_account_only(stages: list[ModelHostingStage], name: str) -> None:
    # SageMaker Developer Guide, "Cross-service confused deputy prevention": aws:SourceAccount and aws:SourceArn.
    stage = next(s for s in stages if s.config.name == name)
    template = Template.from_stack(stage.hosting).to_json()
    trusts = [
        statement
        for logical_id, kind, statement in _statements(template)
        if kind == "Trust" and statement.get("Principal") == {"Service": "sagemaker.amazonaws.com"}
    ]
    assert len(trusts) == 3
    for statement in trusts:
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": stage.account},
            "ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:{stage.region}:{stage.account}:*"},
        }


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_custom_resources_reach_only_this_stages_endpoints(stages: list[ModelHostingStage], name: str) -> None:
    stage = next(s for s in stages if s.config.name == name)
    template = Template.from_stack(stage.hosting).to_json()
    arn = f"arn:aws:sagemaker:{stage.region}:{stage.account}:endpoint/"
    for logical_id, _, statement in _statements(template):
        actions = _as_list(statement.get("Action", []))
        if "sagemaker:DescribeEndpoint" in actions or "sagemaker:UpdateEndpointWeightsAndCapacities" in actions:
            for resource in _as_list(statement["Resource"]):
                assert resource.startswith(arn), (logical_id, resource)
                assert resource[len(arn) :] in stage.config.endpoint_names(), (logical_id, resource)
    scaling = [
        s
        for logical_id, _, s in _statements(template)
        if logical_id.startswith("ScalingGuardProviderRole")
        and "application-autoscaling:RegisterScalableTarget" in _as_list(s["Action"])
    ]
    assert [s["Condition"] for s in scaling] == [
        {
            "StringEquals": {
                "application-autoscaling:service-namespace": "sagemaker",
                "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
            }
        }
    ]


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_serving_images_are_encrypted_with_the_stage_key(stages: list[ModelHostingStage], name: str) -> None:
    stage = next(s for s in stages if s.config.name == name)
    (repository,) = Template.from_stack(stage.model_store).find_resources("AWS::ECR::Repository").values()
    assert repository["Properties"]["EncryptionConfiguration"] == {
        "EncryptionType": "KMS",
        "KmsKey": {"Fn::GetAtt": ["ArtifactsKeyA4B22E2B", "Arn"]},
    }


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_built_in_algorithm_models_run_without_network(stages: list[ModelHostingStage], name: str) -> None:
    stage = next(s for s in stages if s.config.name == name)
    models = Template.from_stack(stage.hosting).find_resources("AWS::SageMaker::Model")
    isolated = {
        re.sub(r"Model[0-9A-F]{8}$", "", k): m["Properties"].get("EnableNetworkIsolation", False)
        for k, m in models.items()
    }
    # The scikit-learn -> XGBoost pipeline serves from its archives alone; the framework containers may install
    # code/requirements.txt, and AWS documents no network isolation for multi-model endpoints.
    assert isolated == {"HomeValues": False, "Mnist": False, "ChurnPipeline": True}
