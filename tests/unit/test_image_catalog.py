"""image_catalog: URIs as the SageMaker Python SDK's image tables (sagemaker-core's image_uri_config) yield them.

The expected URIs are what ``sagemaker.core.image_uris.retrieve`` returns for the same inputs with sagemaker-core
2.27.0 (the pin in requirements.txt); a bump that changes them is a change of the images the stacks deploy.
"""

from __future__ import annotations

import sys

import pytest

from constructs_lib import ValidationError, image_catalog

EU = "eu-west-1"
DLC = "763104351884.dkr.ecr.eu-west-1.amazonaws.com"  # AWS Deep Learning Containers' registry in eu-west-1
FIRST_PARTY = "141502667606.dkr.ecr.eu-west-1.amazonaws.com"  # SageMaker's algorithm images in eu-west-1


@pytest.mark.parametrize(
    ("framework", "version", "kwargs", "uri"),
    [
        # The examples' images: TensorFlow 2.20.0 is the newest TensorFlow Serving version with a py version.
        ("tensorflow", "2.20.0", {}, f"{DLC}/tensorflow-inference:2.20.0-cpu-py312"),
        ("pytorch", "2.6.0", {}, f"{DLC}/pytorch-inference:2.6.0-cpu-py312"),
        ("xgboost", "1.7-1", {}, f"{FIRST_PARTY}/sagemaker-xgboost:1.7-1"),
        ("sklearn", "1.2-1", {}, f"{FIRST_PARTY}/sagemaker-scikit-learn:1.2-1-cpu-py3"),
        # Processor, Python version and aliases as the SDK handles them.
        ("pytorch", "2.6.0", {"processor": "gpu", "py_version": "py312"}, f"{DLC}/pytorch-inference:2.6.0-gpu-py312"),
        ("tensorflow", "2.20", {}, f"{DLC}/tensorflow-inference:2.20-cpu-py312"),  # the SDK tags with the alias
        ("tensorflow", "2.19.0", {}, f"{DLC}/tensorflow-inference:2.19.0-cpu"),  # no py version in that tag
        ("xgboost", "1.7-1", {"processor": "gpu"}, f"{FIRST_PARTY}/sagemaker-xgboost:1.7-1"),  # one build for both
        ("sagemaker-tritonserver", "24.09", {"processor": "gpu"}, f"{DLC}/sagemaker-tritonserver:24.09-py3"),
        ("sagemaker-tritonserver", "24.09", {}, f"{DLC}/sagemaker-tritonserver:24.09-py3-cpu"),
        (
            "tensorflow",
            "2.16.1",
            {"image_scope": "inference_graviton"},
            f"{DLC}/tensorflow-inference-graviton:2.16.1-cpu-py310-ubuntu20.04-sagemaker",
        ),
        ("xgboost", "1.5-1", {"image_scope": "inference_graviton"}, f"{FIRST_PARTY}/sagemaker-xgboost:1.5-1-arm64"),
    ],
)
def test_uri_as_the_sdk_builds_it(framework: str, version: str, kwargs: dict[str, str], uri: str) -> None:
    assert image_catalog.image_uri(framework, version, region=EU, **kwargs) == uri


def test_account_and_domain_follow_the_region() -> None:
    assert (
        image_catalog.image_uri("xgboost", "1.7-1", region="us-east-1")
        == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    )
    assert (
        image_catalog.image_uri("pytorch", "2.6.0", region="cn-north-1")
        == "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-inference:2.6.0-cpu-py312"
    )


def test_found_image_names_repository_and_tag() -> None:
    image = image_catalog.find("sklearn", "1.2-1")
    assert (image.framework, image.repository, image.tag) == ("sklearn", "sagemaker-scikit-learn", "1.2-1-cpu-py3")
    assert image.account(EU) == "141502667606"


def _one_line(error: pytest.ExceptionInfo[ValidationError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_unknown_version_lists_the_nearest() -> None:
    with pytest.raises(ValidationError) as error:
        image_catalog.find("tensorflow", "2.19.5")
    assert _one_line(error) == (
        "tensorflow inference: version '2.19.5' is not in sagemaker/core/image_uri_config/tensorflow.json of "
        f"sagemaker-core {image_catalog.table_version()}; nearest: 2.18.0, 2.19, 2.19.0, 2.20, 2.20.0"
    )


def test_unknown_region_lists_the_nearest() -> None:
    with pytest.raises(ValidationError) as error:
        image_catalog.image_uri("tensorflow", "2.20.0", region="eu-west-9")
    message = _one_line(error)
    assert message.startswith("tensorflow inference 2.20.0: no image in region 'eu-west-9' in ")
    assert message.endswith("nearest: eu-west-3, eu-west-2, eu-west-1, us-west-2, us-west-1")


def test_unknown_framework_lists_the_nearest() -> None:
    with pytest.raises(ValidationError) as error:
        image_catalog.find("tensorflw", "2.20.0")
    assert "framework 'tensorflw' has no table" in _one_line(error)
    assert "nearest: tensorflow, " in str(error.value)


@pytest.mark.parametrize(
    ("framework", "version", "kwargs", "match"),
    [
        # The tag the configuration once hand-typed: TensorFlow Serving 2.19.0 images carry no Python version.
        (
            "tensorflow",
            "2.19.0",
            {"py_version": "py312"},
            r"image tag has no Python version .* drop py_version='py312'",
        ),
        ("pytorch", "2.6.0", {"py_version": "py311"}, r"py_version 'py311' is not in .*pytorch.json.*; known: py312$"),
        ("pytorch", "2.6.0", {"processor": "inf"}, r"processor 'inf' is not in .*pytorch.json.*; known: cpu, gpu$"),
        ("pytorch", "1.8.0", {}, r"give py_version, one of py3, py36 in "),
        ("xgboost", "1.7-1", {"image_scope": "eia"}, r"image scope 'eia' is not in .*; known: inference, training"),
        ("huggingface", "4.49.0", {}, r"huggingface: tags carry a PyTorch or TensorFlow version"),
    ],
)
def test_values_the_table_does_not_have(framework: str, version: str, kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValidationError, match=match) as error:
        image_catalog.find(framework, version, **kwargs)
    _one_line(error)


def test_tables_are_read_without_importing_the_sdk() -> None:
    image_catalog.find("xgboost", "1.7-1")
    assert "sagemaker.core" not in sys.modules  # its import takes seconds and loads the whole SDK
