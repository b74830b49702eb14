"""The synth review: read from real cloud assemblies, compared with a base, gated on stateful replacements.

Three kinds of assembly: the session's synthesis of the shipped examples (what the review must find in it is derived
from their configuration, ``tests/examples.py``); small stages of L1 resources synthesized here, a base and changed
versions of it, for each kind of change and how it deploys; and a stage of IAM roles for each way a statement can
allow an invoke. Prices come from ``tools/prices.json`` and from a fixture in the AWS Price List's format.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.config import InferenceComponentEndpointConfig, MultiContainerEndpointConfig, MultiModelEndpointConfig
from tests import examples
from tests.support import ROOT, Synthesis
from tools import refresh_prices, review

FIXTURES = ROOT / "tests" / "fixtures" / "pricing"
OFFER = FIXTURES / "AmazonSageMaker-offer.json"


@pytest.fixture(scope="module")
def outdir(synthesis: Synthesis) -> Path:
    return synthesis.outdir


@pytest.fixture(scope="module")
def assembly(outdir: Path) -> review.Assembly:
    return review.read_assembly(outdir)


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(review.PRICES.read_text())
    return loaded


def _endpoint(assembly: review.Assembly, stage: str, name: str) -> review.Endpoint:
    return next(e for e in assembly.endpoints if (e.stage, e.name) == (stage, name))


# -- the shipped examples ------------------------------------------------------------------------------------------


def test_endpoints_of_every_stage_with_their_kind_and_region(assembly: review.Assembly) -> None:
    assert sorted((e.stage, e.name, e.kind, e.region) for e in assembly.endpoints) == sorted(
        (placement.stage_id, placement.endpoint_name(item.name), examples.kind(item), placement.region)
        for placement in examples.PLACEMENTS
        for item in examples.endpoints(placement)
    )


def _deployment(item: examples.Endpoint) -> tuple[str, int]:
    deployment = item.deployment if isinstance(item, MultiContainerEndpointConfig) else None
    if deployment is None:
        return review.DEFAULT_DEPLOYMENT, 0
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
    for config in examples.PLACEMENTS:
        for item in examples.endpoints(config):
            deployed = config.endpoint_name(item.name)
            access = {
                (a.principal, a.effect, a.scope)
                for a in assembly.access
                if (a.stage, a.endpoint) == (config.stage_id, deployed)
            }
            for consumer in item.consumers:
                principal = f"{config.stage_id}/Hosting/{examples.construct_id(item.name)}{consumer.name}"
                if isinstance(item, InferenceComponentEndpointConfig):
                    # A row per component the role's statement names, and none for the endpoint as a whole.
                    reach = {scope for who, effect, scope in access if who == principal and effect == "Allow"}
                    assert reach == {f"component {deployed}-{c}" for c in consumer.components}
                elif isinstance(item, MultiModelEndpointConfig):
                    assert (principal, "Allow", f"TargetModel {', '.join(consumer.models)}") in access
                elif consumer.containers is None:
                    assert (principal, "Allow", review.WHOLE_ENDPOINT) in access
                else:
                    assert (principal, "Allow", f"TargetContainerHostname {', '.join(consumer.containers)}") in access
                    if consumer.denied:
                        assert (principal, "Deny", f"TargetContainerHostname {', '.join(consumer.denied)}") in access
                        # ... and a request naming no container at all is denied too (a Null condition).
                        assert (principal, "Deny", "TargetContainerHostname absent") in access
                checked += 1
    assert checked
    # Every managed policy the examples attach is one the review can read (the CDK's Lambda basic role).
    assert not [a for a in assembly.access if a.effect == "unknown"]


def test_every_region_and_instance_type_of_the_examples_has_its_own_price(
    assembly: review.Assembly, table: dict[str, Any]
) -> None:
    used = {(e.region, v.instance_type) for e in assembly.endpoints for v in e.variants}
    assert {region for region, _ in used} >= {r for regions in examples.PINNED_REGIONS.values() for r in regions}
    for region, instance_type in used:
        found = review.price(table, region, instance_type)
        assert found is not None, (region, instance_type)
        assert "price," not in found.note, f"{instance_type} in {region} borrows another region's price"
    text = "\n".join(review.report(assembly, table, 10))
    assert "n/a" not in text
    # Per stage, and an estimate says so.
    for stage in examples.STAGE_IDS:
        total = review.stage_total(assembly, stage, table, 10)
        assert total.priced
        assert not total.unpriced
        assert f"| {stage} | {total.text()} |" in text


def test_every_price_names_its_source_and_whether_it_is_an_estimate(table: dict[str, Any]) -> None:
    assert table["date"]
    assert table["source"]
    assert table["hours_per_month"] == 730
    for region, listed in table["prices"].items():
        for instance_type, entry in listed.items():
            assert set(entry) == {"usd_per_hour", "source", "estimate"}, (region, instance_type)
            assert entry["usd_per_hour"] > 0
            assert entry["source"]
            # An estimate says so in its source too; a price read from anywhere says from where.
            assert ("estimate" in entry["source"]) == entry["estimate"], (region, instance_type)


def _priced(instance_type: str, count: int, low: int, high: int, region: str = "eu-west-1") -> review.Endpoint:
    """An endpoint of one variant as the review reads it, for the cost arithmetic alone."""
    return review.Endpoint(
        stage="Prod",
        stack="Prod-Hosting",
        region=region,
        name="prod-priced",
        kind="MME",
        images=[],
        data=[],
        cache="Enabled",
        variants=[review.Variant("AllTraffic", instance_type, count, low, high, scaled=low != high)],
        deployment=review.DEFAULT_DEPLOYMENT,
        rollback_alarms=0,
    )


def test_cost_uses_the_price_table_and_marks_estimates_and_borrowed_prices() -> None:
    table = {
        "hours_per_month": 730,
        "prices": {
            "eu-west-1": {"ml.m5.xlarge": {"usd_per_hour": 0.25, "source": "Price List", "estimate": False}},
            "us-east-1": {"ml.c5.xlarge": {"usd_per_hour": 0.2, "source": "estimate: guessed", "estimate": True}},
        },
    }
    home = review.cost(_priced("ml.m5.xlarge", 2, 2, 8), table, models_per_endpoint=10)
    assert (home.low, home.high, home.single_model) == (pytest.approx(0.5), pytest.approx(2.0), pytest.approx(5.0))
    assert (home.note, home.estimate) == ("", False)
    borrowed = review.cost(_priced("ml.c5.xlarge", 1, 1, 1), table, models_per_endpoint=10)
    assert (borrowed.note, borrowed.estimate) == ("us-east-1 price, estimate", True)
    guessed = review.cost(_priced("ml.c5.xlarge", 1, 1, 1, region="us-east-1"), table, models_per_endpoint=10)
    assert (guessed.note, guessed.estimate) == ("estimate", True)
    missing = review.cost(_priced("ml.g5.xlarge", 2, 2, 2), table, models_per_endpoint=10)
    assert missing.low is None
    assert missing.note == "no price for ml.g5.xlarge in eu-west-1: add it"
    # A bare number is a price too (a table written by hand).
    two_containers = dataclasses.replace(
        _priced("ml.c5.xlarge", 2, 2, 2), kind="MCE Direct", images=["a: image-a", "b: image-b"]
    )
    mce = review.cost(two_containers, {**table, "prices": {"eu-west-1": {"ml.c5.xlarge": 0.2}}}, 10)
    assert (mce.low, mce.single_model, mce.note) == (pytest.approx(0.4), pytest.approx(0.8), "")
    # Totals: per stage, with what is unpriced and whether an estimate is in them.
    endpoints = [_priced("ml.m5.xlarge", 2, 2, 8), _priced("ml.c5.xlarge", 1, 1, 1), _priced("ml.g5.xlarge", 1, 1, 1)]
    assert review.total(endpoints, table, 10).text() == "511-1,606 + 1 unpriced (estimate)"
    assert review.total(endpoints[2:], table, 10).text() == "n/a (1 unpriced)"
    assert review.total([], table, 10).text() == "-"


def test_acknowledgments_are_grouped_by_rule_and_reason(assembly: review.Assembly) -> None:
    groups = review.acknowledgment_groups(assembly)
    assert sum(g.count for g in groups) == len(assembly.acknowledgments)
    assert len({(g.rule, g.reason) for g in groups}) == len(groups)
    reason = "S3 server access log delivery supports only SSE-S3 (AES256) on the target bucket, not SSE-KMS."
    (logs,) = [g for g in groups if g.rule == "S3DefaultEncryptionKMS" and g.reason == reason]
    assert logs.packs == ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
    assert logs.count == 3 * len(examples.STAGE_IDS)
    assert logs.resources == ("ModelStore/Artifacts/AccessLogs (all stages)",)
    text = "\n".join(review.report(assembly, json.loads(review.PRICES.read_text()), 10))
    line = (
        f"| S3DefaultEncryptionKMS | HIPAA.Security, NIST.800.53.R5, PCI.DSS.321 | {logs.count} | {reason} "
        "| ModelStore/Artifacts/AccessLogs (all stages) |"
    )
    assert line in text
    # One line per group: far fewer lines than acknowledgments, and after the changes.
    assert text.count("\n| ") < len(assembly.acknowledgments)
    assert text.index("## Changes") < text.index("## Compliance acknowledgments")
    for stage in examples.STAGE_IDS:
        assert f"| {stage}-Hosting | resources |" in text


def test_grouping_names_the_stages_of_each_resource_and_drops_finding_details() -> None:
    acknowledged = review.Assembly(
        stages=["Dev", "Prod"],
        acknowledgments=[
            review.Acknowledgment(
                "Dev", "Dev/Hosting/Role/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]", "r"
            ),
            review.Acknowledgment(
                "Prod", "Prod/Hosting/Role/DefaultPolicy/Resource", "AwsSolutions-IAM5[Action::x*]", "r"
            ),
            review.Acknowledgment("Prod", "Prod/Store/Bucket/Resource", "HIPAA.Security-S3Replication", "s"),
            review.Acknowledgment("Prod", "Prod/Store/Bucket/Resource", "PCI.DSS.321-S3Replication", "s"),
            review.Acknowledgment("Prod", "Prod/Store/Bucket/Resource", "PCI.DSS.321-S3Replication", "another"),
        ],
    )
    assert review.acknowledgment_groups(acknowledged) == [
        review.AcknowledgmentGroup("IAM5", ("AwsSolutions",), "r", 2, ("Hosting/Role/DefaultPolicy (all stages)",)),
        review.AcknowledgmentGroup(
            "S3Replication", ("HIPAA.Security", "PCI.DSS.321"), "s", 2, ("Store/Bucket (Prod)",)
        ),
        review.AcknowledgmentGroup("S3Replication", ("PCI.DSS.321",), "another", 1, ("Store/Bucket (Prod)",)),
    ]


def _copy(outdir: Path, tmp_path: Path, name: str = "base") -> Path:
    copy = tmp_path / name
    shutil.copytree(outdir, copy, ignore=shutil.ignore_patterns("asset.*", "REVIEW.md"))
    return copy


def test_no_change_against_itself(
    outdir: Path, tmp_path: Path, assembly: review.Assembly, table: dict[str, Any]
) -> None:
    assert review.diff(review.read_assembly(_copy(outdir, tmp_path)), assembly, table, 10).empty
    assert review.changes(review.read_assembly(_copy(outdir, tmp_path, "again")), assembly) == ["- no change"]


def test_the_examples_artifact_bucket_replaced_is_flagged(
    outdir: Path, tmp_path: Path, assembly: review.Assembly, table: dict[str, Any]
) -> None:
    """On the real ModelStore: a base whose bucket had another logical id (the same name) is a replacement."""
    base = _copy(outdir, tmp_path)
    stage = examples.STAGE_IDS[-1]
    path = next(base.rglob(f"{stage.replace('-', '')}ModelStore*.template.json"))
    template = json.loads(path.read_text())
    bucket_id = next(
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket" and "Artifacts/Bucket" in _p(r)
    )
    template["Resources"]["ArtifactsBucketOld"] = template["Resources"].pop(bucket_id)
    path.write_text(json.dumps(template))
    (found,) = review.diff(review.read_assembly(base), assembly, table, 10).stateful
    assert (found.stack, found.logical_id, found.type) == (
        f"{stage}-ModelStore",
        "ArtifactsBucketOld",
        "AWS::S3::Bucket",
    )
    assert found.what.startswith(f"replaced by {bucket_id} (a new logical id, the same name")
    # Prod retains its buckets.
    assert found.old_resource.startswith("retained")


def _p(resource: dict[str, Any]) -> str:
    return str(resource.get("Metadata", {}).get("aws:cdk:path", ""))


def test_cli_writes_the_report_and_refuses_a_missing_assembly(
    outdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _copy(outdir, tmp_path)
    assert review.main([str(base)]) == 0
    report = (base / "REVIEW.md").read_text()
    assert report.startswith("# Synth review")
    assert "No base assembly" in report
    printed = capsys.readouterr().out.splitlines()
    # Short: a line per stage, the total, where the report is.
    assert len(printed) == len(examples.STAGE_IDS) + 3
    assert printed[-1] == f"review written to {base / 'REVIEW.md'}"
    assert review.main([str(tmp_path / "nothing")]) == review.EXIT_USAGE
    assert review.main([str(base), "--base", str(tmp_path / "nothing")]) == review.EXIT_USAGE


def test_the_make_target_passes_base_and_allowed_replacements() -> None:
    """``make review BASE=... ALLOW_REPLACE=...`` runs the review with both (set-up taken as done)."""
    command = ["make", "--no-print-directory", "-n", "-o", "setup", "review", "OUT=new", "BASE=old"]
    plain = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m tools.review new --base old" in plain
    assert "--allow-replace" not in plain
    allowed = subprocess.run([*command, "ALLOW_REPLACE=A,Dev-ModelStore/B"], cwd=ROOT, capture_output=True, text=True)
    assert "-m tools.review new --base old --allow-replace A,Dev-ModelStore/B" in allowed.stdout


# -- a small stage, before and after -----------------------------------------------------------------------------

IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
IMAGE_NEW = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.7.0-cpu-py312"
SKLEARN = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
DATA = "s3://shop-models-dev/models"
ENV = ("111111111111", "eu-west-1")


@dataclasses.dataclass(frozen=True)
class Shape:
    """A Dev stage: a ModelStore stack of stateful resources, and a Hosting stack with a multi-container endpoint
    ``shop-mce`` (scaled, alarmed, one consumer), a single-model endpoint ``shop-single`` and an endpoint of
    inference components ``shop-ic``. Each field is something a change can touch."""

    containers: tuple[tuple[str, str, str], ...] = (
        ("a", IMAGE, f"{DATA}/a.tar.gz"),
        ("b", SKLEARN, f"{DATA}/b.tar.gz"),
    )
    log_level: str = "info"
    instance_type: str = "ml.m5.large"
    instances: int = 1
    scaling: tuple[int, int] = (1, 2)
    target: int = 600
    canary: bool = False
    capture: bool = False
    latency_ms: int = 1000
    single_image: str = XGBOOST
    components: tuple[tuple[str, str, int, int], ...] = (("x", XGBOOST, 1, 1), ("y", XGBOOST, 1, 1))
    consumer_containers: tuple[str, ...] = ("a",)
    reader: bool = False
    bucket_id: str = "Models"
    bucket_name: str = "shop-models-dev"
    key_spec: str = "SYMMETRIC_DEFAULT"
    repository_encryption: str = "AES256"
    log_group: bool = True
    retain: bool = True


def build(outdir: Path, shape: Shape) -> Path:
    """Synthesize ``shape`` into ``outdir`` with L1 resources, as the CDK CLI would lay the assembly out."""
    import aws_cdk as cdk
    from aws_cdk import aws_applicationautoscaling as autoscaling
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_ecr as ecr
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sagemaker as sagemaker

    from tests.support import cdk_context

    app = cdk.App(context=cdk_context(), outdir=str(outdir))
    stage = cdk.Stage(app, "Dev", env=cdk.Environment(account=ENV[0], region=ENV[1]))
    store = cdk.Stack(stage, "ModelStore", stack_name="Dev-ModelStore")
    removal = cdk.RemovalPolicy.RETAIN if shape.retain else cdk.RemovalPolicy.DESTROY
    s3.CfnBucket(store, shape.bucket_id, bucket_name=shape.bucket_name).apply_removal_policy(removal)
    kms.CfnKey(store, "Key", key_spec=shape.key_spec).apply_removal_policy(removal)
    ecr.CfnRepository(
        store,
        "Images",
        repository_name="shop-images",
        encryption_configuration=ecr.CfnRepository.EncryptionConfigurationProperty(
            encryption_type=shape.repository_encryption
        ),
    ).apply_removal_policy(removal)
    if shape.log_group:
        logs.CfnLogGroup(store, "Logs", retention_in_days=30).apply_removal_policy(removal)

    hosting = cdk.Stack(stage, "Hosting", stack_name="Dev-Hosting")
    role = f"arn:aws:iam::{ENV[0]}:role/shop-execution"
    model = sagemaker.CfnModel(
        hosting,
        "MceModel",
        execution_role_arn=role,
        containers=[
            sagemaker.CfnModel.ContainerDefinitionProperty(
                container_hostname=hostname,
                image=image,
                model_data_url=data,
                environment={"LOG_LEVEL": shape.log_level} if hostname == "a" else None,
            )
            for hostname, image, data in shape.containers
        ],
        inference_execution_config=sagemaker.CfnModel.InferenceExecutionConfigProperty(mode="Direct"),
    )
    variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty
    config = sagemaker.CfnEndpointConfig(
        hosting,
        "MceConfig",
        production_variants=[
            variant(
                variant_name="AllTraffic",
                model_name=model.attr_model_name,
                instance_type=shape.instance_type,
                initial_instance_count=shape.instances,
                initial_variant_weight=1,
            )
        ],
        data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input")],
            destination_s3_uri="s3://shop-models-dev/capture/shop-mce",
            initial_sampling_percentage=20,
            enable_capture=True,
        )
        if shape.capture
        else None,
    )
    latency = cloudwatch.CfnAlarm(
        hosting,
        "MceLatency",
        alarm_description="shop-mce latency",
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=3,
        metric_name="ModelLatency",
        namespace="AWS/SageMaker",
        dimensions=[
            cloudwatch.CfnAlarm.DimensionProperty(name="EndpointName", value="shop-mce"),
            cloudwatch.CfnAlarm.DimensionProperty(name="VariantName", value="AllTraffic"),
        ],
        period=60,
        extended_statistic="p99",
        threshold=shape.latency_ms * 1000,
    )
    endpoint = sagemaker.CfnEndpoint
    sagemaker.CfnEndpoint(
        hosting,
        "MceEndpoint",
        endpoint_name="shop-mce",
        endpoint_config_name=config.attr_endpoint_config_name,
        deployment_config=endpoint.DeploymentConfigProperty(
            blue_green_update_policy=endpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=endpoint.TrafficRoutingConfigProperty(
                    type="CANARY",
                    canary_size=endpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=10),
                    wait_interval_in_seconds=300,
                )
            ),
            auto_rollback_configuration=endpoint.AutoRollbackConfigProperty(
                alarms=[endpoint.AlarmProperty(alarm_name=latency.ref)]
            ),
        )
        if shape.canary
        else None,
    )
    target = autoscaling.CfnScalableTarget(
        hosting,
        "MceScaling",
        service_namespace="sagemaker",
        resource_id="endpoint/shop-mce/variant/AllTraffic",
        scalable_dimension="sagemaker:variant:DesiredInstanceCount",
        min_capacity=shape.scaling[0],
        max_capacity=shape.scaling[1],
    )
    tracking = autoscaling.CfnScalingPolicy
    tracking(
        hosting,
        "MceInvocations",
        policy_name="shop-mce-invocations",
        policy_type="TargetTrackingScaling",
        scaling_target_id=target.ref,
        target_tracking_scaling_policy_configuration=tracking.TargetTrackingScalingPolicyConfigurationProperty(
            target_value=shape.target,
            predefined_metric_specification=tracking.PredefinedMetricSpecificationProperty(
                predefined_metric_type="SageMakerVariantInvocationsPerInstance"
            ),
        ),
    )

    single = sagemaker.CfnModel(
        hosting,
        "SingleModel",
        execution_role_arn=role,
        primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
            image=shape.single_image, model_data_url=f"{DATA}/single.tar.gz"
        ),
    )
    single_config = sagemaker.CfnEndpointConfig(
        hosting,
        "SingleConfig",
        production_variants=[
            variant(
                variant_name="AllTraffic",
                model_name=single.attr_model_name,
                instance_type="ml.m5.large",
                initial_instance_count=1,
            )
        ],
    )
    sagemaker.CfnEndpoint(
        hosting,
        "SingleEndpoint",
        endpoint_name="shop-single",
        endpoint_config_name=single_config.attr_endpoint_config_name,
    )

    ic_config = sagemaker.CfnEndpointConfig(
        hosting,
        "IcConfig",
        execution_role_arn=role,
        production_variants=[
            variant(
                variant_name="AllTraffic",
                instance_type="ml.m5.xlarge",
                initial_instance_count=1,
                managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                    status="ENABLED", min_instance_count=1, max_instance_count=2
                ),
            )
        ],
    )
    ic = sagemaker.CfnEndpoint(
        hosting, "IcEndpoint", endpoint_name="shop-ic", endpoint_config_name=ic_config.attr_endpoint_config_name
    )
    spec = sagemaker.CfnInferenceComponent
    for name, image, copies, cores in shape.components:
        component_model = sagemaker.CfnModel(
            hosting,
            f"Ic{name.title()}Model",
            execution_role_arn=role,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image, model_data_url=f"{DATA}/shop-ic/{name}/model.tar.gz"
            ),
        )
        spec(
            hosting,
            f"Ic{name.title()}",
            inference_component_name=f"shop-ic-{name}",
            endpoint_name=ic.attr_endpoint_name,
            variant_name="AllTraffic",
            specification=spec.InferenceComponentSpecificationProperty(
                model_name=component_model.attr_model_name,
                compute_resource_requirements=spec.InferenceComponentComputeResourceRequirementsProperty(
                    number_of_cpu_cores_required=cores, min_memory_required_in_mb=1024
                ),
            ),
            runtime_config=spec.InferenceComponentRuntimeConfigProperty(copy_count=copies),
            deployment_config=spec.InferenceComponentDeploymentConfigProperty(
                rolling_update_policy=spec.InferenceComponentRollingUpdatePolicyProperty(
                    maximum_batch_size=spec.InferenceComponentCapacitySizeProperty(type="COPY_COUNT", value=1),
                    wait_interval_in_seconds=60,
                )
            ),
        )

    def arn(name: str) -> str:
        return hosting.format_arn(service="sagemaker", resource="endpoint", resource_name=name)

    consumer = iam.Role(hosting, "Consumer", assumed_by=iam.AccountRootPrincipal())
    consumer.add_to_policy(
        iam.PolicyStatement(
            actions=["sagemaker:InvokeEndpoint"],
            resources=[arn("shop-mce")],
            conditions={"StringLike": {"sagemaker:TargetContainerHostname": list(shape.consumer_containers)}},
        )
    )
    if shape.reader:
        reader = iam.Role(hosting, "Reader", assumed_by=iam.AccountRootPrincipal())
        reader.add_to_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[arn("shop-single")]))
    app.synth()
    return outdir


BASE = Shape()
#: Everything a change can touch, at once.
CHANGED = dataclasses.replace(
    BASE,
    containers=(
        ("b", SKLEARN, f"{DATA}/b-v2.tar.gz"),
        ("a", IMAGE_NEW, f"{DATA}/a.tar.gz"),
        ("c", XGBOOST, f"{DATA}/c.tar.gz"),
    ),
    log_level="debug",
    instance_type="ml.m5.xlarge",
    instances=2,
    scaling=(2, 4),
    target=900,
    canary=True,
    capture=True,
    latency_ms=500,
    single_image="141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1-v2",
    components=(("x", IMAGE_NEW, 2, 2), ("z", XGBOOST, 1, 1)),
    consumer_containers=("a", "c"),
    reader=True,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Shape], Path]:
    """``built(shape)``: the cloud assembly of ``shape``, synthesized once per module."""
    cache: dict[Shape, Path] = {}

    def get(shape: Shape) -> Path:
        if shape not in cache:
            cache[shape] = build(tmp_path_factory.mktemp("assembly"), shape)
        return cache[shape]

    return get


@pytest.fixture(scope="module")
def changed(built: Callable[[Shape], Path], table: dict[str, Any]) -> review.Diff:
    return review.diff(review.read_assembly(built(BASE)), review.read_assembly(built(CHANGED)), table, 10)


CANARY = "new endpoint config, UpdateEndpoint blue/green canary 10%, wait 300 s, rollback on 1 alarms"
ALL_AT_ONCE = f"new endpoint config, UpdateEndpoint {review.DEFAULT_DEPLOYMENT}"
ROLLING = "UpdateInferenceComponent rolling 1 copy at a time, wait 60 s"


@pytest.mark.parametrize(
    ("endpoint", "what", "kind", "how"),
    [
        # Images and containers: a new model, a new endpoint config, the endpoint's deployment policy.
        ("shop-mce", f"image of a: {IMAGE} -> {IMAGE_NEW}", review.SHIFTS, CANARY),
        ("shop-mce", f"container added: c ({XGBOOST})", review.SHIFTS, CANARY),
        ("shop-mce", "containers reordered: a, b -> b, a", review.SHIFTS, CANARY),
        ("shop-mce", f"model data of b: {DATA}/b.tar.gz -> {DATA}/b-v2.tar.gz", review.SHIFTS, CANARY),
        ("shop-mce", "environment of a: LOG_LEVEL", review.SHIFTS, CANARY),
        # Without a deployment policy, SageMaker's default: all at once.
        ("shop-single", f"image of model: {XGBOOST} -> {XGBOOST}-v2", review.SHIFTS, ALL_AT_ONCE),
        # Variants: instance type and count are the endpoint config's.
        ("shop-mce", "AllTraffic: instance type ml.m5.large -> ml.m5.xlarge", review.SHIFTS, CANARY),
        ("shop-mce", "AllTraffic: initial instances 1 -> 2", review.SHIFTS, CANARY),
        (
            "shop-mce",
            "data capture: off -> 20% of Input to s3://shop-models-dev/capture/shop-mce",
            review.SHIFTS,
            CANARY,
        ),
        # Scaling, the deployment policy itself and alarms change in place.
        (
            "shop-mce",
            "AllTraffic: instances 1-2 (Application Auto Scaling) -> 2-4 (Application Auto Scaling)",
            review.IN_PLACE,
            "",
        ),
        (
            "shop-mce",
            "AllTraffic: scaling target tracking SageMakerVariantInvocationsPerInstance at 600 -> target tracking "
            "SageMakerVariantInvocationsPerInstance at 900",
            review.IN_PLACE,
            "",
        ),
        (
            "shop-mce",
            f"deployment policy: {review.DEFAULT_DEPLOYMENT} (rollback alarms 0) -> blue/green canary 10%, wait 300 s "
            "(rollback alarms 1)",
            review.IN_PLACE,
            "governs this and later endpoint updates",
        ),
        (
            "shop-mce",
            "alarm shop-mce latency: ModelLatency p99 > 1000000, 3 of 3 x 60 s -> ModelLatency p99 > 500000, 3 of 3 "
            "x 60 s",
            review.IN_PLACE,
            "",
        ),
        # Inference components: added, removed, updated under their rolling policy, copies in place.
        (
            "shop-ic",
            "component added: shop-ic-z (" + XGBOOST + ", 1 copies)",
            review.CREATES,
            "CreateInferenceComponent",
        ),
        ("shop-ic", "component removed: shop-ic-y", review.DELETES, "DeleteInferenceComponent: its callers fail"),
        ("shop-ic", f"shop-ic-x: image {XGBOOST} -> {IMAGE_NEW}", review.ROLLING, ROLLING),
        (
            "shop-ic",
            "shop-ic-x: reservation cpu_cores 1, min_memory_mb 1024 -> cpu_cores 2, min_memory_mb 1024",
            review.ROLLING,
            ROLLING,
        ),
        ("shop-ic", "shop-ic-x: copies 1 -> 2", review.IN_PLACE, "UpdateInferenceComponentRuntimeConfig"),
    ],
)
def test_each_change_says_how_it_deploys(changed: review.Diff, endpoint: str, what: str, kind: str, how: str) -> None:
    assert review.Change("Dev", endpoint, what, kind, how) in changed.endpoints, "\n".join(
        f"{c.endpoint}: {c.what} [{c.kind}: {c.how}]" for c in changed.endpoints
    )


def test_variants_and_the_endpoint_itself(built: Callable[[Shape], Path], table: dict[str, Any]) -> None:
    """Variants added or removed and managed instance scaling are the endpoint config's; a new logical id or name
    replaces the endpoint; endpoints appear and go."""
    base = review.read_assembly(built(BASE))
    mce, single, ic = (next(e for e in base.endpoints if e.name == n) for n in ("shop-mce", "shop-single", "shop-ic"))
    shadow = dataclasses.replace(mce.variants[0], name="Shadow", settings={"InitialVariantWeight": 0})
    two = dataclasses.replace(mce, variants=[*mce.variants, shadow])
    assert [(c.what, c.kind) for c in review.endpoint_changes(mce, two)] == [
        ("variant added: Shadow (ml.m5.large x 1)", review.SHIFTS)
    ]
    assert [(c.what, c.kind) for c in review.endpoint_changes(two, mce)] == [("variant removed: Shadow", review.SHIFTS)]
    fleet = ic.variants[0]
    bigger = dataclasses.replace(ic, variants=[dataclasses.replace(fleet, max_count=fleet.max_count + 2)])
    (change,) = review.endpoint_changes(ic, bigger)
    assert change.what == ("AllTraffic: instances 1-2 (managed instance scaling) -> 1-4 (managed instance scaling)")
    assert (change.kind, change.how) == (review.SHIFTS, ALL_AT_ONCE)
    routed = dataclasses.replace(fleet, settings={**fleet.settings, "RoutingConfig": {"RoutingStrategy": "RANDOM"}})
    (change,) = review.endpoint_changes(ic, dataclasses.replace(ic, variants=[routed]))
    assert (change.what, change.kind) == ("AllTraffic: variant settings RoutingConfig", review.SHIFTS)
    (change,) = review.endpoint_changes(single, dataclasses.replace(single, logical_id="SingleEndpointV2"))
    assert (change.kind, change.what) == (review.REPLACES, "logical id SingleEndpoint -> SingleEndpointV2")

    def changes(*endpoints: review.Endpoint) -> set[tuple[str, str, str]]:
        current = dataclasses.replace(base, endpoints=list(endpoints))
        return {(c.endpoint, c.what, c.kind) for c in review.diff(base, current, table, 10).endpoints}

    renamed = dataclasses.replace(single, name="shop-single-2")
    assert changes(mce, renamed, ic) == {
        ("shop-single-2", "endpoint renamed: shop-single -> shop-single-2", review.REPLACES)
    }
    assert changes(mce, ic) == {("shop-single", "endpoint removed", review.DELETES)}
    extra = dataclasses.replace(single, name="shop-extra", logical_id="ExtraEndpoint")
    assert changes(mce, single, ic, extra) == {("shop-extra", "endpoint added (single model)", review.CREATES)}


def test_a_type_change_with_the_variant_s_scaling_removed_is_refused(built: Callable[[Shape], Path]) -> None:
    # CloudFormation deletes a removed scalable target only in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, after the
    # endpoint's update ("Stack status codes", AWS CloudFormation User Guide), and SageMaker fails an update that
    # changes the instance type of a variant that is a scalable target ("Update endpoints that use auto scaling",
    # Amazon SageMaker AI Developer Guide): the deploy would fail and roll back.
    mce = next(e for e in review.read_assembly(built(BASE)).endpoints if e.name == "shop-mce")
    (scaled,) = mce.variants
    assert (scaled.scaled, scaled.scaling) == (True, review.AUTO_SCALING)
    fixed = {"scaled": False, "scaling": "fixed", "policies": {}}

    def changes(**variant: Any) -> list[review.Change]:
        return review.endpoint_changes(mce, dataclasses.replace(mce, variants=[dataclasses.replace(scaled, **variant)]))

    (refused,) = [c for c in changes(instance_type="ml.c5.xlarge", **fixed) if c.kind == review.REFUSED]
    assert refused.what.startswith("AllTraffic: instance type ml.m5.large -> ml.c5.xlarge with its scaling removed")
    assert refused.what.endswith("remove the scaling, deploy, then change the type")
    # Each alone deploys: the guard releases a scaled variant around a type change; a fixed one has no target.
    assert review.REFUSED not in {c.kind for c in changes(instance_type="ml.c5.xlarge")}
    assert review.REFUSED not in {c.kind for c in changes(**fixed)}
    assert review.REFUSED in review.LEGEND


def test_the_reverse_change_removes_what_was_added(
    built: Callable[[Shape], Path], table: dict[str, Any], changed: review.Diff
) -> None:
    back = review.diff(review.read_assembly(built(CHANGED)), review.read_assembly(built(BASE)), table, 10)
    whats = {(c.endpoint, c.what, c.kind) for c in back.endpoints}
    assert ("shop-mce", "container removed: c", review.SHIFTS) in whats
    assert ("shop-mce", "AllTraffic: initial instances 2 -> 1", review.SHIFTS) in whats
    assert {verb for verb, _ in back.access} == {"added", "removed"}
    assert len(back.access) == len(changed.access)


def test_access_changes_are_listed(changed: review.Diff) -> None:
    rows = {(verb, a.endpoint, a.principal, a.effect, a.scope) for verb, a in changed.access}
    assert rows == {
        ("removed", "shop-mce", "Dev/Hosting/Consumer", "Allow", "TargetContainerHostname a"),
        ("added", "shop-mce", "Dev/Hosting/Consumer", "Allow", "TargetContainerHostname a, c"),
        ("added", "shop-single", "Dev/Hosting/Reader", "Allow", review.WHOLE_ENDPOINT),
    }


def test_cost_changes_per_endpoint_and_stage(changed: review.Diff, table: dict[str, Any]) -> None:
    def monthly(instance_type: str, count: int) -> float:
        entry = review.price(table, "eu-west-1", instance_type)
        assert entry is not None
        return float(entry.usd_per_hour * count * table["hours_per_month"])

    rows = {(stage, endpoint): (old, new) for stage, endpoint, old, new in changed.costs}
    assert set(rows) == {("Dev", "shop-mce"), ("Dev", "all endpoints")}
    old, new = rows[("Dev", "shop-mce")]
    assert (old.low, old.high) == (pytest.approx(monthly("ml.m5.large", 1)), pytest.approx(monthly("ml.m5.large", 2)))
    assert (new.low, new.high) == (pytest.approx(monthly("ml.m5.xlarge", 2)), pytest.approx(monthly("ml.m5.xlarge", 4)))
    stage_old, stage_new = rows[("Dev", "all endpoints")]
    assert stage_new.low - stage_old.low == pytest.approx(new.low - old.low)


def test_the_report_puts_the_changes_first(
    built: Callable[[Shape], Path], changed: review.Diff, table: dict[str, Any]
) -> None:
    text = "\n".join(review.report(review.read_assembly(built(CHANGED)), table, 10, changed, "old/cdk.out"))
    assert text.index("## Changes from `old/cdk.out`") < text.index("## Endpoints") < text.index("## Access")
    assert f"| Dev | shop-mce | image of a: {IMAGE} -> {IMAGE_NEW} | **shifts traffic**: {CANARY} |" in text
    assert (
        "| **added** | Dev | shop-single | Dev/Hosting/Reader | Allow | InvokeEndpoint | whole endpoint | - |" in text
    )
    assert "| Dev | **all endpoints** |" in text
    # No stateful resource changed: no such section.
    assert "Stateful resources replaced" not in text


def test_the_terminal_summary_counts_changes_by_how_they_deploy(changed: review.Diff) -> None:
    (line,) = review.summary(changed, (), "old")
    kinds = {c.kind for c in changed.endpoints}
    assert line.startswith("changes from old: ")
    assert all(kind in line for kind in kinds)
    assert "access rows 2 added, 1 removed" in line


# -- the stateful-replacement gate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "logical_id", "what", "old"),
    [
        (
            dataclasses.replace(BASE, bucket_name="shop-models-dev-2"),
            "Models",
            "replaced: BucketName changes (create-only)",
            "retained",
        ),
        (
            dataclasses.replace(BASE, bucket_id="Artifacts"),
            "Models",
            "replaced by Artifacts (a new logical id, the same name",
            "retained",
        ),
        (dataclasses.replace(BASE, log_group=False), "Logs", "removed from the template", "retained"),
        (
            dataclasses.replace(BASE, repository_encryption="KMS"),
            "Images",
            "replaced: EncryptionConfiguration changes (create-only); it has a custom name, so CloudFormation "
            "cannot replace it and the update fails",
            "retained",
        ),
        (dataclasses.replace(BASE, key_spec="RSA_2048"), "Key", "update fails: KeySpec cannot change", "kept"),
    ],
)
def test_a_stateful_replacement_is_found(
    built: Callable[[Shape], Path], table: dict[str, Any], shape: Shape, logical_id: str, what: str, old: str
) -> None:
    d = review.diff(review.read_assembly(built(BASE)), review.read_assembly(built(shape)), table, 10)
    (found,) = d.stateful
    assert (found.stack, found.logical_id) == ("Dev-ModelStore", logical_id)
    assert found.what.startswith(what), found.what
    assert found.old_resource.startswith(old)


def test_a_resource_deleted_with_its_data_says_so(built: Callable[[Shape], Path], table: dict[str, Any]) -> None:
    base, current = dataclasses.replace(BASE, retain=False), dataclasses.replace(BASE, retain=False, log_group=False)
    (found,) = review.diff(review.read_assembly(built(base)), review.read_assembly(built(current)), table, 10).stateful
    assert (found.logical_id, found.old_resource) == ("Logs", "DELETED: its data is lost")


def test_a_type_change_fails_and_a_gone_stack_is_only_noted(table: dict[str, Any]) -> None:
    def resource(stack: str, resource_type: str) -> review.Resource:
        return review.Resource("Dev", stack, "Store", resource_type, {}, "Dev/Data/Store", "Retain", "Retain")

    base = review.Assembly(
        stacks=["Dev-Data", "Dev-Old"],
        stateful={
            ("Dev-Data", "Store"): resource("Dev-Data", "AWS::S3::Bucket"),
            ("Dev-Old", "Store"): resource("Dev-Old", "AWS::S3::Bucket"),
        },
    )
    current = review.Assembly(
        stacks=["Dev-Data"], stateful={("Dev-Data", "Store"): resource("Dev-Data", "AWS::DynamoDB::Table")}
    )
    d = review.diff(base, current, table, 10)
    (found,) = d.stateful
    assert (found.key, found.what) == (
        "Dev-Data/Store",
        "update fails: its type becomes AWS::DynamoDB::Table (CloudFormation does not change a resource's type)",
    )
    # A stack gone from the assembly: cdk deploy leaves it be, so it is said, not gated.
    assert d.stacks_gone == ["Dev-Old"]
    assert "- stacks no longer in the assembly: Dev-Old" in "\n".join(review.changes_section(d))


def test_the_gate_fails_the_review_until_the_replacement_is_allowed(
    built: Callable[[Shape], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = str(built(BASE))
    current = shutil.copytree(built(dataclasses.replace(BASE, bucket_name="shop-models-dev-2")), tmp_path / "current")
    assert review.main([str(current), "--base", base]) == review.EXIT_STATEFUL
    out, err = capsys.readouterr()
    assert "!!! Dev-ModelStore/Models (AWS::S3::Bucket): replaced: BucketName changes" in out
    assert "NOT ALLOWED (ALLOW_REPLACE=Dev-ModelStore/Models)" in out
    assert "error: a stateful resource would be replaced or removed" in err
    text = (current / "REVIEW.md").read_text()
    # At the very top, before the changes.
    assert text.index("## !!! Stateful resources replaced or removed") < text.index("## Changes from")
    assert f"`make review BASE={base} ALLOW_REPLACE=Dev-ModelStore/Models`" in text
    assert "| **no** |" in text
    # Allowed by logical id, or by stack and logical id; another id does not allow it.
    assert review.main([str(current), "--base", base, "--allow-replace", "Other"]) == review.EXIT_STATEFUL
    capsys.readouterr()
    assert review.main([str(current), "--base", base, "--allow-replace", "Other,Models"]) == 0
    assert "note: --allow-replace Other: no such resource is replaced or removed" in capsys.readouterr().out
    assert review.main([str(current), "--base", base, "--allow-replace", "Dev-ModelStore/Models"]) == 0
    assert "| yes |" in (current / "REVIEW.md").read_text()


def test_no_change_passes_the_gate(built: Callable[[Shape], Path], tmp_path: Path) -> None:
    current = shutil.copytree(built(BASE), tmp_path / "current")
    assert review.main([str(current), "--base", str(built(BASE))]) == 0
    assert "- no change" in (current / "REVIEW.md").read_text()


def test_the_create_only_properties_are_cfn_lints() -> None:
    """The copy in tools/review.py is what the installed cfn-lint's resource schemas say (make review runs
    without cfn-lint)."""
    from tools.refresh_region_support import schemas_folder

    folder = schemas_folder()
    providers = json.loads((folder / "providers" / "us-east-1.json").read_text())
    for resource_type, create_only in review.STATEFUL_TYPES.items():
        schema = json.loads((folder / "resources" / f"{providers[resource_type]}.json").read_text())
        assert set(create_only) == set(schema.get("createOnlyProperties", [])), resource_type


# -- the access matrix: every way a statement allows an invoke -----------------------------------------------------


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> review.Assembly:
    """Dev (111111111111) with a multi-model endpoint ``dev-mme``, a Direct multi-container endpoint ``dev-direct``
    and a single-model endpoint ``dev-stream``, and a role per kind of statement; Prod (333333333333) with
    ``prod-mme``, which no Dev role can reach."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_sagemaker as sagemaker

    from tests.support import cdk_context

    outdir = tmp_path_factory.mktemp("wide")
    app = cdk.App(context=cdk_context(), outdir=str(outdir))
    stacks = {}
    for stage_id, account, names in (
        ("Dev", "111111111111", ("mme", "direct", "stream")),
        ("Prod", "333333333333", ("mme",)),
    ):
        stage = cdk.Stage(app, stage_id, env=cdk.Environment(account=account, region="eu-west-1"))
        stack = cdk.Stack(stage, "Hosting", stack_name=f"{stage_id}-Hosting")
        stacks[stage_id] = stack
        execution = f"arn:aws:iam::{account}:role/execution"
        for name in names:
            container = sagemaker.CfnModel.ContainerDefinitionProperty
            if name == "mme":
                model = sagemaker.CfnModel(
                    stack,
                    "Mme",
                    execution_role_arn=execution,
                    primary_container=container(image=XGBOOST, mode="MultiModel", model_data_url=f"{DATA}/"),
                )
            elif name == "direct":
                model = sagemaker.CfnModel(
                    stack,
                    "Direct",
                    execution_role_arn=execution,
                    containers=[container(container_hostname=h, image=IMAGE) for h in ("a", "b")],
                    inference_execution_config=sagemaker.CfnModel.InferenceExecutionConfigProperty(mode="Direct"),
                )
            else:
                model = sagemaker.CfnModel(
                    stack, "Stream", execution_role_arn=execution, primary_container=container(image=IMAGE)
                )
            config = sagemaker.CfnEndpointConfig(
                stack,
                f"{name}Config",
                production_variants=[
                    sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                        variant_name="AllTraffic",
                        model_name=model.attr_model_name,
                        instance_type="ml.m5.large",
                        initial_instance_count=1,
                    )
                ],
            )
            sagemaker.CfnEndpoint(
                stack,
                f"{name}Endpoint",
                endpoint_name=f"{stage_id.lower()}-{name}",
                endpoint_config_name=config.attr_endpoint_config_name,
            )
    dev = stacks["Dev"]

    def arn(name: str) -> str:
        return dev.format_arn(service="sagemaker", resource="endpoint", resource_name=name)

    def role(name: str, *statements: iam.PolicyStatement) -> iam.Role:
        made = iam.Role(dev, name, assumed_by=iam.AccountRootPrincipal())
        for statement in statements:
            made.add_to_policy(statement)
        return made

    def allow(actions: list[str], resources: list[str], **kwargs: Any) -> iam.PolicyStatement:
        return iam.PolicyStatement(actions=actions, resources=resources, **kwargs)

    role("Wildcard", allow(["sagemaker:*"], [arn("dev-mme")]))
    role("InvokeStar", allow(["sagemaker:Invoke*"], [arn("dev-*")]))
    role("Async", allow(["sagemaker:InvokeEndpointAsync"], [arn("dev-stream")]))
    role("Streaming", allow(["sagemaker:InvokeEndpointWithResponseStream"], [arn("dev-stream")]))
    role("Everything", iam.PolicyStatement(not_actions=["iam:*"], resources=["*"]))
    role("AllButMme", iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], not_resources=[arn("dev-mme")]))
    role(
        "Models",
        allow(
            ["sagemaker:InvokeEndpoint"],
            [arn("dev-mme")],
            conditions={"StringLike": {"sagemaker:TargetModel": ["a/*"]}},
        ),
    )
    role(
        "ModelsIfExists",
        allow(
            ["sagemaker:InvokeEndpoint"],
            [arn("dev-mme")],
            conditions={"StringLikeIfExists": {"sagemaker:TargetModel": ["a/*"]}},
        ),
    )
    role(
        "Containers",
        allow(
            ["sagemaker:InvokeEndpoint"],
            [arn("dev-direct")],
            conditions={"StringEquals": {"sagemaker:TargetContainerHostname": ["a"]}},
        ),
    )
    role("Elsewhere", allow(["sagemaker:InvokeEndpoint"], [arn("not-here")]))
    role(
        "OtherAccount",
        allow(["sagemaker:InvokeEndpoint"], ["arn:aws:sagemaker:eu-west-1:333333333333:endpoint/prod-mme"]),
    )
    role("Unrelated", allow(["s3:GetObject"], ["*"]))
    iam.Role(
        dev,
        "Inline",
        assumed_by=iam.AccountRootPrincipal(),
        inline_policies={
            "invoke": iam.PolicyDocument(statements=[allow(["sagemaker:InvokeEndpoint"], [arn("dev-stream")])])
        },
    )
    managed = iam.Role(dev, "Managed", assumed_by=iam.AccountRootPrincipal())
    for name in ("AmazonSageMakerFullAccess", "AmazonSageMakerReadOnly", "service-role/AWSLambdaBasicExecutionRole"):
        managed.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(name))
    admin = iam.Role(dev, "Admin", assumed_by=iam.AccountRootPrincipal())
    admin.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name("AdministratorAccess"))
    custom = iam.Role(dev, "Custom", assumed_by=iam.AccountRootPrincipal())
    iam.ManagedPolicy(
        dev, "CustomInvoke", roles=[custom], statements=[allow(["sagemaker:InvokeEndpointAsync"], [arn("dev-mme")])]
    )
    custom.add_managed_policy(
        iam.ManagedPolicy.from_managed_policy_arn(dev, "Theirs", "arn:aws:iam::111111111111:policy/theirs")
    )
    app.synth()
    return review.read_assembly(outdir)


