"""ServingImageRepository: scan on push, immutable tags, lifecycle rules, retention."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import ServingImageRepository, ValidationError
from tests.support import make_app


def test_repository_properties() -> None:
    stack = cdk.Stack(make_app(), "Images")
    ServingImageRepository(stack, "Repo", removal_policy=cdk.RemovalPolicy.RETAIN, max_image_count=7)
    template = Template.from_stack(stack)
    repositories = template.find_resources("AWS::ECR::Repository")
    assert len(repositories) == 1
    repository = next(iter(repositories.values()))
    assert repository["DeletionPolicy"] == "Retain"
    props = repository["Properties"]
    assert props["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert props["ImageTagMutability"] == "IMMUTABLE"
    # RETAIN: the repository and its images outlive the stack (DESTROY sets EmptyOnDelete: see below).
    assert props["EmptyOnDelete"] is False
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [
        (r["selection"]["tagStatus"], r["selection"]["countType"], r["selection"]["countNumber"]) for r in rules
    ] == [
        ("untagged", "sinceImagePushed", 14),
        ("any", "imageCountMoreThan", 7),
    ]


def test_image_count_below_one_is_refused() -> None:
    stack = cdk.Stack(make_app(), "Images")
    with pytest.raises(ValidationError, match=r"ServingImageRepository Images/Repo: max_image_count .* got 0"):
        ServingImageRepository(stack, "Repo", removal_policy=cdk.RemovalPolicy.RETAIN, max_image_count=0)


def test_a_destroyed_repository_is_emptied_first() -> None:
    # CloudFormation deletes a repository that holds images only with EmptyOnDelete (AWS::ECR::Repository):
    # without it, destroying a development stage fails on its first pushed image.
    stack = cdk.Stack(make_app(), "Images")
    ServingImageRepository(stack, "Repo", removal_policy=cdk.RemovalPolicy.DESTROY)
    (repository,) = Template.from_stack(stack).find_resources("AWS::ECR::Repository").values()
    assert (repository["DeletionPolicy"], repository["Properties"]["EmptyOnDelete"]) == ("Delete", True)
