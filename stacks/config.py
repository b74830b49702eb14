"""The configuration schema: one typed, validated ``EnvironmentConfig`` per environment.

The environments themselves are in ``stacks/environments.py``. Every error names the environment, the
endpoint where there is one, the field and the bad value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from aws_cdk import aws_logs as logs
from aws_cdk import region_info

from constructs_lib import service_model
from constructs_lib.alarm_factory import AlarmThresholds
from constructs_lib.alarm_topic import is_email_address
from constructs_lib.artifact_catalog import ContainerArchive, EndpointArtifacts
from constructs_lib.artifact_guard import validate_guard_limits
from constructs_lib.component_scaling import ComponentScalingPlan
from constructs_lib.data_capture import DEFAULT_SAMPLING_PERCENT
from constructs_lib.deployment_policy import BlueGreenDeployment
from constructs_lib.endpoint_scaling import ScalingPlan, ScheduledCapacity
from constructs_lib.errors import ValidationError
from constructs_lib.inference_component import ComponentRollingUpdate, ComputeRequirements
from constructs_lib.inference_component_endpoint import ManagedInstanceScaling, RoutingStrategy
from constructs_lib.multi_container_endpoint import InferenceMode
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.smoke_test import SmokeInvocation
from hosting_contract import naming, ssm_paths
from hosting_contract.archive_rules import Layout
from hosting_contract.catalog_kinds import INFERENCE_COMPONENTS, MULTI_CONTAINER
from hosting_contract.guard_limits import GuardLimits
from hosting_contract.served_prefix import endpoint_prefix
from stacks.config_types import check_fields

_ACCOUNT = re.compile(r"^\d{12}\Z")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}\Z")
#: Enough for thousands of endpoints; each stack costs a key and two functions.
_MAX_HOSTING_STACKS = 64
_MAX_BUCKET_NAME = 63
#: Image tables of SageMaker's built-in algorithm containers that need no network to serve.
_FIRST_PARTY = frozenset({"xgboost", "sklearn"})
_KNOWN_REGIONS = frozenset(region.name for region in region_info.RegionInfo.regions)


class ConfigError(ValidationError):
    """A configuration value is wrong; the message says where and why."""


@dataclass(frozen=True, kw_only=True)
class FrameworkImage:
    """An AWS image by framework and version, looked up in the SageMaker Python SDK's image tables at synth."""

    framework: str
    """The table's name: ``tensorflow``, ``pytorch``, ``xgboost``, ``sklearn``, ``sagemaker-tritonserver``, ..."""

    version: str
    """A version the table has for inference, e.g. ``2.20.0`` or ``1.7-1``."""

    processor: str = "cpu"
    """``cpu`` or ``gpu`` (where the table has it)."""

    py_version: str | None = None
    """The Python version of the tag, where the table's entry has one (``py312``)."""


@dataclass(frozen=True, kw_only=True)
class ImageConfig:
    """Where a serving image comes from: exactly one of the four fields."""

    framework: FrameworkImage | None = None
    """An AWS Deep Learning Container or SageMaker first-party image, resolved by framework and version from
    AWS's own image tables (a version they do not list fails synth, naming the nearest)."""

    registry_uri: str | None = None
    """A full ECR image URI, e.g. a SageMaker first-party image (XGBoost, scikit-learn) of the region."""

    deep_learning_container: tuple[str, str] | None = None
    """An AWS Deep Learning Container as (repository, tag): prefer ``framework``, which checks the tag exists."""

    model_store_tag: str | None = None
    """A tag of the environment's own serving-image repository (ModelStore stack)."""

    def problem(self) -> str | None:
        """Why this image cannot be used, or None (checked with the environment, to name it and the endpoint)."""
        given = [f.name for f in fields(self) if getattr(self, f.name) is not None]
        if len(given) != 1:
            return (
                f"{given or 'nothing'} given: give exactly one of framework, registry_uri, deep_learning_container, "
                "model_store_tag"
            )
        return None

    @property
    def first_party(self) -> bool:
        """A SageMaker built-in algorithm image (XGBoost, scikit-learn): it serves without any network call."""
        if self.framework is not None:
            return self.framework.framework in _FIRST_PARTY
        return any(f"/sagemaker-{name}:" in (self.registry_uri or "") for name in ("xgboost", "scikit-learn"))

    @property
    def default_layout(self) -> str:
        """The archive layout this image's server loads, where the image says (TensorFlow Serving, Triton)."""
        if self.framework is not None:
            repository = self.framework.framework
        else:
            repository = (self.deep_learning_container or ("",))[0] or (self.registry_uri or "")
        # TensorFlow Serving loads SavedModels from numeric version folders; Triton its model repository.
        if repository == "tensorflow" or "tensorflow-inference" in repository:
            return Layout.TENSORFLOW.value
        if "tritonserver" in repository:
            return Layout.TRITON.value
        return Layout.FLAT.value


