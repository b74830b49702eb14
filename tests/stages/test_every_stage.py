"""Every environment synthesizes, with the stateful resources it must keep."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import ConfigError
from stacks.environments import ENVIRONMENTS
from stacks.stage import ModelHostingStage
from tests.support import make_app

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
    store = {k: v for k, v in parameters.items() if k.startswith(prefix)}
    assert store == {
        f"{prefix}/bucket-name": {"Ref": "ArtifactsBucket88671897"},
        f"{prefix}/kms-key-arn": {"Fn::GetAtt": ["ArtifactsKeyA4B22E2B", "Arn"]},
        f"{prefix}/repository-uri": parameters[f"{prefix}/repository-uri"],
        f"{prefix}/artifact-guard-function": {"Ref": "ArtifactGuardHandlerFunctionC6938AA6"},
        f"{prefix}/alarm-topic-arn": {"Ref": "AlarmTopicB56431CA"},
    }
    assert "ServingImagesA123629F" in str(parameters[f"{prefix}/repository-uri"])


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_the_model_store_publishes_every_archive_location(stages: list[ModelHostingStage], name: str) -> None:
    # modelctl uploads before Hosting exists: the stack that exists first says where each archive goes.
    template = Template.from_stack(_stage(stages, name).model_store)
    catalog = {
        p["Properties"]["Name"].rsplit("/", 1)[1]: json.loads(p["Properties"]["Value"])
        for p in template.find_resources("AWS::SSM::Parameter").values()
        if p["Properties"]["Name"].startswith(f"/sagemaker-hosting/{name}/artifacts/")
    }
    root = f"models/{name}"
    assert catalog == {
        f"{name}-home-values": {
            "endpoint": f"{name}-home-values",
            "kind": "multi-model",
            "layout": "flat",
            "prefix": f"{root}-home-values/",
        },
        f"{name}-mnist": {
            "endpoint": f"{name}-mnist",
            "kind": "multi-container",
            "prefix": f"{root}-mnist/",
            "containers": {
                "tensorflow-mnist": {"key": f"{root}-mnist/tensorflow-mnist/model.tar.gz", "layout": "tensorflow"},
                "pytorch-mnist": {"key": f"{root}-mnist/pytorch-mnist/model.tar.gz", "layout": "flat"},
            },
        },
        f"{name}-churn-pipeline": {
            "endpoint": f"{name}-churn-pipeline",
            "kind": "multi-container",
            "prefix": f"{root}-churn-pipeline/",
            "containers": {
                "preprocess": {"key": f"{root}-churn-pipeline/preprocess/model.tar.gz", "layout": "flat"},
                "xgboost": {"key": f"{root}-churn-pipeline/xgboost/model.tar.gz", "layout": "flat"},
            },
        },
    }


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_every_model_archive_is_in_the_catalog(stages: list[ModelHostingStage], name: str) -> None:
    # What Hosting's CreateModel will read is exactly what the ModelStore told the tools and the guard.
    stage = _stage(stages, name)
    keys = {c.key for e in stage.model_store.catalog.endpoints for c in e.containers}
    bucket = f"s3://{stage.config.artifact_bucket_name}/"
    read = {
        container["ModelDataUrl"].removeprefix(bucket)
        for model in Template.from_stack(stage.hosting).find_resources("AWS::SageMaker::Model").values()
        for container in model["Properties"].get("Containers", [])
    }
    assert read == keys


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_endpoint_logs_have_a_retention_and_the_stage_key(stages: list[ModelHostingStage], name: str) -> None:
    stage = _stage(stages, name)
    groups = Template.from_stack(stage.model_store).find_resources("AWS::Logs::LogGroup")
    endpoint_groups = {g["Properties"]["LogGroupName"]: g for g in groups.values() if "LogGroupName" in g["Properties"]}
    assert set(endpoint_groups) == {f"/aws/sagemaker/Endpoints/{n}" for n in stage.config.endpoint_names()}
    for group in endpoint_groups.values():
        assert group["Properties"]["RetentionInDays"] == 365
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["OperationsKey7D2B5BF0", "Arn"]}
        assert group["DeletionPolicy"] == ("Delete" if name == "dev" else "Retain")


def test_typed_exports(stages: list[ModelHostingStage]) -> None:
    store = stages[0].model_store
    assert store.bucket is store.artifact_store.bucket
    assert store.key is store.artifact_store.key
    assert store.parameter_path == "/sagemaker-hosting/dev/model-store"


def _resource(template: Template, resource_type: str, logical_id_prefix: str) -> dict[str, Any]:
    """The properties of the one resource of ``resource_type`` whose logical id starts with the prefix."""
    matches = [r for k, r in template.find_resources(resource_type).items() if k.startswith(logical_id_prefix)]
    assert len(matches) == 1, f"{len(matches)} {resource_type} starting with {logical_id_prefix}"
    properties: dict[str, Any] = matches[0]["Properties"]
    return properties


# The endpoint keeps its name across updates; replacing it (a new logical id) would mean downtime for clients.
PINNED_ENDPOINT_ID = "HomeValuesEndpoint749CD10F"


@pytest.mark.parametrize(("name", "instances"), [("dev", 1), ("staging", 1), ("prod", 2)])
def test_hosting_has_the_example_multi_model_endpoint(
    stages: list[ModelHostingStage], name: str, instances: int
) -> None:
    template = Template.from_stack(_stage(stages, name).hosting)
    endpoints = template.find_resources("AWS::SageMaker::Endpoint")
    assert endpoints[PINNED_ENDPOINT_ID]["Properties"]["EndpointName"] == f"{name}-home-values"
    config = _resource(template, "AWS::SageMaker::EndpointConfig", "HomeValuesConfig")
    assert [v["InitialInstanceCount"] for v in config["ProductionVariants"]] == [instances]
    assert "KmsKeyId" in config
    model = _resource(template, "AWS::SageMaker::Model", "HomeValuesModel")
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        f"s3://{_stage(stages, name).config.artifact_bucket_name}/models/{name}-home-values/"
    )


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_no_physical_names_on_models_or_endpoint_configs(stages: list[ModelHostingStage], name: str) -> None:
    template = Template.from_stack(_stage(stages, name).hosting)
    for model in template.find_resources("AWS::SageMaker::Model").values():
        assert "ModelName" not in model["Properties"]
    for config in template.find_resources("AWS::SageMaker::EndpointConfig").values():
        assert "EndpointConfigName" not in config["Properties"]


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_example_consumer_may_invoke_chicago_models_only(stages: list[ModelHostingStage], name: str) -> None:
    template = Template.from_stack(_stage(stages, name).hosting)
    policies = template.find_resources("AWS::IAM::Policy")
    consumer = next(p for k, p in policies.items() if k.startswith("HomeValuesChicagoAnalytics"))
    assert consumer["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"StringLike": {"sagemaker:TargetModel": ["Chicago_IL*"]}},
            "Effect": "Allow",
            "Resource": f"arn:aws:sagemaker:eu-west-1:{_stage(stages, name).account}:endpoint/{name}-home-values",
        }
    ]


def test_hosting_reads_the_bucket_by_name_not_by_export(stages: list[ModelHostingStage]) -> None:
    stage = stages[0]
    text = json.dumps(Template.from_stack(stage.hosting).to_json())
    assert stage.config.artifact_bucket_name in text
    assert "ArtifactsBucket" not in text  # no reference to the bucket's logical id in the other stack
    assert stage.model_store in stage.hosting.dependencies


def test_bad_endpoint_config_names_environment_endpoint_field_and_value() -> None:
    dev = ENVIRONMENTS[0]
    endpoint = dev.multi_model_endpoints[0]
    bad_variant = replace(endpoint.variants[0], instance_type="m5.large")
    bad = dev.replace(multi_model_endpoints=(replace(endpoint, variants=(bad_variant,)),))
    with pytest.raises(
        ConfigError,
        match=r"^environment 'dev', endpoint 'home-values': MultiModelEndpoint Dev/Hosting/HomeValues: "
        r"instance_type of variant 'AllTraffic' 'm5.large' is not a SageMaker endpoint instance type",
    ):
        ModelHostingStage(make_app(), "Dev", config=bad)


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_hosting_has_the_direct_and_serial_examples(stages: list[ModelHostingStage], name: str) -> None:
    template = Template.from_stack(_stage(stages, name).hosting)
    mnist = _resource(template, "AWS::SageMaker::Model", "MnistModel")
    assert mnist["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert [c["ContainerHostname"] for c in mnist["Containers"]] == ["tensorflow-mnist", "pytorch-mnist"]
    pipeline = _resource(template, "AWS::SageMaker::Model", "ChurnPipelineModel")
    assert pipeline["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert [c["ContainerHostname"] for c in pipeline["Containers"]] == ["preprocess", "xgboost"]
    endpoint_names = {
        e["Properties"]["EndpointName"] for e in template.find_resources("AWS::SageMaker::Endpoint").values()
    }
    assert endpoint_names == {f"{name}-home-values", f"{name}-mnist", f"{name}-churn-pipeline"}


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_mnist_consumer_may_call_tensorflow_and_is_denied_pytorch(stages: list[ModelHostingStage], name: str) -> None:
    stage = _stage(stages, name)
    policy = _resource(Template.from_stack(stage.hosting), "AWS::IAM::Policy", "MnistTensorflowClient")
    arn = f"arn:aws:sagemaker:eu-west-1:{stage.account}:endpoint/{name}-mnist"
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": ["tensorflow-mnist"]}},
            "Effect": "Allow",
            "Resource": arn,
        },
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": ["pytorch-*"]}},
            "Effect": "Deny",
            "Resource": arn,
        },
        {
            "Action": "sagemaker:InvokeEndpoint",
            "Condition": {"Null": {"sagemaker:TargetContainerHostname": "true"}},
            "Effect": "Deny",
            "Resource": arn,
        },
    ]


@pytest.mark.parametrize(("name", "low", "high"), [("dev", 1, 2), ("staging", 1, 3), ("prod", 2, 8)])
def test_home_values_scaling_per_stage(stages: list[ModelHostingStage], name: str, low: int, high: int) -> None:
    template = Template.from_stack(_stage(stages, name).hosting)
    target = _resource(template, "AWS::ApplicationAutoScaling::ScalableTarget", "HomeValuesScaling")
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        f"endpoint/{name}-home-values/variant/AllTraffic",
        low,
        high,
    )
    schedules = [a["ScheduledActionName"] for a in target.get("ScheduledActions", [])]
    assert schedules == (["Night", "Morning"] if name == "dev" else [])
    assert _resource(template, "AWS::SageMaker::Endpoint", "HomeValuesEndpoint")["RetainAllVariantProperties"] is True


@pytest.mark.parametrize(("name", "latency_us"), [("dev", 1_000_000), ("staging", 1_000_000), ("prod", 500_000)])
def test_alarm_thresholds_come_from_each_environment(
    stages: list[ModelHostingStage], name: str, latency_us: int
) -> None:
    template = Template.from_stack(_stage(stages, name).hosting)
    latency = _resource(template, "AWS::CloudWatch::Alarm", "HomeValuesAlarmsModelLatency")
    assert latency["Threshold"] == latency_us
    assert not template.find_resources("AWS::SNS::Topic")  # the stage's one topic is the ModelStore's
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        (action,) = alarm["Properties"]["AlarmActions"]
        assert "AlarmTopicB56431CA" in json.dumps(action)
        assert alarm["Properties"]["AlarmName"].startswith(f"sagemaker-hosting/{name}/")
    dashboard = next(iter(template.find_resources("AWS::CloudWatch::Dashboard").values()))
    assert dashboard["Properties"]["DashboardName"] == f"sagemaker-hosting-{name}"


@pytest.mark.parametrize(("name", "traffic"), [("dev", None), ("staging", "LINEAR"), ("prod", "CANARY")])
def test_mnist_blue_green_per_stage(stages: list[ModelHostingStage], name: str, traffic: str | None) -> None:
    endpoint = _resource(Template.from_stack(_stage(stages, name).hosting), "AWS::SageMaker::Endpoint", "MnistEndpoint")
    if traffic is None:
        assert "DeploymentConfig" not in endpoint
    else:
        config = endpoint["DeploymentConfig"]
        assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == traffic
        assert len(config["AutoRollbackConfiguration"]["Alarms"]) == 2


def test_multi_model_endpoints_never_get_guardrails(stages: list[ModelHostingStage]) -> None:
    for stage in stages:
        endpoint = _resource(Template.from_stack(stage.hosting), "AWS::SageMaker::Endpoint", "HomeValuesEndpoint")
        assert "DeploymentConfig" not in endpoint


def _shape(value: Any) -> tuple[int, ...]:
    return (len(value), *_shape(value[0])) if isinstance(value, list) else ()


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_canaries_match_the_example_models_inputs(stages: list[ModelHostingStage], name: str) -> None:
    # The AWS MNIST example sends TensorFlow Serving {"instances": np.expand_dims(x, 3)} (N x 28 x 28 x 1) and
    # PyTorch {"inputs": np.expand_dims(x, axis=1)} (N x 1 x 28 x 28); the XGBoost home-value sample's rows
    # hold six features (YEAR_BUILT, SQUARE_FEET, NUM_BEDROOMS, NUM_BATHROOMS, LOT_ACRES, GARAGE_SPACES).
    template = Template.from_stack(_stage(stages, name).hosting)
    calls = {
        (s["Properties"]["EndpointName"], i.get("TargetContainerHostname") or i.get("TargetModel") or ""): i["Body"]
        for s in template.find_resources("Custom::SageMakerSmokeTest").values()
        for i in s["Properties"]["Invocations"]
    }
    assert _shape(json.loads(calls[(f"{name}-mnist", "tensorflow-mnist")])["instances"]) == (1, 28, 28, 1)
    assert _shape(json.loads(calls[(f"{name}-mnist", "pytorch-mnist")])["inputs"]) == (1, 1, 28, 28)
    assert len(calls[(f"{name}-home-values", "Chicago_IL.tar.gz")].split(",")) == 6


@pytest.mark.parametrize("name", [e.name for e in ENVIRONMENTS])
def test_every_custom_resource_has_a_service_timeout(stages: list[ModelHostingStage], name: str) -> None:
    # Without ServiceTimeout CloudFormation waits 3600 s for a custom resource that never answers
    # (AWS::CloudFormation::CustomResource, ServiceTimeout: 1-3600, default 3600).
    stage = _stage(stages, name)
    found = 0
    for stack in (stage.model_store, stage.hosting):
        for logical_id, resource in Template.from_stack(stack).to_json()["Resources"].items():
            if resource["Type"].startswith("Custom::") or resource["Type"] == "AWS::CloudFormation::CustomResource":
                timeout = resource["Properties"].get("ServiceTimeout")
                assert isinstance(timeout, int) or str(timeout).isdigit(), f"{logical_id} has no ServiceTimeout"
                assert 1 <= int(timeout) < 3600, logical_id
                found += 1
    assert found >= (2 if name == "dev" else 5)
