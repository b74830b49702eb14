"""Every environment synthesizes, with the stateful resources it must keep and the examples it configures.

Expectations about the shipped examples come from ``tests/examples.py``; the stages are the session's
(``synthesis``: built and synthesized once, as ``cdk synth`` does).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from stacks.config import ConfigError, InferenceComponentEndpointConfig, MultiContainerEndpointConfig
from stacks.stage import ModelHostingStage
from tests import examples
from tests.support import Synthesis, feature_environment, make_app

# Stateful resources: renaming one of these replaces it, and a replaced bucket or key loses every artifact.
ACCESS_LOGS = "ArtifactsAccessLogs4D97777C"
PINNED_LOGICAL_IDS = {
    "ArtifactsKeyA4B22E2B": "AWS::KMS::Key",
    ACCESS_LOGS: "AWS::S3::Bucket",
    "ArtifactsBucket88671897": "AWS::S3::Bucket",
    "ServingImagesA123629F": "AWS::ECR::Repository",
}


def test_one_stage_per_environment_and_region(synthesis: Synthesis) -> None:
    assert tuple(s.node.id for s in synthesis.stages) == examples.STAGE_IDS
    for stage, config in zip(synthesis.stages, examples.PLACEMENTS, strict=True):
        assert (stage.account, stage.region) == (config.account, config.region)
    assert {e.name: e.regions for e in examples.ENVIRONMENTS} == examples.PINNED_REGIONS


def test_a_second_region_is_a_stage_of_its_own_with_regional_names(synthesis: Synthesis) -> None:
    # Stack names of the home region never change when a region is added (a renamed stack is a new stack, and its
    # retained bucket and key would collide with the old ones); the other region's stack names carry the region.
    for environment in examples.ENVIRONMENTS:
        stages = [s for s in synthesis.stages if s.config.name == environment.name]
        assert [s.region for s in stages] == list(environment.regions)
        home, *others = stages
        assert home.model_store.stack_name == f"{environment.stage_id}-ModelStore"
        for stage in others:
            assert stage.model_store.stack_name == f"{environment.stage_id}-{stage.region}-ModelStore"
            for stack in (stage.model_store, *stage.hosting_stacks):
                text = json.dumps(synthesis.template(stack))
                # Regional resources are named for their own region: the bucket, the dashboard.
                assert environment.region not in text.replace(f"{environment.region}.amazonaws", ""), stack.stack_name
            dashboard = next(iter(synthesis.resources(stage.hosting, "AWS::CloudWatch::Dashboard").values()))
            assert dashboard["Properties"]["DashboardName"] == f"sagemaker-hosting-{environment.name}-{stage.region}"


@pytest.mark.parametrize("name", examples.NAMES)
def test_stateful_logical_ids_are_pinned(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    for logical_id, resource_type in PINNED_LOGICAL_IDS.items():
        assert logical_id in synthesis.resources(stage.model_store, resource_type), (
            f"{name}: {logical_id} ({resource_type}) moved"
        )


@pytest.mark.parametrize("name", examples.NAMES)
def test_retention_per_environment(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    policy = "Retain" if stage.config.retain_stateful_resources else "Delete"
    resources = synthesis.resources(stage.model_store)
    for logical_id in PINNED_LOGICAL_IDS:
        # The access logs outlive even a destroyed dev store (ModelArtifactStore.access_log_bucket says why).
        kept = "Retain" if logical_id == ACCESS_LOGS else policy
        assert resources[logical_id]["DeletionPolicy"] == kept
        assert resources[logical_id]["UpdateReplacePolicy"] == kept
    assert stage.model_store.termination_protection is (policy == "Retain")


def test_the_examples_are_configured_as_the_readme_describes() -> None:
    # The pinned facts of tests/examples.py, read from stacks/environments.py: the stage tests derive from it.
    assert examples.NAMES == examples.ENVIRONMENT_NAMES
    configured: dict[str, Any] = {}
    for config in examples.ENVIRONMENTS:
        home = examples.endpoint(config, examples.HOME_VALUES)
        mnist = examples.endpoint(config, examples.MNIST)
        assert home.scaling is not None
        assert isinstance(mnist, MultiContainerEndpointConfig)
        configured[config.name] = (
            config.retain_stateful_resources,
            (home.variants[0].initial_instance_count, home.scaling.min_capacity, home.scaling.max_capacity),
            tuple(s.name for s in home.scaling.schedules),
            mnist.deployment.traffic.value if mnist.deployment else None,
            config.alarm_thresholds.model_latency_p99.to_milliseconds(),
        )
    assert configured == {
        name: (
            examples.PINNED_RETAIN[name],
            examples.PINNED_HOME_VALUES_CAPACITY[name],
            examples.PINNED_HOME_VALUES_SCHEDULES[name],
            examples.PINNED_MNIST_TRAFFIC[name],
            examples.PINNED_LATENCY_P99_MS[name],
        )
        for name in examples.ENVIRONMENT_NAMES
    }


@pytest.mark.parametrize("name", examples.NAMES)
def test_discovery_parameters(synthesis: Synthesis, name: str) -> None:
    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in synthesis.resources(synthesis.stage(name).model_store, "AWS::SSM::Parameter").values()
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


@pytest.mark.parametrize("name", examples.NAMES)
def test_the_model_store_publishes_every_archive_location(synthesis: Synthesis, name: str) -> None:
    # modelctl uploads before Hosting exists: the stack that exists first says where each archive goes.
    stage = synthesis.stage(name)
    catalog = {
        p["Properties"]["Name"].rsplit("/", 1)[1]: json.loads(p["Properties"]["Value"])
        for p in synthesis.resources(stage.model_store, "AWS::SSM::Parameter").values()
        if p["Properties"]["Name"].startswith(f"/sagemaker-hosting/{name}/artifacts/")
    }
    assert catalog == examples.catalog(stage.config)


@pytest.mark.parametrize("name", examples.NAMES)
def test_every_model_archive_is_in_the_catalog(synthesis: Synthesis, name: str) -> None:
    # What Hosting's CreateModel will read is exactly what the ModelStore told the tools and the guard.
    stage = synthesis.stage(name)
    keys = {c.key for e in stage.model_store.catalog.endpoints for c in e.containers}
    bucket = f"s3://{stage.config.artifact_bucket_name}/"
    models = synthesis.resources(stage.hosting, "AWS::SageMaker::Model").values()
    read = {
        container["ModelDataUrl"].removeprefix(bucket)
        for model in models
        for container in [*model["Properties"].get("Containers", []), model["Properties"].get("PrimaryContainer", {})]
        # A multi-model endpoint's PrimaryContainer names its prefix, not an archive.
        if container.get("ModelDataUrl", "").endswith(".tar.gz")
    }
    assert read == keys


@pytest.mark.parametrize("name", examples.NAMES)
def test_endpoint_logs_have_a_retention_and_the_stage_key(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    groups = synthesis.resources(stage.model_store, "AWS::Logs::LogGroup")
    named = {g["Properties"]["LogGroupName"]: g for g in groups.values() if "LogGroupName" in g["Properties"]}
    # An endpoint's containers log to /aws/sagemaker/Endpoints/<name>, an inference component's to
    # /aws/sagemaker/InferenceComponents/<name>: both created here first, with a retention and the stage's key.
    expected = {f"/aws/sagemaker/Endpoints/{n}" for n in stage.config.endpoint_names()}
    expected |= {f"/aws/sagemaker/InferenceComponents/{n}" for n in stage.config.component_names()}
    endpoint_groups = {k: g for k, g in named.items() if k.startswith("/aws/sagemaker/")}
    assert set(endpoint_groups) == expected
    for group in endpoint_groups.values():
        assert group["Properties"]["RetentionInDays"] == 365
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["OperationsKey7D2B5BF0", "Arn"]}
        assert group["DeletionPolicy"] == ("Retain" if stage.config.retain_stateful_resources else "Delete")


def test_typed_exports(stages: list[ModelHostingStage]) -> None:
    store = stages[0].model_store
    assert store.bucket is store.artifact_store.bucket
    assert store.key is store.artifact_store.key
    assert store.parameter_path == f"/sagemaker-hosting/{stages[0].config.name}/model-store"


def _resource(resources: dict[str, Any], logical_id_prefix: str) -> dict[str, Any]:
    """The properties of the one resource (of ``resources``) whose logical id starts with the prefix."""
    matches = [r for k, r in resources.items() if k.startswith(logical_id_prefix)]
    assert len(matches) == 1, f"{len(matches)} resources starting with {logical_id_prefix}"
    properties: dict[str, Any] = matches[0]["Properties"]
    return properties


@pytest.mark.parametrize("name", examples.NAMES)
def test_hosting_has_every_configured_multi_model_endpoint(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    endpoints = synthesis.resources(stage.hosting, "AWS::SageMaker::Endpoint")
    for mme in stage.config.multi_model_endpoints:
        prefix = examples.construct_id(mme.name)
        endpoint = _resource(endpoints, f"{prefix}Endpoint")
        assert endpoint["EndpointName"] == stage.config.endpoint_name(mme.name)
        config = _resource(synthesis.resources(stage.hosting, "AWS::SageMaker::EndpointConfig"), f"{prefix}Config")
        assert [v["InitialInstanceCount"] for v in config["ProductionVariants"]] == [
            v.initial_instance_count for v in mme.variants
        ]
        assert "KmsKeyId" in config
        model = _resource(synthesis.resources(stage.hosting, "AWS::SageMaker::Model"), f"{prefix}Model")
        assert model["PrimaryContainer"]["ModelDataUrl"] == (
            f"s3://{stage.config.artifact_bucket_name}/models/{stage.config.endpoint_name(mme.name)}/"
        )


@pytest.mark.parametrize(
    ("name", "endpoint"), [(n, e) for e in examples.PINNED_ENDPOINT_IDS for n in examples.having(e)]
)
def test_the_example_endpoints_keep_their_logical_id(synthesis: Synthesis, name: str, endpoint: str) -> None:
    # The endpoint keeps its name across updates; replacing it (a new logical id) would mean downtime for clients.
    stage = synthesis.stage(name)
    endpoints = synthesis.resources(stage.hosting, "AWS::SageMaker::Endpoint")
    pinned = examples.PINNED_ENDPOINT_IDS[endpoint]
    assert endpoints[pinned]["Properties"]["EndpointName"] == stage.config.endpoint_name(endpoint)


@pytest.mark.parametrize("name", examples.NAMES)
def test_no_physical_names_on_models_or_endpoint_configs(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    for model in synthesis.resources(stage.hosting, "AWS::SageMaker::Model").values():
        assert "ModelName" not in model["Properties"]
    for config in synthesis.resources(stage.hosting, "AWS::SageMaker::EndpointConfig").values():
        assert "EndpointConfigName" not in config["Properties"]


@pytest.mark.parametrize("name", examples.NAMES)
def test_multi_model_consumers_may_invoke_their_models_only(synthesis: Synthesis, name: str) -> None:
    # The example: home-values' ChicagoAnalytics may invoke Chicago_IL* models only.
    stage = synthesis.stage(name)
    policies = synthesis.resources(stage.hosting, "AWS::IAM::Policy")
    for mme in stage.config.multi_model_endpoints:
        for consumer in mme.consumers:
            policy = _resource(policies, f"{examples.construct_id(mme.name)}{consumer.name}")
            assert policy["PolicyDocument"]["Statement"] == [
                {
                    "Action": "sagemaker:InvokeEndpoint",
                    "Condition": {"StringLike": {"sagemaker:TargetModel": list(consumer.models)}},
                    "Effect": "Allow",
                    "Resource": f"arn:aws:sagemaker:{stage.region}:{stage.account}:endpoint/"
                    + stage.config.endpoint_name(mme.name),
                }
            ]


def test_hosting_reads_the_bucket_by_name_not_by_export(synthesis: Synthesis) -> None:
    stage = synthesis.stages[0]
    text = json.dumps(synthesis.template(stage.hosting))
    assert stage.config.artifact_bucket_name in text
    assert "ArtifactsBucket" not in text  # no reference to the bucket's logical id in the other stack
    assert stage.model_store in stage.hosting.dependencies


def test_bad_endpoint_config_names_environment_endpoint_field_and_value() -> None:
    dev = feature_environment(multi_container_endpoints=())
    endpoint = dev.multi_model_endpoints[0]
    bad_variant = replace(endpoint.variants[0], instance_type="m5.large")
    bad = dev.replace(multi_model_endpoints=(replace(endpoint, variants=(bad_variant,)),))
    with pytest.raises(
        ConfigError,
        match=r"^environment 'dev', endpoint 'prices': MultiModelEndpoint Dev/Hosting/Prices: "
        r"instance_type of variant 'AllTraffic' 'm5.large' is not a SageMaker endpoint instance type",
    ):
        ModelHostingStage(make_app(), "Dev", config=bad)


@pytest.mark.parametrize("name", examples.NAMES)
def test_hosting_has_every_configured_endpoint_with_its_mode_and_containers(synthesis: Synthesis, name: str) -> None:
    # The examples: mnist's TensorFlow and PyTorch models in Direct mode, the churn pipeline in Serial mode.
    stage = synthesis.stage(name)
    models = synthesis.resources(stage.hosting, "AWS::SageMaker::Model")
    for mce in stage.config.multi_container_endpoints:
        model = _resource(models, f"{examples.construct_id(mce.name)}Model")
        assert model["InferenceExecutionConfig"] == {"Mode": mce.mode.value}
        assert [c["ContainerHostname"] for c in model["Containers"]] == [c.hostname for c in mce.containers]
    endpoint_names = {
        e["Properties"]["EndpointName"] for e in synthesis.resources(stage.hosting, "AWS::SageMaker::Endpoint").values()
    }
    assert endpoint_names == set(stage.config.endpoint_names())


@pytest.mark.parametrize("name", examples.NAMES)
def test_container_consumers_may_call_their_containers_and_are_denied_the_rest(synthesis: Synthesis, name: str) -> None:
    # The example: mnist's TensorflowClient may call tensorflow-mnist and is denied pytorch-*.
    stage = synthesis.stage(name)
    policies = synthesis.resources(stage.hosting, "AWS::IAM::Policy")
    for mce in stage.config.multi_container_endpoints:
        arn = f"arn:aws:sagemaker:{stage.region}:{stage.account}:endpoint/{stage.config.endpoint_name(mce.name)}"
        for consumer in mce.consumers:
            if consumer.containers is None:
                continue  # the whole endpoint (a Serial pipeline)
            policy = _resource(policies, f"{examples.construct_id(mce.name)}{consumer.name}")
            expected = [
                {
                    "Action": "sagemaker:InvokeEndpoint",
                    "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": list(consumer.containers)}},
                    "Effect": "Allow",
                    "Resource": arn,
                },
                *(
                    [
                        {
                            "Action": "sagemaker:InvokeEndpoint",
                            "Condition": {"StringLike": {"sagemaker:TargetContainerHostname": list(consumer.denied)}},
                            "Effect": "Deny",
                            "Resource": arn,
                        }
                    ]
                    if consumer.denied
                    else []
                ),
                {
                    "Action": "sagemaker:InvokeEndpoint",
                    "Condition": {"Null": {"sagemaker:TargetContainerHostname": "true"}},
                    "Effect": "Deny",
                    "Resource": arn,
                },
            ]
            assert policy["PolicyDocument"]["Statement"] == expected


@pytest.mark.parametrize("name", examples.NAMES)
def test_scaling_per_stage(synthesis: Synthesis, name: str) -> None:
    # The examples: home-values on invocations (1-2 with a night schedule in dev), mnist on CPU.
    stage = synthesis.stage(name)
    targets = synthesis.resources(stage.hosting, "AWS::ApplicationAutoScaling::ScalableTarget")
    endpoints = synthesis.resources(stage.hosting, "AWS::SageMaker::Endpoint")
    for item in examples.endpoints(stage.config):
        prefix = examples.construct_id(item.name)
        if isinstance(item, InferenceComponentEndpointConfig):
            continue  # copy-count scaling: test_component_scaling_per_stage
        if item.scaling is None:
            assert not [k for k in targets if k.startswith(f"{prefix}Scaling")]
            continue
        target = _resource(targets, f"{prefix}Scaling")
        assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
            f"endpoint/{stage.config.endpoint_name(item.name)}/variant/AllTraffic",
            item.scaling.min_capacity,
            item.scaling.max_capacity,
        )
        schedules = [a["ScheduledActionName"] for a in target.get("ScheduledActions", [])]
        assert schedules == [s.name for s in item.scaling.schedules]
        assert _resource(endpoints, f"{prefix}Endpoint")["RetainAllVariantProperties"] is True


@pytest.mark.parametrize("name", examples.NAMES)
def test_component_scaling_per_stage(synthesis: Synthesis, name: str) -> None:
    # Each component's copies scale as configured (Application Auto Scaling, ResourceId inference-component/NAME);
    # the template's CopyCount is the initial one; a component that may reach zero copies is woken by a step policy.
    stage = synthesis.stage(name)
    targets = {
        t["ResourceId"]: t
        for t in (
            r["Properties"]
            for r in synthesis.resources(stage.hosting, "AWS::ApplicationAutoScaling::ScalableTarget").values()
        )
    }
    components = {
        c["Properties"]["InferenceComponentName"]: c["Properties"]
        for c in synthesis.resources(stage.hosting, "AWS::SageMaker::InferenceComponent").values()
    }
    steps = [
        p
        for p in synthesis.resources(stage.hosting, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["PolicyType"] == "StepScaling"
    ]
    wakers = 0
    for endpoint in stage.config.inference_component_endpoints:
        for component in endpoint.components:
            deployed = f"{stage.config.endpoint_name(endpoint.name)}-{component.name}"
            assert components[deployed]["RuntimeConfig"] == {"CopyCount": component.initial_copies}
            if component.scaling is None:
                assert f"inference-component/{deployed}" not in targets
                continue
            target = targets[f"inference-component/{deployed}"]
            assert (target["MinCapacity"], target["MaxCapacity"]) == (
                component.scaling.min_copies,
                component.scaling.max_copies,
            )
            wakers += component.scaling.scale_to_zero
    assert len(steps) == wakers


@pytest.mark.parametrize("name", examples.NAMES)
def test_alarm_thresholds_come_from_each_environment(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    alarms = synthesis.resources(stage.hosting, "AWS::CloudWatch::Alarm")
    latency_us = stage.config.alarm_thresholds.model_latency_p99.to_milliseconds() * 1000
    for item in examples.endpoints(stage.config):
        suffixes = (
            [examples.construct_id(c.name) for c in item.components]
            if isinstance(item, InferenceComponentEndpointConfig)
            else [""]
        )
        for suffix in suffixes:
            alarm = _resource(alarms, f"{examples.construct_id(item.name)}AlarmsModelLatency{suffix}")
            assert alarm["Threshold"] == latency_us
    assert not synthesis.resources(stage.hosting, "AWS::SNS::Topic")  # the stage's one topic is the ModelStore's
    for alarm in alarms.values():
        (action,) = alarm["Properties"]["AlarmActions"]
        if alarm["Properties"].get("MetricName") == "NoCapacityInvocationFailures" and "ScaleOutFromZero" in json.dumps(
            action
        ):
            continue  # wakes a component scaled to zero: every quiet spell ends with it, no one to page
        assert "AlarmTopicB56431CA" in json.dumps(action)
        assert alarm["Properties"]["AlarmName"].startswith(f"sagemaker-hosting/{name}/")
    dashboard = next(iter(synthesis.resources(stage.hosting, "AWS::CloudWatch::Dashboard").values()))
    assert dashboard["Properties"]["DashboardName"] == f"sagemaker-hosting-{name}"


#: The metrics whose statistics include percentiles, as SageMaker lists them (SageMaker Developer Guide, "Amazon
#: SageMaker AI metrics in Amazon CloudWatch": "Valid statistics: Average, Sum, Min, Max, Sample Count,
#: Percentiles"). CloudWatch computes percentiles only from raw values (CloudWatch User Guide, "Statistics
#: definitions"): on any other metric, e.g. ModelLoadingWaitTime, p99 would find no data, and an alarm treating
#: missing data as not breaching would stay OK whatever happens.
PERCENTILE_METRICS = {("AWS/SageMaker", "ModelLatency"), ("AWS/SageMaker", "ModelSetupTime")}


def _percentile(statistic: str | None) -> bool:
    return statistic is not None and statistic[:1] in ("p", "t", "w", "P", "T", "W", "I", "i")


@pytest.mark.parametrize("name", examples.NAMES)
def test_alarms_take_percentiles_only_of_metrics_sagemaker_offers_them_for(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    checked = []
    for stack in (stage.model_store, *stage.hosting_stacks):
        for logical_id, alarm in synthesis.resources(stack, "AWS::CloudWatch::Alarm").items():
            properties = alarm["Properties"]
            stats = [(properties.get("Namespace"), properties.get("MetricName"), properties.get("ExtendedStatistic"))]
            stats += [
                (
                    m["MetricStat"]["Metric"].get("Namespace"),
                    m["MetricStat"]["Metric"]["MetricName"],
                    m["MetricStat"]["Stat"],
                )
                for m in properties.get("Metrics", [])
                if "MetricStat" in m
            ]
            for namespace, metric, statistic in stats:
                if _percentile(statistic):
                    checked.append(logical_id)
                    assert (namespace, metric) in PERCENTILE_METRICS, f"{logical_id}: {statistic} of {metric}"
    assert checked  # the latency alarms


@pytest.mark.parametrize("name", examples.NAMES)
def test_blue_green_per_stage(synthesis: Synthesis, name: str) -> None:
    # The example: mnist shifts traffic linearly in staging and by canary in prod, all at once in dev.
    stage = synthesis.stage(name)
    endpoints = synthesis.resources(stage.hosting, "AWS::SageMaker::Endpoint")
    for mce in stage.config.multi_container_endpoints:
        endpoint = _resource(endpoints, f"{examples.construct_id(mce.name)}Endpoint")
        if mce.deployment is None:
            assert "DeploymentConfig" not in endpoint
        else:
            config = endpoint["DeploymentConfig"]
            assert (
                config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == mce.deployment.traffic.value
            )
            assert len(config["AutoRollbackConfiguration"]["Alarms"]) == 2  # its error-rate and latency alarms


def test_multi_model_endpoints_never_get_guardrails(synthesis: Synthesis) -> None:
    for stage in synthesis.stages:
        endpoints = synthesis.resources(stage.hosting, "AWS::SageMaker::Endpoint")
        for mme in stage.config.multi_model_endpoints:
            assert "DeploymentConfig" not in _resource(endpoints, f"{examples.construct_id(mme.name)}Endpoint")


def _shape(value: Any) -> tuple[int, ...]:
    return (len(value), *_shape(value[0])) if isinstance(value, list) else ()


@pytest.mark.parametrize("name", examples.smoke_tested())
def test_canaries_match_the_example_models_inputs(synthesis: Synthesis, name: str) -> None:
    stage = synthesis.stage(name)
    calls = {
        (s["Properties"]["EndpointName"], i.get("TargetContainerHostname") or i.get("TargetModel") or ""): i["Body"]
        for s in synthesis.resources(stage.hosting, "Custom::SageMakerSmokeTest").values()
        for i in s["Properties"]["Invocations"]
    }
    checked = 0
    for (endpoint, container), (key, shape) in examples.CANARY_SHAPES.items():
        body = calls.get((stage.config.endpoint_name(endpoint), container))
        if body is not None:
            assert _shape(json.loads(body)[key]) == shape, (endpoint, container)
            checked += 1
    home = stage.config.endpoint_name(examples.HOME_VALUES)
    for (endpoint, _), body in calls.items():
        if endpoint == home:
            assert len(body.split(",")) == examples.HOME_VALUE_FEATURES
            checked += 1
    assert checked


@pytest.mark.parametrize("name", examples.NAMES)
def test_every_custom_resource_has_a_service_timeout(synthesis: Synthesis, name: str) -> None:
    # Without ServiceTimeout CloudFormation waits 3600 s for a custom resource that never answers
    # (AWS::CloudFormation::CustomResource, ServiceTimeout: 1-3600, default 3600).
    stage = synthesis.stage(name)
    found = 0
    for stack in (stage.model_store, stage.hosting):
        for logical_id, resource in synthesis.resources(stack).items():
            if resource["Type"].startswith("Custom::") or resource["Type"] == "AWS::CloudFormation::CustomResource":
                timeout = resource["Properties"].get("ServiceTimeout")
                assert isinstance(timeout, int) or str(timeout).isdigit(), f"{logical_id} has no ServiceTimeout"
                assert 1 <= int(timeout) < 3600, logical_id
                found += 1
    # At least the scaling guard's release and restore per scaled endpoint, and a smoke test per tested one.
    endpoints = examples.endpoints(stage.config)
    variant_scaled = [e for e in endpoints if getattr(e, "scaling", None)]
    assert found >= 2 * len(variant_scaled) + sum(1 for e in endpoints if e.smoke_tests)


@pytest.mark.parametrize("name", examples.NAMES)
def test_every_inference_component_may_write_its_log_group(synthesis: Synthesis, name: str) -> None:
    # The group itself is checked with the endpoints' (test_endpoint_logs_have_a_retention_and_the_stage_key).
    stage = synthesis.stage(name)
    policies = json.dumps(synthesis.resources(stage.hosting, "AWS::IAM::Policy"))
    assert stage.config.component_names()
    for component in stage.config.component_names():
        assert f"log-group:/aws/sagemaker/InferenceComponents/{component}:log-stream:*" in policies


def test_a_failed_scaling_guard_raises_an_alarm(synthesis: Synthesis) -> None:
    # Its custom-resource requests are answered on every path; a function error is a pass after a rollback that
    # could not register every variant again, or a timeout: someone must look (docs/OPERATIONS.md).
    for stage in synthesis.stages:
        for stack in stage.hosting_stacks:
            resources = synthesis.template(stack)["Resources"]
            function_id = stack.resolve(stack.scaling_guard.function.function_name)["Ref"]
            (alarm,) = [
                r["Properties"]
                for r in resources.values()
                if r["Type"] == "AWS::CloudWatch::Alarm"
                and r["Properties"].get("MetricName") == "Errors"
                and r["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
            ]
            assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
            assert alarm["AlarmActions"]
            assert alarm["AlarmName"].startswith(stage.config.alarm_name_prefix)
            # An event EventBridge could not deliver never runs the function: the rule's FailedInvocations says so.
            rule_id = stack.resolve(stack.scaling_guard.after_rollback.rule_name)["Ref"]
            (lost,) = [
                r["Properties"]
                for r in resources.values()
                if r["Type"] == "AWS::CloudWatch::Alarm"
                and r["Properties"].get("MetricName") == "FailedInvocations"
                and r["Properties"].get("Dimensions") == [{"Name": "RuleName", "Value": {"Ref": rule_id}}]
            ]
            assert (lost["Namespace"], lost["Threshold"]) == ("AWS/Events", 0)
            assert lost["AlarmActions"] == alarm["AlarmActions"]


def test_custom_resource_functions_are_never_retried(synthesis: Synthesis) -> None:
    # CloudFormation invokes a Lambda-backed custom resource asynchronously, and Lambda retries a failed
    # asynchronous invocation twice by default (Lambda Developer Guide, "Asynchronous invocation"): a retry would
    # run after CloudFormation stopped waiting for the answer, beside the stack's next requests.
    checked = ordered = 0
    for stage in synthesis.stages:
        for stack in (stage.model_store, *stage.hosting_stacks):
            resources = synthesis.template(stack)["Resources"]
            tokens = {
                r["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
                for r in resources.values()
                if r["Type"].startswith("Custom::") and "Fn::GetAtt" in r["Properties"].get("ServiceToken", {})
            }
            retries = {
                r["Properties"]["FunctionName"]["Ref"]: r["Properties"].get("MaximumRetryAttempts")
                for r in resources.values()
                if r["Type"] == "AWS::Lambda::EventInvokeConfig"
            }
            # The CDK's own S3 auto-delete provider (dev buckets) is invoked the same way; it is not ours to set.
            ours = {t for t in tokens if "CustomResourceProvider" not in t}
            for function in ours:
                assert retries.get(function) == 0, f"{stack.stack_name}: {function} is retried"
                checked += 1
            # Nothing else orders a custom resource after its function's setting: on a first deploy CloudFormation
            # could invoke the function before the setting exists, and Lambda would retry with its defaults.
            settings = {
                r["Properties"]["FunctionName"]["Ref"]: logical_id
                for logical_id, r in resources.items()
                if r["Type"] == "AWS::Lambda::EventInvokeConfig"
            }
            for logical_id, r in resources.items():
                token = r["Properties"].get("ServiceToken", {}) if r["Type"].startswith("Custom::") else {}
                if "Fn::GetAtt" in token and token["Fn::GetAtt"][0] in ours:
                    setting = settings[token["Fn::GetAtt"][0]]
                    assert setting in r.get("DependsOn", []), f"{stack.stack_name}: {logical_id} before {setting}"
                    ordered += 1
    assert checked
    assert ordered
