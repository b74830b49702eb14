"""EndpointSmokeTest: ordering, properties, ServiceTimeout, the narrow grants, and validation.

The synthesized stages with canaries are read from the session's synthesis; validation builds stages of the
tests' own configuration (``feature_environment`` with canaries), never a shared one.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.assertions import Template
from constructs import Construct

from constructs_lib import SmokeInvocation, ValidationError
from constructs_lib.smoke_test import EndpointSmokeTest, SmokeTestProvider
from stacks.config import EnvironmentConfig
from stacks.hosting_stack import HostingStack
from stacks.stage import ModelHostingStage
from tests import examples
from tests.support import Synthesis, feature_environment, make_app

# -- the synthesized examples ------------------------------------------------------------------------------------


def _rendered(invocation: SmokeInvocation, deployed: str | None = None) -> dict[str, str]:
    """An invocation as the custom resource's property lists it; with ``deployed``, the endpoint's deployed name, a
    component configured by its short name is called by its deployed name, ``<endpoint>-<component>``."""
    rendered = {"Body": invocation.body, "ContentType": invocation.content_type}
    if invocation.target_model:
        rendered["TargetModel"] = invocation.target_model
    if invocation.target_container:
        rendered["TargetContainerHostname"] = invocation.target_container
    if invocation.inference_component:
        prefix = f"{deployed}-" if deployed else ""
        rendered["InferenceComponentName"] = prefix + invocation.inference_component
    return rendered


@pytest.mark.parametrize("name", examples.smoke_tested())
def test_smoke_tests_run_after_each_endpoint_with_its_new_config(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    tests = synthesis.resources(stage.hosting, "Custom::SageMakerSmokeTest")
    tested = [e for e in examples.endpoints(stage.config) if e.smoke_tests]
    assert len(tests) == len(tested)
    configs = synthesis.resources(stage.hosting, "AWS::SageMaker::EndpointConfig")
    endpoints = synthesis.resources(stage.hosting, "AWS::SageMaker::Endpoint")
    for endpoint in tested:
        prefix = examples.construct_id(endpoint.name)
        (test,) = [t for k, t in tests.items() if k.startswith(f"{prefix}SmokeTest")]
        (config_id,) = [k for k in configs if k.startswith(f"{prefix}Config")]
        (endpoint_id,) = [k for k in endpoints if k.startswith(f"{prefix}Endpoint")]
        assert test["Properties"]["ExpectedEndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
        deployed = stage.config.endpoint_name(endpoint.name)
        assert test["Properties"]["Invocations"] == [_rendered(i, deployed) for i in endpoint.smoke_tests]
        assert endpoint_id in test["DependsOn"]


def _condition_key(condition: dict[str, Any]) -> str:
    parts = []
    for operator, keys in condition.items():
        for key, values in keys.items():
            parts.append(f"{operator} {key} {','.join(sorted(values))}")
    return ";".join(parts)


def _expected_condition(endpoint: Any) -> str:
    """The invoke grant's condition for ``endpoint``'s canaries: the models or containers they name, else none (a
    Serial pipeline, the endpoint as a whole; inference components, their ARNs: no condition key names them)."""
    models = sorted({i.target_model for i in endpoint.smoke_tests if i.target_model})
    containers = sorted({i.target_container for i in endpoint.smoke_tests if i.target_container})
    if models:
        return f"StringLike sagemaker:TargetModel {','.join(models)}"
    if containers:
        return f"StringLike sagemaker:TargetContainerHostname {','.join(containers)}"
    return ""


def _provider_policy(synthesis: Synthesis, stage: ModelHostingStage) -> list[dict[str, Any]]:
    policies = synthesis.resources(stage.hosting, "AWS::IAM::Policy")
    policy = next(p for k, p in policies.items() if k.startswith("SmokeTestProviderRole"))
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", examples.smoke_tested())
def test_the_smoke_test_may_invoke_its_canaries_only(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    invoke = [s for s in _provider_policy(synthesis, stage) if "sagemaker:InvokeEndpoint" in _listed(s["Action"])]
    tested = [e for e in examples.endpoints(stage.config) if e.smoke_tests]
    # One statement per condition: the CDK merges the unconditioned ones (pipelines, inference components).
    assert sorted(_condition_key(s.get("Condition", {})) for s in invoke) == sorted(
        {_expected_condition(e) for e in tested}
    )
    for endpoint in tested:
        deployed = stage.config.endpoint_name(endpoint.name)
        (statement,) = [s for s in invoke if any(r.endswith(f":endpoint/{deployed}") for r in _listed(s["Resource"]))]
        assert _condition_key(statement.get("Condition", {})) == _expected_condition(endpoint)
        components = sorted(
            r.rsplit("/", 1)[1] for r in _listed(statement["Resource"]) if f":inference-component/{deployed}-" in r
        )
        # The canary components only, by their deployed names; the endpoint's other components stay out of reach.
        assert components == sorted(
            {f"{deployed}-{i.inference_component}" for i in endpoint.smoke_tests if i.inference_component}
        )


@pytest.mark.parametrize("name", examples.NAMES)
def test_a_stage_without_canaries_has_no_smoke_test(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    configured = any(e.smoke_tests for e in examples.endpoints(stage.config))
    assert bool(synthesis.resources(stage.hosting, "Custom::SageMakerSmokeTest")) is configured
    functions = synthesis.resources(stage.hosting, "AWS::Lambda::Function")
    assert bool([k for k in functions if k.startswith("SmokeTestProvider")]) is configured


@pytest.mark.parametrize("name", examples.smoke_tested())
def test_cloudformation_waits_a_minute_longer_than_the_function(synthesis: Synthesis, name: str) -> None:
    hosting = synthesis.stage(name).hosting
    (function,) = [
        f for k, f in synthesis.resources(hosting, "AWS::Lambda::Function").items() if k.startswith("SmokeTestProvider")
    ]
    assert function["Properties"]["Timeout"] == 600
    tests = synthesis.resources(hosting, "Custom::SageMakerSmokeTest")
    # An integer, as the resource specification types it (CustomResource alone renders a string).
    assert {t["Properties"]["ServiceTimeout"] for t in tests.values()} == {660}


@pytest.mark.parametrize("name", examples.smoke_tested())
def test_the_smoke_test_may_describe_its_own_stack_only(synthesis: Synthesis, name: str) -> None:
    statements = _provider_policy(synthesis, synthesis.stage(name))
    cloudformation = [s for s in statements if "cloudformation" in json.dumps(s["Action"])]
    assert cloudformation == [
        {"Action": "cloudformation:DescribeStacks", "Effect": "Allow", "Resource": {"Ref": "AWS::StackId"}}
    ]


# -- validation, on stages of the tests' own ----------------------------------------------------------------------

CANARY = SmokeInvocation(body="1,2,3", content_type="text/csv", target_model="Paris.tar.gz")


def _with_canaries() -> EnvironmentConfig:
    """The tests' own environment, each endpoint with one canary."""
    config = feature_environment("staging")
    mme, direct, serial = (*config.multi_model_endpoints, *config.multi_container_endpoints)
    return config.replace(
        multi_model_endpoints=(dataclasses.replace(mme, smoke_tests=(CANARY,)),),
        multi_container_endpoints=(
            dataclasses.replace(
                direct, smoke_tests=(SmokeInvocation(body="{}", target_container=direct.containers[0].hostname),)
            ),
            dataclasses.replace(serial, smoke_tests=(SmokeInvocation(body="1,2", content_type="text/csv"),)),
        ),
    )


