"""SageMaker limits that CloudFormation's schema does not enforce, checked at construction.

Sources: botocore's SageMaker service model (``sagemaker/service-2.json``: patterns, anchored here since
botocore's are not, and lengths) and the Amazon SageMaker AI Developer Guide (each limit names its page where
it is checked). Unresolved tokens are never validated: their value is only known at deploy time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aws_cdk as cdk

from constructs_lib import service_model
from constructs_lib.errors import ValidationError
from hosting_contract import naming
from hosting_contract.archive_rules import MAX_TARGET_MODEL

NAME, MAX_NAME = naming.NAME, naming.MAX_NAME
ENVIRONMENT_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*\Z")
MAX_ENVIRONMENT_ENTRIES = 100
MAX_ENVIRONMENT_KEY_OR_VALUE = 1024
#: All keys and values of one CreateModel call together, across every container.
MAX_ENVIRONMENT_BYTES = 32 * 1024
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 60, 3600
MAX_PRODUCTION_VARIANTS = 10
MIN_VOLUME_GB, MAX_VOLUME_GB = 1, 512

#: GPU multi-model endpoints run only on SageMaker's Triton container and only on these single-GPU types.
MME_GPU_INSTANCE_TYPES = frozenset(
    {
        "ml.p2.xlarge",
        "ml.p3.2xlarge",
        *(f"ml.g4dn.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")),
        *(f"ml.g5.{size}" for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")),
    }
)
_GPU_FAMILY = re.compile(r"^ml\.(p\d|g\d)[a-z0-9-]*\.")


def is_token(value: Any) -> bool:
    """True when ``value`` (a string, number or collection) is only known at deploy time.

    Plain values are decided here: each question to the CDK is a round trip to its Node process, and this is
    asked some fifty times per endpoint. Tokens encode as ``${Token[...]}`` in strings, ``#{Token[...]}`` in
    string lists and as doubles beyond 1e280 (the CDK's token encodings), so only those are passed on.
    """
    if value is None or isinstance(value, bool | int):
        return False
    if isinstance(value, str):
        return "${Token[" in value and cdk.Token.is_unresolved(value)
    if isinstance(value, float):
        return abs(value) > 1e280 and cdk.Token.is_unresolved(value)
    if isinstance(value, list | tuple):
        if len(value) == 1 and isinstance(value[0], str) and "#{Token[" in value[0]:
            return cdk.Token.is_unresolved(list(value))
        if all(v is None or isinstance(v, str | int | float) for v in value):
            return False
    return cdk.Token.is_unresolved(value)


def fail(owner: str, field: str, value: Any, why: str) -> ValidationError:
    """The error for ``field`` of ``owner`` (e.g. ``"MultiModelEndpoint Hosting/Mme"``) holding ``value``."""
    return ValidationError(f"{owner}: {field} {value!r} {why}")


def check_name(owner: str, field: str, value: str, *, lowercase: bool = False) -> None:
    """A SageMaker resource name: 1-63 characters, ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``."""
    if is_token(value):
        return
    if not naming.is_sagemaker_name(value):
        raise fail(owner, field, value, f"must be 1-{MAX_NAME} letters, digits and inner hyphens ({len(value)} given)")
    if lowercase and value != value.lower():
        # Endpoint ARNs carry the lowercased name: IAM policies built from a mixed-case name deny access.
        raise fail(owner, field, value, "must be lowercase (SageMaker lowercases endpoint names in ARNs)")


def check_instance_type(owner: str, field: str, value: str) -> None:
    """An instance type real-time endpoints offer: botocore's ``ProductionVariantInstanceType`` enum."""
    if is_token(value) or value in service_model.endpoint_instance_types():
        return
    nearest = service_model.nearest_instance_types(value)
    hint = f"; did you mean {' or '.join(nearest)}?" if nearest else " (e.g. ml.m5.xlarge)"
    raise fail(owner, field, value, f"is not a SageMaker endpoint instance type{hint}")


def is_gpu_instance_type(instance_type: str) -> bool:
    """True for NVIDIA GPU families (``ml.p*``, ``ml.g*``)."""
    return bool(_GPU_FAMILY.match(instance_type))


def check_range(owner: str, field: str, value: float | None, low: float, high: float | None = None) -> None:
    """``low <= value`` (``<= high`` when given); ``None`` means unset and passes."""
    if value is None or is_token(value):
        return
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise fail(owner, field, value, f"must be {bound}")


def check_finite(owner: str, field: str, value: float | None) -> None:
    """A real, finite number (``None`` means unset and passes).

    Call it before any other check: ``check_range`` lets NaN through, and NaN or infinity sent to jsii (even by
    ``is_token``) kills the CDK's kernel process. Tokens are finite numbers and pass.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(owner, field, value, "must be a finite number")


def check_count(owner: str, field: str, value: int | None, low: int) -> None:
    """A whole number of at least ``low`` (``None`` means unset and passes), e.g. an instance count."""
    check_finite(owner, field, value)
    if value is not None and not is_token(value) and value != int(value):
        raise fail(owner, field, value, "must be a whole number")
    check_range(owner, field, value, low)


def whole_seconds(owner: str, field: str, value: cdk.Duration) -> int:
    """``value`` as whole seconds: AWS takes integer seconds, and jsii would fail on a fraction, far from here.

    An unresolved duration comes back as its token (a number only known at deploy time).
    """
    seconds = value.to_seconds(integral=False)
    if is_token(seconds):
        return cast(int, seconds)
    # jsii hands an infinite duration back as None.
    if seconds is None or not math.isfinite(seconds) or seconds != int(seconds):
        raise fail(owner, field, value.to_human_string(), "must be a whole number of seconds")
    return int(seconds)


def check_timeout(owner: str, field: str, value: cdk.Duration | None) -> int | None:
    """A SageMaker timeout of 60-3600 seconds, as whole seconds (``None`` when unset)."""
    if value is None:
        return None
    seconds = whole_seconds(owner, field, value)
    check_range(owner, field, seconds, MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS)
    return seconds


def check_environment(owner: str, environments: Sequence[tuple[str, Mapping[str, str]]]) -> None:
    """Container environments: per container at most 100 entries and valid keys; 32 KB across all containers.

    ``environments`` pairs a label for each container (``"container 'tf'"``) with its environment.
    """
    total = 0
    for label, environment in environments:
        if len(environment) > MAX_ENVIRONMENT_ENTRIES:
            raise fail(owner, f"environment of {label}", f"{len(environment)} entries", "exceeds 100 entries")
        for key, value in environment.items():
            if is_token(key):
                continue
            if not ENVIRONMENT_KEY.match(key) or len(key) > MAX_ENVIRONMENT_KEY_OR_VALUE:
                raise fail(owner, f"environment key of {label}", key, "must match [a-zA-Z_][a-zA-Z0-9_]{0,1023}")
            if not is_token(value) and len(value) > MAX_ENVIRONMENT_KEY_OR_VALUE:
                raise fail(owner, f"environment value of {label} for {key}", f"{len(value)} characters", "exceeds 1024")
            total += len(key.encode()) + (0 if is_token(value) else len(str(value).encode()))
    if total > MAX_ENVIRONMENT_BYTES:
        raise fail(owner, "environment", f"{total} bytes", "exceeds 32 KB across all containers")


def check_target_pattern(owner: str, field: str, pattern: str) -> None:
    """An IAM StringLike pattern over TargetModel or TargetContainerHostname values."""
    if is_token(pattern):
        return
    if not pattern or len(pattern) > MAX_TARGET_MODEL or pattern[0].isspace() or not pattern.isprintable():
        raise fail(owner, field, pattern, "must be 1-1024 printable characters, not starting with whitespace")


def vcpus(instance_type: str) -> int | None:
    """vCPUs of an instance type by its size (EC2's rule: large 2, xlarge 4, Nxlarge 4N); None if unknown.

    Used to turn a CPU threshold given as a percent of the whole instance into CPUUtilization's scale,
    which is 0-100 per vCPU.
    """
    if is_token(instance_type):
        return None
    size = instance_type.rsplit(".", 1)[-1]
    if size in ("medium", "large"):
        return 2
    if size == "xlarge":
        return 4
    if size.endswith("xlarge") and size[: -len("xlarge")].isdigit():
        return 4 * int(size[: -len("xlarge")])
    return None
