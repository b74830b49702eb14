"""InferenceComponentEndpoint, InferenceComponent and ComponentScaling: templates as AWS requires them, each
validation rule, grants, alarms, dashboard rows and smoke checks."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_lib import AlarmThresholds, ModelArchive, ServingImage, ValidationError
from constructs_lib.component_scaling import WAKE_UP_THRESHOLD, ComponentScalingPlan
from constructs_lib.hosted_endpoint import SmokeInvocation
from constructs_lib.hosting_dashboard import HostingDashboard
from constructs_lib.inference_component import ComponentRollingUpdate, ComputeRequirements, InferenceComponent
from constructs_lib.inference_component_endpoint import (
    InferenceComponentEndpoint,
    ManagedInstanceScaling,
    RoutingStrategy,
    ScaleInStrategy,
)
from stacks.compliance import add_compliance_checks
from tests.support import cfn_lint, compliance_findings, make_app

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
XGBOOST = ServingImage.from_framework("xgboost", "1.7-1")
SMALL = ComputeRequirements(cpu_cores=1, min_memory_mb=1024, max_memory_mb=2048)


def _stack(region: str = "eu-west-1") -> cdk.Stack:
    return cdk.Stack(make_app(), "S", env=cdk.Environment(account="111111111111", region=region))


def _endpoint(stack: cdk.Stack, **overrides: Any) -> InferenceComponentEndpoint:
    props: dict[str, Any] = {
        "endpoint_name": "dev-tabular",
        "instance_type": "ml.m5.large",
        "managed_instance_scaling": ManagedInstanceScaling(min_instances=0, max_instances=2),
    }
    props.update(overrides)
    return InferenceComponentEndpoint(stack, "Tabular", **props)


def _archive(stack: cdk.Stack, name: str) -> ModelArchive:
    bucket = stack.node.try_find_child("B") or s3.Bucket.from_bucket_name(stack, "B", "models-bucket")
    return ModelArchive(bucket=bucket, key=f"models/dev-tabular/{name}/model.tar.gz")  # type: ignore[arg-type]


def _component(endpoint: InferenceComponentEndpoint, name: str = "churn", **overrides: Any) -> InferenceComponent:
    props: dict[str, Any] = {
        "image": XGBOOST,
        "model_data": _archive(cdk.Stack.of(endpoint), name),
        "compute": SMALL,
    }
    props.update(overrides)
    return endpoint.add_component(name, **props)


def _resources(template: Template, resource_type: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(resource_type)
    return found


@pytest.fixture(scope="module")
def scaled() -> tuple[cdk.Stack, InferenceComponentEndpoint, Template]:
    """Two components, ``churn`` scaling to zero with rolling updates, ``fraud`` fixed; alarms; a consumer."""
    stack = _stack()
    endpoint = _endpoint(stack, volume_encryption_key=kms.Key(stack, "Key"))
    churn = _component(endpoint, rolling_update=ComponentRollingUpdate(rollback_batch_percent=100))
    ComponentScalingPlan(min_copies=0, max_copies=3, invocations_per_copy=100).apply(churn)
    fraud = _component(endpoint, "fraud", initial_copies=2)
    ComponentScalingPlan(min_copies=2, max_copies=4, concurrent_requests_per_copy=5).apply(fraud)
    endpoint.add_alarms()
    endpoint.grant_invoke(iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal()), components=["churn"])
    return stack, endpoint, Template.from_stack(stack)


# -- what SageMaker requires of the endpoint config ------------------------------------------------------------


def test_the_config_names_no_model_and_carries_the_execution_role(scaled: Any) -> None:
    # CreateEndpointConfig: a variant that serves inference components has no ModelName ("Inference Components
    # are not supported in this Endpoint" otherwise), and the config then needs ExecutionRoleArn.
    _, _, template = scaled
    (config,) = _resources(template, "AWS::SageMaker::EndpointConfig").values()
    properties = config["Properties"]
    assert properties["ExecutionRoleArn"]["Fn::GetAtt"][1] == "Arn"
    (variant,) = properties["ProductionVariants"]
    assert "ModelName" not in variant
    assert variant == {
        "VariantName": "AllTraffic",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        "ManagedInstanceScaling": {
            "Status": "ENABLED",
            "MinInstanceCount": 0,
            "MaxInstanceCount": 2,
            "ScaleInPolicy": {"Strategy": "IDLE_RELEASE"},
        },
        "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
    }
    assert "KmsKeyId" in properties
    assert "EndpointConfigName" not in properties
    # The role's policy exists before SageMaker starts instances as that role.
    assert any("ExecutionRoleDefaultPolicy" in d for d in config["DependsOn"])


def test_scale_in_policy_and_routing_are_rendered() -> None:
    stack = _stack()
    _endpoint(
        stack,
        initial_instance_count=2,
        routing_strategy=RoutingStrategy.RANDOM,
        managed_instance_scaling=ManagedInstanceScaling(
            min_instances=1,
            max_instances=4,
            scale_in_strategy=ScaleInStrategy.CONSOLIDATION,
            scale_in_cooldown=cdk.Duration.minutes(30),
            max_scale_in_step=2,
        ),
        enable_network_isolation=True,
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "EnableNetworkIsolation": True,
            "ProductionVariants": [
                Match.object_like(
                    {
                        "InitialInstanceCount": 2,
                        "RoutingConfig": {"RoutingStrategy": "RANDOM"},
                        "ManagedInstanceScaling": {
                            "Status": "ENABLED",
                            "MinInstanceCount": 1,
                            "MaxInstanceCount": 4,
                            "ScaleInPolicy": {
                                "Strategy": "CONSOLIDATION",
                                "CooldownInMinutes": 30,
                                "MaximumStepSize": 2,
                            },
                        },
                    }
                )
            ],
        },
    )


# -- the components ----------------------------------------------------------------------------------------------


def test_each_component_is_a_named_component_on_the_endpoint_with_its_own_model(scaled: Any) -> None:
    _, _, template = scaled
    components = _resources(template, "AWS::SageMaker::InferenceComponent")
    by_name = {c["Properties"]["InferenceComponentName"]: c for c in components.values()}
    assert set(by_name) == {"dev-tabular-churn", "dev-tabular-fraud"}
    churn = by_name["dev-tabular-churn"]["Properties"]
    # CreateInferenceComponent needs an existing endpoint: the name is taken from the endpoint (GetAtt), which
    # orders the component after it.
    endpoint_id, attribute = churn["EndpointName"]["Fn::GetAtt"]
    assert attribute == "EndpointName"
    assert template.to_json()["Resources"][endpoint_id]["Type"] == "AWS::SageMaker::Endpoint"
    assert churn["VariantName"] == "AllTraffic"
    assert churn["Specification"]["ComputeResourceRequirements"] == {
        "NumberOfCpuCoresRequired": 1,
        "MinMemoryRequiredInMb": 1024,
        "MaxMemoryRequiredInMb": 2048,
    }
    assert churn["Specification"]["ModelName"]["Fn::GetAtt"][1] == "ModelName"
    assert by_name["dev-tabular-fraud"]["Properties"]["RuntimeConfig"] == {"CopyCount": 2}
    models = _resources(template, "AWS::SageMaker::Model")
    assert len(models) == 2
    for model in models.values():
        container = model["Properties"]["PrimaryContainer"]
        assert "sagemaker-xgboost" in json.dumps(container["Image"])
        assert "ModelName" not in model["Properties"]


def test_the_template_copy_count_is_the_initial_one_whatever_the_scaling(scaled: Any) -> None:
    # CopyCount is write-only in the AWS::SageMaker::InferenceComponent schema and applied with
    # UpdateInferenceComponentRuntimeConfig: it must not follow the scaling range, or every change of the range
    # would reset the live, autoscaled count. A component that scales to zero is still created with 1 copy
    # (one the first deploy proves it can load).
    _, _, template = scaled
    counts = {
        c["Properties"]["InferenceComponentName"]: c["Properties"]["RuntimeConfig"]["CopyCount"]
        for c in _resources(template, "AWS::SageMaker::InferenceComponent").values()
    }
    assert counts == {"dev-tabular-churn": 1, "dev-tabular-fraud": 2}


def test_copy_count_scaling_targets_the_component_after_it_exists(scaled: Any) -> None:
    _, _, template = scaled
    targets = _resources(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    by_resource = {t["Properties"]["ResourceId"]: t for t in targets.values()}
    assert set(by_resource) == {"inference-component/dev-tabular-churn", "inference-component/dev-tabular-fraud"}
    churn = by_resource["inference-component/dev-tabular-churn"]
    assert churn["Properties"]["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert churn["Properties"]["ServiceNamespace"] == "sagemaker"
    assert (churn["Properties"]["MinCapacity"], churn["Properties"]["MaxCapacity"]) == (0, 3)
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in churn["Properties"]["RoleARN"]
    # RegisterScalableTarget addresses the component by name: it must exist first.
    component_ids = set(_resources(template, "AWS::SageMaker::InferenceComponent"))
    for target in targets.values():
        assert set(target["DependsOn"]) & component_ids


def test_target_tracking_uses_the_predefined_component_metrics(scaled: Any) -> None:
    _, _, template = scaled
    metrics = sorted(
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"
        ]
        for p in _resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["PolicyType"] == "TargetTrackingScaling"
    )
    assert metrics == [
        "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution",
        "SageMakerInferenceComponentInvocationsPerCopy",
    ]


def test_scale_to_zero_wakes_up_on_the_first_request_refused_for_no_capacity(scaled: Any) -> None:
    # SageMaker Developer Guide, "Scale an endpoint to zero instances": target tracking cannot leave zero; a step
    # policy (ChangeInCapacity, Maximum, cooldown 60, +1 from lower bound 0) driven by an alarm on
    # NoCapacityInvocationFailures does.
    _, _, template = scaled
    steps = [
        (logical_id, p)
        for logical_id, p in _resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if p["Properties"]["PolicyType"] == "StepScaling"
    ]
    assert len(steps) == 1, "only the component that scales to zero needs waking"
    step_id, step = steps[0]
    assert step["Properties"]["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ChangeInCapacity",
        "Cooldown": 60,
        "MetricAggregationType": "Maximum",
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
    }
    wake = [
        a["Properties"]
        for a in _resources(template, "AWS::CloudWatch::Alarm").values()
        if {"Ref": step_id} in a["Properties"].get("AlarmActions", [])
    ]
    assert len(wake) == 1
    alarm = wake[0]
    assert alarm["MetricName"] == "NoCapacityInvocationFailures"
    assert alarm["Namespace"] == "AWS/SageMaker"
    assert alarm["Dimensions"] == [{"Name": "InferenceComponentName", "Value": "dev-tabular-churn"}]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 60, 1)
    # One refused request is enough: ">= 1", not the Developer Guide CLI example's "> 1".
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", WAKE_UP_THRESHOLD)
    assert alarm["TreatMissingData"] == "notBreaching"


def test_rolling_updates_roll_back_on_the_components_own_alarms(scaled: Any) -> None:
    _, endpoint, template = scaled
    churn = endpoint.component("churn")
    assert len(churn.rollback_alarms) == 2
    components = {
        c["Properties"]["InferenceComponentName"]: c["Properties"]
        for c in _resources(template, "AWS::SageMaker::InferenceComponent").values()
    }
    deployment = components["dev-tabular-churn"]["DeploymentConfig"]
    assert deployment["RollingUpdatePolicy"] == {
        "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
        "WaitIntervalInSeconds": 120,
        "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 100},
    }
    alarm_refs = [a["AlarmName"]["Ref"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    resources = template.to_json()["Resources"]
    assert [resources[ref]["Type"] for ref in alarm_refs] == ["AWS::CloudWatch::Alarm"] * 2
    assert all("dev-tabular-churn" in json.dumps(resources[ref]["Properties"]) for ref in alarm_refs)
    assert "DeploymentConfig" not in components["dev-tabular-fraud"], "no rolling update asked: blue/green"
    # SageMaker reads the alarms' state with the endpoint's role while it rolls.
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "cloudwatch:DescribeAlarms", "Effect": "Allow"})]
                )
            }
        },
    )


def test_grant_names_the_endpoint_and_the_component_only(scaled: Any) -> None:
    _, _, template = scaled
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in _resources(template, "AWS::IAM::Policy").values()
        if "Client" in json.dumps(p["Properties"]["Roles"])
    ]
    (statements,) = policies
    (statement,) = statements
    assert statement["Action"] == "sagemaker:InvokeEndpoint"
    resources = json.dumps(statement["Resource"])
    assert ":endpoint/dev-tabular" in resources
    assert ":inference-component/dev-tabular-churn" in resources
    assert "fraud" not in resources
    assert "Condition" not in statement, "no condition key names a component (Service Authorization Reference)"


def test_streaming_grant_adds_the_response_stream_action() -> None:
    stack = _stack()
    endpoint = _endpoint(stack)
    component = _component(endpoint)
    role = iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal())
    component.grant_invoke(role, streaming=True)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {"Action": ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]}
                    )
                ]
            }
        },
    )


def test_the_config_s_role_may_use_the_volume_key_for_aws_resources_only(scaled: Any) -> None:
    # CreateEndpointConfig, KmsKeyId: "The KMS key policy must grant permission to the IAM role that you specify";
    # with no model on the variant that is the config's role, which SageMaker uses to attach the encrypted volumes:
    # grants for AWS resources and the key's description, nothing that encrypts or decrypts data itself.
    stack, endpoint, template = scaled
    (key_id,) = _resources(template, "AWS::KMS::Key")
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    role_id = stack.resolve(endpoint.execution_role.role.role_arn)["Fn::GetAtt"][0]
    on_key = [
        s
        for p in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Resource"] == key_arn or (isinstance(s["Resource"], list) and key_arn in s["Resource"])
    ]
    assert sorted(on_key, key=str) == sorted(
        [
            {
                "Action": "kms:CreateGrant",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                "Effect": "Allow",
                "Resource": key_arn,
            },
            {"Action": "kms:DescribeKey", "Effect": "Allow", "Resource": key_arn},
        ],
        key=str,
    )


def test_the_execution_role_reads_each_components_archive_only(scaled: Any) -> None:
    _, _, template = scaled
    reads = [
        s
        for p in _resources(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "s3:GetObject" or s["Action"] == ["s3:GetObject"]
    ]
    resources = sorted(
        r for s in reads for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    )
    assert resources == [
        "arn:aws:s3:::models-bucket/models/dev-tabular/churn/model.tar.gz",
        "arn:aws:s3:::models-bucket/models/dev-tabular/fraud/model.tar.gz",
    ]


def test_alarms_per_component(scaled: Any) -> None:
    _, endpoint, _ = scaled
    alarms = endpoint.node.find_child("Alarms").alarms
    # churn scales to zero: a refused request is how it wakes up, not an incident.
    assert set(alarms) == {
        "ErrorRateChurn",
        "ModelLatencyChurn",
        "ErrorRateFraud",
        "ModelLatencyFraud",
        "NoCapacityFraud",
    }


def test_dashboard_rows_show_reservations_and_each_component() -> None:
    stack = _stack()
    endpoint = _endpoint(stack)
    _component(endpoint)
    _component(endpoint, "fraud")
    dashboard = HostingDashboard(stack, "Dashboard")
    dashboard.add_endpoint(endpoint)
    body = json.dumps(Template.from_stack(stack).to_json())
    for needle in (
        "CPUReservation",
        "MemoryReservation",
        "dev-tabular-churn",
        "dev-tabular-fraud",
        "InvocationsPerCopy",
    ):
        assert needle in body
    assert "GPUReservation" not in body, "a CPU fleet has no accelerators to reserve"


def test_smoke_invocations_name_one_component() -> None:
    stack = _stack()
    endpoint = _endpoint(stack)
    _component(endpoint)
    endpoint.check_smoke_invocation("test", SmokeInvocation(body="1", inference_component="dev-tabular-churn"))
    with pytest.raises(ValidationError, match=r"inference_component.*must be one of this endpoint's components"):
        endpoint.check_smoke_invocation("test", SmokeInvocation(body="1", inference_component="dev-tabular-other"))
    with pytest.raises(ValidationError, match="does not apply to an inference-component endpoint"):
        endpoint.check_smoke_invocation("test", SmokeInvocation(body="1", target_model="a.tar.gz"))


def test_a_canary_on_a_component_that_scales_to_zero_is_refused() -> None:
    endpoint = _endpoint(_stack())
    component = _component(endpoint)
    ComponentScalingPlan(min_copies=0, max_copies=2, invocations_per_copy=10).apply(component)
    with pytest.raises(ValidationError, match="scales to zero copies: a canary would find no copy"):
        endpoint.check_smoke_invocation("test", SmokeInvocation(body="1", inference_component="dev-tabular-churn"))


def test_template_is_cfn_lint_and_compliance_clean() -> None:
    app = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    stack = cdk.Stack(app, "S", env=ENV)
    endpoint = _endpoint(stack, volume_encryption_key=kms.Key(stack, "Key", enable_key_rotation=True))
    churn = _component(endpoint, rolling_update=ComponentRollingUpdate())
    ComponentScalingPlan(min_copies=0, max_copies=2, invocations_per_copy=100).apply(churn)
    add_compliance_checks(app)
    assert cfn_lint(Template.from_stack(stack).to_json()) == []
    # Rollback alarms notify whatever topic their owner chooses (the Hosting stack gives them the stage's topic,
    # which test_every_stage checks); here they have only their rollback role.
    findings = [
        f
        for f in compliance_findings(app)
        if "/Tabular/" in f.path and not ("/Rollback" in f.path and f.rule.endswith("CloudWatchAlarmAction"))
    ]
    assert findings == [], findings


# -- validation: every rule fires, naming the field and the value ----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"endpoint_name": "Dev_Tabular"}, "endpoint_name"),
        ({"instance_type": "m5.large"}, "instance_type"),
        ({"initial_instance_count": 0}, "initial_instance_count"),
        (
            {"managed_instance_scaling": ManagedInstanceScaling(min_instances=2, max_instances=1)},
            "max_instances.*at least min_instances",
        ),
        (
            {"managed_instance_scaling": ManagedInstanceScaling(min_instances=-1, max_instances=1)},
            "min_instances",
        ),
        (
            {"managed_instance_scaling": ManagedInstanceScaling(min_instances=2, max_instances=3)},
            "initial_instance_count.*within managed_instance_scaling 2..3",
        ),
        (
            {
                "managed_instance_scaling": ManagedInstanceScaling(
                    min_instances=0, max_instances=1, scale_in_cooldown=cdk.Duration.minutes(2)
                )
            },
            "scale_in_cooldown",
        ),
        (
            {
                "managed_instance_scaling": ManagedInstanceScaling(
                    min_instances=0, max_instances=1, scale_in_cooldown=cdk.Duration.seconds(330)
                )
            },
            "whole minutes",
        ),
        (
            {
                "managed_instance_scaling": ManagedInstanceScaling(
                    min_instances=0, max_instances=1, max_scale_in_step=101
                )
            },
            "max_scale_in_step",
        ),
    ],
)
def test_endpoint_validation(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _endpoint(_stack(), **overrides)


def test_a_region_without_the_resource_type_is_refused() -> None:
    # CloudFormation's resource specification for eu-west-3 has no AWS::SageMaker::InferenceComponent.
    with pytest.raises(ValidationError, match=r"eu-west-3.*does not offer AWS::SageMaker::InferenceComponent"):
        _endpoint(_stack("eu-west-3"))


@pytest.mark.parametrize(
    ("name", "overrides", "match"),
    [
        ("Churn", {}, "component name"),
        ("x" * 60, {}, "name of component"),
        ("churn", {"compute": ComputeRequirements(min_memory_mb=64)}, "min_memory_mb"),
        ("churn", {"compute": ComputeRequirements(min_memory_mb=1024, max_memory_mb=512)}, "max_memory_mb"),
        ("churn", {"compute": ComputeRequirements(min_memory_mb=1024, cpu_cores=0.1)}, "cpu_cores"),
        ("churn", {"compute": ComputeRequirements(min_memory_mb=1024, cpu_cores=float("nan"))}, "cpu_cores"),
        ("churn", {"compute": ComputeRequirements(min_memory_mb=1024, cpu_cores=3)}, "cpu_cores.*2 vCPUs"),
        ("churn", {"compute": ComputeRequirements(min_memory_mb=1024, accelerators=0)}, "accelerators"),
        ("churn", {"compute": ComputeRequirements(min_memory_mb=1024, accelerators=1)}, "has no accelerators"),
        ("churn", {"initial_copies": 0}, "initial_copies.*created without a copy never loads its model"),
        ("churn", {"environment": {"bad key": "1"}}, "environment"),
        ("churn", {"model_data_download_timeout": cdk.Duration.seconds(30)}, "model_data_download_timeout"),
        ("churn", {"rolling_update": ComponentRollingUpdate(batch_percent=60)}, "batch_percent"),
        ("churn", {"rolling_update": ComponentRollingUpdate(batch_percent=4)}, "batch_percent"),
        ("churn", {"rolling_update": ComponentRollingUpdate(rollback_batch_percent=101)}, "rollback_batch_percent"),
        ("churn", {"rolling_update": ComponentRollingUpdate(wait_interval=cdk.Duration.hours(2))}, "wait_interval"),
        ("churn", {"rolling_update": ComponentRollingUpdate(batch_copies=0)}, "batch_copies"),
        (
            "churn",
            {
                "rolling_update": ComponentRollingUpdate(
                    wait_interval=cdk.Duration.minutes(4),
                    rollback_thresholds=AlarmThresholds(period=cdk.Duration.minutes(5), evaluation_periods=1),
                )
            },
            "wait_interval.*shorter than the rollback alarms' window",
        ),
        (
            "churn",
            {"rolling_update": ComponentRollingUpdate(max_execution_timeout=cdk.Duration.minutes(5))},
            "max_execution_timeout",
        ),
    ],
)
def test_component_validation(name: str, overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _component(_endpoint(_stack()), name, **overrides)


def test_accelerators_beyond_the_instances_gpus_are_refused() -> None:
    # The SageMaker Python SDK's instance table gives ml.g4dn.12xlarge 4 GPUs: a copy asking 8 never fits.
    endpoint = _endpoint(_stack(), instance_type="ml.g4dn.12xlarge")
    _component(endpoint, compute=ComputeRequirements(min_memory_mb=1024, accelerators=4))
    with pytest.raises(ValidationError, match=r"accelerators of component 'fraud'.*exceeds the 4 GPUs"):
        _component(endpoint, "fraud", compute=ComputeRequirements(min_memory_mb=1024, accelerators=8))


def test_a_component_name_is_used_once() -> None:
    endpoint = _endpoint(_stack())
    _component(endpoint)
    with pytest.raises(ValidationError, match="'churn' is used twice"):
        _component(endpoint)
    with pytest.raises(ValidationError, match="'other' is not on this endpoint"):
        endpoint.grant_invoke(
            iam.Role(cdk.Stack.of(endpoint), "R", assumed_by=iam.AccountRootPrincipal()), components=["other"]
        )


@pytest.mark.parametrize(
    ("plan", "copies", "match"),
    [
        (ComponentScalingPlan(min_copies=0, max_copies=2), 1, "target tracking.*required with min_copies 0"),
        (ComponentScalingPlan(min_copies=3, max_copies=2, invocations_per_copy=10), 1, "max_copies"),
        (ComponentScalingPlan(min_copies=2, max_copies=4, invocations_per_copy=10), 1, "initial_copies.*within 2..4"),
        (ComponentScalingPlan(min_copies=1, max_copies=4, invocations_per_copy=0), 1, "invocations_per_copy"),
        (
            ComponentScalingPlan(min_copies=1, max_copies=4, concurrent_requests_per_copy=float("inf")),
            1,
            "concurrent_requests_per_copy",
        ),
    ],
)
def test_scaling_validation(plan: ComponentScalingPlan, copies: int, match: str) -> None:
    component = _component(_endpoint(_stack()), initial_copies=copies)
    with pytest.raises(ValidationError, match=match):
        plan.apply(component)


def test_waking_from_zero_needs_a_floor_of_zero() -> None:
    component = _component(_endpoint(_stack()))
    scaling = ComponentScalingPlan(min_copies=1, max_copies=2, invocations_per_copy=10).apply(component)
    with pytest.raises(ValidationError, match=r"min_copies.*must be 0 to scale out from zero"):
        scaling.scale_out_from_zero()


def test_data_capture_and_shadow_variants_are_refused_where_aws_documents_neither() -> None:
    from constructs_lib.data_capture import DataCapture

    stack = _stack()
    capture = DataCapture(bucket=s3.Bucket.from_bucket_name(stack, "Captures", "models-bucket"))
    with pytest.raises(ValidationError, match="data_capture"):
        _endpoint(stack, data_capture=capture)
    with pytest.raises(ValidationError, match="shadow"):
        _endpoint(_stack(), shadow_variants=["shadow"])


def test_the_smoke_test_waits_for_every_component_and_checks_its_model() -> None:
    # CloudFormation creates a component after the endpoint (placing copies takes minutes): a canary that ran on
    # the endpoint alone would find no component. And SageMaker rolls a failed component update back on its own
    # (InferenceComponentDeploymentConfig, AutoRollbackConfiguration), so the test compares the model each
    # component runs with the one this deploy set: every component, invoked or not, since CloudFormation reports
    # the update a success either way and its cleanup deletes the replaced model (AWS::SageMaker::Model).
    from constructs_lib.component_scaling import ComponentScaling
    from constructs_lib.smoke_test import EndpointSmokeTest, SmokeTestProvider

    stack = _stack()
    endpoint = _endpoint(stack)
    churn = _component(endpoint)
    _component(endpoint, "fraud")
    # Registering the scalable target may move the copy count (DescribeInferenceComponent then says Updating):
    # CloudFormation must finish it before the test looks.
    scaling = ComponentScaling(churn, "Scaling", component=churn, min_copies=1, max_copies=2)
    provider = SmokeTestProvider(stack, "SmokeTestProvider")
    EndpointSmokeTest(
        endpoint,
        "SmokeTest",
        endpoint=endpoint,
        invocations=[SmokeInvocation(body="1", inference_component="dev-tabular-churn")],
        provider=provider,
    )
    template = Template.from_stack(stack).to_json()
    (test_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "Custom::SageMakerSmokeTest"]
    test = template["Resources"][test_id]
    fraud = endpoint.component("fraud")
    for component in (churn, fraud):
        assert stack.get_logical_id(component.resource) in test["DependsOn"]
    assert stack.get_logical_id(scaling.target.node.default_child) in test["DependsOn"]
    assert test["Properties"]["ExpectedModels"] == {
        "dev-tabular-churn": {"Fn::GetAtt": [stack.get_logical_id(churn.model), "ModelName"]},
        "dev-tabular-fraud": {"Fn::GetAtt": [stack.get_logical_id(fraud.model), "ModelName"]},
    }
    statements = [
        st
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for st in r["Properties"]["PolicyDocument"]["Statement"]
        if st["Action"] == "sagemaker:DescribeInferenceComponent"
    ]
    (describe,) = statements
    described = json.dumps(describe["Resource"])
    assert {"inference-component/dev-tabular-churn", "inference-component/dev-tabular-fraud"} == set(
        re.findall(r"inference-component/[a-z-]+", described)
    )


@pytest.mark.parametrize(
    ("copies", "batch", "scaling", "message"),
    [
        # InferenceComponentRollingUpdatePolicy, MaximumBatchSize: "between 5% to 50% of the copy count".
        (1, 1, None, r"batch_copies of component 'churn' 1 must be at most 50% of the copy count, which may be 1"),
        (4, 3, None, r"batch_copies .* 3 must be at most 50% of the copy count, which may be 4"),
        (2, 1, (0, 4), r"batch_copies .* 1 must be at most 50% of the copy count, which may be 0"),
        (2, 1, (2, 21), r"batch_copies .* 1 must be at least 5% of the copy count, which may be 21"),
    ],
)
def test_a_batch_of_copies_must_be_5_to_50_percent_of_every_copy_count(
    copies: int, batch: int, scaling: tuple[int, int] | None, message: str
) -> None:
    from constructs_lib.component_scaling import ComponentScaling

    endpoint = _endpoint(_stack())
    rolling_update = ComponentRollingUpdate(batch_copies=batch)
    if scaling is None:
        with pytest.raises(ValidationError, match=message):
            _component(endpoint, initial_copies=copies, rolling_update=rolling_update)
        return
    churn = _component(endpoint, initial_copies=copies, rolling_update=rolling_update)
    with pytest.raises(ValidationError, match=message):
        ComponentScaling(churn, "Scaling", component=churn, min_copies=scaling[0], max_copies=scaling[1])


def test_a_rolling_update_by_copies_and_its_one_minute_alarms() -> None:
    stack = _stack()
    churn = _component(_endpoint(stack), initial_copies=2, rolling_update=ComponentRollingUpdate(batch_copies=1))
    template = Template.from_stack(stack).to_json()
    component = template["Resources"][stack.get_logical_id(churn.resource)]["Properties"]
    assert component["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] == {
        "Type": "COPY_COUNT",
        "Value": 1,
    }
    for alarm in churn.rollback_alarms:
        rendered = template["Resources"][stack.get_logical_id(alarm.node.default_child)]["Properties"]
        # The window fits the 120 s bake: SageMaker watches the alarms only while a batch bakes.
        assert rendered["EvaluationPeriods"] == 1
        assert json.dumps(rendered).count('"Period": 60') >= 1


def test_a_component_can_serve_an_existing_model() -> None:
    stack = _stack()
    endpoint = _endpoint(stack)
    endpoint.add_component("registry", model_name="churn-model-v7", compute=SMALL)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SageMaker::Model", 0)
    template.has_resource_properties(
        "AWS::SageMaker::InferenceComponent",
        {
            "InferenceComponentName": "dev-tabular-registry",
            "Specification": Match.object_like({"ModelName": "churn-model-v7"}),
        },
    )


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"image": XGBOOST, "model_name": "churn-model-v7"},
        {"model_name": "churn-model-v7", "environment": {"A": "1"}},
        {"model_name": "Churn_Model"},
    ],
)
def test_a_component_names_exactly_one_model(props: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="model"):
        _endpoint(_stack()).add_component("registry", compute=SMALL, **props)
