"""ServingImage: the container image a SageMaker model runs, and the right to pull it."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import region_info
from constructs import Construct

from constructs_lib import image_catalog, service_model
from constructs_lib.errors import ValidationError

_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::(?P<tag>[\w][\w.-]{0,127})|@(?P<digest>sha256:[a-f0-9]{64}))\Z"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}\Z")
_TRITON = "tritonserver"
# AWS repository name -> the SageMaker Python SDK image table (image_uri_config/<name>.json) it belongs to, for
# the repositories whose name does not start with it; DLCs are "<framework>-[<base>-]inference|training[-<variant>]".
_REPOSITORY_FRAMEWORKS = {
    "sagemaker-xgboost": "xgboost",
    "sagemaker-scikit-learn": "sklearn",
    "sagemaker-tritonserver": "sagemaker-tritonserver",
}
_DLC_REPOSITORY = re.compile(r"^(?P<framework>[a-z0-9]+)-(?:[a-z0-9-]+-)?(?:inference|training)(?:-[a-z0-9-]+)?\Z")


class ServingImage(ABC):
    """A serving image for a SageMaker model container.

    Build one with ``from_framework`` (an AWS Deep Learning Container or SageMaker first-party image, looked
    up in the SageMaker Python SDK's image tables by framework, version and the stack's region),
    ``from_ecr_repository`` (an image in your ECR repository), ``from_deep_learning_container`` (an AWS Deep
    Learning Container by repository and tag, registry account from the CDK's region facts), ``from_registry``
    (any ECR image URI) or ``from_asset`` (a local Dockerfile, built and pushed at deploy time). ``bind`` renders
    the URI and grants pull on that image's repository only.
    """

    def __init__(self, *, triton: bool, framework: str | None = None) -> None:
        self._triton = triton
        self._framework = framework

    @property
    def is_triton(self) -> bool:
        """True for NVIDIA Triton Inference Server images, the only ones SageMaker runs as GPU multi-model."""
        return self._triton

    @property
    def framework(self) -> str | None:
        """The framework the image serves, as the SDK's image tables name it (``tensorflow``, ``pytorch``,
        ``xgboost``, ``sklearn``, ``sagemaker-tritonserver``...), or None for an image of another kind.

        What the archive layout follows: a TensorFlow Serving image loads the ``tensorflow`` layout.
        """
        return self._framework

    @abstractmethod
    def bind(self, scope: Construct, grantee: iam.IGrantable) -> str:
        """Grant ``grantee`` the right to pull this image and return its URI, rendered in ``scope``'s stack."""

    @staticmethod
    def from_framework(
        framework: str,
        version: str,
        *,
        image_scope: str = "inference",
        processor: str = "cpu",
        py_version: str | None = None,
    ) -> ServingImage:
        """An AWS image by ``framework`` (an image table's name), ``version``, ``processor`` and ``py_version``.

        E.g. ``("tensorflow", "2.20.0")``, ``("pytorch", "2.6.0", processor="gpu")``, ``("xgboost", "1.7-1")``,
        ``("sklearn", "1.2-1")``. Looked up in the SageMaker Python SDK's ``image_uri_config/<framework>.json``
        (``constructs_lib.image_catalog``): a framework, version, scope, processor or Python version the table
        does not have fails here; the account is the table's for the stack's region, which must be concrete.
        """
        try:
            image = image_catalog.find(
                framework, version, image_scope=image_scope, processor=processor, py_version=py_version
            )
        except ValidationError as error:
            raise ValidationError(f"ServingImage.from_framework: {error}") from None
        return _CatalogImage(image, triton=_TRITON in image.repository, framework=framework)

    @staticmethod
    def from_ecr_repository(
        repository: ecr.IRepository, *, tag: str | None = None, digest: str | None = None, triton: bool = False
    ) -> ServingImage:
        """An image in ``repository`` by ``tag`` or ``digest`` (exactly one)."""
        if (tag is None) == (digest is None):
            raise ValidationError(
                f"ServingImage.from_ecr_repository: give exactly one of tag or digest, got {tag=!r} {digest=!r}"
            )
        if tag is not None and not cdk.Token.is_unresolved(tag) and not _TAG.match(tag):
            raise ValidationError(f"ServingImage.from_ecr_repository: tag {tag!r} is not a valid image tag")
        if digest is not None and not cdk.Token.is_unresolved(digest) and not _DIGEST.match(digest):
            raise ValidationError(f"ServingImage.from_ecr_repository: digest {digest!r} must be sha256:<64 hex>")
        return _RepositoryImage(repository, tag or digest or "", triton=triton)

    @staticmethod
    def from_deep_learning_container(repository_name: str, tag: str) -> ServingImage:
        """An AWS Deep Learning Container, e.g. ``("pytorch-inference", "2.3.0-cpu-py311")``.

        The registry account comes from ``aws_cdk.region_info`` (``FactName.DLC_REPOSITORY_ACCOUNT``): a
        literal in region-specific stacks, a CloudFormation mapping in environment-agnostic ones.
        """
        if not re.match(r"^[a-z0-9][a-z0-9._/-]*$", repository_name):
            raise ValidationError(
                f"ServingImage.from_deep_learning_container: repository {repository_name!r} is not valid"
            )
        if not _TAG.match(tag):
            raise ValidationError(f"ServingImage.from_deep_learning_container: tag {tag!r} is not a valid image tag")
        return _DeepLearningContainerImage(
            repository_name, tag, triton=_TRITON in repository_name, framework=_framework_of(repository_name)
        )

    @staticmethod
    def from_registry(image_uri: str, *, triton: bool | None = None) -> ServingImage:
        """Any ECR image by full URI (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` or ``@sha256:``).

        SageMaker pulls only from the model's own region: a URI in another region is refused when the stack's
        region is known.
        """
        match = _ECR_URI.match(image_uri)
        # CreateModel's ContainerDefinition.Image: at most 255 characters (botocore: ContainerImage).
        if len(image_uri) > service_model.max_length("ContainerImage"):
            raise ValidationError(
                f"ServingImage.from_registry: image_uri {image_uri[:60]!r}... is {len(image_uri)} characters; "
                f"SageMaker accepts {service_model.max_length('ContainerImage')}"
            )
        if not match:
            raise ValidationError(
                f"ServingImage.from_registry: image_uri {image_uri!r} is not an ECR image URI "
                "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or @sha256:<digest>)"
            )
        detected = _TRITON in match["repository"]
        return _RegistryImage(
            image_uri,
            match,
            triton=detected if triton is None else triton,
            framework=_framework_of(match["repository"]),
        )

    @staticmethod
    def from_asset(directory: str | Path, *, triton: bool = False, **asset_props: Any) -> ServingImage:
        """A local directory with a Dockerfile, built as a CDK image asset (fingerprinted at synth, built at deploy).

        ``asset_props`` go to ``DockerImageAsset`` (e.g. ``build_args``, ``platform``).
        """
        path = Path(directory)
        if not (path / "Dockerfile").is_file():
            raise ValidationError(f"ServingImage.from_asset: {str(path)!r} has no Dockerfile")
        return _AssetImage(path, asset_props, triton=triton)


