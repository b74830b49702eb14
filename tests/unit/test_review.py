"""The synth review, read from a real cloud assembly of every stage, and its comparison with a base.

The assembly is the session's synthesis of the shipped examples; what the review must find in it is derived
from their configuration (``tests/examples.py``). The cost arithmetic is checked on endpoints of its own.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from stacks.config import InferenceComponentEndpointConfig, MultiContainerEndpointConfig, MultiModelEndpointConfig
from tests import examples
from tests.support import Synthesis
from tools import review


@pytest.fixture(scope="module")
def outdir(synthesis: Synthesis) -> Path:
    return synthesis.outdir


@pytest.fixture(scope="module")
def assembly(outdir: Path) -> review.Assembly:
    return review.read_assembly(outdir)


def _endpoint(assembly: review.Assembly, stage: str, name: str) -> review.Endpoint:
    return next(e for e in assembly.endpoints if (e.stage, e.name) == (stage, name))


def test_endpoints_of_every_stage_with_their_kind(assembly: review.Assembly) -> None:
    assert sorted((e.stage, e.name, e.kind) for e in assembly.endpoints) == sorted(
        (config.stage_id, config.endpoint_name(item.name), examples.kind(item))
        for config in examples.ENVIRONMENTS
        for item in examples.endpoints(config)
    )


def _deployment(item: examples.Endpoint) -> tuple[str, int]:
    deployment = item.deployment if isinstance(item, MultiContainerEndpointConfig) else None
    if deployment is None:
        return "SageMaker default (blue/green, all at once)", 0
    wait = int(deployment.wait_interval.to_seconds())
    return f"blue/green {deployment.traffic.value.lower()} {deployment.size_percent}%, wait {wait} s", 2


def _components_as_configured(item: InferenceComponentEndpointConfig, deployed: str) -> list[tuple[Any, ...]]:
    """What the review must read of each component: name, reservations, copies, scaling, rolling or not."""
    return [
        (
            f"{deployed}-{c.name}",
            c.compute.cpu_cores,
            c.compute.accelerators,
            c.compute.min_memory_mb,
            c.compute.max_memory_mb,
            c.initial_copies,
            (c.scaling.min_copies, c.scaling.max_copies) if c.scaling else (c.initial_copies, c.initial_copies),
            c.rolling_update is not None,
        )
        for c in item.components
    ]


@pytest.mark.parametrize("name", examples.NAMES)
def test_variants_scaling_cache_and_deployment(assembly: review.Assembly, name: str) -> None:
    config = examples.environment(name)
    for item in examples.endpoints(config):
        found = _endpoint(assembly, config.stage_id, config.endpoint_name(item.name))
        if isinstance(item, InferenceComponentEndpointConfig):
            # The fleet: its instances, scaled by SageMaker as the copies need them.
            count, managed = item.initial_instance_count, item.managed_instance_scaling
            low, high = (managed.min_instances, managed.max_instances) if managed else (count, count)
            assert [(v.instance_type, v.initial_count, v.min_count, v.max_count) for v in found.variants] == [
                (item.instance_type, count, low, high)
            ]
            assert found.cache == "-"
            read = [
                (
                    c.name,
                    c.cpu_cores,
                    c.accelerators,
                    c.min_memory_mb,
                    c.max_memory_mb,
                    c.copies,
                    (c.min_copies, c.max_copies),
                    c.rolling_update.startswith("rolling "),
                )
                for c in found.components
            ]
            assert read == _components_as_configured(item, config.endpoint_name(item.name))
            continue
        variant, configured = found.variants[0], item.variants[0]
        count = configured.initial_instance_count
        low, high = (item.scaling.min_capacity, item.scaling.max_capacity) if item.scaling else (count, count)
        assert (variant.instance_type, variant.initial_count, variant.min_count, variant.max_count) == (
            configured.instance_type,
            count,
            low,
            high,
        )
        if isinstance(item, MultiModelEndpointConfig):
            assert found.cache == ("Enabled" if item.model_cache_enabled else "Disabled")
        else:
            assert found.cache == "-"
        assert (found.deployment, found.rollback_alarms) == _deployment(item)


def test_the_examples_images(assembly: review.Assembly) -> None:
    for (endpoint, hostname), image in examples.PINNED_IMAGES.items():
        for name in examples.having(endpoint):
            config = examples.environment(name)
            found = _endpoint(assembly, config.stage_id, config.endpoint_name(endpoint))
            assert (f"{hostname}: {image}" if hostname else image) in found.images


def test_access_matrix_includes_conditions_and_denies(assembly: review.Assembly) -> None:
    checked = 0
    for config in examples.ENVIRONMENTS:
        for item in examples.endpoints(config):
            deployed = config.endpoint_name(item.name)
            access = {(a.principal, a.effect, a.scope) for a in assembly.access if a.endpoint == deployed}
            for consumer in item.consumers:
                principal = f"{config.stage_id}/Hosting/{examples.construct_id(item.name)}{consumer.name}"
                if isinstance(item, InferenceComponentEndpointConfig):
                    # A row per component the role's statement names, and none for the endpoint as a whole.
                    reach = {scope for who, effect, scope in access if who == principal and effect == "Allow"}
                    assert reach == {f"component {deployed}-{c}" for c in consumer.components}
                elif isinstance(item, MultiModelEndpointConfig):
                    assert (principal, "Allow", f"TargetModel {', '.join(consumer.models)}") in access
                elif consumer.containers is None:
                    assert (principal, "Allow", "whole endpoint") in access
                else:
                    assert (principal, "Allow", f"TargetContainerHostname {', '.join(consumer.containers)}") in access
                    if consumer.denied:
                        assert (principal, "Deny", f"TargetContainerHostname {', '.join(consumer.denied)}") in access
                checked += 1
    assert checked


def _priced(instance_type: str, count: int, low: int, high: int) -> review.Endpoint:
    """An endpoint of one variant as the review reads it, for the cost arithmetic alone."""
    return review.Endpoint(
        stage="Prod",
        stack="Prod-Hosting",
        region="eu-west-1",
        name="prod-priced",
        kind="MME",
        images=[],
        data=[],
        cache="Enabled",
        variants=[review.Variant("AllTraffic", instance_type, count, low, high, scaled=low != high)],
        deployment="SageMaker default (blue/green, all at once)",
        rollback_alarms=0,
    )


def test_cost_uses_the_price_table_and_says_where_a_price_came_from() -> None:
    table = json.loads(review.PRICES.read_text())
    home = review.cost(_priced("ml.m5.xlarge", 2, 2, 8), table, models_per_endpoint=10)
    assert home.low == pytest.approx(2 * 0.23)
    assert home.high == pytest.approx(8 * 0.23)
    assert home.single_model == pytest.approx(10 * 2 * 0.23)
    assert home.note == "us-east-1 price"
    missing = review.cost(_priced("ml.c5.xlarge", 2, 2, 2), table, models_per_endpoint=10)
    assert missing.low is None
    assert missing.note == "no price for ml.c5.xlarge: add it to tools/prices.json"
    table = {**table, "prices": {"eu-west-1": {"ml.c5.xlarge": 0.2}}}
    # A multi-container endpoint's models are its containers: two here, each on an endpoint of its own.
    two_containers = dataclasses.replace(
        _priced("ml.c5.xlarge", 2, 2, 2), kind="MCE Direct", images=["a: image-a", "b: image-b"]
    )
    mce = review.cost(two_containers, table, models_per_endpoint=10)
    assert (mce.low, mce.single_model, mce.note) == (pytest.approx(0.4), pytest.approx(0.8), "")


def test_report_lists_acknowledgments_and_limits(assembly: review.Assembly) -> None:
    text = "\n".join(review.report(assembly, json.loads(review.PRICES.read_text()), 10))
    for stage in examples.STAGE_IDS:
        assert (
            f"| {stage} | {stage}/ModelStore/Artifacts/AccessLogs/Resource | HIPAA.Security-S3DefaultEncryptionKMS |"
            in text
        )
        assert f"| {stage}-Hosting | resources |" in text
        assert f"| {stage}-Hosting | template bytes |" in text


def _copy(outdir: Path, tmp_path: Path) -> Path:
    base = tmp_path / "base"
    shutil.copytree(outdir, base, ignore=shutil.ignore_patterns("asset.*"))
    return base


def _edit(base: Path, stack_prefix: str, edit: Any) -> None:
    path = next(base.rglob(f"{stack_prefix}*.template.json"))
    template = json.loads(path.read_text())
    edit(template["Resources"])
    path.write_text(json.dumps(template))


def test_no_change_against_itself(outdir: Path, tmp_path: Path, assembly: review.Assembly) -> None:
    assert review.changes(review.read_assembly(_copy(outdir, tmp_path)), assembly) == ["- no change"]


#: The stage whose base the next test edits: the last, whose examples are all there (tests/examples.py).
STAGE = examples.environment(examples.NAMES[-1])


def test_changes_are_reported_and_stateful_replacement_is_loud(
    outdir: Path, tmp_path: Path, assembly: review.Assembly
) -> None:
    base = _copy(outdir, tmp_path)
    stage = STAGE.stage_id
    home = examples.endpoint(STAGE, examples.HOME_VALUES)
    mnist = examples.endpoint(STAGE, examples.MNIST)
    assert isinstance(mnist, MultiContainerEndpointConfig)
    client = next(c for c in mnist.consumers if c.containers)
    assert client.containers is not None
    client_id = f"{examples.construct_id(mnist.name)}{client.name}"
    instance_type = home.variants[0].instance_type
    older_type = "ml.c5.xlarge" if instance_type != "ml.c5.xlarge" else "ml.m5.large"

    def older_store(resources: dict[str, Any]) -> None:
        # In the base the bucket had another logical id: now it would be replaced.
        resources["ArtifactsBucketOld"] = resources.pop("ArtifactsBucket88671897")
        resources["ArtifactsKeyA4B22E2B"]["Properties"]["KeySpec"] = "RSA_2048"

    def older_hosting(resources: dict[str, Any]) -> None:
        config = next(r for k, r in resources.items() if k.startswith(f"{examples.construct_id(home.name)}Config"))
        config["Properties"]["ProductionVariants"][0]["InstanceType"] = older_type
        del resources[next(k for k in resources if k.startswith(f"{client_id}DefaultPolicy"))]

    _edit(base, f"{stage}ModelStore", older_store)
    _edit(base, f"{stage}Hosting", older_hosting)
    lines = review.changes(review.read_assembly(base), assembly)
    assert (
        lines[0]
        == f"**!!! STATEFUL RESOURCE REMOVED OR REPLACED: {stage}-ModelStore ArtifactsBucketOld (AWS::S3::Bucket)**"
    )
    assert (
        f"**!!! STATEFUL RESOURCE REPLACED: {stage}-ModelStore ArtifactsKeyA4B22E2B (AWS::KMS::Key): KeySpec changes**"
        in lines
    )
    count = home.variants[0].initial_instance_count
    scale = f"({home.scaling.min_capacity}-{home.scaling.max_capacity})" if home.scaling else f"({count}-{count})"
    assert (
        f"- instances changed: {stage} / {STAGE.endpoint_name(home.name)} / AllTraffic: "
        f"{older_type} x {count} {scale} -> {instance_type} x {count} {scale}"
    ) in lines
    assert (
        f"- access granted: {stage}/Hosting/{client_id} Allow {STAGE.endpoint_name(mnist.name)} "
        f"(TargetContainerHostname {', '.join(client.containers)})"
    ) in lines


def test_cli_writes_the_report_and_refuses_a_missing_assembly(
    outdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _copy(outdir, tmp_path)
    assert review.main([str(base)]) == 0
    assert (base / "REVIEW.md").read_text().startswith("# Synth review")
    assert STAGE.endpoint_name(examples.HOME_VALUES) in capsys.readouterr().out
    assert review.main([str(tmp_path / "nothing")]) == 2


# -- inference components, on a tiny stage of L1 resources in the template shape of issue #12 ------------------------

IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
MODELS = "s3://sagemaker-models-dev-111111111111-eu-west-1/models/dev-tabular"


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> review.Assembly:
    """A Dev stage whose Hosting stack has one endpoint of inference components: ``churn`` (CPU, scaled 1-3, rolling
    updates) and ``fraud`` (a GPU, not scaled), on instances that scale 0-4; two roles may invoke it."""
    import aws_cdk as cdk
    from aws_cdk import aws_applicationautoscaling as autoscaling
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_sagemaker as sagemaker

    from tests.support import cdk_context

    outdir = tmp_path_factory.mktemp("components")
    app = cdk.App(context=cdk_context(), outdir=str(outdir))
    stage = cdk.Stage(app, "Dev", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    stack = cdk.Stack(stage, "Hosting", stack_name="Dev-Hosting")
    role = "arn:aws:iam::111111111111:role/dev-tabular"
    config = sagemaker.CfnEndpointConfig(
        stack,
        "TabularConfig",
        execution_role_arn=role,
        production_variants=[
            sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name="AllTraffic",
                instance_type="ml.g5.xlarge",
                initial_instance_count=1,
                managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                    status="ENABLED", min_instance_count=0, max_instance_count=4
                ),
                routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                    routing_strategy="LEAST_OUTSTANDING_REQUESTS"
                ),
            )
        ],
    )
    endpoint = sagemaker.CfnEndpoint(
        stack, "TabularEndpoint", endpoint_name="dev-tabular", endpoint_config_name=config.attr_endpoint_config_name
    )
    spec = sagemaker.CfnInferenceComponent
    placed = {}
    for name, needs, copies, deployment in (
        (
            "churn",
            spec.InferenceComponentComputeResourceRequirementsProperty(
                number_of_cpu_cores_required=2, min_memory_required_in_mb=2048, max_memory_required_in_mb=4096
            ),
            1,
            spec.InferenceComponentDeploymentConfigProperty(
                rolling_update_policy=spec.InferenceComponentRollingUpdatePolicyProperty(
                    maximum_batch_size=spec.InferenceComponentCapacitySizeProperty(type="COPY_COUNT", value=1),
                    wait_interval_in_seconds=120,
                    maximum_execution_timeout_in_seconds=1800,
                    rollback_maximum_batch_size=spec.InferenceComponentCapacitySizeProperty(
                        type="CAPACITY_PERCENT", value=100
                    ),
                ),
                auto_rollback_configuration=spec.AutoRollbackConfigurationProperty(
                    alarms=[spec.AlarmProperty(alarm_name=f"churn-{a}") for a in ("errors", "latency")]
                ),
            ),
        ),
        (
            "fraud",
            spec.InferenceComponentComputeResourceRequirementsProperty(
                number_of_accelerator_devices_required=1, min_memory_required_in_mb=8192
            ),
            2,
            None,
        ),
    ):
        model = sagemaker.CfnModel(
            stack,
            f"Tabular{name.title()}Model",
            execution_role_arn=role,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=IMAGE, model_data_url=f"{MODELS}/{name}/model.tar.gz"
            ),
        )
        placed[name] = sagemaker.CfnInferenceComponent(
            stack,
            f"Tabular{name.title()}",
            inference_component_name=f"dev-tabular-{name}",
            endpoint_name=endpoint.attr_endpoint_name,
            variant_name="AllTraffic",
            specification=spec.InferenceComponentSpecificationProperty(
                model_name=model.attr_model_name, compute_resource_requirements=needs
            ),
            runtime_config=spec.InferenceComponentRuntimeConfigProperty(copy_count=copies),
            deployment_config=deployment,
        )
    autoscaling.CfnScalableTarget(
        stack,
        "TabularChurnScaling",
        service_namespace="sagemaker",
        resource_id="inference-component/dev-tabular-churn",
        scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
        min_capacity=1,
        max_capacity=3,
    )

    def arn(resource: str, name: str) -> str:
        return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

    analysts = iam.Role(stack, "Analysts", assumed_by=iam.AccountRootPrincipal())
    analysts.add_to_policy(
        iam.PolicyStatement(
            actions=["sagemaker:InvokeEndpoint"],
            resources=[arn("endpoint", "dev-tabular"), arn("inference-component", "dev-tabular-churn")],
        )
    )
    analysts.add_to_policy(
        iam.PolicyStatement(
            effect=iam.Effect.DENY,
            actions=["sagemaker:InvokeEndpoint"],
            # Named by the component's ARN attribute: the review must still tell which component it is.
            resources=[placed["fraud"].attr_inference_component_arn],
        )
    )
    platform = iam.Role(stack, "Platform", assumed_by=iam.AccountRootPrincipal())
    platform.add_to_policy(
        iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[arn("endpoint", "dev-tabular")])
    )
    app.synth()
    return review.read_assembly(outdir)


def test_an_endpoint_of_components_is_its_instances(components: review.Assembly) -> None:
    (endpoint,) = components.endpoints
    assert (endpoint.stage, endpoint.name, endpoint.kind, endpoint.cache) == ("Dev", "dev-tabular", "IC", "-")
    # Managed instance scaling: SageMaker adds instances as copies need them, down to none.
    assert endpoint.variants == [review.Variant("AllTraffic", "ml.g5.xlarge", 1, 0, 4, scaled=True)]
    assert endpoint.images == [f"dev-tabular-churn: {IMAGE}", f"dev-tabular-fraud: {IMAGE}"]
    assert endpoint.data == [
        f"dev-tabular-churn: {MODELS}/churn/model.tar.gz",
        f"dev-tabular-fraud: {MODELS}/fraud/model.tar.gz",
    ]


def test_each_component_with_its_reservations_copies_scaling_and_updates(components: review.Assembly) -> None:
    (endpoint,) = components.endpoints
    assert endpoint.components == [
        review.Component(
            name="dev-tabular-churn",
            image=IMAGE,
            data=f"{MODELS}/churn/model.tar.gz",
            cpu_cores=2,
            accelerators=None,
            min_memory_mb=2048,
            max_memory_mb=4096,
            copies=1,
            min_copies=1,
            max_copies=3,
            scaled=True,
            rolling_update="rolling 1 copy at a time, wait 120 s, timeout 1800 s, roll back 100% at a time, "
            "rollback on 2 alarms",
        ),
        review.Component(
            name="dev-tabular-fraud",
            image=IMAGE,
            data=f"{MODELS}/fraud/model.tar.gz",
            cpu_cores=None,
            accelerators=1,
            min_memory_mb=8192,
            max_memory_mb=None,
            copies=2,
            min_copies=2,
            max_copies=2,
        ),
    ]
    text = "\n".join(review.report(components, json.loads(review.PRICES.read_text()), 10))
    assert "### Inference components" in text
    assert (
        f"| Dev | dev-tabular | dev-tabular-churn | {IMAGE} | {MODELS}/churn/model.tar.gz | 2 | - | 2048-4096 | 1 "
        "| 1-3 | rolling 1 copy at a time, wait 120 s, timeout 1800 s, roll back 100% at a time, rollback on 2 alarms |"
    ) in text
    assert (
        f"| Dev | dev-tabular | dev-tabular-fraud | {IMAGE} | {MODELS}/fraud/model.tar.gz | - | 1 | 8192 | 2 "
        "| not scaled | SageMaker default (blue/green) |"
    ) in text


def test_the_access_matrix_shows_who_may_invoke_each_component(components: review.Assembly) -> None:
    assert sorted(components.access) == [
        review.Access("Dev", "dev-tabular", "Dev/Hosting/Analysts", "Allow", "component dev-tabular-churn"),
        review.Access("Dev", "dev-tabular", "Dev/Hosting/Analysts", "Deny", "component dev-tabular-fraud"),
        review.Access(
            "Dev",
            "dev-tabular",
            "Dev/Hosting/Platform",
            "Allow",
            "endpoint ARN alone: any component, unless SageMaker checks component ARNs (undocumented)",
        ),
    ]


def test_an_endpoint_that_scales_to_no_instance_costs_nothing_when_idle(components: review.Assembly) -> None:
    table = {**json.loads(review.PRICES.read_text()), "prices": {"eu-west-1": {"ml.g5.xlarge": 1.5}}}
    (endpoint,) = components.endpoints
    cost = review.cost(endpoint, table, models_per_endpoint=10)
    # The instances, 0 to 4, whatever the copies: the components share them.
    assert (cost.low, cost.high, cost.note) == (0, pytest.approx(6.0), "0 when idle")
    text = "\n".join(review.report(components, table, 10))
    assert "| Dev | dev-tabular | 0 when idle | 6.000 | 0 when idle | 4,380 | 0 when idle | 0 when idle |" in text
    (_, row) = review.terminal(components, table, 10)
    assert row.split() == ["Dev", "dev-tabular", "IC", "ml.g5.xlarge", "x", "0-4", "0-4,380", "2"]
