"""ServerlessEndpoint, the worked example of docs/EXTENDING.md: rendering, grant, metric, validation, compliance."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_lib import ModelArchive, ServerlessEndpoint, ServingImage, ValidationError
from stacks.compliance import add_compliance_checks
from tests.support import compliance_findings, make_app

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
IMAGE = ServingImage.from_deep_learning_container("pytorch-inference", "2.6.0-cpu-py312")


def _endpoint(stack: cdk.Stack, **overrides: Any) -> ServerlessEndpoint:
    props: dict[str, Any] = {
        "endpoint_name": "sentiment",
        "image": IMAGE,
        "model_data": ModelArchive(
            bucket=s3.Bucket.from_bucket_name(stack, "B", "models-bucket"), key="models/sentiment/model.tar.gz"
        ),
    }
    props.update(overrides)
    return ServerlessEndpoint(stack, "Serverless", **props)


def test_renders_a_serverless_variant_without_names() -> None:
    stack = cdk.Stack(make_app(), "S", env=ENV)
    _endpoint(stack, memory_size_in_mb=3072, max_concurrency=20, provisioned_concurrency=2)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "EndpointConfigName": Match.absent(),
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": Match.any_value(),
                    "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 20, "ProvisionedConcurrency": 2},
                }
            ],
        },
    )
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "ModelName": Match.absent(),
            "PrimaryContainer": Match.object_like({"ModelDataUrl": "s3://models-bucket/models/sentiment/model.tar.gz"}),
        },
    )
    template.has_resource_properties("AWS::SageMaker::Endpoint", {"EndpointName": "sentiment"})


def test_grant_and_metric() -> None:
    stack = cdk.Stack(make_app(), "S", env=ENV)
    endpoint = _endpoint(stack)
    endpoint.grant_invoke(iam.Role(stack, "App", assumed_by=iam.AccountRootPrincipal()))
    policy = next(
        p
        for k, p in Template.from_stack(stack).find_resources("AWS::IAM::Policy").items()
        if k.startswith("AppDefaultPolicy")
    )
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Effect": "Allow",
            "Resource": "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/sentiment",
        }
    ]
    metric = endpoint.metric_model_setup_time()
    assert (metric.namespace, metric.metric_name, metric.unit) == (
        "AWS/SageMaker",
        "ModelSetupTime",
        cloudwatch.Unit.MICROSECONDS,
    )


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"memory_size_in_mb": 1500}, r"ServerlessEndpoint S/Serverless: memory_size_in_mb 1500 must be one of"),
        ({"max_concurrency": 201}, r"max_concurrency 201 must be between 1 and 200"),
        ({"max_concurrency": 5, "provisioned_concurrency": 6}, r"provisioned_concurrency 6 must be between 1 and 5"),
        ({"endpoint_name": "Sentiment"}, r"endpoint_name 'Sentiment' must be lowercase"),
    ],
)
def test_validation(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _endpoint(cdk.Stack(make_app(), "S", env=ENV), **overrides)


def test_compliance_clean_with_a_key() -> None:
    app = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    stage = cdk.Stage(app, "X", env=ENV)
    stack = cdk.Stack(stage, "S")
    _endpoint(stack, encryption_key=kms.Key(stack, "Key", enable_key_rotation=True))
    add_compliance_checks(stage)
    assert compliance_findings(app) == []


def test_the_worked_example_gets_alarms_a_dashboard_section_and_a_smoke_test() -> None:
    """The endpoint protocol: a new kind is operated by the same constructs as the shipped ones."""
    from constructs_lib import AlarmThresholds, EndpointAlarms, HostingDashboard
    from constructs_lib.smoke_test import EndpointSmokeTest, SmokeInvocation, SmokeTestProvider

    stack = cdk.Stack(make_app(), "S", env=ENV)
    endpoint = _endpoint(stack)
    alarms = EndpointAlarms(stack, "Alarms", endpoint=endpoint, thresholds=AlarmThresholds())
    dashboard = HostingDashboard(stack, "Dashboard")
    dashboard.add_endpoint(endpoint, alarms=alarms)
    EndpointSmokeTest(
        stack,
        "Smoke",
        endpoint=endpoint,
        invocations=[SmokeInvocation(body="{}")],
        provider=SmokeTestProvider(stack, "Provider"),
    )
    assert sorted(alarms.alarms) == ["ErrorRate", "ModelLatency"]
    template = Template.from_stack(stack)
    # No instance alarms: a serverless endpoint has no CPUUtilization to watch.
    template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    body = json.dumps(template.find_resources("AWS::CloudWatch::Dashboard"))
    assert "sentiment (serverless)" in body
    assert "cold starts (ms)" in body
    assert "ModelSetupTime" in body
    template.has_resource_properties("Custom::SageMakerSmokeTest", {"EndpointName": "sentiment"})
    # The smoke test's role may invoke this endpoint as a whole, and nothing names a target it cannot have.
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sagemaker:InvokeEndpoint" in statement["Action"]
    ]
    assert statements == [
        {
            "Action": ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
            "Effect": "Allow",
            "Resource": "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/sentiment",
        }
    ]


def test_a_smoke_request_with_a_target_is_refused_on_a_single_model() -> None:
    from constructs_lib.smoke_test import EndpointSmokeTest, SmokeInvocation, SmokeTestProvider

    stack = cdk.Stack(make_app(), "S", env=ENV)
    with pytest.raises(ValidationError, match="target 'canary' does not apply to a single-model endpoint"):
        EndpointSmokeTest(
            stack,
            "Smoke",
            endpoint=_endpoint(stack),
            invocations=[SmokeInvocation(body="{}", target_model="canary")],
            provider=SmokeTestProvider(stack, "Provider"),
        )