ALL = "InvokeEndpoint, InvokeEndpointAsync, InvokeEndpointWithResponseStream"
SAGEMAKER_ONLY_RESOURCES = "every endpoint it matches, in this assembly or not"


def _rows(assembly: review.Assembly, role: str) -> set[tuple[str, str, str, str, str, str]]:
    return {
        (a.endpoint, a.effect, a.actions, a.scope, a.unscoped, a.source)
        for a in assembly.access
        if a.principal == f"Dev/Hosting/{role}"
    }


@pytest.mark.parametrize(
    ("role", "rows"),
    [
        (
            "Wildcard",
            {("dev-mme", "Allow", ALL, review.WHOLE_ENDPOINT, "Action sagemaker:*; every model", "inline policy")},
        ),
        (
            "InvokeStar",
            {
                (endpoint, "Allow", ALL, review.WHOLE_ENDPOINT, note, "inline policy")
                for endpoint, note in (
                    (
                        "dev-mme",
                        f"Action sagemaker:Invoke*; Resource {{arn}}dev-*: {SAGEMAKER_ONLY_RESOURCES}; every model",
                    ),
                    (
                        "dev-direct",
                        f"Action sagemaker:Invoke*; Resource {{arn}}dev-*: {SAGEMAKER_ONLY_RESOURCES}; every container",
                    ),
                    ("dev-stream", f"Action sagemaker:Invoke*; Resource {{arn}}dev-*: {SAGEMAKER_ONLY_RESOURCES}"),
                )
            },
        ),
        ("Async", {("dev-stream", "Allow", "InvokeEndpointAsync", review.WHOLE_ENDPOINT, "", "inline policy")}),
        (
            "Streaming",
            {("dev-stream", "Allow", "InvokeEndpointWithResponseStream", review.WHOLE_ENDPOINT, "", "inline policy")},
        ),
        (
            "Everything",
            {
                (
                    endpoint,
                    "Allow",
                    ALL,
                    review.WHOLE_ENDPOINT,
                    f"NotAction iam:*: every other action; Resource *: {SAGEMAKER_ONLY_RESOURCES}{extra}",
                    "inline policy",
                )
                for endpoint, extra in (
                    ("dev-mme", "; every model"),
                    ("dev-direct", "; every container"),
                    ("dev-stream", ""),
                )
            },
        ),
        (
            "AllButMme",
            {
                (
                    endpoint,
                    "Allow",
                    "InvokeEndpoint",
                    review.WHOLE_ENDPOINT,
                    f"NotResource {{arn}}dev-mme: every other resource{extra}",
                    "inline policy",
                )
                for endpoint, extra in (("dev-direct", "; every container"), ("dev-stream", ""))
            },
        ),
        ("Models", {("dev-mme", "Allow", "InvokeEndpoint", "TargetModel a/*", "", "inline policy")}),
        (
            "ModelsIfExists",
            {
                (
                    "dev-mme",
                    "Allow",
                    "InvokeEndpoint",
                    "TargetModel a/* (or absent)",
                    "requests that name none",
                    "inline policy",
                )
            },
        ),
        ("Containers", {("dev-direct", "Allow", "InvokeEndpoint", "TargetContainerHostname a", "", "inline policy")}),
        (
            "Elsewhere",
            {
                (
                    "not-here",
                    "Allow",
                    "InvokeEndpoint",
                    review.WHOLE_ENDPOINT,
                    "no endpoint of this assembly in its account",
                    "inline policy",
                )
            },
        ),
        ("Unrelated", set()),
        ("Inline", {("dev-stream", "Allow", "InvokeEndpoint", review.WHOLE_ENDPOINT, "", "inline policy invoke")}),
    ],
)
def test_the_access_matrix_finds_every_statement_that_allows_an_invoke(
    wide: review.Assembly, role: str, rows: set[tuple[str, ...]]
) -> None:
    prefix = "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/"
    assert _rows(wide, role) == {tuple(part.replace("{arn}", prefix) for part in row) for row in rows}