#: The library's own scaling options (``constructs_lib.endpoint_scaling``), under the configuration's names.
ScheduleConfig = ScheduledCapacity
ScalingConfig = ScalingPlan


@dataclass(frozen=True, kw_only=True)
class DataCaptureConfig:
    """Capture a sample of requests and responses under ``capture/<endpoint>/`` of the artifact bucket (kept
    ``capture_expiration`` days), encrypted with the stage's key: ``constructs_lib.data_capture.DataCapture``.

    SageMaker documents capture for single-model endpoints and Serial pipelines (captured as a whole); the other
    kinds refuse it at synth with the reason."""

    sampling_percent: int = DEFAULT_SAMPLING_PERCENT
    """Share of requests captured, 0-100."""

    capture_requests: bool = True
    """Capture request payloads."""

    capture_responses: bool = True
    """Capture response payloads."""

    json_content_types: tuple[str, ...] = ()
    """Content types SageMaker stores as JSON text rather than base64."""

    csv_content_types: tuple[str, ...] = ()
    """Content types SageMaker stores as CSV text rather than base64."""


@dataclass(frozen=True, kw_only=True)
class ConsumerConfig:
    """An application role allowed to invoke some models of an endpoint."""

    name: str
    """CamelCase name of the role's construct, e.g. ``ChicagoAnalytics``."""

    models: tuple[str, ...]
    """TargetModel patterns relative to the endpoint's prefix, e.g. ``("Chicago_IL*",)``."""


@dataclass(frozen=True, kw_only=True)
class MultiModelEndpointConfig:
    """One multi-model endpoint of an environment."""

    name: str
    """Lowercase name; the endpoint is called ``<environment>-<name>`` and serves ``models/<that>/``."""

    image: ImageConfig
    """The serving image."""

    variants: tuple[ProductionVariant, ...]
    """1-10 production variants."""

    model_cache_enabled: bool = True
    """Keep loaded models cached in the containers."""

    environment: Mapping[str, str] = field(default_factory=dict)
    """Container environment variables."""

    consumers: tuple[ConsumerConfig, ...] = ()
    """Example application roles, each granted its TargetModel patterns only."""

    scaling: ScalingConfig | None = None
    """Auto scaling; None keeps the initial instance count."""

    layout: str | None = None
    """The archive layout the container expects (flat, tensorflow, triton, mms): the artifact guard enforces
    it. Default: what the image loads (``tensorflow`` for a TensorFlow Serving image, ``triton`` for Triton,
    else ``flat``)."""

    warm_up: bool = False
    """After a valid upload, invoke the new model once with ``NAME.warmup.json`` (if stored beside it)."""

    network_isolation: bool | None = None
    """Forbid the container every network call (``EnableNetworkIsolation``). Default: off, since AWS does not
    document network isolation for multi-model endpoints; turn it on after a test in a sandbox account."""

    smoke_tests: tuple[SmokeInvocation, ...] = ()
    """Canary requests after each deploy; a failure fails the deploy. Canary models must be uploaded first."""

    per_model_metrics: bool = False
    """Contributor Insights rules on the endpoint's log group giving the top models by invocations, errors and
    latency, shown on the dashboard. Needs a container that logs one JSON line per request naming the model
    (``images/multi-model-server`` does; AWS's images do not)."""

    bounded_model_metrics: bool = False
    """Also metric filters with a ``TargetModel`` dimension (a custom metric per model): only for model sets well
    under 1,000, or CloudWatch Logs may disable the filter. Implies ``per_model_metrics``."""

    data_capture: DataCaptureConfig | None = None
    """Refused: SageMaker does not support data capture or Model Monitor on multi-model endpoints."""


