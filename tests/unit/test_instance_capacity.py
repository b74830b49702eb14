"""instance_capacity: GPUs from the SageMaker Python SDK's table, vCPUs by size, and the one-copy-fits check.

Expected GPU counts are read from the installed sagemaker-core's ``image_uri_config/instance_gpu_info.json`` at
test time, located as packaging metadata states (not through the module under test).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from constructs_lib import ValidationError, image_catalog, instance_capacity

OWNER = "InferenceComponentEndpoint Hosting/Ic"
EU = "eu-west-1"


@pytest.fixture(scope="module")
def sdk_table() -> dict[str, dict[str, dict[str, int]]]:
    path = Path(str(metadata.distribution("sagemaker-core").locate_file("sagemaker/core/image_uri_config")))
    table: dict[str, dict[str, dict[str, int]]] = json.loads((path / "instance_gpu_info.json").read_text())
    return table


@pytest.fixture
def fake_table(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replaces the SDK's table for one test."""
    table: dict[str, Any] = {}
    monkeypatch.setattr(instance_capacity, "_gpu_table", lambda: table)
    return table


def _fits(**kwargs: Any) -> None:
    arguments: dict[str, Any] = {
        "instance_type": "ml.g5.12xlarge",
        "region": EU,
        "cpu_cores": None,
        "accelerators": None,
        "field_prefix": "compute.",
        "where": "churn",
    }
    instance_capacity.check_component_fits(OWNER, **{**arguments, **kwargs})


@pytest.mark.parametrize(("instance_type", "expected"), [("ml.g5.12xlarge", 4), ("ml.g5.48xlarge", 8)])
def test_gpus_are_the_sdk_tables(
    sdk_table: dict[str, dict[str, dict[str, int]]], instance_type: str, expected: int
) -> None:
    assert sdk_table[EU][instance_type]["Count"] == expected  # the SDK's own figure, as AWS lists it
    assert instance_capacity.gpus(instance_type, EU) == expected


def test_every_entry_of_the_sdk_table_is_read(sdk_table: dict[str, dict[str, dict[str, int]]]) -> None:
    for region, entries in sdk_table.items():
        for instance_type, entry in entries.items():
            assert instance_capacity.gpus(instance_type, region) == entry["Count"], (region, instance_type)


def test_a_gpu_type_the_sdk_table_lacks_is_unknown(sdk_table: dict[str, dict[str, dict[str, int]]]) -> None:
    # ml.g5.xlarge (one GPU) is missing from sagemaker-core's table: unknown, never guessed from its family.
    for instance_type in ("ml.g5.xlarge", "ml.g6.xlarge"):
        assert all(instance_type not in entries for entries in sdk_table.values())
        assert instance_capacity.gpus(instance_type, EU) is None
        _fits(instance_type=instance_type, accelerators=8)


def test_a_type_outside_the_gpu_families_has_none(sdk_table: dict[str, dict[str, dict[str, int]]]) -> None:
    assert all("ml.m5.xlarge" not in entries for entries in sdk_table.values())
    assert instance_capacity.gpus("ml.m5.xlarge", EU) == 0
    assert instance_capacity.accelerator_devices("ml.c7g.large", EU) == 0


@pytest.mark.parametrize("instance_type", ["ml.inf2.xlarge", "ml.trn1.32xlarge", "ml.inf1.xlarge", "ml.dl1.24xlarge"])
def test_inferentia_trainium_and_gaudi_devices_are_unknown(instance_type: str) -> None:
    # No AWS table of their devices ships with botocore or sagemaker-core: the check is skipped.
    assert instance_capacity.gpus(instance_type, EU) == 0
    assert instance_capacity.accelerator_devices(instance_type, EU) is None
    _fits(instance_type=instance_type, accelerators=64)


def test_a_type_endpoints_do_not_offer_and_a_token_are_unknown() -> None:
    assert instance_capacity.gpus("ml.m99.xlarge", EU) is None
    token = cdk.Token.as_string(cdk.Aws.NO_VALUE)
    assert instance_capacity.gpus(token, EU) is None
    assert instance_capacity.accelerator_devices(token, EU) is None
    _fits(instance_type=token, accelerators=64, cpu_cores=1000)


