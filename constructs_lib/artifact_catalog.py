"""ArtifactCatalog: what every endpoint of a stage loads from the artifact bucket, published before any endpoint.

SageMaker's CreateModel checks that each ``ModelDataUrl`` archive exists and that the execution role can read
it (SageMaker API Reference, ``ContainerDefinition.ModelDataUrl``: "The S3 path where the model artifacts ...
are stored"; the role "must have permissions to access the S3 location"). So archives must be uploaded, and
checked by the artifact guard, before the endpoints' stack is deployed. The catalog is known at synth; it is
published from the stack that exists first (the bucket's), one SSM parameter per endpoint, so that
``modelctl upload`` and ``list`` work before any endpoint exists.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from hosting_contract import naming
from hosting_contract.archive_rules import ARCHIVE_SUFFIX, Layout
from hosting_contract.catalog_kinds import INFERENCE_COMPONENTS, KINDS, MULTI_MODEL
from hosting_contract.served_prefix import SERVED_ROOT, ServedPrefix


@dataclass(frozen=True, kw_only=True)
class ContainerArchive:
    """The one archive a container of a multi-container endpoint, or an inference component, loads."""

    hostname: str
    """The container's ``ContainerHostname``; for an inference component, its configured (short) name, e.g.
    ``churn`` for the component deployed as ``prod-tabular-churn``."""

    key: str
    """The archive's full key, e.g. ``models/prod-mnist/tensorflow-mnist/model.tar.gz`` (a component's:
    ``models/<endpoint>/<component>/model.tar.gz``)."""

    layout: str = Layout.FLAT.value
    """The layout its serving container expects."""

    @property
    def folder(self) -> str:
        """The key's folder (ending with ``/``): new versions of this container's archive go there."""
        return posixpath.dirname(self.key) + "/"


@dataclass(frozen=True, kw_only=True)
class EndpointArtifacts:
    """Where one endpoint's archives live and how they must be laid out."""

    endpoint_name: str
    """The deployed endpoint name."""

    prefix: str
    """The endpoint's prefix, e.g. ``models/prod-home-values/``."""

    kind: str = MULTI_MODEL
    """``multi-model``, ``multi-container`` or ``inference-components``."""

    layout: str = Layout.FLAT.value
    """Multi-model: the layout of every archive under the prefix."""

    warm_up: bool = False
    """Multi-model: the guard invokes each new valid model once."""

    containers: tuple[ContainerArchive, ...] = ()
    """Multi-container: the archive of each container that has one. Inference components: of each component that
    has one."""

    def __post_init__(self) -> None:
        owner = f"EndpointArtifacts {self.endpoint_name}"
        layouts = [layout.value for layout in Layout]
        if not self.prefix.startswith(SERVED_ROOT) or not self.prefix.endswith("/"):
            raise limits.fail(owner, "prefix", self.prefix, f"must be under {SERVED_ROOT!r} and end with '/'")
        if self.kind not in KINDS:
            raise limits.fail(owner, "kind", self.kind, f"must be one of {', '.join(KINDS)}")
        if self.kind == MULTI_MODEL and self.containers:
            # The guard would watch the prefix alone, and modelctl would never offer the containers' archives.
            raise limits.fail(
                owner, "containers", [c.hostname for c in self.containers], f"do not apply to a {MULTI_MODEL} endpoint"
            )
        if self.warm_up and self.kind != MULTI_MODEL:
            # A warm-up invokes the new archive as a TargetModel, which only a multi-model endpoint has.
            raise limits.fail(owner, "warm_up", self.warm_up, f"applies to a {MULTI_MODEL} endpoint only")
        member, placeholder = (
            ("component", "<component>") if self.kind == INFERENCE_COMPONENTS else ("container", "<hostname>")
        )
        names: set[str] = set()
        for container in self.containers:
            if container.hostname in names:
                raise limits.fail(owner, member, container.hostname, "is listed twice")
            names.add(container.hostname)
            if self.kind == INFERENCE_COMPONENTS:
                # modelctl and the smoke test call it by its deployed name, an InferenceComponentName (botocore:
                # 1-63 characters, '^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$').
                limits.check_name(owner, "component", naming.component_name(self.endpoint_name, container.hostname))
        for layout in [self.layout] + [c.layout for c in self.containers]:
            if layout not in layouts:
                raise limits.fail(owner, "layout", layout, f"must be one of {', '.join(layouts)}")
        folders: dict[str, str] = {}
        for container in self.containers:
            relative = container.key[len(self.prefix) :] if container.key.startswith(self.prefix) else container.key
            segments = relative.split("/")
            # A key is an S3 key, not a path: '..' and '.' stay literal, and an empty segment is a double '/'.
            if container.key.startswith("/") or any(part in ("", ".", "..") for part in segments):
                raise limits.fail(
                    owner,
                    f"archive of {member} {container.hostname!r}",
                    relative,
                    "must be a relative key of non-empty segments without '.' or '..' (e.g. 'tf/model.tar.gz')",
                )
            if not container.key.startswith(self.prefix) or not container.key.endswith(ARCHIVE_SUFFIX):
                raise limits.fail(
                    owner,
                    f"archive of {member} {container.hostname!r}",
                    container.key,
                    f"must be a {ARCHIVE_SUFFIX} under {self.prefix!r}",
                )
            # The guard knows a container's layout by the folder its archive sits in: one container a folder.
            if container.folder == self.prefix:
                raise limits.fail(
                    owner,
                    f"archive of {member} {container.hostname!r}",
                    container.key[len(self.prefix) :],
                    f"must sit in a folder of its own, e.g. '{placeholder}/model.tar.gz'",
                )
            other = folders.setdefault(container.folder, container.hostname)
            if other != container.hostname:
                raise limits.fail(
                    owner,
                    f"archive of {member} {container.hostname!r}",
                    container.key[len(self.prefix) :],
                    f"shares its folder with {member} {other!r}; give each {member} a folder of its own",
                )

    def guarded_prefixes(self) -> list[ServedPrefix]:
        """What the artifact guard watches for this endpoint: the prefix, or each container's (component's) folder,
        whose archive the guard judges alone, never warming it up (a warm-up names a TargetModel)."""
        if self.kind == MULTI_MODEL:
            return [
                ServedPrefix(
                    prefix=self.prefix, endpoint_name=self.endpoint_name, layout=self.layout, warm_up=self.warm_up
                )
            ]
        return [
            ServedPrefix(prefix=c.folder, endpoint_name=self.endpoint_name, layout=c.layout) for c in self.containers
        ]

    def to_json(self) -> str:
        """The SSM parameter's value, read by ``modelctl`` (``modelctl.aws.Target``)."""
        document: dict[str, object] = {"endpoint": self.endpoint_name, "kind": self.kind, "prefix": self.prefix}
        if self.kind == MULTI_MODEL:
            document["layout"] = self.layout
        else:
            document["containers"] = {c.hostname: {"key": c.key, "layout": c.layout} for c in self.containers}
        return json.dumps(document, sort_keys=True, separators=(",", ":"))


