"""EndpointSmokeTest: ordering, properties, ServiceTimeout, the narrow grants, and validation."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import SmokeInvocation, ValidationError
from constructs_lib.smoke_test import EndpointSmokeTest, SmokeTestProvider
from stacks.environments import ENVIRONMENTS
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
        {"Body": "1990,1500,3,2,0.25,2", "ContentType": "text/csv", "TargetModel": "Chicago_IL.tar.gz"}
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


def test_cloudformation_waits_a_minute_longer_than_the_function(stages: list[ModelHostingStage]) -> None:
    template = _prod(stages)
    (function,) = [
        f for k, f in template.find_resources("AWS::Lambda::Function").items() if k.startswith("SmokeTestProvider")
    ]
    assert function["Properties"]["Timeout"] == 600
    tests = template.find_resources("Custom::SageMakerSmokeTest")
    # An integer, as the resource specification types it (CustomResource alone renders a string).
    assert {t["Properties"]["ServiceTimeout"] for t in tests.values()} == {660}


def test_the_smoke_test_may_describe_its_own_stack_only(stages: list[ModelHostingStage]) -> None:
    policy = next(
        p for k, p in _prod(stages).find_resources("AWS::IAM::Policy").items() if k.startswith("SmokeTestProviderRole")
    )
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    cloudformation = [s for s in statements if "cloudformation" in json.dumps(s["Action"])]
    assert cloudformation == [
        {"Action": "cloudformation:DescribeStacks", "Effect": "Allow", "Resource": {"Ref": "AWS::StackId"}}
    ]


def _staging() -> Any:
    return ModelHostingStage(make_app(), "Staging", config=ENVIRONMENTS[1]).hosting


def test_the_service_timeout_can_be_set() -> None:
    hosting = _staging()
    provider = hosting.smoke_test_provider
    assert provider is not None
    endpoint = hosting.multi_model_endpoints["home-values"]
    EndpointSmokeTest(
        hosting,
        "Patient",
        endpoint=endpoint,
        invocations=[SmokeInvocation(body="x", target_model="Chicago_IL.tar.gz")],
        provider=provider,
        service_timeout=cdk.Duration.minutes(15),
    )
    tests = Template.from_stack(hosting).find_resources("Custom::SageMakerSmokeTest")
    assert next(t for k, t in tests.items() if k.startswith("Patient"))["Properties"]["ServiceTimeout"] == 900


def test_the_service_timeout_must_outlast_the_function() -> None:
    hosting = _staging()
    provider = hosting.smoke_test_provider
    assert provider is not None
    with pytest.raises(ValidationError, match=r"service_timeout '10 minutes' must be longer than the function's"):
        EndpointSmokeTest(
            hosting,
            "Hasty",
            endpoint=hosting.multi_model_endpoints["home-values"],
            invocations=[SmokeInvocation(body="x", target_model="Chicago_IL.tar.gz")],
            provider=provider,
            service_timeout=cdk.Duration.minutes(10),
        )


def test_the_provider_must_be_in_the_same_stack() -> None:
    app = make_app()
    hosting = ModelHostingStage(app, "Staging", config=ENVIRONMENTS[1]).hosting
    elsewhere = SmokeTestProvider(cdk.Stack(app, "Elsewhere"), "SmokeTestProvider")
    with pytest.raises(ValidationError, match=r"provider 'Elsewhere/SmokeTestProvider' must be in the same stack"):
        EndpointSmokeTest(
            hosting,
            "Foreign",
            endpoint=hosting.multi_model_endpoints["home-values"],
            invocations=[SmokeInvocation(body="x", target_model="Chicago_IL.tar.gz")],
            provider=elsewhere,
        )