def test_managed_policies_are_read_when_known_and_shown_as_unreadable_otherwise(wide: review.Assembly) -> None:
    full = "AWS managed policy AmazonSageMakerFullAccess (reviewed)"
    resources = (
        "NotResource arn:aws:sagemaker:*:*:domain/*, arn:aws:sagemaker:*:*:user-profile/*, "
        "arn:aws:sagemaker:*:*:app/*, arn:aws:sagemaker:*:*:flow-definition/*: every other resource"
    )
    unreadable = (
        "(any)",
        "unknown",
        "?",
        "cannot be read at synth",
        "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly: its document is not in the template; it may allow invoking "
        "any endpoint",
        "managed policy arn:aws:iam::aws:policy/AmazonSageMakerReadOnly",
    )
    assert _rows(wide, "Managed") == {
        ("dev-mme", "Allow", ALL, review.WHOLE_ENDPOINT, f"Action sagemaker:*; {resources}; every model", full),
        ("dev-direct", "Allow", ALL, review.WHOLE_ENDPOINT, f"Action sagemaker:*; {resources}; every container", full),
        ("dev-stream", "Allow", ALL, review.WHOLE_ENDPOINT, f"Action sagemaker:*; {resources}", full),
        unreadable,
    }
    admin = _rows(wide, "Admin")
    assert {row[0] for row in admin} == {"dev-mme", "dev-direct", "dev-stream"}
    assert all(row[4].startswith("Action *; Resource *") for row in admin)
    custom = _rows(wide, "Custom")
    (in_template,) = [row for row in custom if row[0] == "dev-mme"]
    assert in_template[:4] == ("dev-mme", "Allow", "InvokeEndpointAsync", review.WHOLE_ENDPOINT)
    assert in_template[5].startswith("managed policy CustomInvoke")
    assert (
        "(any)",
        "unknown",
        "?",
        "cannot be read at synth",
        "arn:aws:iam::111111111111:policy/theirs: its document is not in the template; it may allow invoking any "
        "endpoint",
        "managed policy arn:aws:iam::111111111111:policy/theirs",
    ) in custom