class _RepositoryImage(ServingImage):
    def __init__(self, repository: ecr.IRepository, tag_or_digest: str, *, triton: bool) -> None:
        super().__init__(triton=triton)
        self._repository = repository
        self._tag_or_digest = tag_or_digest

    def bind(self, scope: Construct, grantee: iam.IGrantable) -> str:  # noqa: ARG002  (same signature for all)
        self._repository.grant_pull(grantee)
        return self._repository.repository_uri_for_tag_or_digest(self._tag_or_digest)


class _CatalogImage(ServingImage):
    def __init__(self, image: image_catalog.CatalogImage, *, triton: bool, framework: str) -> None:
        super().__init__(triton=triton, framework=framework)
        self._image = image

    def bind(self, scope: Construct, grantee: iam.IGrantable) -> str:
        region = cdk.Stack.of(scope).region
        if cdk.Token.is_unresolved(region):
            raise ValidationError(
                f"ServingImage.from_framework: {self._image.label}: the stack's region is unresolved; give the "
                "stack an env with a concrete region, the image tables are per region"
            )
        try:
            uri = self._image.uri(region)  # a region the table does not list fails, naming the nearest ones
        except ValidationError as error:
            raise ValidationError(f"ServingImage.from_framework: {error}") from None
        repository = _foreign_repository(scope, self._image.account(region), region, self._image.repository)
        repository.grant_pull(grantee)
        return uri


