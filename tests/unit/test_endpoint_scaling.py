"""EndpointScaling: targets, policies, schedules, retention of scaled counts, the instance-type guard, validation."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    EndpointScaling,
    ModelPrefix,
    MultiModelEndpoint,
    ProductionVariant,
    ScalingGuardProvider,
    ServingImage,
    ValidationError,
)
from constructs_lib.hardened_function import LAMBDA_RUNTIME
from stacks.compliance import Finding
from tests.support import acknowledgments, make_app

TRITON = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-tritonserver:24.09-py3"
XGBOOST = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _mme(
    instance_type: str = "ml.m5.xlarge", image: str = XGBOOST, instances: int = 2
) -> tuple[cdk.Stack, MultiModelEndpoint]:
    stack = cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    bucket = s3.Bucket.from_bucket_name(stack, "B", "models")
    mme = MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="mme",
        image=ServingImage.from_registry(image),
        model_prefix=ModelPrefix.for_endpoint(bucket=bucket, endpoint_name="mme"),
        # Within every scaling range below: Application Auto Scaling would move it at once otherwise.
        variants=[ProductionVariant(instance_type=instance_type, initial_instance_count=instances)],
    )
    return stack, mme


@pytest.fixture(scope="module")
def scaled() -> Template:
    stack, mme = _mme()
    scaling = EndpointScaling(stack, "Scaling", endpoint=mme, min_capacity=2, max_capacity=6)
    scaling.scale_on_invocations(max_requests_per_second=10, safety_factor=0.5)
    scaling.scale_on_cpu_utilization(target_percent=70, scale_in_cooldown=cdk.Duration.seconds(600))
    scaling.scale_on_schedule(
        "Night",
        schedule=appscaling.Schedule.expression("cron(0 20 * * ? *)"),
        max_capacity=2,
        time_zone=cdk.TimeZone.of("Europe/Dublin"),
    )
    return Template.from_stack(stack)


def _ids(template: Template, resource_type: str) -> list[str]:
    return list(template.find_resources(resource_type))


def test_scalable_target_uses_the_endpoint_name_and_service_linked_role(scaled: Template) -> None:
    scaled.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/mme/variant/AllTraffic",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 2,
            "MaxCapacity": 6,
            "RoleARN": "arn:aws:iam::111111111111:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
        },
    )
    assert not [r for r in _ids(scaled, "AWS::IAM::Role") if r.startswith("ScalingTarget")]


def test_target_is_ordered_after_the_endpoint_and_the_restore(scaled: Template) -> None:
    target = next(iter(scaled.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()))
    (endpoint,) = _ids(scaled, "AWS::SageMaker::Endpoint")
    (restore,) = _ids(scaled, "Custom::SageMakerScalingRestore")
    assert {endpoint, restore} <= set(target["DependsOn"])


def test_invocations_target_is_rps_times_safety_times_sixty(scaled: Template) -> None:
    scaled.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "TargetValue": 300,
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 300,
                "DisableScaleIn": False,
            },
        },
    )


def test_cpu_target_is_scaled_to_the_instance_vcpus(scaled: Template) -> None:
    scaled.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "CustomizedMetricSpecification": {
                        "Namespace": "/aws/sagemaker/Endpoints",
                        "MetricName": "CPUUtilization",
                        "Statistic": "Average",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": "mme"},
                            {"Name": "VariantName", "Value": "AllTraffic"},
                        ],
                    },
                    "TargetValue": 280,  # 70% of 4 vCPUs (ml.m5.xlarge)
                    "ScaleInCooldown": 600,
                }
            )
        },
    )


def test_scheduled_action(scaled: Template) -> None:
    scaled.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ScheduledActions": [
                {
                    "ScheduledActionName": "Night",
                    "Schedule": "cron(0 20 * * ? *)",
                    "ScalableTargetAction": {"MaxCapacity": 2},
                    "Timezone": "Europe/Dublin",
                }
            ]
        },
    )


def test_scaled_endpoint_retains_variant_properties(scaled: Template) -> None:
    scaled.has_resource_properties("AWS::SageMaker::Endpoint", {"RetainAllVariantProperties": True})


def test_unscaled_endpoint_does_not() -> None:
    stack, _ = _mme()
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Endpoint", {"RetainAllVariantProperties": Match.absent()}
    )


def test_guard_is_ordered_around_the_endpoint(scaled: Template) -> None:
    endpoint_id, endpoint = next(iter(scaled.find_resources("AWS::SageMaker::Endpoint").items()))
    (release_id,) = _ids(scaled, "Custom::SageMakerScalingRelease")
    restore = next(iter(scaled.find_resources("Custom::SageMakerScalingRestore").values()))
    assert release_id in endpoint["DependsOn"]
    assert endpoint_id in restore["DependsOn"]
    assert restore["Properties"]["Snapshot"] == {"Fn::GetAtt": [release_id, "Snapshot"]}
    scaled.has_resource_properties(
        "Custom::SageMakerScalingRelease",
        {
            "Action": "release",
            "EndpointName": "mme",
            "Variants": [{"VariantName": "AllTraffic", "InstanceType": "ml.m5.xlarge"}],
        },
    )


def test_guard_function_is_scoped_and_on_the_latest_runtime(scaled: Template) -> None:
    scaled.resource_count_is("AWS::Lambda::Function", 1)
    scaled.has_resource_properties(
        "AWS::Lambda::Function", {"Runtime": LAMBDA_RUNTIME.name, "Handler": "handler.handler"}
    )
    policy = next(
        p for k, p in scaled.find_resources("AWS::IAM::Policy").items() if k.startswith("ScalingGuardProviderRole")
    )
    actions = {
        a
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "application-autoscaling:DeregisterScalableTarget" in actions
    assert not [a for a in actions if a.endswith("*") or a.startswith(("s3:", "iam:"))]


def test_the_stack_s_completed_rollback_reaches_the_guard(scaled: Template) -> None:
    # What the custom resources cannot settle (a Release rolled back before the endpoint, with no Restore after
    # it) the function settles once the stack has rolled back: CloudFormation sends its status changes to
    # EventBridge ("Stack Status Change event detail": detail.stack-id, detail.status-details.status).
    (rule,) = scaled.find_resources("AWS::Events::Rule").values()
    (function_id,) = _ids(scaled, "AWS::Lambda::Function")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.cloudformation"],
        "detail-type": ["CloudFormation Stack Status Change"],
        "detail": {"stack-id": [{"Ref": "AWS::StackId"}], "status-details": {"status": ["UPDATE_ROLLBACK_COMPLETE"]}},
    }
    # The default event bus (its metrics carry RuleName alone), and no name: a change never replaces the rule.
    assert "EventBusName" not in rule["Properties"]
    assert "Name" not in rule["Properties"]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    # EventBridge retries handing the event to Lambda; the function itself is not retried (retry_attempts=0).
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
    assert "Input" not in target  # the function tells the event from CloudFormation's requests by its detail-type
    (rule_id,) = _ids(scaled, "AWS::Events::Rule")
    scaled.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )
    # It settles this stack's endpoints only: the snapshot folder is shared by the environment's Hosting stacks.
    scaled.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"GUARDED_ENDPOINTS": "mme"})}}
    )


def test_cloudformation_s_rollback_event_matches_the_rule_and_no_other_does(scaled: Template) -> None:
    """The rule's pattern against CloudFormation's event as the User Guide documents it ("Stack Status Change event
    detail"), judged by EventBridge's pattern matching as moto emulates it for PutEvents: the end of this stack's update
    rollback, and nothing else: not a forward update, not a rollback still running or failed, not a failed
    creation (ROLLBACK_COMPLETE), not another stack's."""
    import json

    (rule,) = scaled.find_resources("AWS::Events::Rule").values()
    stack_id = "arn:aws:cloudformation:eu-west-1:111111111111:stack/Hosting/6c1e8b90-1a2b-11ef-9f3c-0a1b2c3d4e5f"
    pattern = json.dumps(rule["Properties"]["EventPattern"]).replace(
        json.dumps({"Ref": "AWS::StackId"}), json.dumps(stack_id)
    )

    def event(status: str, stack: str = stack_id) -> str:
        return json.dumps(
            {
                "version": "0",
                "id": "7bf73129-1428-4cd3-a780-95db273d1602",
                "detail-type": "CloudFormation Stack Status Change",
                "source": "aws.cloudformation",
                "account": "111111111111",
                "time": "2026-11-26T12:00:00Z",
                "region": "eu-west-1",
                "resources": [stack],
                "detail": {
                    "stack-id": stack,
                    "status-details": {"status": status, "status-reason": ""},
                    "client-request-token": "",
                },
            }
        )

    from moto.events.models import EventPattern

    def matches(event: str) -> bool:
        return EventPattern.load(pattern).matches_event(json.loads(event))

    assert matches(event("UPDATE_ROLLBACK_COMPLETE"))
    for status in ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED", "ROLLBACK_COMPLETE"):
        assert not matches(event(status)), status
    assert not matches(event("UPDATE_ROLLBACK_COMPLETE", stack_id.replace("/Hosting/", "/Other/")))


def test_gpu_policy_on_a_gpu_variant() -> None:
    stack, mme = _mme("ml.g5.xlarge", TRITON)
    EndpointScaling(stack, "Scaling", endpoint=mme, min_capacity=1, max_capacity=2).scale_on_gpu_utilization(
        target_percent=60
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "CustomizedMetricSpecification": Match.object_like({"MetricName": "GPUUtilization"}),
                    "TargetValue": 60,
                }
            )
        },
    )