def test_no_statement_reaches_another_accounts_endpoints(wide: review.Assembly) -> None:
    """Endpoints have no resource policies: a Dev role's statement, even one naming prod-mme's ARN, is no right on
    the Prod account's endpoint (and says so), and Resource "*" stays in its account."""
    assert [(a.stage, a.principal, a.unscoped) for a in wide.access if a.endpoint == "prod-mme"] == [
        ("Dev", "Dev/Hosting/OtherAccount", "no endpoint of this assembly in its account")
    ]


def test_the_report_explains_the_access_matrix(wide: review.Assembly, table: dict[str, Any]) -> None:
    text = "\n".join(review.report(wide, table, 10))
    assert "| stage | endpoint | principal | effect | actions | scope | unscoped | from |" in text
    assert (
        "| Dev | dev-mme | Dev/Hosting/Wildcard | Allow | "
        + ALL
        + " | whole endpoint | Action sagemaker:*; every model | inline policy |"
        in text
    )


# -- inference components, on a tiny stage of L1 resources in the template shape of issue #12 ------------------------

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
    (variant,) = endpoint.variants
    assert (variant.name, variant.instance_type, variant.initial_count, variant.min_count, variant.max_count) == (
        "AllTraffic",
        "ml.g5.xlarge",
        1,
        0,
        4,
    )
    assert (variant.scaled, variant.scaling) == (True, "managed instance scaling")
    assert endpoint.images == [f"dev-tabular-churn: {IMAGE}", f"dev-tabular-fraud: {IMAGE}"]
    assert endpoint.data == [
        f"dev-tabular-churn: {MODELS}/churn/model.tar.gz",
        f"dev-tabular-fraud: {MODELS}/fraud/model.tar.gz",
    ]


