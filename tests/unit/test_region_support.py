"""region_support: regions where CloudFormation offers inference components, from the installed cfn-lint's data.

The committed extract (constructs_lib/data/cloudformation_regions.json) must be what the installed cfn-lint
yields: a cfn-lint bump that changes it fails here until ``python -m tools.refresh_region_support`` is run.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from constructs_lib import ValidationError, region_support
from tools import refresh_region_support

OWNER = "InferenceComponentEndpoint Hosting/Ic"
TYPE = "AWS::SageMaker::InferenceComponent"


def _providers(region: str) -> dict[str, Any]:
    """cfn-lint's own provider file for ``region`` (resource type -> schema id)."""
    folder = refresh_region_support.schemas_folder() / "providers"
    found: dict[str, Any] = json.loads((folder / f"{region}.json").read_text())
    return found


def test_the_committed_data_is_what_the_installed_cfn_lint_yields() -> None:
    committed = refresh_region_support.OUTPUT.read_text()
    assert committed == refresh_region_support.render(), (
        f"{refresh_region_support.OUTPUT.name} is stale against the installed cfn-lint: "
        "run `python -m tools.refresh_region_support` and commit the result"
    )


def test_the_script_rewrites_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "data" / "regions.json"
    assert refresh_region_support.main([str(output)]) == 0
    assert output.read_text() == refresh_region_support.OUTPUT.read_text()
    assert "wrote" in capsys.readouterr().out
    assert refresh_region_support.main([str(output)]) == 0
    assert "unchanged" in capsys.readouterr().out


def test_the_data_names_its_source() -> None:
    data = region_support.data()
    assert data["cfn_lint_version"] == metadata.version("cfn-lint")
    assert data["schema_date"]
    assert data["generated_by"] == "python -m tools.refresh_region_support"
    assert "sam" not in data["regions"]  # SAM's transform types, not a region
    assert set(data["offered_in"][TYPE]) <= set(data["regions"])
    assert region_support.INFERENCE_COMPONENT in refresh_region_support.RESOURCE_TYPES


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "us-west-2"])
def test_a_region_whose_schemas_have_the_type_offers_inference_components(region: str) -> None:
    assert TYPE in _providers(region)
    assert region_support.inference_components_available(region) is True
    region_support.check_inference_component_region(OWNER, region)


@pytest.mark.parametrize("region", ["eu-west-3", "us-west-1", "cn-north-1"])
def test_a_region_whose_schemas_lack_the_type_is_refused(region: str) -> None:
    assert TYPE not in _providers(region)
    assert "AWS::SageMaker::Endpoint" in _providers(region)  # the file is a real region's, not an empty one
    assert region_support.inference_components_available(region) is False
    with pytest.raises(ValidationError) as raised:
        region_support.check_inference_component_region(OWNER, region)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{OWNER}: region {region!r} does not offer {TYPE}: ")
    assert "CloudFormation's resource specification for that region lacks the type" in message
    assert f"cfn-lint {region_support.data()['cfn_lint_version']}" in message


def test_the_refusal_suggests_regions_of_the_same_partition() -> None:
    with pytest.raises(ValidationError, match=r"regions that offer it include eu-west-2, eu-west-1"):
        region_support.check_inference_component_region(OWNER, "eu-west-3")
    with pytest.raises(ValidationError, match=r"; no region of partition aws-cn offers it\Z"):
        region_support.check_inference_component_region(OWNER, "cn-northwest-1")


@pytest.mark.parametrize("region", ["xx-newest-1", "", pytest.param(cdk.Aws.REGION, id="token")])
def test_a_region_the_data_does_not_know_is_not_checked(region: str) -> None:
    assert region_support.inference_components_available(region) is None
    region_support.check_inference_component_region(OWNER, region)


def test_a_stacks_unresolved_region_is_not_checked() -> None:
    stack = cdk.Stack(cdk.App(), "Agnostic")
    assert region_support.inference_components_available(stack.region) is None
    region_support.check_inference_component_region(OWNER, stack.region)


def test_the_scale_to_zero_field_report_region_stays_refused_by_the_region_check() -> None:
    # SageMaker refused ManagedInstanceScaling.MinInstanceCount 0 in eu-west-3 (stdapi-ai/stdapi.ai issue #43,
    # 2026-08-27): no table of its own, since no inference component can be created there. If CloudFormation
    # starts offering them in eu-west-3, check whether scale to zero works there before letting this pass.
    assert region_support.inference_components_available("eu-west-3") is False
