"""Least privilege, read from the synthesized templates of every stage.

The compliance packs flag some wildcards and miss others (a wildcard action inside a key policy, an
``endpoint/*`` that could name the stage's endpoints). Here every policy document of every template is read,
and each wildcard in an Allow must be in the short list below, with the reason AWS offers nothing narrower.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hosting_contract.served_prefix import capture_prefix
from stacks.config import EnvironmentConfig
from stacks.stage import ModelHostingStage
from tests import examples
from tests.support import Synthesis, as_list, feature_environment

ACCOUNT = r"\d{12}"
#: Any region: the reviewed wildcards are the same in every stage, whatever its region.
REGION = r"[a-z]{2}(-[a-z]+)+-\d"
ROOT = r'\{"AWS": "arn:aws:iam::\d{12}:root"\}'
_ARN_OF = r'\{"Fn::Join": \["", \[\{"Fn::GetAtt": \["%s[0-9A-F]{8}", "Arn"\]\}, "%s"\]\]\}'


@dataclass(frozen=True)
class Reviewed:
    """One wildcard that AWS offers nothing narrower for: where it may appear, exactly, and why."""

    owner: str
    """Regex the policy's logical id must fully match."""
    kind: str
    """Policy, Trust, KeyPolicy, BucketPolicy, TopicPolicy, QueuePolicy, RolePolicy."""
    wildcard: str
    """Regex the action (``action:...``) or resource (``resource:...``, JSON for tokens) must fully match."""
    why: str
    principal: str | None = None
    """For resource policies: a regex the statement's principal (as JSON) must fully match."""


def _multi_model_prefixes(config: EnvironmentConfig) -> list[Reviewed]:
    """A multi-model endpoint's role reads any archive of its own prefix: that prefix of that bucket, exactly."""
    return [
        Reviewed(
            rf"{examples.construct_id(mme.name)}ExecutionRoleDefaultPolicy[0-9A-F]{{8}}",
            "Policy",
            "resource:" + re.escape(f"arn:aws:s3:::{config.artifact_bucket_name}/{config.endpoint_prefix(mme.name)}*"),
            "A multi-model endpoint loads any archive of its own prefix (tag-conditioned).",
        )
        for mme in config.multi_model_endpoints
    ]


def _capture_prefixes(config: EnvironmentConfig) -> list[Reviewed]:
    """An endpoint that captures data writes any object under its own capture prefix: SageMaker names the objects
    ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`` at run time (Developer Guide, "Capture data from
    real-time endpoint")."""
    return [
        Reviewed(
            rf"{examples.construct_id(mce.name)}ExecutionRoleDefaultPolicy[0-9A-F]{{8}}",
            "Policy",
            "resource:"
            + re.escape(f"arn:aws:s3:::{config.artifact_bucket_name}/{capture_prefix(config.endpoint_name(mce.name))}")
            + r"/?\*",
            "Data capture writes objects SageMaker names at run time under the endpoint's own capture prefix.",
        )
        for mce in config.multi_container_endpoints
        if mce.data_capture is not None
    ]