def test_each_component_with_its_reservations_copies_scaling_and_updates(components: review.Assembly) -> None:
    (endpoint,) = components.endpoints
    assert [dataclasses.replace(c, settings={}) for c in endpoint.components] == [
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
        review.Access("Dev", "dev-tabular", "Dev/Hosting/Platform", "Allow", review.ENDPOINT_ALONE),
    ]


def test_an_endpoint_that_scales_to_no_instance_costs_nothing_when_idle(components: review.Assembly) -> None:
    table = {**json.loads(review.PRICES.read_text()), "prices": {"eu-west-1": {"ml.g5.xlarge": 1.5}}}
    (endpoint,) = components.endpoints
    cost = review.cost(endpoint, table, models_per_endpoint=10)
    # The instances, 0 to 4, whatever the copies: the components share them.
    assert (cost.low, cost.high, cost.note) == (0, pytest.approx(6.0), "0 when idle")
    text = "\n".join(review.report(components, table, 10))
    assert "| Dev | dev-tabular | 0 when idle | 6.000 | 0 when idle | 4,380 | 0 when idle | 0 when idle |" in text
    assert review.terminal(components, table, 10) == [
        "stage  endpoints  $/month min-max",
        "Dev            1  0-4,380",
        "all            1  0-4,380",
    ]