@pytest.mark.parametrize("region", ["ap-east-2", pytest.param(cdk.Aws.REGION, id="token")])
def test_a_region_the_table_lacks_takes_the_entry_all_regions_agree_on(
    sdk_table: dict[str, dict[str, dict[str, int]]], region: str
) -> None:
    assert region not in sdk_table
    assert instance_capacity.gpus("ml.g5.12xlarge", region) == sdk_table[EU]["ml.g5.12xlarge"]["Count"]


def test_the_regions_own_entry_wins_and_disagreeing_regions_make_it_unknown(fake_table: dict[str, Any]) -> None:
    fake_table.update(
        {
            "eu-west-1": {"ml.g5.12xlarge": {"Count": 4}},
            "us-east-1": {"ml.g5.12xlarge": {"Count": 2}},
        }
    )
    assert instance_capacity.gpus("ml.g5.12xlarge", "us-east-1") == 2
    assert instance_capacity.gpus("ml.g5.12xlarge", "eu-west-1") == 4
    assert instance_capacity.gpus("ml.g5.12xlarge", "ap-east-2") is None


def test_without_sagemaker_core_gpu_counts_are_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> tuple[Path, str]:
        raise ValidationError("image tables: sagemaker-core is not installed")

    instance_capacity._gpu_table.cache_clear()
    monkeypatch.setattr(image_catalog, "sdk_tables", missing)
    try:
        assert instance_capacity.gpus("ml.g5.12xlarge", EU) is None
        assert instance_capacity.gpus("ml.m5.xlarge", EU) == 0
        _fits(accelerators=64)
    finally:
        instance_capacity._gpu_table.cache_clear()


def test_a_folder_without_the_table_makes_gpu_counts_unknown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    instance_capacity._gpu_table.cache_clear()
    monkeypatch.setattr(image_catalog, "sdk_tables", lambda: (tmp_path, "0"))
    try:
        assert instance_capacity.gpus("ml.g5.12xlarge", EU) is None
    finally:
        instance_capacity._gpu_table.cache_clear()


def test_more_accelerators_than_the_instance_has_are_refused(sdk_table: dict[str, dict[str, dict[str, int]]]) -> None:
    have = sdk_table[EU]["ml.g5.12xlarge"]["Count"]
    _fits(accelerators=have)
    with pytest.raises(ValidationError) as raised:
        _fits(accelerators=have + 1)
    assert str(raised.value) == (
        f"{OWNER}: compute.accelerators of churn {have + 1} exceeds the {have} GPUs of one ml.g5.12xlarge "
        f"(sagemaker-core {metadata.version('sagemaker-core')} image_uri_config/instance_gpu_info.json): "
        "one copy could never be placed"
    )
    with pytest.raises(ValidationError, match=r"accelerators of churn 2 exceeds the 1 GPU of one ml\.g5\.2xlarge "):
        _fits(instance_type="ml.g5.2xlarge", accelerators=2)


def test_accelerators_on_a_type_without_any_are_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        _fits(instance_type="ml.m5.xlarge", accelerators=1)
    assert str(raised.value) == (
        f"{OWNER}: compute.accelerators of churn 1 must be left unset: ml.m5.xlarge has no accelerators "
        "(not a GPU, Inferentia, Trainium or Gaudi type)"
    )


def test_more_cpu_cores_than_vcpus_are_refused() -> None:
    _fits(instance_type="ml.m5.xlarge", cpu_cores=4)
    with pytest.raises(ValidationError) as raised:
        _fits(instance_type="ml.m5.xlarge", cpu_cores=4.5, where=None, field_prefix="components['churn'].")
    assert str(raised.value) == (
        f"{OWNER}: components['churn'].cpu_cores 4.5 exceeds the 4 vCPUs of one ml.m5.xlarge: "
        "one copy could never be placed"
    )


def test_unset_and_token_requirements_pass() -> None:
    _fits(instance_type="ml.m5.xlarge")
    _fits(instance_type="ml.m5.xlarge", accelerators=cdk.Token.as_number(cdk.Aws.NO_VALUE))
    _fits(instance_type="ml.m5.xlarge", cpu_cores=cdk.Token.as_number(cdk.Aws.NO_VALUE))
    _fits(instance_type="ml.m5.weird", cpu_cores=1000)  # vCPUs unknown for that size
