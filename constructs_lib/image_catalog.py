"""Look up SageMaker's prebuilt images (Deep Learning Containers, first-party algorithms) in AWS's own image tables.

The tables are the SageMaker Python SDK's ``image_uri_config/<framework>.json``, which the ``sagemaker-core``
wheel ships as package data at ``sagemaker/core/image_uri_config/`` (pinned in requirements.txt). They are read
as plain JSON files at synth, offline: importing ``sagemaker.core`` takes seconds and loads the whole SDK
(processing jobs, JumpStart, telemetry), none of which this lookup needs. The URI is built as the SDK's
``sagemaker/core/image_uris.py`` ``retrieve()`` builds it (sagemaker-core 2.27.0), minus what depends on an
instance type; with the same inputs it yields the same URI for every table entry the SDK resolves.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from aws_cdk import region_info

from constructs_lib.errors import ValidationError

_DISTRIBUTION = "sagemaker-core"
_TABLES = "sagemaker/core/image_uri_config"
# image_uris.py keeps these outside the tables: Graviton tags of the first-party XGBoost and scikit-learn
# images (``_get_image_tag``'s version_to_arm64_tag_mapping), and Triton's GPU tag, which has no "-gpu".
_ARM64_TAGS = {"xgboost": {"1.5-1": "1.5-1-arm64", "1.3-1": "1.3-1-arm64"}, "sklearn": {"1.0-1": "1.0-1-arm64-cpu-py3"}}
_TRITON = "sagemaker-tritonserver"
_HUGGING_FACE = ("huggingface", "huggingface-training-compiler")


@dataclass(frozen=True, eq=False)
class CatalogImage:
    """One image of the tables: its repository and tag, and the registry account that serves it in each region."""

    framework: str
    """The table's name, e.g. ``tensorflow``, ``xgboost``, ``sklearn``."""
    repository: str
    """The ECR repository, e.g. ``tensorflow-inference``, ``sagemaker-xgboost``."""
    tag: str
    """The image tag, e.g. ``2.20.0-cpu-py312``, ``1.7-1``, ``1.2-1-cpu-py3``."""
    registries: Mapping[str, str]
    """Region -> AWS account of the registry that holds the image there."""
    label: str
    """What was asked for, for messages: ``tensorflow inference 2.20.0``."""

    def account(self, region: str) -> str:
        """The registry account in ``region``; a region the table does not list fails, naming the nearest ones."""
        if region not in self.registries:
            raise ValidationError(
                f"{self.label}: no image in region {region!r} {_source(self.framework)}; "
                f"nearest: {_close(region, self.registries)}"
            )
        return self.registries[region]

    def uri(self, region: str) -> str:
        """``<account>.dkr.ecr.<region>.<domain suffix>/<repository>:<tag>``, the suffix from the CDK's region facts."""
        account = self.account(region)
        suffix = region_info.RegionInfo.get(region).domain_suffix
        if suffix is None:
            raise ValidationError(f"{self.label}: the CDK's region facts do not know region {region!r}")
        return f"{account}.dkr.ecr.{region}.{suffix}/{self.repository}" + (f":{self.tag}" if self.tag else "")


def image_uri(
    framework: str,
    version: str,
    *,
    region: str,
    image_scope: str = "inference",
    processor: str = "cpu",
    py_version: str | None = None,
) -> str:
    """The image URI of ``framework`` ``version`` in ``region``, e.g. ``image_uri("xgboost", "1.7-1", region=...)``."""
    return find(framework, version, image_scope=image_scope, processor=processor, py_version=py_version).uri(region)


def find(
    framework: str,
    version: str,
    *,
    image_scope: str = "inference",
    processor: str = "cpu",
    py_version: str | None = None,
) -> CatalogImage:
    """The image of ``framework`` ``version`` for ``image_scope``, ``processor`` and ``py_version``, in any region.

    ``version`` may be one of the table's aliases (``2.20`` for ``2.20.0``); as in the SDK, the tag then carries
    the alias. ``processor`` is ignored for images that have one build for all (XGBoost). ``py_version`` may be
    left out when the version has one; it is refused for images whose tag has none (e.g. TensorFlow Serving
    2.19.0), where the SDK would drop it silently. Every bad value fails with one line naming the nearest.
    """
    if framework in _HUGGING_FACE:  # image_uris.py builds their tags from a base framework version: not mirrored
        raise ValidationError(
            f"{framework}: tags carry a PyTorch or TensorFlow version, not supported here; give repository and tag"
        )
    scope = _scope(framework, image_scope)
    versions: dict[str, Any] = scope["versions"]
    aliases: dict[str, str] = scope.get("version_aliases", {})
    entry = versions.get(aliases.get(version, version))
    if entry is None:
        raise ValidationError(
            f"{framework} {image_scope}: version {version!r} is not {_source(framework)}; "
            f"nearest: {_nearest_versions(version, [*versions, *aliases])}"
        )
    label = f"{framework} {image_scope} {version}"
    entry, py_version = _with_py_version(entry, py_version, label, framework)
    if "sdk_versions" in entry:
        raise ValidationError(f"{label}: Neuron images need an SDK version, which this lookup does not support")
    processors: list[str] | None = scope.get("processors") or entry.get("processors")
    if processors and processor not in processors:
        raise ValidationError(
            f"{label}: processor {processor!r} is not {_source(framework)}; known: {', '.join(processors)}"
        )
    return CatalogImage(
        framework=framework,
        repository=entry["repository"],
        tag=_tag(framework, version, image_scope, entry, processor if processors else None, py_version, label),
        registries=entry["registries"],
        label=label,
    )