# -- the price table, refreshed from the AWS Price List ------------------------------------------------------------


def test_the_offer_file_yields_hosting_prices_only() -> None:
    listed = refresh_prices.read_offer(json.loads(OFFER.read_text()))
    assert sorted((p.region, p.instance_type, p.usd_per_hour, p.usage_type) for p in listed) == [
        ("eu-central-1", "ml.m5.large", 0.134, "EUC1-Host:ml.m5.large"),
        # instanceType carries a suffix here: the instance is instanceName's.
        ("eu-west-1", "ml.c5.xlarge", 0.234, "EU-Host:ml.c5.xlarge"),
        # Not the training, Studio or storage prices of the same instance and region.
        ("eu-west-1", "ml.m5.large", 0.123, "EU-Host:ml.m5.large"),
        ("us-east-1", "ml.m5.xlarge", 0.245, "USE1-Host:ml.m5.xlarge"),
    ]
    with pytest.raises(ValueError, match="an offer file of AmazonEC2"):
        refresh_prices.read_offer({"offerCode": "AmazonEC2"})


def test_two_different_prices_for_one_instance_and_region_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    offer = json.loads(OFFER.read_text())
    (sku,) = [s for s, p in offer["products"].items() if p["attributes"].get("usagetype") == "EU-Host:ml.m5.large"]
    offer["products"]["TWIN"] = {**offer["products"][sku], "sku": "TWIN"}
    terms = offer["terms"]["OnDemand"]
    twin = json.loads(json.dumps(terms[sku]).replace(sku, "TWIN").replace('"0.1230000000"', '"0.2000000000"'))
    terms["TWIN"] = twin
    (tmp_path / "offer.json").write_text(json.dumps(offer))
    prices = tmp_path / "prices.json"
    shutil.copy(review.PRICES, prices)
    before = prices.read_text()
    assert refresh_prices.main(["--offer", str(tmp_path / "offer.json"), "--output", str(prices)]) == 2
    assert "the Price List lists ml.m5.large in eu-west-1 twice: " in capsys.readouterr().err
    assert prices.read_text() == before