def _hosting(app: cdk.App | None = None, *, multi_model_only: bool = False) -> HostingStack:
    """The Hosting stack of a new stage of ``_with_canaries`` (in ``app``, or an App of its own), with its
    multi-model endpoint alone if ``multi_model_only``."""
    config = _with_canaries()
    if multi_model_only:
        config = config.replace(multi_container_endpoints=())
    return ModelHostingStage(app or make_app(), "Staging", config=config).hosting


@pytest.fixture(scope="module")
def refusing() -> HostingStack:
    """A Hosting stack for the tests that only see constructs refused (each under an id of its own); never
    synthesized."""
    return _hosting()


@pytest.mark.parametrize(
    ("endpoint", "invocation", "match"),
    [
        ("prices", SmokeInvocation(body="x"), r"target_model None is required \(and alone\)"),
        ("vision", SmokeInvocation(body="x", target_container="mxnet"), r"target_container 'mxnet' must be one of"),
        (
            "scoring",
            SmokeInvocation(body="x", target_model="m.tar.gz"),
            r"target 'm.tar.gz' does not apply to a pipeline",
        ),
        # The other kinds refuse an inference component.
        (
            "prices",
            SmokeInvocation(body="x", target_model="Paris.tar.gz", inference_component="staging-prices-paris"),
            r"inference_component 'staging-prices-paris' does not apply to a multi-model endpoint$",
        ),
        (
            "vision",
            SmokeInvocation(body="x", inference_component="staging-vision-tf"),
            r"inference_component 'staging-vision-tf' does not apply to a multi-container endpoint$",
        ),
        (
            "scoring",
            SmokeInvocation(body="x", inference_component="staging-scoring-xgb"),
            r"inference_component 'staging-scoring-xgb' does not apply to a multi-container endpoint$",
        ),
    ],
)
def test_invocations_must_fit_the_endpoint(
    refusing: HostingStack, endpoint: str, invocation: SmokeInvocation, match: str
) -> None:
    target: Any = refusing.multi_model_endpoints.get(endpoint) or refusing.multi_container_endpoints[endpoint]
    provider = refusing.smoke_test_provider
    assert provider is not None
    construct_id = f"Bad{len(refusing.node.children)}"  # the cases share the stack: an id of its own each
    with pytest.raises(ValidationError, match=match):
        EndpointSmokeTest(refusing, construct_id, endpoint=target, invocations=[invocation], provider=provider)