def _with_py_version(
    entry: dict[str, Any], py_version: str | None, label: str, framework: str
) -> tuple[dict[str, Any], str | None]:
    """The version's entry and Python version (image_uris.py ``_validate_py_version_and_set_if_needed``)."""
    if "repository" not in entry:  # older tables (mxnet.json) key a version's images by Python version
        keys = [key for key in entry if key.startswith("py")]
        if not keys:
            raise ValidationError(f"{label}: {framework}.json keys its images by base framework, not supported here")
        chosen = cast(str, _py_version(keys, py_version, label, framework))
        return entry[chosen], chosen
    if framework == "spark" and py_version is None:  # image_uris.py: Spark images may leave it out
        return entry, None
    return entry, _py_version(entry.get("py_versions", []), py_version, label, framework)


def _tag(
    framework: str,
    version: str,
    image_scope: str,
    entry: dict[str, Any],
    processor: str | None,
    py_version: str | None,
    label: str,
) -> str:
    """The image tag as image_uris.py ``retrieve`` and ``_get_image_tag`` build it."""
    if framework in _ARM64_TAGS and image_scope == "inference_graviton":
        if version not in _ARM64_TAGS[framework]:
            raise ValidationError(f"{label}: no Graviton tag; known: {', '.join(_ARM64_TAGS[framework])}")
        return _ARM64_TAGS[framework][version]
    container_version: str | None = entry.get("container_version", {}).get(processor) if processor else None
    if entry["repository"] in (f"{framework}-inference-graviton", f"{framework}-inference-arm64"):
        container_version = f"{container_version}-sagemaker"
    if not entry.get("processor_in_tag", True):  # e.g. "<version>-cu133-amzn2023-sagemaker": no "gpu" in the tag
        processor = None
    prefix: str = entry.get("tag_prefix", version)
    tag = "-".join(part for part in (prefix, processor, py_version, container_version) if part)
    return tag.removesuffix("-gpu") if framework == _TRITON else tag  # Triton's GPU tags have no "-gpu"


@functools.cache
def frameworks() -> frozenset[str]:
    """The names of the image tables, e.g. ``tensorflow``, ``xgboost``, ``sklearn``, ``sagemaker-tritonserver``."""
    return frozenset(path.stem for path in sdk_tables()[0].glob("*.json"))


def table_version() -> str:
    """The version of the ``sagemaker-core`` distribution whose tables are read (for messages and comments)."""
    return sdk_tables()[1]


def _scope(framework: str, image_scope: str) -> dict[str, Any]:
    """The part of ``framework``'s table for ``image_scope`` (the SDK's ``_config_for_framework_and_scope``)."""
    table = _table(framework)
    if "versions" in table:  # one set of images for the scopes the table lists
        scopes: list[str] = table.get("scope", [image_scope])
        if image_scope in scopes:
            return table
    else:
        scopes = [name for name, part in table.items() if isinstance(part, dict) and "versions" in part]
        if image_scope in scopes:
            return cast(dict[str, Any], table[image_scope])
    raise ValidationError(
        f"{framework}: image scope {image_scope!r} is not {_source(framework)}; known: {', '.join(scopes) or 'none'}"
    )


def _py_version(known: list[str], py_version: str | None, label: str, framework: str) -> str | None:
    """``py_version`` checked against the version's list; the only one when left out."""
    if not known:
        if py_version is not None:
            raise ValidationError(
                f"{label}: the image tag has no Python version {_source(framework)}; drop py_version={py_version!r}"
            )
        return None
    if py_version is None and len(known) == 1:
        return known[0]
    if py_version is None:
        raise ValidationError(f"{label}: give py_version, one of {', '.join(known)} {_source(framework)}")
    if py_version not in known:
        raise ValidationError(
            f"{label}: py_version {py_version!r} is not {_source(framework)}; known: {', '.join(known)}"
        )
    return py_version


@functools.cache
def sdk_tables() -> tuple[Path, str]:
    """The SageMaker Python SDK's data folder (image tables, instance GPU counts) and ``sagemaker-core``'s
    version, found without importing ``sagemaker.core``."""
    try:
        distribution = metadata.distribution(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ValidationError(
            f"image tables: {_DISTRIBUTION} is not installed (pip install -r requirements.txt)"
        ) from None
    folder = Path(str(distribution.locate_file(_TABLES)))
    if not folder.is_dir():
        raise ValidationError(f"image tables: {_DISTRIBUTION} {distribution.version} has no {_TABLES}/")
    return folder, distribution.version


@functools.cache
def _table(framework: str) -> dict[str, Any]:
    if framework not in frameworks():
        raise ValidationError(
            f"framework {framework!r} has no table in {_DISTRIBUTION} {table_version()} ({_TABLES}); "
            f"nearest: {_close(framework, frameworks())}"
        )
    return cast(dict[str, Any], json.loads((sdk_tables()[0] / f"{framework}.json").read_text()))


def _source(framework: str) -> str:
    return f"in {_TABLES}/{framework}.json of {_DISTRIBUTION} {table_version()}"


def _close(value: str, options: Iterable[str]) -> str:
    """Up to five options most like ``value`` (difflib), or the first five when none is alike."""
    ordered = sorted(options)
    return ", ".join(difflib.get_close_matches(value, ordered, n=5, cutoff=0.6) or ordered[:5])


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    return tuple(int(number) for number in re.findall(r"\d+", version)), version


def _nearest_versions(version: str, known: Iterable[str]) -> str:
    """The known versions just below and above ``version`` in version order (aliases included)."""
    ordered = sorted(set(known), key=_version_key)
    at = bisect.bisect(ordered, _version_key(version), key=_version_key)
    return ", ".join(ordered[max(0, at - 3) : at + 3])