def test_refresh_replaces_estimates_with_the_price_list_and_keeps_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.json"
    shutil.copy(review.PRICES, prices)
    before = json.loads(prices.read_text())
    status = refresh_prices.main(["--offer", str(OFFER), "--output", str(prices), "--add", "eu-west-1:ml.g5.xlarge"])
    # Some wanted prices are not in the fixture: said, and exit 1, but the others are written.
    assert status == 1
    err = capsys.readouterr().err
    assert "not in the Price List: ml.g5.xlarge in eu-west-1 (still unpriced)" in err
    assert "not in the Price List: ml.m5.xlarge in eu-west-1 (kept as it was)" in err
    after = json.loads(prices.read_text())
    assert after["prices"]["eu-west-1"]["ml.m5.large"] == {
        "usd_per_hour": 0.123,
        "source": "AWS Price List, AmazonSageMaker offer 20261101000000 (published 2026-11-01T00:00:00Z), SKU "
        "FIXTUREEUW1M5LHOST, usage type EU-Host:ml.m5.large",
        "estimate": False,
    }
    assert after["prices"]["eu-central-1"]["ml.m5.large"]["usd_per_hour"] == 0.134
    assert after["prices"]["eu-west-1"]["ml.m5.xlarge"] == before["prices"]["eu-west-1"]["ml.m5.xlarge"]
    assert "ml.g5.xlarge" not in after["prices"]["eu-west-1"]
    # The review reads the refreshed table: no estimate mark on a price read from the Price List.
    found = review.price(after, "eu-west-1", "ml.m5.large")
    assert found == review.Price(0.123, "", False)