@dataclass(frozen=True, kw_only=True)
class ContainerConfig:
    """One container of a multi-container endpoint."""

    hostname: str
    """``ContainerHostname``: what Direct-mode clients pass as ``TargetContainerHostname``."""

    image: ImageConfig
    """The serving image."""

    model_data_key: str | None = None
    """The container's ``model.tar.gz``, relative to the endpoint's prefix ``models/<endpoint>/``."""

    environment: Mapping[str, str] = field(default_factory=dict)
    """Container environment, e.g. ``SAGEMAKER_PROGRAM`` or ``HF_MODEL_ID`` / ``HF_TASK``."""

    layout: str | None = None
    """The archive's layout (flat, tensorflow, triton, mms). Default: what the image loads."""


@dataclass(frozen=True, kw_only=True)
class ContainerConsumerConfig:
    """An application role allowed to invoke some containers (Direct) or the whole pipeline (Serial)."""

    name: str
    """CamelCase name of the role's construct."""

    containers: tuple[str, ...] | None = None
    """Hostname patterns it may invoke (Direct); ``None`` for a Serial pipeline."""

    denied: tuple[str, ...] = ()
    """Hostname patterns explicitly denied to it, whatever else it is granted (Direct)."""


@dataclass(frozen=True, kw_only=True)
class MultiContainerEndpointConfig:
    """One multi-container endpoint of an environment."""

    name: str
    """Lowercase name; the endpoint is called ``<environment>-<name>``."""

    mode: InferenceMode
    """Direct (``TargetContainerHostname``) or Serial (a pipeline)."""

    containers: tuple[ContainerConfig, ...]
    """1-15 containers, in pipeline order for Serial."""

    variants: tuple[ProductionVariant, ...]
    """1-10 production variants (CPU types for Direct)."""

    consumers: tuple[ContainerConsumerConfig, ...] = ()
    """Example application roles."""

    scaling: ScalingConfig | None = None
    """Auto scaling; None keeps the initial instance count."""

    deployment: BlueGreenDeployment | None = None
    """Blue/green updates with traffic shifting and automatic rollback; None for all at once."""

    network_isolation: bool | None = None
    """Forbid the containers every network call (``EnableNetworkIsolation``). Default: on when every container
    is a SageMaker built-in algorithm (XGBoost, scikit-learn), which serves from its archive alone; off
    otherwise (framework containers may install ``code/requirements.txt`` at start-up)."""

    @property
    def isolated(self) -> bool:
        """Whether the model runs with network isolation (the setting, or its default)."""
        if self.network_isolation is not None:
            return self.network_isolation
        return all(c.image.first_party for c in self.containers)

    smoke_tests: tuple[SmokeInvocation, ...] = ()
    """Requests after each deploy (each Direct container, or the pipeline); a failure fails the deploy."""

    data_capture: DataCaptureConfig | None = None
    """Capture requests and responses of a Serial pipeline (as a whole); refused for Direct (undocumented)."""