class ArtifactCatalog(Construct):
    """One SSM parameter per endpoint, ``<parameter_path>/<endpoint name>``, holding its ``EndpointArtifacts``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, parameter_path: str, endpoints: Sequence[EndpointArtifacts]
    ) -> None:
        """Publish ``endpoints`` under ``parameter_path`` (no trailing slash)."""
        super().__init__(scope, construct_id)
        if not parameter_path.startswith("/") or parameter_path.endswith("/"):
            raise limits.fail(
                f"ArtifactCatalog {self.node.path}", "parameter_path", parameter_path, "must start, not end, with '/'"
            )
        self.parameter_path = parameter_path
        """Where the parameters are."""
        self.endpoints = tuple(endpoints)
        """What is published."""
        seen: set[str] = set()
        for endpoint in self.endpoints:
            if endpoint.endpoint_name in seen:
                raise limits.fail(
                    f"ArtifactCatalog {self.node.path}", "endpoint", endpoint.endpoint_name, "is listed twice"
                )
            seen.add(endpoint.endpoint_name)
            ssm.StringParameter(
                self,
                endpoint.endpoint_name,
                parameter_name=f"{parameter_path}/{endpoint.endpoint_name}",
                string_value=endpoint.to_json(),
                description=f"Model archives of endpoint {endpoint.endpoint_name}: prefix, layout, containers",
            )

    def guarded_prefixes(self) -> list[ServedPrefix]:
        """Every prefix the artifact guard must watch."""
        return [prefix for endpoint in self.endpoints for prefix in endpoint.guarded_prefixes()]
