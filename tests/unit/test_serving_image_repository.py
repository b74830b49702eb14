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
    assert "EmptyOnDelete" not in props
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