@dataclass(frozen=True, kw_only=True)
class ComponentConfig:
    """One model of an inference-component endpoint."""

    name: str
    """Lowercase name; the component is called ``<endpoint>-<name>`` (what clients pass as
    ``InferenceComponentName``) and its archive lives under ``models/<endpoint>/<name>/``."""

    image: ImageConfig
    """The serving image."""

    compute: ComputeRequirements
    """What one copy reserves (memory at least; CPU cores and accelerators as the model needs)."""

    model_data_key: str | None = None
    """The model's ``model.tar.gz``, relative to the endpoint's prefix. Default: ``<name>/model.tar.gz``."""

    initial_copies: int = 1
    """Copies at creation (at least 1, even for a component that scales to zero)."""

    environment: Mapping[str, str] = field(default_factory=dict)
    """Container environment."""

    scaling: ComponentScalingPlan | None = None
    """Copy-count scaling; ``min_copies=0`` scales the component to zero when idle."""

    rolling_update: ComponentRollingUpdate | None = None
    """Replace copies in batches on updates, rolled back on the component's alarms; None for blue/green."""

    layout: str | None = None
    """The archive's layout (flat, tensorflow, triton, mms). Default: what the image loads."""

    @property
    def archive_key(self) -> str:
        """The archive's key relative to the endpoint's prefix."""
        return self.model_data_key or f"{self.name}/model.tar.gz"


@dataclass(frozen=True, kw_only=True)
class ComponentConsumerConfig:
    """An application role allowed to invoke some components of an endpoint."""

    name: str
    """CamelCase name of the role's construct."""

    components: tuple[str, ...]
    """The components it may invoke (their configured names)."""

    streaming: bool = False
    """Also allow ``InvokeEndpointWithResponseStream``."""