# -- validation ---------------------------------------------------------------------------------------------


def _scaling(**overrides: Any) -> EndpointScaling:
    instance_type = overrides.pop("instance_type", "ml.m5.xlarge")
    stack, mme = _mme(instance_type)
    props: dict[str, Any] = {"endpoint": mme, "min_capacity": 1, "max_capacity": 2}
    props.update(overrides)
    return EndpointScaling(stack, "Scaling", **props)


def test_min_capacity_at_least_one() -> None:
    with pytest.raises(ValidationError, match=r"EndpointScaling Hosting/Scaling: min_capacity 0 must be at least 1"):
        _scaling(min_capacity=0)


def test_max_at_least_min() -> None:
    with pytest.raises(ValidationError, match=r"max_capacity 1 must be at least min_capacity \(2\)"):
        _scaling(min_capacity=2, max_capacity=1)


def test_burstable_instances_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"instance_type 'ml.t2.medium' is burstable"):
        _scaling(instance_type="ml.t2.medium")


def test_unknown_variant() -> None:
    with pytest.raises(ValidationError, match=r"variant_name 'Blue' is not one of AllTraffic"):
        _scaling(variant_name="Blue")


@pytest.mark.parametrize("kwargs", [{}, {"target_invocations_per_instance": 100, "max_requests_per_second": 5}])
def test_exactly_one_invocations_target(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match="give exactly one of target_invocations_per_instance"):
        _scaling().scale_on_invocations(**kwargs)