def test_the_service_timeout_must_outlast_the_function(refusing: HostingStack) -> None:
    provider = refusing.smoke_test_provider
    assert provider is not None
    with pytest.raises(ValidationError, match=r"service_timeout '10 minutes' must be longer than the function's"):
        EndpointSmokeTest(
            refusing,
            "Hasty",
            endpoint=refusing.multi_model_endpoints["prices"],
            invocations=[CANARY],
            provider=provider,
            service_timeout=cdk.Duration.minutes(10),
        )


def test_the_service_timeout_can_be_set() -> None:
    hosting = _hosting(multi_model_only=True)
    provider = hosting.smoke_test_provider
    assert provider is not None
    EndpointSmokeTest(
        hosting,
        "Patient",
        endpoint=hosting.multi_model_endpoints["prices"],
        invocations=[CANARY],
        provider=provider,
        service_timeout=cdk.Duration.minutes(15),
    )
    tests = Template.from_stack(hosting).find_resources("Custom::SageMakerSmokeTest")
    assert next(t for k, t in tests.items() if k.startswith("Patient"))["Properties"]["ServiceTimeout"] == 900


def test_the_provider_must_be_in_the_same_stack() -> None:
    app = make_app()
    hosting = _hosting(app, multi_model_only=True)
    elsewhere = SmokeTestProvider(cdk.Stack(app, "Elsewhere"), "SmokeTestProvider")
    with pytest.raises(ValidationError, match=r"provider 'Elsewhere/SmokeTestProvider' must be in the same stack"):
        EndpointSmokeTest(
            hosting,
            "Foreign",
            endpoint=hosting.multi_model_endpoints["prices"],
            invocations=[CANARY],
            provider=elsewhere,
        )