@dataclass(frozen=True, kw_only=True)
class InferenceComponentEndpointConfig:
    """One inference-component endpoint of an environment: a fleet of instances, a model per component."""

    name: str
    """Lowercase name; the endpoint is called ``<environment>-<name>``."""

    instance_type: str
    """The fleet's instance type; every component's copy must fit one instance."""

    components: tuple[ComponentConfig, ...]
    """The models, at least one."""

    initial_instance_count: int = 1
    """Instances at creation."""

    managed_instance_scaling: ManagedInstanceScaling | None = None
    """Let SageMaker add and release instances as copies need them; ``min_instances=0`` (with every component
    scaling to zero) releases them all when idle."""

    routing_strategy: RoutingStrategy = RoutingStrategy.LEAST_OUTSTANDING_REQUESTS
    """How requests are spread over the instances."""

    consumers: tuple[ComponentConsumerConfig, ...] = ()
    """Example application roles."""

    network_isolation: bool | None = None
    """Forbid the containers every network call. Default: on when every component's image is a SageMaker built-in
    algorithm (XGBoost, scikit-learn), which serves from its archive alone; off otherwise."""

    smoke_tests: tuple[SmokeInvocation, ...] = ()
    """Requests after each deploy, each naming a component by its configured name (``inference_component``)."""

    data_capture: DataCaptureConfig | None = None
    """Refused: AWS documents no data capture for inference components."""

    @property
    def isolated(self) -> bool:
        """Whether the containers run with network isolation (the setting, or its default)."""
        if self.network_isolation is not None:
            return self.network_isolation
        return all(c.image.first_party for c in self.components)


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """Everything that differs between environments."""

    name: str
    """Short lowercase name (``dev``); used in the SSM path and, capitalized, as the stage id."""

    account: str
    """The 12-digit AWS account id to deploy into."""

    region: str
    """The AWS region to deploy into, e.g. ``eu-west-1``: the environment's home region."""

    additional_regions: tuple[str, ...] = ()
    """Further regions the same environment is deployed to, each as a stage of its own (``<Name>-<region>``, e.g.
    ``Prod-eu-central-1``) with its own bucket, key, guard, topic and endpoints (same endpoint names: SageMaker
    names are unique per region). Archives are uploaded to each region (``modelctl ... --region``)."""

    retain_stateful_resources: bool
    """Keep the KMS key, buckets and ECR repository when the stack is deleted. Required in prod."""

    noncurrent_version_expiration_days: int = 90
    """How long replaced or deleted model-archive versions are kept, in days."""

    multi_model_endpoints: tuple[MultiModelEndpointConfig, ...] = ()
    """The multi-model endpoints of the Hosting stack."""

    multi_container_endpoints: tuple[MultiContainerEndpointConfig, ...] = ()
    """The multi-container endpoints of the Hosting stack."""

    inference_component_endpoints: tuple[InferenceComponentEndpointConfig, ...] = ()
    """The inference-component endpoints of the Hosting stack."""

    alarm_thresholds: AlarmThresholds = AlarmThresholds()
    """When the endpoints' alarms fire."""

    alarm_email: str | None = None
    """An e-mail address subscribed to the stage's alarm topic."""

    guard_limits: GuardLimits = GuardLimits()
    """What the artifact guard accepts in one archive."""

    endpoint_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR
    """How long the endpoints' container logs are kept."""

    hosting_stacks: int = 1
    """How many Hosting stacks hold the endpoints (1-64). Each endpoint's stack follows from its name alone
    (``stacks/hosting_shards.py``), so adding or removing endpoints never moves another; changing this number
    moves endpoints, so choose it when the environment is created: about one stack per 15 multi-model endpoints
    keeps every template well under CloudFormation's 500 resources."""

    home_region: str | None = field(default=None, repr=False)
    """Set by ``placements()`` on the copy for an additional region (the environment's own region); leave unset."""

    def __post_init__(self) -> None:
        # Types first: a wrong type would otherwise surface as a jsii stack trace far from the field.
        wrong = check_fields(self)
        if wrong is not None:
            endpoint, field = _endpoint_field(self, wrong.path)
            name = self.name if isinstance(self.name, str) else repr(self.name)
            raise ConfigError(
                f"environment {name!r}{endpoint}: field {field!r}: {wrong.value!r} must be {wrong.expected}"
            )
        self._check_names()
        if not isinstance(self.name, str) or not _ENV_NAME.match(self.name):
            raise ConfigError(
                f"environment {self.name!r}: field 'name': {self.name!r} must be lowercase letters, digits and '-'"
            )
        if not _ACCOUNT.match(str(self.account)):
            self._fail("account", self.account, "must be a 12-digit AWS account id")
        if self.region not in _KNOWN_REGIONS:
            self._fail("region", self.region, "is not an AWS region known to aws-cdk-lib (e.g. 'eu-west-1')")
        for extra in self.additional_regions:
            if extra not in _KNOWN_REGIONS:
                self._fail(
                    "additional_regions", extra, "is not an AWS region known to aws-cdk-lib (e.g. 'eu-central-1')"
                )
            if extra == self.region or self.additional_regions.count(extra) > 1:
                self._fail("additional_regions", extra, "is listed twice (the home region counts)")
        if self.home_region is not None and self.additional_regions:
            self._fail("home_region", self.home_region, "is set by placements() on a single-region copy only")
        # S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or
        # digit (Amazon S3 User Guide, "General purpose bucket naming rules"); the environment's name is part of it.
        for region in self.regions:
            bucket = self.artifact_bucket_name.removesuffix(self.region) + region
            if len(bucket) > _MAX_BUCKET_NAME:
                self._fail(
                    "name",
                    self.name,
                    f"makes the artifact bucket name {bucket!r} {len(bucket)} characters long; S3 allows "
                    f"{_MAX_BUCKET_NAME}: shorten the environment name",
                )
        validate_guard_limits(f"environment {self.name!r}", self.guard_limits)
        # Checked here too, not only in each endpoint's alarms: an environment without endpoints has the guard's.
        self.alarm_thresholds.validate(f"environment {self.name!r}: alarm_thresholds")
        if self.alarm_email is not None and not is_email_address(self.alarm_email):
            self._fail("alarm_email", self.alarm_email, "is not an e-mail address")
        if self.name == "prod" and not self.retain_stateful_resources:
            self._fail("retain_stateful_resources", False, "must be True in prod: model artifacts must survive")
        if not 1 <= self.hosting_stacks <= _MAX_HOSTING_STACKS:
            self._fail("hosting_stacks", self.hosting_stacks, f"must be between 1 and {_MAX_HOSTING_STACKS}")
        if self.noncurrent_version_expiration_days < 1:
            self._fail("noncurrent_version_expiration_days", self.noncurrent_version_expiration_days, "must be >= 1")

    def _fail(self, field: str, value: Any, why: str) -> None:
        raise ConfigError(f"environment {self.name!r}: field {field!r}: {value!r} {why}")

    def _check_names(self) -> None:
        """Names that become construct ids and AWS names: present, unique, and unique once made into ids."""
        _unique(self.name, "", "endpoints", [e.name for e in self._endpoints()])
        images: list[tuple[str, str, ImageConfig]] = [(e.name, "image", e.image) for e in self.multi_model_endpoints]
        for mce in self.multi_container_endpoints:
            images += [(mce.name, f"containers[{i}].image", c.image) for i, c in enumerate(mce.containers)]
        for ice in self.inference_component_endpoints:
            images += [(ice.name, f"components[{i}].image", c.image) for i, c in enumerate(ice.components)]
        for endpoint, where, image in images:
            problem = image.problem()
            if problem:
                raise ConfigError(f"environment {self.name!r}, endpoint {endpoint!r}: field {where!r}: {problem}")
        for mme in self.multi_model_endpoints:
            _unique(self.name, f", endpoint {mme.name!r}", "consumers", [c.name for c in mme.consumers])
        for mce in self.multi_container_endpoints:
            _unique(self.name, f", endpoint {mce.name!r}", "consumers", [c.name for c in mce.consumers])
        for ice in self.inference_component_endpoints:
            self._check_components(ice)

    def _check_components(self, endpoint: InferenceComponentEndpointConfig) -> None:
        """Components present and unique; consumers and smoke tests naming components that exist."""
        where = f", endpoint {endpoint.name!r}"
        if not endpoint.components:
            raise ConfigError(f"environment {self.name!r}{where}: field 'components': () must list at least one")
        names = [c.name for c in endpoint.components]
        _unique(self.name, where, "components", names)
        _unique(self.name, where, "consumers", [c.name for c in endpoint.consumers])
        for consumer in endpoint.consumers:
            for component in consumer.components or ("",):
                if component not in names:
                    raise ConfigError(
                        f"environment {self.name!r}{where}: field 'consumers' of {consumer.name!r}: {component!r} is "
                        f"not a component of the endpoint ({', '.join(names)})"
                    )
        for test in endpoint.smoke_tests:
            if test.inference_component not in names:
                raise ConfigError(
                    f"environment {self.name!r}{where}: field 'smoke_tests': inference_component "
                    f"{test.inference_component!r} is not a component of the endpoint ({', '.join(names)})"
                )

    def _endpoints(
        self,
    ) -> tuple[MultiModelEndpointConfig | MultiContainerEndpointConfig | InferenceComponentEndpointConfig, ...]:
        return self.multi_model_endpoints + self.multi_container_endpoints + self.inference_component_endpoints

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region the environment is deployed to, its home region first."""
        return (self.region, *self.additional_regions)

    def placements(self) -> tuple[EnvironmentConfig, ...]:
        """The environment once per region, each a stage: itself (home region), then a copy per additional region."""
        home = self.replace(additional_regions=())
        others = tuple(home.replace(region=r, home_region=self.region) for r in self.additional_regions)
        return (home, *others)

    @property
    def placement_name(self) -> str:
        """``<name>`` in the home region, ``<name>-<region>`` elsewhere: what names the stage and its dashboards."""
        return self.name if self.home_region is None else f"{self.name}-{self.region}"

    @property
    def stage_id(self) -> str:
        """The construct id of this environment's stage: ``Dev``, ``Staging``, ``Prod`` in the home region (stack
        names unchanged when a region is added), ``Prod-eu-central-1`` in an additional region."""
        base = self.name.capitalize()
        return base if self.home_region is None else f"{base}-{self.region}"

    @property
    def artifact_bucket_name(self) -> str:
        """The model-artifact bucket's name: fixed, so that other stacks reference it without cross-stack exports."""
        return f"sagemaker-models-{self.name}-{self.account}-{self.region}"

    def endpoint_name(self, endpoint: str) -> str:
        """The deployed name of endpoint ``endpoint``: prefixed with the environment, unique in a shared account."""
        return naming.endpoint_name(self.name, endpoint)

    @property
    def ssm_path(self) -> str:
        """The SSM path under which this environment publishes what tools need (no trailing slash)."""
        return ssm_paths.environment_path(self.name)

    def endpoint_names(self) -> tuple[str, ...]:
        """The deployed name of every endpoint of the environment."""
        return tuple(self.endpoint_name(e.name) for e in self._endpoints())

    def component_names(self) -> tuple[str, ...]:
        """The deployed name of every inference component of the environment (``<endpoint>-<component>``)."""
        return tuple(
            naming.component_name(self.endpoint_name(e.name), c.name)
            for e in self.inference_component_endpoints
            for c in e.components
        )

    def endpoint_prefix(self, endpoint: str) -> str:
        """The artifact-bucket prefix of endpoint ``endpoint``: ``models/<deployed name>/``."""
        return endpoint_prefix(self.endpoint_name(endpoint))

    def artifacts(self) -> tuple[EndpointArtifacts, ...]:
        """Where every endpoint's archives live and their layouts: known at synth, published by the ModelStore."""
        found = []
        for mme in self.multi_model_endpoints:
            with endpoint_errors(self.name, mme.name):
                found.append(
                    EndpointArtifacts(
                        endpoint_name=self.endpoint_name(mme.name),
                        prefix=self.endpoint_prefix(mme.name),
                        layout=mme.layout or mme.image.default_layout,
                        warm_up=mme.warm_up,
                    )
                )
        for mce in self.multi_container_endpoints:
            archives = [(c.hostname, c.model_data_key, c.layout, c.image) for c in mce.containers if c.model_data_key]
            found.append(self._archives(mce.name, MULTI_CONTAINER, "container", archives))
        for ice in self.inference_component_endpoints:
            archives = [(c.name, c.archive_key, c.layout, c.image) for c in ice.components]
            found.append(self._archives(ice.name, INFERENCE_COMPONENTS, "component", archives))
        return tuple(found)

    def _archives(
        self, endpoint: str, kind: str, what: str, archives: list[tuple[str, str, str | None, ImageConfig]]
    ) -> EndpointArtifacts:
        """An endpoint whose containers or components each load one archive: (name, key under the endpoint's
        prefix, layout or None for the image's, image) each."""
        with endpoint_errors(self.name, endpoint):
            prefix = self.endpoint_prefix(endpoint)
            artifacts = EndpointArtifacts(
                endpoint_name=self.endpoint_name(endpoint),
                prefix=prefix,
                kind=kind,
                containers=tuple(
                    ContainerArchive(hostname=name, key=prefix + key, layout=layout or image.default_layout)
                    for name, key, layout, image in archives
                ),
            )
            self._check_urls(endpoint, what, artifacts)
        return artifacts

    def _check_urls(self, endpoint: str, what: str, artifacts: EndpointArtifacts) -> None:
        for container in artifacts.containers:
            url = f"s3://{self.artifact_bucket_name}/{container.key}"
            # CreateModel's ContainerDefinition.ModelDataUrl: at most 1024 characters (botocore: Url).
            if len(url) > service_model.max_length("Url"):
                raise ConfigError(
                    f"environment {self.name!r}, endpoint {endpoint!r}: field 'model_data_key' of "
                    f"{what} {container.hostname!r}: makes ModelDataUrl {len(url)} characters long; "
                    f"SageMaker accepts {service_model.max_length('Url')}"
                )

    @property
    def alarm_name_prefix(self) -> str:
        """Every alarm of the stage is named under this prefix; only these may publish to its alarm topic.

        It ends with ``/``, which no environment name holds, so that ``dev``'s prefix is no prefix of ``dev-eu``'s.
        """
        return f"sagemaker-hosting/{self.name}/"

    @property
    def artifact_parameter_path(self) -> str:
        """Where the ModelStore publishes each endpoint's archive locations (one parameter per endpoint)."""
        return ssm_paths.artifacts_path(self.name)

    def replace(self, **changes: Any) -> EnvironmentConfig:
        """A copy with ``changes`` applied, validated like the original."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return EnvironmentConfig(**values)


def _unique(environment: str, where: str, field_name: str, names: list[str]) -> None:
    """Each name present, and distinct from the others even once made into a construct id."""
    seen: dict[str, str] = {}
    for name in names:
        if not name.strip():
            raise ConfigError(f"environment {environment!r}{where}: field {field_name!r}: {name!r} is empty")
        # Construct ids are built from names (camel-cased, hashed): 'a-b', 'a_b' and 'A-B' would collide.
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        if key in seen:
            why = (
                "is used more than once"
                if seen[key] == name
                else f"names the same thing as {seen[key]!r} (names must differ in more than case and punctuation)"
            )
            raise ConfigError(f"environment {environment!r}{where}: field {field_name!r}: {name!r} {why}")
        seen[key] = name


def _endpoint_field(config: EnvironmentConfig, path: str) -> tuple[str, str]:
    """(", endpoint 'NAME'" or "", the field path relative to that endpoint) for a path in ``config``."""
    found = re.match(
        r"^(multi_model_endpoints|multi_container_endpoints|inference_component_endpoints)\[(\d+)\]\.?(.*)$", path
    )
    if found is None:
        return "", path
    endpoint = getattr(config, found[1])[int(found[2])]
    name = getattr(endpoint, "name", None)
    # An endpoint whose name is itself the mistake is named by its place in the configuration.
    label = repr(name) if isinstance(name, str) else f"{found[1]}[{found[2]}]"
    return f", endpoint {label}", found[3] or found[1]


@contextmanager
def endpoint_errors(environment: str, endpoint: str) -> Iterator[None]:
    """Re-raise a construct's ValidationError as a ConfigError that names the environment and the endpoint."""
    try:
        yield
    except ConfigError:
        raise
    except ValidationError as error:
        raise ConfigError(f"environment {environment!r}, endpoint {endpoint!r}: {error}") from error