@pytest.mark.parametrize("factor", [0, 1.5])
def test_safety_factor_range(factor: float) -> None:
    with pytest.raises(ValidationError, match=rf"safety_factor {factor} must be in \(0, 1\]"):
        _scaling().scale_on_invocations(max_requests_per_second=5, safety_factor=factor)


def test_cpu_target_percent_range() -> None:
    with pytest.raises(ValidationError, match=r"target_percent 150 must be between 1 and 100"):
        _scaling().scale_on_cpu_utilization(target_percent=150)


def test_gpu_policy_needs_a_gpu() -> None:
    with pytest.raises(ValidationError, match=r"instance_type 'ml.m5.xlarge' has no GPU to track"):
        _scaling().scale_on_gpu_utilization(target_percent=50)


def test_schedule_needs_a_capacity_and_keeps_min_above_zero() -> None:
    scaling = _scaling()
    schedule = appscaling.Schedule.expression("cron(0 20 * * ? *)")
    with pytest.raises(ValidationError, match="schedule Night None must set min_capacity or max_capacity"):
        scaling.scale_on_schedule("Night", schedule=schedule)
    with pytest.raises(ValidationError, match="min_capacity of schedule Night 0 must be at least 1"):
        scaling.scale_on_schedule("Night", schedule=schedule, min_capacity=0)
    with pytest.raises(ValidationError, match="max_capacity of schedule Night 1 is below its min_capacity"):
        scaling.scale_on_schedule("Night", schedule=schedule, min_capacity=2, max_capacity=1)


# -- the guard's timeouts and permissions --------------------------------------------------------------------


def _guarded(**provider_props: Any) -> tuple[cdk.Stack, Template]:
    stack, mme = _mme()
    provider = ScalingGuardProvider(stack, "ScalingGuardProvider", **provider_props)
    EndpointScaling(stack, "Scaling", endpoint=mme, min_capacity=1, max_capacity=2, guard_provider=provider)
    return stack, Template.from_stack(stack)


def _guard_statements(template: Template) -> list[dict[str, Any]]:
    policy = next(
        p for k, p in template.find_resources("AWS::IAM::Policy").items() if k.startswith("ScalingGuardProviderRole")
    )
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_guard_requests_time_out_a_little_after_the_function(scaled: Template) -> None:
    (function,) = scaled.find_resources("AWS::Lambda::Function").values()
    timeout = function["Properties"]["Timeout"]
    for resource_type in ("Custom::SageMakerScalingRelease", "Custom::SageMakerScalingRestore"):
        (custom,) = scaled.find_resources(resource_type).values()
        # CloudFormation otherwise waits an hour for an answer that a timed-out function never sends.
        assert timeout < int(custom["Properties"]["ServiceTimeout"]) <= timeout + 120
    # A retry would come after CloudFormation stopped waiting, alongside the rollback's own requests.
    scaled.has_resource_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 0})


def test_restore_gets_the_variants_to_release_on_a_rollback(scaled: Template) -> None:
    scaled.has_resource_properties(
        "Custom::SageMakerScalingRestore",
        {"Variants": [{"VariantName": "AllTraffic", "InstanceType": "ml.m5.xlarge"}]},
    )


