"""EndpointSmokeTest: ordering, properties, the narrow invoke grant, and validation."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from constructs_lib import SmokeInvocation, ValidationError
from constructs_lib.smoke_test import EndpointSmokeTest
from stacks.config import ENVIRONMENTS
from stacks.stage import ModelHostingStage
from tests.support import make_app


def _prod(stages: list[ModelHostingStage]) -> Template:
    return Template.from_stack(next(s for s in stages if s.config.name == "prod").hosting)


def test_smoke_tests_run_after_each_endpoint_with_its_new_config(stages: list[ModelHostingStage]) -> None:
    template = _prod(stages)
    tests = template.find_resources("Custom::SageMakerSmokeTest")
    assert len(tests) == 3
    home = next(t for k, t in tests.items() if k.startswith("HomeValues"))
    (config_id,) = [k for k in template.find_resources("AWS::SageMaker::EndpointConfig") if k.startswith("HomeValues")]
    (endpoint_id,) = [k for k in template.find_resources("AWS::SageMaker::Endpoint") if k.startswith("HomeValues")]
    assert home["Properties"]["ExpectedEndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    assert home["Properties"]["Invocations"] == [
        {"Body": "3,2,1500,1990,0.25", "ContentType": "text/csv", "TargetModel": "Chicago_IL.tar.gz"}
    ]
    assert endpoint_id in home["DependsOn"]


def test_the_smoke_test_may_invoke_its_canaries_only(stages: list[ModelHostingStage]) -> None:
    policy = next(
        p for k, p in _prod(stages).find_resources("AWS::IAM::Policy").items() if k.startswith("SmokeTestProviderRole")
    )
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    invoke = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    conditions = sorted(json_key(s.get("Condition", {})) for s in invoke)
    assert conditions == [
        "",
        "StringLike sagemaker:TargetContainerHostname pytorch-mnist,tensorflow-mnist",
        "StringLike sagemaker:TargetModel Chicago_IL.tar.gz",
    ]


def json_key(condition: dict[str, Any]) -> str:
    parts = []
    for operator, keys in condition.items():
        for key, values in keys.items():
            parts.append(f"{operator} {key} {','.join(sorted(values))}")
    return ";".join(parts)


def test_dev_has_no_smoke_test(stages: list[ModelHostingStage]) -> None:
    dev = Template.from_stack(stages[0].hosting)
    assert not dev.find_resources("Custom::SageMakerSmokeTest")
    assert not [k for k in dev.find_resources("AWS::Lambda::Function") if k.startswith("SmokeTestProvider")]


@pytest.mark.parametrize(
    ("endpoint", "invocation", "match"),
    [
        ("home-values", SmokeInvocation(body="x"), r"target_model None is required \(and alone\)"),
        ("mnist", SmokeInvocation(body="x", target_container="mxnet"), r"target_container 'mxnet' must be one of"),
        (
            "churn-pipeline",
            SmokeInvocation(body="x", target_model="m.tar.gz"),
            r"target 'm.tar.gz' does not apply to a pipeline",
        ),
    ],
)
def test_invocations_must_fit_the_endpoint(endpoint: str, invocation: SmokeInvocation, match: str) -> None:
    # A stage of its own: the shared stages must not gain constructs.
    hosting = ModelHostingStage(make_app(), "Staging", config=ENVIRONMENTS[1]).hosting
    target: Any = hosting.multi_model_endpoints.get(endpoint) or hosting.multi_container_endpoints[endpoint]
    provider = hosting.smoke_test_provider
    assert provider is not None
    with pytest.raises(ValidationError, match=match):
        EndpointSmokeTest(hosting, f"Bad{len(match)}", endpoint=target, invocations=[invocation], provider=provider)