class _DeepLearningContainerImage(ServingImage):
    def __init__(self, repository_name: str, tag: str, *, triton: bool, framework: str | None) -> None:
        super().__init__(triton=triton, framework=framework)
        self._repository_name = repository_name
        self._tag = tag

    def bind(self, scope: Construct, grantee: iam.IGrantable) -> str:
        stack = cdk.Stack.of(scope)
        # aws-cdk-lib's region facts name the Deep Learning Container registry of most regions, not all: a
        # missing fact is a configuration error naming region and feature, not a RegionFactNotFound later.
        if not cdk.Token.is_unresolved(stack.region) and not region_info.Fact.find(
            stack.region, region_info.FactName.DLC_REPOSITORY_ACCOUNT
        ):
            raise ValidationError(
                f"ServingImage.from_deep_learning_container {self._repository_name}:{self._tag}: region "
                f"{stack.region!r} has no known Deep Learning Container registry (aws-cdk-lib region facts); use "
                "ServingImage.from_framework or from_registry with the image's URI"
            )
        account = stack.regional_fact(region_info.FactName.DLC_REPOSITORY_ACCOUNT)
        repository = _foreign_repository(scope, account, stack.region, self._repository_name)
        repository.grant_pull(grantee)
        return repository.repository_uri_for_tag(self._tag)


class _RegistryImage(ServingImage):
    def __init__(self, image_uri: str, match: re.Match[str], *, triton: bool, framework: str | None) -> None:
        super().__init__(triton=triton, framework=framework)
        self._image_uri = image_uri
        self._match = match

    def bind(self, scope: Construct, grantee: iam.IGrantable) -> str:
        region = cdk.Stack.of(scope).region
        if not cdk.Token.is_unresolved(region) and region != self._match["region"]:
            raise ValidationError(
                f"ServingImage {self._image_uri!r}: image region {self._match['region']!r} differs from the "
                f"stack's region {region!r}; SageMaker pulls images only from the model's region"
            )
        repository = _foreign_repository(
            scope, self._match["account"], self._match["region"], self._match["repository"]
        )
        repository.grant_pull(grantee)
        return self._image_uri


class _AssetImage(ServingImage):
    def __init__(self, directory: Path, asset_props: dict[str, Any], *, triton: bool) -> None:
        super().__init__(triton=triton)
        self._directory = directory
        self._asset_props = asset_props

    def bind(self, scope: Construct, grantee: iam.IGrantable) -> str:
        asset = ecr_assets.DockerImageAsset(scope, "ImageAsset", directory=str(self._directory), **self._asset_props)
        asset.repository.grant_pull(grantee)
        return asset.image_uri


def _framework_of(repository: str) -> str | None:
    """The image table an AWS repository's images come from: ``tensorflow-inference`` -> ``tensorflow``."""
    if repository in _REPOSITORY_FRAMEWORKS:
        return _REPOSITORY_FRAMEWORKS[repository]
    match = _DLC_REPOSITORY.match(repository)
    return match["framework"] if match and match["framework"] in image_catalog.frameworks() else None


def _foreign_repository(scope: Construct, account: str, region: str, name: str) -> ecr.IRepository:
    """A repository in another account (AWS's image registries), imported once per binding scope."""
    stack = cdk.Stack.of(scope)
    arn = stack.format_arn(service="ecr", account=account, region=region, resource="repository", resource_name=name)
    # A digest of the name, not hash(): construct ids must be the same in every synth.
    construct_id = "ImageRepository" + hashlib.sha256(name.encode()).hexdigest()[:8]
    existing = scope.node.try_find_child(construct_id)
    if existing is not None:
        return existing  # type: ignore[return-value]
    return ecr.Repository.from_repository_attributes(scope, construct_id, repository_arn=arn, repository_name=name)