REVIEWED_WILDCARDS: tuple[Reviewed, ...] = (
    # Key policies: Resource '*' is the key itself (AWS KMS Developer Guide, "Key policies").
    Reviewed(r".*Key[0-9A-F]{8}", "KeyPolicy", r"resource:\*", "A key policy's Resource '*' is its own key."),
    Reviewed(r".*Key[0-9A-F]{8}", "KeyPolicy", r"action:kms:\*", "The account root's statement.", principal=ROOT),
    *(
        Reviewed(
            r"OperationsKey[0-9A-F]{8}", "KeyPolicy", rf"action:kms:{a}\*", "CloudWatch Logs' documented key policy."
        )
        for a in ("Encrypt", "Decrypt", "ReEncrypt", "Describe")
    ),
    Reviewed(
        r"OperationsKey[0-9A-F]{8}", "KeyPolicy", r"action:kms:GenerateDataKey\*", "Logs' and alarms' statements."
    ),
    Reviewed(
        r"ArtifactGuardHandlerRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        r"action:kms:GenerateDataKey\*",
        "CDK's send grant.",
    ),
    # Names known only at run time.
    Reviewed(
        r"ArtifactGuardHandlerRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        "resource:" + _ARN_OF % ("ArtifactsBucket", "/models/\\*"),
        "Archives are named at upload time, under any served prefix of this bucket.",
    ),
    Reviewed(
        r"ArtifactGuardHandlerRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        "resource:" + _ARN_OF % ("ArtifactsBucket", "/quarantine/\\*"),
        "Rejected archives keep their upload-time names.",
    ),
    Reviewed(
        r"ArtifactsAccessLogsPolicy[0-9A-F]{8}",
        "BucketPolicy",
        "resource:" + _ARN_OF % ("ArtifactsAccessLogs", "/model-artifacts/\\*"),
        "S3 names each access-log object itself.",
        principal=r'\{"Service": "logging\.s3\.amazonaws\.com"\}',
    ),
    Reviewed(
        r"[A-Za-z0-9]+ExecutionRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        rf"resource:arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/[a-z0-9]+-[a-z0-9-]+:log-stream:\*",
        "SageMaker names the streams of the endpoint's own log group per variant and instance.",
    ),
    Reviewed(
        r"[A-Za-z0-9]+ExecutionRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        rf"resource:arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/InferenceComponents/[a-z0-9]+-[a-z0-9-]+"
        r":log-stream:\*",
        "SageMaker names the streams of an inference component's own log group per copy and instance.",
    ),
    Reviewed(
        r"[A-Za-z]+ExecutionRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        r"resource:\*",
        "cloudwatch:PutMetricData and ecr:GetAuthorizationToken take no resource.",
    ),
    Reviewed(
        r"ScalingGuardProviderRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        r"resource:\*",
        "AAS Describe*; writes condition-bound.",
    ),
    Reviewed(
        r"ScalingGuardProviderRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        rf"resource:arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/\*",
        "Endpoint configs have generated names.",
    ),
    Reviewed(
        r"ScalingGuardProviderRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        rf"resource:arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:TargetTracking-endpoint/\*",
        "Target-tracking alarm names end in a generated id.",
    ),
    Reviewed(
        r"ScalingGuardProviderRoleDefaultPolicy[0-9A-F]{8}",
        "Policy",
        rf"resource:arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/sagemaker-hosting/[a-z]+/scaling-guard/\*",
        "One snapshot parameter per released variant.",
    ),
    # Each multi-model endpoint of each configured environment: its own role, its own prefix, nothing wider.
    *(entry for config in examples.PLACEMENTS for entry in _multi_model_prefixes(config)),
    *(entry for config in examples.PLACEMENTS for entry in _capture_prefixes(config)),
    # Dev only: the CDK's bucket-emptying custom resource, in the bucket policies, for its own role.
    *(
        Reviewed(
            r"Artifacts(AccessLogs|Bucket)Policy[0-9A-F]{8}",
            "BucketPolicy",
            wildcard,
            "CDK's auto-delete empties the bucket on destroy (dev).",
            principal=r'\{"AWS": \{"Fn::GetAtt": \["CustomS3AutoDeleteObjectsCustomResourceProviderRole3B1BD092", "Arn"\]\}\}',
        )
        for wildcard in (
            r"action:s3:DeleteObject\*",
            r"action:s3:GetBucket\*",
            r"action:s3:List\*",
            "resource:" + _ARN_OF % ("Artifacts(AccessLogs|Bucket)", "/\\*"),
        )
    ),
    Reviewed(
        r"CustomS3AutoDeleteObjectsCustomResourceProviderRole3B1BD092",
        "ManagedPolicy",
        r"managed:.*service-role/AWSLambdaBasicExecutionRole.*",
        "CDK's auto-delete function (dev only) writes its logs with AWS's basic execution policy.",
    ),
)


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, document kind, statement) for every policy document and grant in ``template``."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        documents: list[tuple[str, Any]] = {
            "AWS::IAM::Policy": [("Policy", properties.get("PolicyDocument"))],
            "AWS::IAM::ManagedPolicy": [("Policy", properties.get("PolicyDocument"))],
            "AWS::IAM::Role": [("Trust", properties.get("AssumeRolePolicyDocument"))]
            + [("RolePolicy", p.get("PolicyDocument")) for p in properties.get("Policies", [])],
            "AWS::S3::BucketPolicy": [("BucketPolicy", properties.get("PolicyDocument"))],
            "AWS::SNS::TopicPolicy": [("TopicPolicy", properties.get("PolicyDocument"))],
            "AWS::SQS::QueuePolicy": [("QueuePolicy", properties.get("PolicyDocument"))],
            "AWS::KMS::Key": [("KeyPolicy", properties.get("KeyPolicy"))],
            "AWS::ECR::Repository": [("RepositoryPolicy", properties.get("RepositoryPolicyText"))],
        }.get(kind, [])
        if kind == "AWS::Logs::ResourcePolicy":
            text = properties.get("PolicyDocument", "{}")
            documents = [
                (
                    "LogsPolicy",
                    json.loads(text)
                    if isinstance(text, str)
                    else {"Statement": [{"Effect": "Allow", "Unreadable": text}]},
                )
            ]
        for document_kind, document in documents:
            for statement in (document or {}).get("Statement", []):
                yield logical_id, document_kind, statement
        if kind == "AWS::IAM::Role":
            for arn in properties.get("ManagedPolicyArns", []):
                yield logical_id, "ManagedPolicy", {"Effect": "Allow", "Managed": json.dumps(arn)}
        if kind == "AWS::Lambda::Permission":
            # A resource policy statement of the function: a service principal must name its source.
            yield (
                logical_id,
                "LambdaPermission",
                {
                    "Effect": "Allow",
                    "Principal": {"Service": properties.get("Principal")},
                    "Action": properties.get("Action"),
                    "Condition": {k: v for k, v in properties.items() if k in ("SourceArn", "SourceAccount")},
                },
            )