def check_environments(environments: tuple[EnvironmentConfig, ...]) -> None:
    """What no single environment can check: names and deployed names unique across all of them."""
    seen: dict[str, str] = {}
    for configured in environments:
        if configured.name in seen:
            raise ConfigError(f"environment {configured.name!r}: field 'name': {configured.name!r} is used twice")
        seen[configured.name] = configured.name
    placed = tuple(p for e in environments for p in e.placements())
    for environment in placed:
        # Deployed names are '<environment>-<endpoint>': 'dev-a' + 'b-home' and 'dev-a-b' + 'home' are one name,
        # and endpoints and their log groups are unique per account and region.
        for name in environment.endpoint_names():
            where = (environment.account, environment.region, name)
            for other in placed:
                if (
                    other is not environment
                    and (other.account, other.region) == where[:2]
                    and name in other.endpoint_names()
                ):
                    raise ConfigError(
                        f"environment {environment.name!r}: endpoint name {name!r} is also deployed by environment "
                        f"{other.name!r} in account {environment.account} and {environment.region}"
                    )


def select_environments(
    requested: object, environments: tuple[EnvironmentConfig, ...]
) -> tuple[EnvironmentConfig, ...]:
    """The environments to synthesize: all of them, or the one named with ``-c env=NAME``."""
    if requested is None or requested == "":
        return environments
    for environment in environments:
        if environment.name == requested:
            return (environment,)
    known = ", ".join(e.name for e in environments)
    raise ConfigError(f"environment {requested!r} (passed with -c env=) is unknown; known environments: {known}")