def test_a_serverless_endpoint_refuses_an_inference_component() -> None:
    from aws_cdk import aws_s3 as s3

    from constructs_lib import ModelArchive, ServerlessEndpoint, ServingImage

    stack = cdk.Stack(make_app(), "S", env=ENV)
    endpoint = ServerlessEndpoint(
        stack,
        "Serverless",
        endpoint_name="sentiment",
        image=ServingImage.from_deep_learning_container("pytorch-inference", "2.6.0-cpu-py312"),
        model_data=ModelArchive(
            bucket=s3.Bucket.from_bucket_name(stack, "B", "models-bucket"), key="models/sentiment/model.tar.gz"
        ),
    )
    with pytest.raises(
        ValidationError, match=r"inference_component 'sentiment-main' does not apply to a serverless endpoint$"
    ):
        EndpointSmokeTest(
            stack,
            "Smoke",
            endpoint=endpoint,
            invocations=[SmokeInvocation(body="{}", inference_component="sentiment-main")],
            provider=SmokeTestProvider(stack, "Provider"),
        )


# -- an endpoint of inference components (a stand-in built of L1 resources: the protocol is all the test needs) ----

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


class ComponentEndpoint(Construct):
    """The least ``HostedEndpoint`` whose requests name inference components, as the PLAN's template shape has it."""

    kind = "inference components"

    def __init__(self, scope: Construct, construct_id: str, *, components: tuple[str, ...]) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = "tabular"
        self.components = components
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            execution_role_arn="arn:aws:iam::111111111111:role/tabular",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name="AllTraffic", instance_type="ml.m5.xlarge", initial_instance_count=1
                )
            ],
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        self.endpoint_arn = f"arn:aws:sagemaker:eu-west-1:111111111111:endpoint/{self.endpoint_name}"

    def alarm_specs(self, thresholds: Any) -> list[Any]:  # noqa: ARG002
        return []

    def dashboard_rows(self) -> list[Any]:
        return []

    def check_smoke_invocation(self, owner: str, invocation: SmokeInvocation) -> None:
        if invocation.inference_component not in self.components:
            raise ValidationError(f"{owner}: inference_component must be one of {self.components}")

    def prepare_smoke_test(self, grantee: iam.IGrantable) -> Any:  # noqa: ARG002
        from constructs_lib.hosted_endpoint import SmokeExpectations

        return SmokeExpectations()

    def grant_smoke_invocations(self, grantee: iam.IGrantable, invocations: Any) -> iam.Grant:
        arns = [
            f"arn:aws:sagemaker:eu-west-1:111111111111:inference-component/{i.inference_component}" for i in invocations
        ]
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:InvokeEndpoint"], resource_arns=[self.endpoint_arn, *arns]
        )


def test_the_custom_resource_passes_each_inference_component() -> None:
    stack = cdk.Stack(make_app(), "S", env=ENV)
    endpoint = ComponentEndpoint(stack, "Tabular", components=("tabular-churn", "tabular-fraud"))
    invocations = [
        SmokeInvocation(body="{}", inference_component="tabular-churn"),
        SmokeInvocation(body="1,2", content_type="text/csv", inference_component="tabular-fraud"),
    ]
    EndpointSmokeTest(
        stack, "Smoke", endpoint=endpoint, invocations=invocations, provider=SmokeTestProvider(stack, "Provider")
    )
    (test,) = Template.from_stack(stack).find_resources("Custom::SageMakerSmokeTest").values()
    assert test["Properties"]["Invocations"] == [
        {"Body": "{}", "ContentType": "application/json", "InferenceComponentName": "tabular-churn"},
        {"Body": "1,2", "ContentType": "text/csv", "InferenceComponentName": "tabular-fraud"},
    ]
    assert test["Properties"]["Invocations"] == [_rendered(i) for i in invocations]
