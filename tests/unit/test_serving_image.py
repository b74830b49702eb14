"""ServingImage: URIs from each source, pull grants on exactly that repository, and input validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from constructs_lib import ServingImage, ValidationError
from tests.support import ROOT, make_app

EU = cdk.Environment(account="111111111111", region="eu-west-1")
BYOC = ROOT / "images" / "multi-model-server"


def _bind(image: ServingImage, env: cdk.Environment | None = EU) -> tuple[cdk.Stack, Any, Template]:
    stack = cdk.Stack(make_app(), "Images", env=env)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    uri = image.bind(stack, role)
    resolved = stack.resolve(uri)
    return stack, resolved, Template.from_stack(stack)


def _pull_resources(template: Template) -> list[object]:
    policy = next(iter(template.find_resources("AWS::IAM::Policy").values()))
    return [
        s["Resource"] for s in policy["Properties"]["PolicyDocument"]["Statement"] if "ecr:BatchGetImage" in s["Action"]
    ]


def test_deep_learning_container_in_a_regional_stack() -> None:
    _, uri, template = _bind(ServingImage.from_deep_learning_container("pytorch-inference", "2.3.0-cpu-py311"))
    assert uri == {
        "Fn::Join": [
            "",
            ["763104351884.dkr.ecr.eu-west-1.", {"Ref": "AWS::URLSuffix"}, "/pytorch-inference:2.3.0-cpu-py311"],
        ]
    }
    assert _pull_resources(template) == ["arn:aws:ecr:eu-west-1:763104351884:repository/pytorch-inference"]


def test_deep_learning_container_account_follows_region_facts() -> None:
    env = cdk.Environment(account="111111111111", region="ap-east-1")
    _, uri, _ = _bind(ServingImage.from_deep_learning_container("pytorch-inference", "2.3.0-cpu-py311"), env)
    assert uri["Fn::Join"][1][0] == "871362719292.dkr.ecr.ap-east-1."


def test_deep_learning_container_in_an_environment_agnostic_stack() -> None:
    _, uri, template = _bind(ServingImage.from_deep_learning_container("pytorch-inference", "2.3.0-cpu-py311"), None)
    assert "Fn::FindInMap" in json.dumps(uri)  # resolved per region at deploy time
    assert template.to_json()["Mappings"]


def test_registry_image_grants_pull_on_its_repository_only() -> None:
    image = ServingImage.from_registry("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1")
    _, uri, template = _bind(image)
    assert uri == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert _pull_resources(template) == ["arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost"]
    assert not image.is_triton


def test_registry_image_in_another_region_is_refused() -> None:
    image = ServingImage.from_registry("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1")
    with pytest.raises(ValidationError, match=r"image region 'us-east-1' differs from the stack's region 'eu-west-1'"):
        _bind(image)


@pytest.mark.parametrize(
    "uri", ["xgboost:1.7-1", "docker.io/library/python:3.11", "141502667606.dkr.ecr.eu-west-1.amazonaws.com/x"]
)
def test_registry_uri_shape(uri: str) -> None:
    with pytest.raises(ValidationError, match=rf"image_uri '{uri}' is not an ECR image URI"):
        ServingImage.from_registry(uri)


def test_triton_is_detected_from_the_repository() -> None:
    assert ServingImage.from_registry(
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-tritonserver:24.09-py3"
    ).is_triton
    assert ServingImage.from_deep_learning_container("sagemaker-tritonserver", "24.09-py3").is_triton


def test_own_repository_by_tag_and_by_digest() -> None:
    stack = cdk.Stack(make_app(), "Images", env=EU)
    repository = ecr.Repository(stack, "Repo")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    digest = "sha256:" + "a" * 64
    by_tag = stack.resolve(ServingImage.from_ecr_repository(repository, tag="v1").bind(stack, role))
    by_digest = stack.resolve(ServingImage.from_ecr_repository(repository, digest=digest).bind(stack, role))
    assert json.dumps(by_tag).endswith(':v1"]]}')
    assert json.dumps(by_digest).endswith(f'@{digest}"]]}}')


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "give exactly one of tag or digest"),
        ({"tag": "v1", "digest": "sha256:" + "a" * 64}, "give exactly one of tag or digest"),
        ({"tag": "bad tag"}, "tag 'bad tag' is not a valid image tag"),
        ({"digest": "md5:abc"}, "digest 'md5:abc' must be sha256"),
    ],
)
def test_own_repository_reference_is_validated(kwargs: dict[str, str], match: str) -> None:
    repository = ecr.Repository(cdk.Stack(make_app(), "S"), "Repo")
    with pytest.raises(ValidationError, match=match):
        ServingImage.from_ecr_repository(repository, **kwargs)


def test_shipped_byoc_directory_is_an_image_asset_without_docker() -> None:
    stack, uri, _ = _bind(ServingImage.from_asset(BYOC))
    assert "cdk-hnb659fds-container-assets" in json.dumps(uri)
    assembly = stack.node.scope.synth()  # type: ignore[union-attr]
    assets = json.loads(Path(assembly.directory, "Images.assets.json").read_text())
    assert len(assets["dockerImages"]) == 1


def test_shipped_byoc_dockerfile_declares_the_capabilities() -> None:
    dockerfile = (BYOC / "Dockerfile").read_text()
    assert "LABEL com.amazonaws.sagemaker.capabilities.multi-models=true" in dockerfile
    assert "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in dockerfile
    assert 'ENTRYPOINT ["python"' in dockerfile  # exec form: the server receives SIGTERM


def test_asset_without_dockerfile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="has no Dockerfile"):
        ServingImage.from_asset(tmp_path)


# ServingImage.from_framework: URIs from the SageMaker Python SDK's image tables (sagemaker-core's
# image_uri_config/<framework>.json), for the stack's region.


@pytest.mark.parametrize(
    ("image", "uri", "repository", "framework"),
    [
        (
            ServingImage.from_framework("tensorflow", "2.20.0"),
            "763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-inference:2.20.0-cpu-py312",
            "arn:aws:ecr:eu-west-1:763104351884:repository/tensorflow-inference",
            "tensorflow",
        ),
        (
            ServingImage.from_framework("pytorch", "2.6.0"),
            "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
            "arn:aws:ecr:eu-west-1:763104351884:repository/pytorch-inference",
            "pytorch",
        ),
        (
            ServingImage.from_framework("xgboost", "1.7-1"),
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost",
            "xgboost",
        ),
        (
            ServingImage.from_framework("sklearn", "1.2-1"),
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn",
            "sklearn",
        ),
    ],
    ids=["tensorflow", "pytorch", "xgboost", "sklearn"],
)
def test_framework_image_of_the_stack_region(image: ServingImage, uri: str, repository: str, framework: str) -> None:
    _, resolved, template = _bind(image)
    assert resolved == uri
    assert _pull_resources(template) == [repository]
    assert image.framework == framework
    assert not image.is_triton


def test_framework_image_follows_the_stack_region() -> None:
    env = cdk.Environment(account="111111111111", region="us-east-1")
    _, resolved, template = _bind(ServingImage.from_framework("xgboost", "1.7-1"), env)
    assert resolved == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert _pull_resources(template) == ["arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-xgboost"]


def test_framework_triton_image() -> None:
    image = ServingImage.from_framework("sagemaker-tritonserver", "24.09", processor="gpu")
    assert image.is_triton
    assert image.framework == "sagemaker-tritonserver"
    assert _bind(image)[1] == "763104351884.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-tritonserver:24.09-py3"


def test_framework_version_the_table_lacks_fails_at_once_naming_the_nearest() -> None:
    with pytest.raises(ValidationError) as error:
        ServingImage.from_framework("tensorflow", "2.19.5")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("ServingImage.from_framework: tensorflow inference: version '2.19.5' is not in ")
    assert message.endswith("nearest: 2.18.0, 2.19, 2.19.0, 2.20, 2.20.0")


def test_framework_image_in_a_region_the_table_lacks() -> None:
    env = cdk.Environment(account="111111111111", region="us-iso-east-1")
    with pytest.raises(ValidationError) as error:
        _bind(ServingImage.from_framework("tensorflow", "2.20.0"), env)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "ServingImage.from_framework: tensorflow inference 2.20.0: no image in region 'us-iso-east-1' in "
    )
    assert "nearest: " in message


def test_framework_image_needs_a_concrete_region() -> None:
    with pytest.raises(ValidationError) as error:
        _bind(ServingImage.from_framework("pytorch", "2.6.0"), None)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("ServingImage.from_framework: pytorch inference 2.6.0: the stack's region is unresolved")


@pytest.mark.parametrize(
    ("image", "framework"),
    [
        (ServingImage.from_deep_learning_container("tensorflow-inference", "2.20.0-cpu-py312"), "tensorflow"),
        (ServingImage.from_deep_learning_container("pytorch-inference", "2.6.0-cpu-py312"), "pytorch"),
        (ServingImage.from_deep_learning_container("pytorch-inference-graviton", "2.4.0-cpu-py311"), "pytorch"),
        (ServingImage.from_deep_learning_container("huggingface-pytorch-inference", "2.6.0-cpu"), "huggingface"),
        (ServingImage.from_deep_learning_container("sagemaker-tritonserver", "24.09-py3"), "sagemaker-tritonserver"),
        (ServingImage.from_registry("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"), "xgboost"),
        (
            ServingImage.from_registry(
                "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
            ),
            "sklearn",
        ),
        (ServingImage.from_registry("111111111111.dkr.ecr.eu-west-1.amazonaws.com/my-inference-server:v1"), None),
        (ServingImage.from_asset(BYOC), None),
    ],
)
def test_framework_is_read_from_aws_repository_names(image: ServingImage, framework: str | None) -> None:
    assert image.framework == framework
