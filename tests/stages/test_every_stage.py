"""Every environment synthesizes, with the stateful resources it must keep."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from stacks.config import ENVIRONMENTS
from stacks.stage import ModelHostingStage

# Stateful resources: renaming one of these replaces it, and a replaced bucket or key loses every artifact.
PINNED_LOGICAL_IDS = {
    "ArtifactsKeyA4B22E2B": "AWS::KMS::Key",
    "ArtifactsAccessLogs4D97777C": "AWS::S3::Bucket",
    "ArtifactsBucket88671897": "AWS::S3::Bucket",
    "ServingImagesA123629F": "AWS::ECR::Repository",
}


def _stage(stages: list[ModelHostingStage], name: str) -> ModelHostingStage:
    return next(s for s in stages if s.config.name == name)


def test_one_stage_per_environment(stages: list[ModelHostingStage]) -> None:
    assert [s.node.id for s in stages] == ["Dev", "Staging", "Prod"]
    for stage, config in zip(stages, ENVIRONMENTS, strict=True):
        assert (stage.account, stage.region) == (config.account, config.region)


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_stateful_logical_ids_are_pinned(stages: list[ModelHostingStage], name: str) -> None:
    template = Template.from_stack(_stage(stages, name).model_store)
    for logical_id, resource_type in PINNED_LOGICAL_IDS.items():
        assert logical_id in template.find_resources(resource_type), f"{name}: {logical_id} ({resource_type}) moved"


@pytest.mark.parametrize(("name", "policy"), [("dev", "Delete"), ("staging", "Retain"), ("prod", "Retain")])
def test_retention_per_environment(stages: list[ModelHostingStage], name: str, policy: str) -> None:
    stage = _stage(stages, name)
    resources = Template.from_stack(stage.model_store).to_json()["Resources"]
    for logical_id in PINNED_LOGICAL_IDS:
        assert resources[logical_id]["DeletionPolicy"] == policy
        assert resources[logical_id]["UpdateReplacePolicy"] == policy
    assert stage.model_store.termination_protection is (policy == "Retain")


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_discovery_parameters(stages: list[ModelHostingStage], name: str) -> None:
    template = Template.from_stack(_stage(stages, name).model_store)
    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in template.find_resources("AWS::SSM::Parameter").values()
    }
    prefix = f"/sagemaker-hosting/{name}/model-store"
    assert parameters == {
        f"{prefix}/bucket-name": {"Ref": "ArtifactsBucket88671897"},
        f"{prefix}/kms-key-arn": {"Fn::GetAtt": ["ArtifactsKeyA4B22E2B", "Arn"]},
        f"{prefix}/repository-uri": parameters[f"{prefix}/repository-uri"],
    }
    assert "ServingImagesA123629F" in str(parameters[f"{prefix}/repository-uri"])


def test_typed_exports(stages: list[ModelHostingStage]) -> None:
    store = stages[0].model_store
    assert store.bucket is store.artifact_store.bucket
    assert store.key is store.artifact_store.key
    assert store.parameter_path == "/sagemaker-hosting/dev/model-store"