def _matches(entry: Reviewed, logical_id: str, kind: str, wildcard: str, principal: Any) -> bool:
    """Whether the reviewed ``entry`` covers ``wildcard`` (``action:``, ``resource:`` or ``managed:``) here."""
    return (
        entry.kind == kind
        and re.fullmatch(entry.owner, logical_id) is not None
        and re.fullmatch(entry.wildcard, wildcard) is not None
        and (entry.principal is None or re.fullmatch(entry.principal, json.dumps(principal)) is not None)
    )


def _reviewed(
    logical_id: str, kind: str, wildcard: str, principal: Any, entries: tuple[Reviewed, ...] = REVIEWED_WILDCARDS
) -> bool:
    return any(_matches(entry, logical_id, kind, wildcard, principal) for entry in entries)


def _wildcards(statement: dict[str, Any]) -> list[str]:
    values = [f"action:{a}" for a in as_list(statement.get("Action", []))]
    values += [f"resource:{r if isinstance(r, str) else json.dumps(r)}" for r in as_list(statement.get("Resource", []))]
    if "Managed" in statement:
        return [f"managed:{statement['Managed']}"]  # every managed policy is reviewed, wildcard or not
    return [v for v in values if "*" in v or "?" in v]


def _allows(synthesis: Synthesis, stages: list[ModelHostingStage]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for stage in stages:
        for stack in (stage.model_store, stage.hosting):
            for logical_id, kind, statement in _statements(synthesis.template(stack)):
                if statement.get("Effect") == "Allow" and kind != "Trust":
                    yield stack.stack_name, logical_id, kind, statement


def _stage(synthesis: Synthesis, stage_id: str) -> ModelHostingStage:
    """The stage ``stage_id`` (every region's, not only the home region's)."""
    return next(s for s in synthesis.stages if s.node.id == stage_id)


@pytest.mark.parametrize("stage_id", examples.STAGE_IDS)
def test_every_wildcard_is_reviewed(synthesis: Synthesis, stage_id: str) -> None:
    unreviewed = []
    for stack_name, logical_id, kind, statement in _allows(synthesis, [_stage(synthesis, stage_id)]):
        for wildcard in _wildcards(statement):
            if not _reviewed(logical_id, kind, wildcard, statement.get("Principal")):
                unreviewed.append(f"{stack_name}/{logical_id} ({kind}): {wildcard}")
        if "NotAction" in statement or "NotResource" in statement or "NotPrincipal" in statement:
            unreviewed.append(f"{stack_name}/{logical_id}: a Not* element in an Allow")
    assert unreviewed == []


@pytest.mark.parametrize("stage_id", examples.STAGE_IDS)
def test_resource_policies_name_their_principals_and_sources(synthesis: Synthesis, stage_id: str) -> None:
    # No Allow to anyone; a service principal is bound to this account's resources (aws:SourceAccount /
    # aws:SourceArn, a Lambda permission's SourceArn, or CloudWatch Logs' encryption context).
    for stack_name, logical_id, kind, statement in _allows(synthesis, [_stage(synthesis, stage_id)]):
        if kind in ("Policy", "RolePolicy", "ManagedPolicy"):
            continue
        principal = statement.get("Principal")
        assert principal not in ("*", {"AWS": "*"}), f"{stack_name}/{logical_id}: Allow to anyone"
        if isinstance(principal, dict) and "Service" in principal:
            keys: set[str] = set()
            for operator, pairs in statement.get("Condition", {}).items():
                # A Lambda permission's SourceArn/SourceAccount are properties, kept here as their own keys.
                keys |= {operator} if operator in ("SourceArn", "SourceAccount") else set(pairs)
            bound = bool(
                keys & {"aws:SourceArn", "aws:SourceAccount", "SourceArn", "kms:EncryptionContext:aws:logs:arn"}
            )
            assert bound, f"{stack_name}/{logical_id} ({kind}): {principal} has no source condition"


def test_the_reviewed_list_has_no_stale_entry(synthesis: Synthesis) -> None:
    used = set()
    for _, logical_id, kind, statement in _allows(synthesis, synthesis.stages):
        for wildcard in _wildcards(statement):
            used |= {
                e for e in REVIEWED_WILDCARDS if _matches(e, logical_id, kind, wildcard, statement.get("Principal"))
            }
    assert set(REVIEWED_WILDCARDS) - used == set()


def test_the_review_is_exact_not_a_substring_match() -> None:
    # A pattern for one endpoint's prefix must not accept every endpoint's, another bucket, or another role.
    config = feature_environment()
    entries = (*REVIEWED_WILDCARDS, *_multi_model_prefixes(config))
    role = "PricesExecutionRoleDefaultPolicy12345678"
    bucket = config.artifact_bucket_name
    assert _reviewed(role, "Policy", f"resource:arn:aws:s3:::{bucket}/models/dev-prices/*", None, entries)
    assert not _reviewed(role, "Policy", f"resource:arn:aws:s3:::{bucket}/models/*", None, entries)
    assert not _reviewed(role, "Policy", f"resource:arn:aws:s3:::{bucket}/models/dev-prices-2/*", None, entries)
    assert not _reviewed(role, "Policy", "resource:arn:aws:s3:::*/models/dev-prices/*", None, entries)
    assert not _reviewed(role, "Policy", f"resource:arn:aws:s3:::{bucket}x/models/dev-prices/*", None, entries)
    assert not _reviewed(
        "VisionExecutionRoleDefaultPolicy12345678",
        "Policy",
        f"resource:arn:aws:s3:::{bucket}/models/dev-prices/*",
        None,
        entries,
    )
    assert not _reviewed(
        role, "Policy", "resource:arn:aws:logs:eu-west-1:111111111111:log-group:*:log-stream:*", None, entries
    )
    assert not _reviewed("ExecutionRoleReaderDefaultPolicy12345678", "Policy", "resource:*", None, entries)
    assert not _reviewed("ArtifactsKeyA4B22E2B", "KeyPolicy", "action:kms:*", {"AWS": "*"}, entries)


@pytest.mark.parametrize("name", examples.NAMES)
def test_execution_roles_trust_sagemaker_for_this_account_only(synthesis: Synthesis, name: str) -> None:
    # SageMaker Developer Guide, "Cross-service confused deputy prevention": aws:SourceAccount and aws:SourceArn.
    stage = synthesis.stage(name)
    template = synthesis.template(stage.hosting)
    trusts = [
        statement
        for logical_id, kind, statement in _statements(template)
        if kind == "Trust" and statement.get("Principal") == {"Service": "sagemaker.amazonaws.com"}
    ]
    assert len(trusts) == len(stage.config.endpoint_names())  # one execution role per endpoint
    for statement in trusts:
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": stage.account},
            "ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:{stage.region}:{stage.account}:*"},
        }