def test_the_guard_s_endpoint_list_must_fit_lambda_s_environment() -> None:
    # Lambda allows 4 KB for all of a function's environment variables, names and values ("Lambda quotas"): the
    # guard's lists its stack's endpoints, so the provider refuses the endpoint that would overflow it.
    stack = cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    provider = ScalingGuardProvider(stack, "ScalingGuardProvider", snapshot_parameter_path="/p")
    names = [f"{i:02d}".ljust(63, "x") for i in range(64)]
    fixed = len("SNAPSHOT_PARAMETER_PATH") + len("/p") + len("GUARDED_ENDPOINTS")
    assert fixed + len(",".join(names[:63])) <= 4096 < fixed + len(",".join(names))
    for name in names[:63]:
        provider.allow_endpoint(name)
    with pytest.raises(
        ValidationError, match=f"endpoint '{names[63]}' would take the scaling guard's environment to 4137 bytes"
    ):
        provider.allow_endpoint(names[63])
    variables = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    (function,) = variables.values()
    assert function["Properties"]["Environment"]["Variables"]["GUARDED_ENDPOINTS"] == ",".join(names[:63])


def test_a_snapshot_path_known_at_deploy_time_counts_as_ssm_s_longest() -> None:
    stack = cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    path = cdk.CfnParameter(stack, "SnapshotPath").value_as_string
    provider = ScalingGuardProvider(stack, "ScalingGuardProvider", snapshot_parameter_path=path)
    names = [f"{i:02d}".ljust(63, "x") for i in range(64)]
    fits = (4096 - len("SNAPSHOT_PARAMETER_PATH") - 1011 - len("GUARDED_ENDPOINTS") + 1) // 64  # 47
    for name in names[:fits]:
        provider.allow_endpoint(name)
    with pytest.raises(ValidationError, match="over Lambda's 4096"):
        provider.allow_endpoint(names[fits])


def test_guard_may_keep_snapshots_under_its_path_and_read_only_its_own_stack() -> None:
    stack, template = _guarded(snapshot_parameter_path="/sagemaker-hosting/prod")
    statements = _guard_statements(template)
    snapshots = "arn:aws:ssm:eu-west-1:111111111111:parameter/sagemaker-hosting/prod/scaling-guard/*"
    assert {
        "Action": ["ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParametersByPath", "ssm:PutParameter"],
        "Effect": "Allow",
        "Resource": snapshots,
    } in statements
    assert {"Action": "cloudformation:DescribeStacks", "Effect": "Allow", "Resource": {"Ref": "AWS::StackId"}} in (
        statements
    )
    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert len([a for a in actions if a.startswith(("ssm:", "cloudformation:"))]) == 5  # nowhere else
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"SNAPSHOT_PARAMETER_PATH": "/sagemaker-hosting/prod"}}},
    )
    assert Finding(
        f"AwsSolutions-IAM5[Resource::{snapshots}]", "Hosting/ScalingGuardProvider/Resource/Role/DefaultPolicy/Resource"
    ) in set(acknowledgments(stack))


def test_guard_snapshots_default_to_a_path_of_the_stack(scaled: Template) -> None:
    scaled.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"SNAPSHOT_PARAMETER_PATH": "/sagemaker-hosting/Hosting"}}},
    )


@pytest.mark.parametrize("path", ["", "sagemaker-hosting/prod", "/sagemaker-hosting/prod/", "/a b", "/a//b"])
def test_snapshot_path_is_an_ssm_path(path: str) -> None:
    with pytest.raises(ValidationError, match=r"ScalingGuardProvider Hosting/ScalingGuardProvider: snapshot_"):
        _guarded(snapshot_parameter_path=path)


def test_guard_may_manage_only_the_target_tracking_alarms_of_endpoint_variants() -> None:
    """Application Auto Scaling checks its caller's CloudWatch rights ("Permissions validation for API calls on
    target resources", Application Auto Scaling User Guide); the alarms it creates for a SageMaker variant's
    target-tracking policy are ``TargetTracking-endpoint/<endpoint>/variant/<variant>-AlarmHigh-<id>`` (-AlarmLow-).
    """
    stack, template = _guarded()
    statements = _guard_statements(template)
    alarms = "arn:aws:cloudwatch:eu-west-1:111111111111:alarm:TargetTracking-endpoint/*"
    assert {
        "Action": ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
        "Effect": "Allow",
        "Resource": alarms,
    } in statements
    actions = [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert len([a for a in actions if a.startswith("cloudwatch:")]) == 3  # nowhere else
    assert Finding(
        f"AwsSolutions-IAM5[Resource::{alarms}]", "Hosting/ScalingGuardProvider/Resource/Role/DefaultPolicy/Resource"
    ) in set(acknowledgments(stack))