def test_refresh_downloads_each_regions_offer_file_through_the_region_index(
    tmp_path: Path, built: Callable[[Shape], Path]
) -> None:
    """The Price List Bulk API's layout, served from files: the region index, then each region's offer file."""
    offer = json.loads(OFFER.read_text())
    index = json.loads((FIXTURES / "region_index.json").read_text())
    service = tmp_path / "offers" / "v1.0" / "aws" / "AmazonSageMaker"
    (service / "current").mkdir(parents=True)
    (service / "current" / "region_index.json").write_text(json.dumps(index))
    for region, entry in index["regions"].items():
        skus = {s for s, p in offer["products"].items() if p["attributes"]["regionCode"] == region}
        regional = {
            **offer,
            "products": {s: offer["products"][s] for s in skus},
            "terms": {"OnDemand": {s: t for s, t in offer["terms"]["OnDemand"].items() if s in skus}},
        }
        path = tmp_path / entry["currentVersionUrl"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(regional))
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"hours_per_month": 730, "prices": {}}))
    # The small stage uses ml.m5.large and ml.m5.xlarge in eu-west-1: the fixture has the first only.
    arguments = ["--output", str(prices), "--endpoint", tmp_path.as_uri(), "--assembly", str(built(BASE))]
    assert refresh_prices.main([*arguments, "--add", "eu-central-1:ml.m5.large"]) == 1
    written = json.loads(prices.read_text())
    assert {r: sorted(p) for r, p in written["prices"].items()} == {
        "eu-central-1": ["ml.m5.large"],
        "eu-west-1": ["ml.m5.large"],
    }
    assert written["date"]
    assert refresh_prices.region_urls(index, "https://pricing.us-east-1.amazonaws.com", ["eu-west-1", "mars-1"]) == {
        "eu-west-1": "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonSageMaker/20261101000000/eu-west-1/"
        "index.json"
    }


def test_refresh_refuses_a_bad_pair_and_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "prices.json"
    assert refresh_prices.main(["--offer", str(OFFER), "--output", str(prices), "--add", "eu-west-1"]) == 2
    assert refresh_prices.main(["--offer", str(tmp_path / "none.json"), "--output", str(prices)]) == 2
    assert "expected REGION:INSTANCE_TYPE" in capsys.readouterr().err
