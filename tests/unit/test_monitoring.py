"""EndpointAlarms, HostingDashboard, AlarmTopic: thresholds in the metrics' units, dashboards that show them."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    AlarmThresholds,
    AlarmTopic,
    Container,
    EndpointAlarms,
    EndpointScaling,
    HostingDashboard,
    InferenceMode,
    ModelPrefix,
    MultiContainerEndpoint,
    MultiModelEndpoint,
    ProductionVariant,
    ServingImage,
    ValidationError,
)
from tests.support import make_app

XGBOOST = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
THRESHOLDS = AlarmThresholds(
    model_latency_p99=cdk.Duration.millis(500), model_loading_wait_max=cdk.Duration.seconds(20), cpu_percent=80
)


def _stack() -> cdk.Stack:
    return cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))


def _mme(stack: cdk.Stack) -> MultiModelEndpoint:
    return MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="mme",
        image=ServingImage.from_registry(XGBOOST),
        model_prefix=ModelPrefix.for_endpoint(
            bucket=s3.Bucket.from_bucket_name(stack, "B", "models"), endpoint_name="mme"
        ),
        variants=[ProductionVariant(instance_type="ml.m5.xlarge")],
    )


def _mce(stack: cdk.Stack, mode: InferenceMode = InferenceMode.DIRECT) -> MultiContainerEndpoint:
    """Endpoint ``mce``, containers ``tf`` and ``pt``."""
    image = ServingImage.from_deep_learning_container("pytorch-inference", "2.6.0-cpu-py312")
    return MultiContainerEndpoint(
        stack,
        "Mce",
        endpoint_name="mce",
        mode=mode,
        containers=[Container(hostname="tf", image=image), Container(hostname="pt", image=image)],
        variants=[ProductionVariant(instance_type="ml.c5.2xlarge")],
    )


@pytest.fixture(scope="module")
def monitored() -> Template:
    stack = _stack()
    topic = AlarmTopic(
        stack,
        "Topic",
        encryption_key=kms.Key(stack, "Key"),
        alarm_name_prefix="hosting-test-",
        email_addresses=["oncall@example.com"],
    )
    mme, mce = _mme(stack), _mce(stack)
    dashboard = HostingDashboard(stack, "Dashboard", dashboard_name="hosting-test")
    scaling = EndpointScaling(stack, "Scaling", endpoint=mme, min_capacity=1, max_capacity=4)
    scaling.scale_on_invocations(target_invocations_per_instance=600)
    for endpoint, name in ((mme, "MmeAlarms"), (mce, "MceAlarms")):
        alarms = EndpointAlarms(stack, name, endpoint=endpoint, thresholds=THRESHOLDS, action=topic.alarm_action)
        dashboard.add_endpoint(endpoint, scaling=[scaling] if endpoint is mme else [], alarms=alarms)
    return Template.from_stack(stack)


def _alarm(template: Template, logical_id_prefix: str) -> dict[str, Any]:
    found = [a for k, a in template.find_resources("AWS::CloudWatch::Alarm").items() if k.startswith(logical_id_prefix)]
    assert len(found) == 1, logical_id_prefix
    properties: dict[str, Any] = found[0]["Properties"]
    return properties


def test_latency_thresholds_are_in_microseconds(monitored: Template) -> None:
    latency = _alarm(monitored, "MmeAlarmsModelLatency")
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "ModelLatency",
        "p99",
        500_000,
    )
    assert latency["Unit"] == "Microseconds"
    wait = _alarm(monitored, "MmeAlarmsModelLoadingWait")
    assert (wait["MetricName"], wait["Statistic"], wait["Threshold"]) == (
        "ModelLoadingWaitTime",
        "Maximum",
        20_000_000,
    )


def test_mme_thrashing_alarms(monitored: Template) -> None:
    cache = _alarm(monitored, "MmeAlarmsCacheHitRatio")
    assert (cache["MetricName"], cache["Statistic"], cache["ComparisonOperator"], cache["Threshold"]) == (
        "ModelCacheHit",
        "Average",
        "LessThanThreshold",
        0.8,
    )
    unloads = _alarm(monitored, "MmeAlarmsModelUnloads")
    assert (unloads["MetricName"], unloads["Statistic"], unloads["Threshold"]) == (
        "ModelUnloadingTime",
        "SampleCount",
        30,
    )


def test_error_rate_is_a_percentage_of_invocations(monitored: Template) -> None:
    rate = _alarm(monitored, "MmeAlarmsErrorRate")
    expression = next(m for m in rate["Metrics"] if "Expression" in m)
    assert expression["Expression"] == "IF(invocations > 0, 100 * errors / invocations, 0)"
    names = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m}
    assert names == {"errors": "Invocation5XXErrors", "invocations": "Invocations"}
    assert rate["Threshold"] == 1.0


def test_cpu_threshold_is_scaled_to_vcpus(monitored: Template) -> None:
    assert _alarm(monitored, "MmeAlarmsCPU")["Threshold"] == 320  # 80% of 4 vCPUs
    assert _alarm(monitored, "MceAlarmsCPU")["Threshold"] == 640  # 80% of 8 vCPUs
    assert _alarm(monitored, "MmeAlarmsMemory")["Namespace"] == "/aws/sagemaker/Endpoints"


def test_per_container_error_alarms(monitored: Template) -> None:
    for hostname, prefix in (("tf", "MceAlarmsErrorRateTf"), ("pt", "MceAlarmsErrorRatePt")):
        rate = _alarm(monitored, prefix)
        dimensions = [m["MetricStat"]["Metric"]["Dimensions"] for m in rate["Metrics"] if "MetricStat" in m]
        for each in dimensions:
            assert {"Name": "ContainerName", "Value": hostname} in each


def test_every_alarm_notifies_the_topic(monitored: Template) -> None:
    (topic_id,) = monitored.find_resources("AWS::SNS::Topic")
    alarms = monitored.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 8 + 7  # MME: 5 common + 3 cache/loading; MCE: 5 common + 2 containers
    for each in alarms.values():
        assert each["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
        assert each["Properties"]["TreatMissingData"] == "notBreaching"


def test_topic_is_encrypted_ssl_only_and_subscribed(monitored: Template) -> None:
    monitored.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^Key"), "Arn"]}}
    )
    monitored.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    monitored.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"})
    key_policy = next(iter(monitored.find_resources("AWS::KMS::Key").values()))["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key_policy)


def _widgets(template: Template) -> list[dict[str, Any]]:
    body = next(iter(template.find_resources("AWS::CloudWatch::Dashboard").values()))["Properties"]["DashboardBody"]
    text = body if isinstance(body, str) else "".join(p if isinstance(p, str) else "REF" for p in body["Fn::Join"][1])
    widgets: list[dict[str, Any]] = json.loads(text)["widgets"]
    return widgets


def _dashboard_metrics(template: Template) -> list[list[Any]]:
    return [m for w in _widgets(template) for m in w.get("properties", {}).get("metrics", [])]


def _shows(metrics: list[list[Any]], namespace: str, name: str, dimensions: dict[str, str]) -> bool:
    """True when a graph plots ``name`` with exactly ``dimensions`` (CloudWatch sorts them by name)."""
    for metric in metrics:
        if metric[:2] != [namespace, name]:
            continue
        pairs = [x for x in metric[2:] if isinstance(x, str)]
        if dict(zip(pairs[::2], pairs[1::2], strict=True)) == dimensions:
            return True
    return False


MME = {"EndpointName": "mme", "VariantName": "AllTraffic"}
MCE = {"EndpointName": "mce", "VariantName": "AllTraffic"}


@pytest.mark.parametrize(
    ("namespace", "name", "dimensions"),
    [
        ("AWS/SageMaker", "Invocations", MME),
        ("AWS/SageMaker", "Invocation5XXErrors", MME),
        ("AWS/SageMaker", "ModelLatency", MME),
        ("AWS/SageMaker", "OverheadLatency", MME),
        ("AWS/SageMaker", "ModelCacheHit", MME),
        ("/aws/sagemaker/Endpoints", "LoadedModelCount", MME),
        ("AWS/SageMaker", "ModelLoadingWaitTime", MME),
        ("AWS/SageMaker", "ModelDownloadingTime", MME),
        ("AWS/SageMaker", "ModelLoadingTime", MME),
        ("AWS/SageMaker", "ModelUnloadingTime", MME),
        ("AWS/SageMaker", "InvocationsPerInstance", MME),
        ("/aws/sagemaker/Endpoints", "CPUUtilization", MME),
        ("/aws/sagemaker/Endpoints", "DiskUtilization", MCE),
        ("AWS/SageMaker", "ContainerLatency", {**MCE, "ContainerName": "tf"}),
        ("AWS/SageMaker", "Invocation5XXErrors", {**MCE, "ContainerName": "pt"}),
        ("/aws/sagemaker/Endpoints", "MemoryUtilization", {**MCE, "ContainerName": "pt"}),
    ],
)
def test_dashboard_shows_each_metric_with_its_dimensions(
    monitored: Template, namespace: str, name: str, dimensions: dict[str, str]
) -> None:
    assert _shows(_dashboard_metrics(monitored), namespace, name, dimensions)


def test_a_serial_pipeline_s_dashboard_draws_no_per_container_cpu_or_memory() -> None:
    # SageMaker reports CPU and memory per container for Direct invocation only ("Metrics for multi-container
    # endpoints with direct invocation"); a Serial pipeline's CPUUtilization "is the sum of CPU utilization by all
    # containers running on the instance" (SageMaker Developer Guide, "Inference Pipeline Logs and Metrics").
    stack = _stack()
    HostingDashboard(stack, "Dashboard", dashboard_name="pipeline").add_endpoint(_mce(stack, InferenceMode.SERIAL))
    metrics = _dashboard_metrics(Template.from_stack(stack))
    assert _shows(metrics, "/aws/sagemaker/Endpoints", "CPUUtilization", MCE)
    assert _shows(metrics, "AWS/SageMaker", "ContainerLatency", {**MCE, "ContainerName": "tf"})
    per_container = [m for m in metrics if m[0] == "/aws/sagemaker/Endpoints" and "ContainerName" in m]
    assert per_container == []


def test_dashboard_latency_is_in_milliseconds(monitored: Template) -> None:
    expressions = [
        m[0]["expression"] for m in _dashboard_metrics(monitored) if isinstance(m[0], dict) and "expression" in m[0]
    ]
    assert "modellatency_p99 / 1000" in expressions
    assert "containerlatency_average / 1000" in expressions
    assert "modelloadingwaittime_average / 1000" in expressions


def test_dashboard_shows_scaling_target_and_instance_count(monitored: Template) -> None:
    annotations = {
        (a["label"], a["value"])
        for w in _widgets(monitored)
        for a in w.get("properties", {}).get("annotations", {}).get("horizontal", [])
    }
    assert {("scaling target", 600), ("min capacity", 1), ("max capacity", 4)} <= annotations
    instances = [m for m in _dashboard_metrics(monitored) if len(m) > 2 and m[1] == "CPUUtilization"]
    assert any({"stat": "SampleCount", "label": "instances"}.items() <= m[-1].items() for m in instances)


def test_bad_thresholds_and_email_are_refused() -> None:
    stack = _stack()
    with pytest.raises(
        ValidationError, match=r"EndpointAlarms Hosting/Alarms: cache_hit_ratio_floor 1.5 must be between 0 and 1"
    ):
        EndpointAlarms(stack, "Alarms", endpoint=_mme(stack), thresholds=AlarmThresholds(cache_hit_ratio_floor=1.5))
    with pytest.raises(ValidationError, match=r"email address 'oncall' is not an e-mail address"):
        AlarmTopic(
            stack, "Topic", encryption_key=kms.Key(stack, "K"), alarm_name_prefix="t-", email_addresses=["oncall"]
        )
    with pytest.raises(ValidationError, match=r"alarm_name_prefix 'no dash' must be"):
        AlarmTopic(stack, "Topic2", encryption_key=kms.Key(stack, "K2"), alarm_name_prefix="no dash")
