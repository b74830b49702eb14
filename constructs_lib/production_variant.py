"""ProductionVariant: one instance fleet of an endpoint config, validated and rendered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker

from constructs_lib import sagemaker_limits as limits


@dataclass(frozen=True, kw_only=True)
class ProductionVariant:
    """An instance-backed production variant of an endpoint."""

    instance_type: str
    """``ml.<family>.<size>``, e.g. ``ml.m5.xlarge``."""

    variant_name: str = "AllTraffic"
    """1-63 letters, digits and inner hyphens; unique within the endpoint. Default: ``AllTraffic``."""

    initial_instance_count: int = 1
    """Instances at creation (>= 1). Use at least 2 in production for multi-AZ availability."""

    initial_variant_weight: float = 1.0
    """Traffic share relative to the other variants' weights (>= 0)."""

    volume_size_in_gb: int | None = None
    """ML storage volume per instance, 1-512 GB. Default: SageMaker's (larger for multi-model)."""

    model_data_download_timeout: cdk.Duration | None = None
    """How long to wait for model data to download, 60-3600 s. Default: SageMaker's."""

    container_startup_health_check_timeout: cdk.Duration | None = None
    """How long a container may take to pass its first ``/ping``, 60-3600 s. Default: SageMaker's."""

    def validate(self, owner: str) -> None:
        """Raise ``ValidationError`` naming ``owner``, this variant, the field and the value."""
        where = f"variant {self.variant_name!r}"
        limits.check_name(owner, f"variant_name of {where}", self.variant_name)
        limits.check_instance_type(owner, f"instance_type of {where}", self.instance_type)
        limits.check_range(owner, f"initial_instance_count of {where}", self.initial_instance_count, 1)
        limits.check_range(owner, f"initial_variant_weight of {where}", self.initial_variant_weight, 0)
        limits.check_range(
            owner, f"volume_size_in_gb of {where}", self.volume_size_in_gb, limits.MIN_VOLUME_GB, limits.MAX_VOLUME_GB
        )
        limits.check_timeout(owner, f"model_data_download_timeout of {where}", self.model_data_download_timeout)
        limits.check_timeout(
            owner, f"container_startup_health_check_timeout of {where}", self.container_startup_health_check_timeout
        )

    def render(self, model_name: str) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        """The CloudFormation property, serving ``model_name``."""
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=self.variant_name,
            model_name=model_name,
            instance_type=self.instance_type,
            initial_instance_count=self.initial_instance_count,
            initial_variant_weight=self.initial_variant_weight,
            volume_size_in_gb=self.volume_size_in_gb,
            model_data_download_timeout_in_seconds=_seconds(self.model_data_download_timeout),
            container_startup_health_check_timeout_in_seconds=_seconds(self.container_startup_health_check_timeout),
        )


def validate_variants(owner: str, variants: Sequence[ProductionVariant]) -> None:
    """1-10 variants with unique names, each valid."""
    if not 1 <= len(variants) <= limits.MAX_PRODUCTION_VARIANTS:
        raise limits.fail(owner, "variants", f"{len(variants)} variants", "must number between 1 and 10")
    names = [v.variant_name for v in variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise limits.fail(owner, "variant_name", duplicates[0], "is used by more than one variant")
    for variant in variants:
        variant.validate(owner)


def _seconds(duration: cdk.Duration | None) -> int | None:
    return None if duration is None else int(duration.to_seconds())
