"""Environment configuration: each bad value is refused with a message naming environment, field and value."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, EnvironmentConfig, ImageConfig, select_environments
from tests.support import feature_environment

#: Environments of the tests' own: three, as the examples have, so that selection has a choice to make.
ENVIRONMENTS = tuple(feature_environment(name) for name in ("dev", "qa-eu", "prod"))


def _dev(**changes: Any) -> EnvironmentConfig:
    return feature_environment().replace(**changes)


def test_stage_ids_are_the_capitalized_names() -> None:
    assert [e.stage_id for e in ENVIRONMENTS] == ["Dev", "Qa-eu", "Prod"]


def test_region_must_be_known() -> None:
    with pytest.raises(ConfigError, match=r"environment 'dev': field 'region': 'eu-west-9' is not an AWS region"):
        _dev(region="eu-west-9")


@pytest.mark.parametrize("account", ["12345678901", "1234567890123", "12345678901a", ""])
def test_account_must_be_twelve_digits(account: str) -> None:
    with pytest.raises(ConfigError, match=rf"environment 'dev': field 'account': '{account}' must be a 12-digit"):
        _dev(account=account)


def test_unknown_environment_name_from_context() -> None:
    with pytest.raises(
        ConfigError, match=r"environment 'qa' \(passed with -c env=\) is unknown; known .*dev, qa-eu, prod"
    ):
        select_environments("qa", ENVIRONMENTS)


def test_selecting_one_or_all_environments() -> None:
    assert select_environments(None, ENVIRONMENTS) == ENVIRONMENTS
    assert [e.name for e in select_environments("prod", ENVIRONMENTS)] == ["prod"]


def test_prod_must_retain_stateful_resources() -> None:
    prod = feature_environment("prod")
    with pytest.raises(ConfigError, match=r"environment 'prod': field 'retain_stateful_resources': False must be True"):
        prod.replace(retain_stateful_resources=False)


def test_noncurrent_version_expiration_at_least_one_day() -> None:
    with pytest.raises(ConfigError, match=r"environment 'dev': field 'noncurrent_version_expiration_days': 0 must be"):
        _dev(noncurrent_version_expiration_days=0)


def test_environment_name_shape() -> None:
    with pytest.raises(ConfigError, match=r"environment 'Dev!': field 'name'"):
        _dev(name="Dev!")


def test_ssm_path_is_per_environment() -> None:
    assert [e.ssm_path for e in ENVIRONMENTS] == [
        "/sagemaker-hosting/dev",
        "/sagemaker-hosting/qa-eu",
        "/sagemaker-hosting/prod",
    ]


def test_image_needs_exactly_one_source() -> None:
    from dataclasses import replace

    endpoint = _dev().multi_model_endpoints[0]
    with pytest.raises(
        ConfigError,
        match=r"^environment 'dev', endpoint 'prices': field 'image': nothing given: give exactly one of ",
    ):
        _dev(multi_model_endpoints=(replace(endpoint, image=ImageConfig()),))
    with pytest.raises(ConfigError, match=r"field 'image': \['registry_uri', 'model_store_tag'\] given"):
        _dev(multi_model_endpoints=(replace(endpoint, image=ImageConfig(registry_uri="x", model_store_tag="v1")),))


def test_endpoint_names_are_unique_per_environment() -> None:
    endpoint = _dev().multi_model_endpoints[0]
    with pytest.raises(ConfigError, match=r"environment 'dev': field 'endpoints': 'prices' is used more than once"):
        _dev(multi_model_endpoints=(endpoint, endpoint))


def test_endpoint_and_bucket_names_carry_the_environment() -> None:
    dev = _dev()
    assert dev.endpoint_name("prices") == "dev-prices"
    assert dev.artifact_bucket_name == "sagemaker-models-dev-111111111111-eu-west-1"
