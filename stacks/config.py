"""One typed configuration per environment (dev, staging, prod), validated when it is built.

Edit the values in ``ENVIRONMENTS`` to deploy into real accounts; the placeholders synthesize as they are.
Every error names the environment, the field and the bad value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from aws_cdk import region_info

from constructs_lib.errors import ValidationError

#: Root of the SSM parameter paths that tools (modelctl) use to discover what each environment deployed.
SSM_ROOT = "/sagemaker-hosting"

_ACCOUNT = re.compile(r"^\d{12}$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_KNOWN_REGIONS = frozenset(region.name for region in region_info.RegionInfo.regions)


class ConfigError(ValidationError):
    """A configuration value is wrong; the message says where and why."""


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """Everything that differs between environments."""

    name: str
    """Short lowercase name (``dev``); used in the SSM path and, capitalized, as the stage id."""

    account: str
    """The 12-digit AWS account id to deploy into."""

    region: str
    """The AWS region to deploy into, e.g. ``eu-west-1``."""

    retain_stateful_resources: bool
    """Keep the KMS key, buckets and ECR repository when the stack is deleted. Required in prod."""

    noncurrent_version_expiration_days: int = 90
    """How long replaced or deleted model-archive versions are kept, in days."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _ENV_NAME.match(self.name):
            raise ConfigError(
                f"environment {self.name!r}: field 'name': {self.name!r} must be lowercase letters, digits and '-'"
            )
        if not _ACCOUNT.match(str(self.account)):
            self._fail("account", self.account, "must be a 12-digit AWS account id")
        if self.region not in _KNOWN_REGIONS:
            self._fail("region", self.region, "is not an AWS region known to aws-cdk-lib (e.g. 'eu-west-1')")
        if self.name == "prod" and not self.retain_stateful_resources:
            self._fail("retain_stateful_resources", False, "must be True in prod: model artifacts must survive")
        if self.noncurrent_version_expiration_days < 1:
            self._fail("noncurrent_version_expiration_days", self.noncurrent_version_expiration_days, "must be >= 1")

    def _fail(self, field: str, value: Any, why: str) -> None:
        raise ConfigError(f"environment {self.name!r}: field {field!r}: {value!r} {why}")

    @property
    def stage_id(self) -> str:
        """The construct id of this environment's stage (``Dev``, ``Staging``, ``Prod``)."""
        return self.name.capitalize()

    @property
    def ssm_path(self) -> str:
        """The SSM path under which this environment publishes what tools need (no trailing slash)."""
        return f"{SSM_ROOT}/{self.name}"

    def replace(self, **changes: Any) -> EnvironmentConfig:
        """A copy with ``changes`` applied, validated like the original."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return EnvironmentConfig(**values)


ENVIRONMENTS: tuple[EnvironmentConfig, ...] = (
    EnvironmentConfig(
        name="dev",
        account="111111111111",
        region="eu-west-1",
        retain_stateful_resources=False,
        noncurrent_version_expiration_days=14,
    ),
    EnvironmentConfig(
        name="staging",
        account="222222222222",
        region="eu-west-1",
        retain_stateful_resources=True,
        noncurrent_version_expiration_days=30,
    ),
    EnvironmentConfig(
        name="prod",
        account="333333333333",
        region="eu-west-1",
        retain_stateful_resources=True,
        noncurrent_version_expiration_days=90,
    ),
)


def select_environments(
    requested: object, environments: tuple[EnvironmentConfig, ...] = ENVIRONMENTS
) -> tuple[EnvironmentConfig, ...]:
    """The environments to synthesize: all of them, or the one named with ``-c env=NAME``."""
    if requested is None or requested == "":
        return environments
    for environment in environments:
        if environment.name == requested:
            return (environment,)
    known = ", ".join(e.name for e in environments)
    raise ConfigError(f"environment {requested!r} (passed with -c env=) is unknown; known environments: {known}")