@pytest.mark.parametrize("name", examples.NAMES)
def test_custom_resources_reach_only_this_stages_endpoints(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    template = synthesis.template(stage.hosting)
    arn = f"arn:aws:sagemaker:{stage.region}:{stage.account}:endpoint/"
    for logical_id, _, statement in _statements(template):
        actions = as_list(statement.get("Action", []))
        if "sagemaker:DescribeEndpoint" in actions or "sagemaker:UpdateEndpointWeightsAndCapacities" in actions:
            for resource in as_list(statement["Resource"]):
                assert resource.startswith(arn), (logical_id, resource)
                assert resource[len(arn) :] in stage.config.endpoint_names(), (logical_id, resource)
    scaling = [
        s
        for logical_id, _, s in _statements(template)
        if logical_id.startswith("ScalingGuardProviderRole")
        and "application-autoscaling:RegisterScalableTarget" in as_list(s["Action"])
    ]
    assert [s["Condition"] for s in scaling] == [
        {
            "StringEquals": {
                "application-autoscaling:service-namespace": "sagemaker",
                "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
            }
        }
    ]


@pytest.mark.parametrize("name", examples.NAMES)
def test_serving_images_are_encrypted_with_the_stage_key(synthesis: Synthesis, name: str) -> None:
    (repository,) = synthesis.resources(synthesis.stage(name).model_store, "AWS::ECR::Repository").values()
    assert repository["Properties"]["EncryptionConfiguration"] == {
        "EncryptionType": "KMS",
        "KmsKey": {"Fn::GetAtt": ["ArtifactsKeyA4B22E2B", "Arn"]},
    }


@pytest.mark.parametrize("name", examples.NAMES)
def test_built_in_algorithm_models_run_without_network(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    models = synthesis.resources(stage.hosting, "AWS::SageMaker::Model")
    isolated = {
        re.sub(r"Model[0-9A-F]{8}$", "", k): m["Properties"].get("EnableNetworkIsolation", False)
        for k, m in models.items()
    }
    # The examples' pins (tests/examples.py): the first-party pipeline only.
    expected = {
        examples.construct_id(endpoint): isolation
        for endpoint, isolation in examples.PINNED_NETWORK_ISOLATION.items()
        if name in examples.having(endpoint)
    }
    # An endpoint's models: its own (multi-model, multi-container) or one per component (<Endpoint><Component>).
    found = {cid: {v for k, v in isolated.items() if k.startswith(cid)} for cid in expected}
    assert found == {cid: {isolation} for cid, isolation in expected.items()}
