"""Rules AWS enforces only at deploy time, refused at synth with one line (exit 2) naming where and why."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import app
from hosting_contract.guard_limits import GuardLimits
from stacks.config import ContainerConfig, EnvironmentConfig, ImageConfig
from stacks.stage import ModelHostingStage
from tests.support import compliance_findings, feature_environment, make_app

#: The tests' own environment: a multi-model endpoint (prices), a Direct (vision) and a Serial (scoring) one.
DEV = feature_environment()
MME = DEV.multi_model_endpoints[0]
DIRECT, SERIAL = DEV.multi_container_endpoints


def _synth_error(config: EnvironmentConfig, capsys: pytest.CaptureFixture[str]) -> str:
    """The one line ``make synth`` prints for ``config`` (and its exit status 2)."""
    assert app.main(make_app(), (config,)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def _built_error(capsys: pytest.CaptureFixture[str], **changes: Any) -> str:
    """As ``_synth_error``, for a mistake caught while the EnvironmentConfig itself is built."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app, "configured_environments", lambda: (DEV.replace(**changes),))
        assert app.main(make_app()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _with_container(**changes: Any) -> EnvironmentConfig:
    """DEV with only the Direct endpoint, its second container changed."""
    container = dataclasses.replace(DIRECT.containers[1], **changes)
    return DEV.replace(
        multi_model_endpoints=(),
        multi_container_endpoints=(dataclasses.replace(DIRECT, containers=(DIRECT.containers[0], container)),),
    )


def _with_mme(**changes: Any) -> EnvironmentConfig:
    """DEV with only the multi-model endpoint, changed."""
    return DEV.replace(multi_model_endpoints=(dataclasses.replace(MME, **changes),), multi_container_endpoints=())


def test_the_bucket_name_stays_within_s3s_63_characters(capsys: pytest.CaptureFixture[str]) -> None:
    # "sagemaker-models-" + 20-letter environment + "-" + account + "-ap-southeast-5" is 65 characters
    # (Amazon S3 User Guide, "General purpose bucket naming rules": 3-63).
    err = _built_error(capsys, name="a" * 20, region="ap-southeast-5")
    assert err.startswith("error: environment 'aaaaaaaaaaaaaaaaaaaa': field 'name': ")
    assert "65 characters long; S3 allows 63" in err


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("../escape/model.tar.gz", "without '.' or '..'"),
        ("pytorch-vision//model.tar.gz", "without '.' or '..'"),
        ("pytorch-vision/model.zip", "must be a .tar.gz"),
        ("model.tar.gz", "must sit in a folder of its own"),
    ],
)
def test_archive_keys_are_relative_clean_tar_gz_keys(key: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = _synth_error(_with_container(model_data_key=key), capsys)
    assert err.startswith("error: environment 'dev', endpoint 'vision': ")
    assert "archive of container 'pytorch-vision'" in err
    assert why in err


def test_model_data_url_within_createmodels_1024_characters(capsys: pytest.CaptureFixture[str]) -> None:
    # botocore's SageMaker model: ContainerDefinition.ModelDataUrl is a Url, max 1024.
    err = _synth_error(_with_container(model_data_key="pytorch-vision/" + "m" * 1000 + ".tar.gz"), capsys)
    assert "field 'model_data_key' of container 'pytorch-vision'" in err
    assert "SageMaker accepts 1024" in err


def test_image_uri_within_createmodels_255_characters(capsys: pytest.CaptureFixture[str]) -> None:
    # botocore's SageMaker model: ContainerDefinition.Image is a ContainerImage, max 255.
    uri = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/" + "r" * 220 + ":1"
    err = _synth_error(_with_container(image=ImageConfig(registry_uri=uri)), capsys)
    assert "SageMaker accepts 255" in err


def test_a_region_without_a_dlc_registry_names_region_and_feature(capsys: pytest.CaptureFixture[str]) -> None:
    # aws-cdk-lib's region facts know no Deep Learning Container account for af-south-1.
    image = ImageConfig(deep_learning_container=("pytorch-inference", "2.6.0-cpu-py312"))
    container = dataclasses.replace(DIRECT.containers[1], image=image)
    config = DEV.replace(
        region="af-south-1",
        multi_model_endpoints=(),
        multi_container_endpoints=(dataclasses.replace(DIRECT, containers=(container,), consumers=()),),
    )
    err = _synth_error(config, capsys)
    assert "region 'af-south-1' has no known Deep Learning Container registry" in err
    assert "endpoint 'vision'" in err


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        (GuardLimits(max_entries=0), "max_entries 0 must be at least 1"),
        (GuardLimits(max_compression_ratio=1.0), "max_compression_ratio 1.0 must be at least 2"),
        (GuardLimits(max_uncompressed_gib=500), "max_uncompressed_gib 500 must be between 1 and 100"),
    ],
)
def test_guard_limits_that_would_pass_bombs_or_refuse_everything(
    limits: GuardLimits, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _built_error(capsys, guard_limits=limits)
    assert err.startswith("error: environment 'dev': guard_limits.")
    assert field in err


def test_denied_on_a_serial_pipeline_names_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    consumer = dataclasses.replace(SERIAL.consumers[0], denied=("xgboost",))
    config = DEV.replace(
        multi_model_endpoints=(), multi_container_endpoints=(dataclasses.replace(SERIAL, consumers=(consumer,)),)
    )
    err = _synth_error(config, capsys)
    assert "endpoint 'scoring'" in err
    assert "denied ['xgboost'] does not apply to a Serial pipeline" in err


def test_role_descriptions_stay_within_what_iam_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    # IAM CreateRole Description: at most 1000 characters of U+0009, U+000A, U+000D, U+0020-U+007E, U+00A1-U+00FF.
    consumer = dataclasses.replace(MME.consumers[0], models=("東京*",))
    err = _synth_error(_with_mme(consumers=(consumer,)), capsys)
    assert "endpoint 'prices'" in err
    assert "invalid for IAM" in err


def test_an_environment_with_no_endpoints_is_valid() -> None:
    # A stage may hold only its ModelStore (bucket, guard, topic) before any endpoint is configured.
    empty = DEV.replace(multi_model_endpoints=(), multi_container_endpoints=())
    cdk_app = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    stage = ModelHostingStage(cdk_app, "Dev", config=empty)
    from stacks.compliance import add_compliance_checks

    add_compliance_checks(stage)
    assert compliance_findings(cdk_app) == []
    assert empty.artifacts() == ()


def test_a_container_without_an_archive_is_not_in_the_catalog() -> None:
    container = ContainerConfig(hostname="sidecar", image=DIRECT.containers[1].image)
    config = DEV.replace(
        multi_container_endpoints=(dataclasses.replace(DIRECT, containers=(*DIRECT.containers, container)),)
    )
    (vision,) = [a for a in config.artifacts() if a.endpoint_name == "dev-vision"]
    assert [c.hostname for c in vision.containers] == ["tensorflow-vision", "pytorch-vision"]


def test_every_name_the_templates_give_fits_aws_at_the_longest_environment_name() -> None:
    # The environment name (up to 20 characters) is part of every name: each must still fit its AWS limit.
    longest = DEV.replace(name="a" * 20, region="eu-west-1")
    stage = ModelHostingStage(make_app(), "Long", config=longest)
    limits = {
        # (resource type, property): (max length, pattern) from each service's API reference.
        ("AWS::CloudWatch::Alarm", "AlarmName"): (255, r"^[^\x00-\x1f]+$"),  # PutMetricAlarm
        ("AWS::Events::Rule", "Name"): (64, r"^[\.\-_A-Za-z0-9]+$"),  # PutRule
        ("AWS::CloudWatch::Dashboard", "DashboardName"): (255, r"^[A-Za-z0-9_-]+$"),  # PutDashboard
        ("AWS::Logs::LogGroup", "LogGroupName"): (512, r"^[\.\-_/#A-Za-z0-9]+$"),  # CreateLogGroup
        ("AWS::SSM::Parameter", "Name"): (1011, r"^[a-zA-Z0-9_.\-/]+$"),  # PutParameter
        ("AWS::SageMaker::Endpoint", "EndpointName"): (63, r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"),  # CreateEndpoint
        ("AWS::S3::Bucket", "BucketName"): (63, r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"),  # S3 naming rules
    }
    from aws_cdk.assertions import Template

    checked = 0
    for stack in (stage.model_store, stage.hosting):
        for resource in Template.from_stack(stack).to_json()["Resources"].values():
            for (kind, field), (most, pattern) in limits.items():
                name = resource.get("Properties", {}).get(field) if resource["Type"] == kind else None
                if isinstance(name, str):
                    assert len(name) <= most, (kind, name)
                    assert re.match(pattern, name), (kind, name)
                    checked += 1
    assert checked > 40


def test_two_environments_with_one_name_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(make_app(), (DEV, DEV.replace(account="999999999999"))) == 2
    assert capsys.readouterr().err.strip() == "error: environment 'dev': field 'name': 'dev' is used twice"


def test_deployed_endpoint_names_are_unique_per_account_and_region(capsys: pytest.CaptureFixture[str]) -> None:
    # 'dev-a' + 'b-home' and 'dev-a-b' + 'home' both deploy an endpoint (and log group) named 'dev-a-b-home'.
    one = DEV.replace(
        name="dev-a", multi_model_endpoints=(dataclasses.replace(MME, name="b-home"),), multi_container_endpoints=()
    )
    two = DEV.replace(
        name="dev-a-b", multi_model_endpoints=(dataclasses.replace(MME, name="home"),), multi_container_endpoints=()
    )
    assert app.main(make_app(), (one, two)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: environment 'dev-a': endpoint name 'dev-a-b-home' is also deployed by environment 'dev-a-b' "
        "in account 111111111111 and eu-west-1"
    )


@pytest.mark.parametrize("name", ["dashboard", "operations-key", "scaling-guard-provider", "artifact-bucket"])
def test_an_endpoint_name_that_would_reuse_a_construct_id_is_refused(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = DEV.replace(multi_model_endpoints=(dataclasses.replace(MME, name=name),), multi_container_endpoints=())
    err = _synth_error(config, capsys)
    assert f"endpoint {name!r}: field 'name': {name!r} becomes construct id" in err


def test_consumer_role_ids_are_unique_across_endpoints(capsys: pytest.CaptureFixture[str]) -> None:
    # Endpoint 'city' + consumer 'PricesX' and endpoint 'city-prices' + consumer 'X' make one id: CityPricesX.
    first = dataclasses.replace(MME, name="city", consumers=(dataclasses.replace(MME.consumers[0], name="PricesX"),))
    second = dataclasses.replace(MME, name="city-prices", consumers=(dataclasses.replace(MME.consumers[0], name="X"),))
    err = _synth_error(DEV.replace(multi_model_endpoints=(first, second), multi_container_endpoints=()), capsys)
    assert "endpoint 'city-prices': field 'consumers': 'CityPricesX' becomes construct id" in err


@pytest.mark.parametrize(
    "changes",
    [{"account": "111111111111\n"}, {"name": "dev\n"}, {"alarm_email": "ops@example.com\n"}],
    ids=["account", "name", "alarm_email"],
)
def test_a_trailing_newline_is_not_a_valid_value(changes: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    # Python's '$' also matches before a final newline (a value pasted from `aws ... --output text`): '\Z' does not.
    err = _built_error(capsys, **changes)
    assert err.startswith("error: environment ")
    field = next(iter(changes))
    assert f"field {field!r}" in err


def test_a_variant_name_with_a_trailing_newline_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    variant = dataclasses.replace(MME.variants[0], variant_name="AllTraffic\n")
    err = _synth_error(_with_mme(variants=(variant,)), capsys)
    assert "variant_name of variant 'AllTraffic\\n'" in err


def test_variant_timeouts_are_whole_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    import aws_cdk as cdk

    variant = dataclasses.replace(MME.variants[0], model_data_download_timeout=cdk.Duration.millis(90500))
    err = _synth_error(_with_mme(variants=(variant,)), capsys)
    assert "must be a whole number of seconds" in err


@pytest.mark.parametrize("target", ["Paris", "*", "../x.tar.gz", "Paris_*.tar.gz"])
def test_a_canary_names_one_archive_exactly(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    from constructs_lib import SmokeInvocation

    smoke = (SmokeInvocation(target_model=target, body="1,2,3,4,5,6", content_type="text/csv"),)
    err = _synth_error(_with_mme(smoke_tests=smoke), capsys)
    assert f"target_model {target!r}" in err


def test_environment_alarm_thresholds_are_checked_without_endpoints(capsys: pytest.CaptureFixture[str]) -> None:
    import aws_cdk as cdk

    from constructs_lib import AlarmThresholds

    err = _built_error(
        capsys,
        alarm_thresholds=AlarmThresholds(period=cdk.Duration.seconds(90)),
        multi_model_endpoints=(),
        multi_container_endpoints=(),
    )
    assert err.startswith("error: environment 'dev': alarm_thresholds")
    assert "period" in err


# -- inference components --------------------------------------------------------------------------------------


def _with_components(**changes: Any) -> EnvironmentConfig:
    """DEV with only the tests' inference-component endpoint (``tabular``), changed."""
    from tests.support import feature_components

    endpoint = dataclasses.replace(feature_components(), **changes)
    return DEV.replace(
        multi_model_endpoints=(), multi_container_endpoints=(), inference_component_endpoints=(endpoint,)
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"components": ()}, "field 'components': () must list at least one"),
        ("duplicate", "field 'components': 'churn' is used more than once"),
        ("unknown consumer", "field 'consumers' of 'Scoring': 'other' is not a component of the endpoint"),
        ("unknown smoke", "field 'smoke_tests': inference_component 'other' is not a component of the endpoint"),
    ],
)
def test_components_consumers_and_smoke_tests_must_match(
    changes: Any, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from constructs_lib.hosted_endpoint import SmokeInvocation
    from stacks.config import ComponentConsumerConfig
    from tests.support import feature_components

    endpoint = feature_components()
    if changes == "duplicate":
        changes = {"components": (endpoint.components[0], endpoint.components[0])}
    elif changes == "unknown consumer":
        changes = {"consumers": (ComponentConsumerConfig(name="Scoring", components=("other",)),)}
    elif changes == "unknown smoke":
        changes = {"smoke_tests": (SmokeInvocation(body="1", inference_component="other"),)}
    err = _built_error(
        capsys,
        multi_model_endpoints=(),
        multi_container_endpoints=(),
        inference_component_endpoints=(dataclasses.replace(endpoint, **changes),),
    )
    assert err.startswith("error: environment 'dev', endpoint 'tabular': "), err
    assert expected in err


def test_a_region_without_inference_components_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # CloudFormation's resource specification for eu-west-3 has no AWS::SageMaker::InferenceComponent, and
    # SageMaker refused MinInstanceCount 0 there in the field: refused at synth, not at deploy.
    err = _synth_error(_with_components().replace(region="eu-west-3"), capsys)
    assert err.startswith("error: environment 'dev', endpoint 'tabular': "), err
    assert "'eu-west-3' does not offer AWS::SageMaker::InferenceComponent" in err


def test_accelerators_beyond_the_instance_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from constructs_lib.inference_component import ComputeRequirements

    component = dataclasses.replace(
        _with_components().inference_component_endpoints[0].components[0],
        compute=ComputeRequirements(accelerators=8, cpu_cores=8, min_memory_mb=32_768),
    )
    err = _synth_error(_with_components(instance_type="ml.g4dn.12xlarge", components=(component,)), capsys)
    assert "compute.accelerators of component 'churn'" in err
    assert "8 exceeds the 4 GPUs of one ml.g4dn.12xlarge" in err


def test_the_documented_gpu_fleet_synthesizes_clean() -> None:
    # docs/OPERATIONS.md, "A GPU fleet: the accelerator rules": the configuration as printed there.
    from constructs_lib.component_scaling import ComponentScalingPlan
    from constructs_lib.inference_component import ComputeRequirements
    from constructs_lib.inference_component_endpoint import ManagedInstanceScaling
    from stacks.config import ComponentConfig, InferenceComponentEndpointConfig

    llm = InferenceComponentEndpointConfig(
        name="llm",
        instance_type="ml.g4dn.12xlarge",
        managed_instance_scaling=ManagedInstanceScaling(min_instances=0, max_instances=2),
        components=(
            ComponentConfig(
                name="summarize",
                image=ImageConfig(model_store_tag="llm-1.0"),
                compute=ComputeRequirements(accelerators=2, cpu_cores=8, min_memory_mb=32_768),
                scaling=ComponentScalingPlan(min_copies=0, max_copies=4, concurrent_requests_per_copy=4),
            ),
        ),
    )
    docs = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()
    for line in ('instance_type="ml.g4dn.12xlarge"', "accelerators=2, cpu_cores=8, min_memory_mb=32_768"):
        assert line in docs
    config = DEV.replace(multi_model_endpoints=(), multi_container_endpoints=(), inference_component_endpoints=(llm,))
    app_ = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    ModelHostingStage(app_, config.stage_id, config=config)
    assert compliance_findings(app_) == []


# -- several regions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regions", "expected"),
    [
        (("eu-west-9",), "field 'additional_regions': 'eu-west-9' is not an AWS region known to aws-cdk-lib"),
        (("eu-west-1",), "field 'additional_regions': 'eu-west-1' is listed twice (the home region counts)"),
        (("eu-central-1", "eu-central-1"), "field 'additional_regions': 'eu-central-1' is listed twice"),
    ],
)
def test_additional_regions_are_known_and_distinct(
    regions: tuple[str, ...], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _built_error(capsys, additional_regions=regions)
    assert err.startswith(f"error: environment 'dev': {expected}"), err


def test_the_bucket_name_fits_in_every_region(capsys: pytest.CaptureFixture[str]) -> None:
    # 19 letters fit with eu-west-1 (59 characters) but not with ap-southeast-5 (64): S3 allows 63.
    err = _built_error(capsys, name="a" * 19, additional_regions=("ap-southeast-5",))
    assert "ap-southeast-5' 64 characters long" in err, err


def test_an_endpoint_name_deployed_twice_in_one_region_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # Endpoint names are unique per account and region (CreateEndpoint). 'a' + 'b-prices' and 'a-b' + 'prices' are
    # one deployed name; they meet in eu-central-1, where 'a' is placed as an additional region and 'a-b' lives.
    first = feature_environment(
        "a",
        multi_model_endpoints=(dataclasses.replace(MME, name="b-prices"),),
        multi_container_endpoints=(),
        additional_regions=("eu-central-1",),
    )
    second = feature_environment("a-b", region="eu-central-1", multi_container_endpoints=())
    assert app.main(make_app(), (first, second)) == 2
    err = capsys.readouterr().err.strip()
    assert "endpoint name 'a-b-prices' is also deployed by environment" in err
    assert "eu-central-1" in err


def test_selecting_an_environment_builds_every_region_of_it() -> None:
    config = DEV.replace(additional_regions=("eu-central-1",))
    cdk_app = make_app(env="dev")
    stages = app.build(cdk_app, (config,))
    assert [(s.node.id, s.region) for s in stages] == [("Dev", "eu-west-1"), ("Dev-eu-central-1", "eu-central-1")]
