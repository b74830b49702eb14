"""MultiModelEndpoint: one serving container, every archive under one S3 prefix, selected by TargetModel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import (
    AlarmThresholds,
    duration_milliseconds,
    instance_alarm_specs,
    microseconds,
    variant_suffix,
)
from constructs_lib.dashboard_widgets import MINUTE, instance_variant_row, milliseconds
from constructs_lib.data_capture import (
    CAPTURE_UNSUPPORTED_MULTI_MODEL,
    SHADOW_UNSUPPORTED_MULTI_MODEL,
    DataCapture,
    refuse_data_capture,
    refuse_shadow_variants,
)
from constructs_lib.endpoint_base import (
    INSTANCE_NAMESPACE,
    EndpointAttributes,
    EndpointBase,
    EndpointNetwork,
    create_model,
    endpoint_name_from_arn,
    publish_endpoint,
    validate_endpoint,
)
from constructs_lib.execution_role import ExecutionRole, execution_role_for
from constructs_lib.hosted_endpoint import AlarmSpec, OperatedEndpoint, SmokeInvocation
from constructs_lib.model_prefix import ModelPrefix
from constructs_lib.per_model_metrics import PerModelMetrics
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.serving_image import ServingImage
from hosting_contract import naming
from hosting_contract.archive_rules import check_key


class MultiModelEndpointBase(EndpointBase):
    """A multi-model endpoint, created or imported: TargetModel-scoped grants and model-loading metrics."""

    def grant_invoke(self, grantee: iam.IGrantable, *, models: Sequence[str]) -> iam.Grant:
        """Let ``grantee`` invoke this endpoint for the models matching ``models`` only.

        Grants ``sagemaker:InvokeEndpoint`` on this endpoint with a ``StringLike`` condition on
        ``sagemaker:TargetModel``. Patterns are relative to the endpoint's prefix, as TargetModel values are
        (``"team-a/*"``, ``"Chicago_IL*"``); granting every model must be spelled out as ``models=["*"]``.

        ``InvokeEndpointAsync`` and ``InvokeEndpointWithResponseStream`` are not granted: those requests carry
        no TargetModel, so the condition could not scope them and would either deny them or allow every model.
        """
        owner = f"MultiModelEndpoint {self.node.path}"
        if isinstance(models, str) or not models:
            raise limits.fail(owner, "models", models, "must list at least one pattern (models=['*'] for every model)")
        for pattern in models:
            limits.check_target_pattern(owner, "models pattern", pattern)
            if pattern.startswith(("/", "s3://")):
                raise limits.fail(owner, "models pattern", pattern, "must be relative to the prefix, as TargetModel is")
        return self._grant_invoke(grantee, condition_key="sagemaker:TargetModel", patterns=models)

    def metric_model_cache_hit(self, **props: Any) -> cloudwatch.Metric:
        """Share of requests served by an already-loaded model: the Average is the cache-hit ratio (0-1)."""
        return self.metric("ModelCacheHit", **props)

    def metric_loaded_model_count(self, **props: Any) -> cloudwatch.Metric:
        """Models loaded in the containers; emitted per instance, so Sum is the endpoint's total."""
        return self.metric("LoadedModelCount", namespace=INSTANCE_NAMESPACE, statistic="Sum", **props)

    def metric_model_loading_wait_time(self, **props: Any) -> cloudwatch.Metric:
        """How long a request waited for its model to be downloaded and loaded, in microseconds (Average)."""
        return self.metric("ModelLoadingWaitTime", unit=cloudwatch.Unit.MICROSECONDS, **props)

    def metric_model_downloading_time(self, **props: Any) -> cloudwatch.Metric:
        """Time to download a model archive from S3, in microseconds (Average)."""
        return self.metric("ModelDownloadingTime", unit=cloudwatch.Unit.MICROSECONDS, **props)

    def metric_model_loading_time(self, **props: Any) -> cloudwatch.Metric:
        """Time to load a model into the container, in microseconds (Average)."""
        return self.metric("ModelLoadingTime", unit=cloudwatch.Unit.MICROSECONDS, **props)

    def metric_model_unloading_time(self, **props: Any) -> cloudwatch.Metric:
        """Time to unload a model, in microseconds (Average)."""
        return self.metric("ModelUnloadingTime", unit=cloudwatch.Unit.MICROSECONDS, **props)

    def metric_model_unloads(self, **props: Any) -> cloudwatch.Metric:
        """Models unloaded (SampleCount of ModelUnloadingTime): a high rate means the cache is thrashing."""
        return self.metric("ModelUnloadingTime", statistic="SampleCount", **props)


class MultiModelEndpoint(MultiModelEndpointBase, OperatedEndpoint):
    """A SageMaker multi-model endpoint: a ``MultiModel`` container serving every archive under a prefix.

    Renders a ``CfnModel`` (no name: a model is immutable and replaced on every change), an endpoint config
    (no name, for the same reason) and an endpoint with the stable ``endpoint_name`` clients call. ML engineers
    add a model by uploading ``NAME.tar.gz`` under the prefix; no redeploy.

    Deployment guardrails (canary, linear, auto-rollback) are not supported for multi-model endpoints:
    SageMaker updates them blue/green, all at once.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        image: ServingImage,
        model_prefix: ModelPrefix,
        variants: Sequence[ProductionVariant],
        execution_role: ExecutionRole | iam.IRole | None = None,
        model_cache_enabled: bool = True,
        environment: Mapping[str, str] | None = None,
        volume_encryption_key: kms.IKey | None = None,
        network: EndpointNetwork | None = None,
        enable_network_isolation: bool = False,
        parameter_path: str | None = None,
        data_capture: DataCapture | None = None,
        shadow_variants: Sequence[ProductionVariant] = (),
    ) -> None:
        """Create the model, endpoint config and endpoint.

        :param endpoint_name: stable, lowercase, 1-63 letters, digits and hyphens.
        :param image: the serving container (Multi Model Server, TorchServe, XGBoost, Triton for GPU...).
        :param model_prefix: where the archives live; the role may read that prefix only.
        :param variants: 1-10 production variants. A GPU instance type requires a Triton image and one of
            the single-GPU types SageMaker supports for multi-model endpoints.
        :param execution_role: the role the model runs as: an ``ExecutionRole`` or any ``iam.IRole`` (extended with
            the grants below when it is mutable). Default: a new least-privilege role.
        :param model_cache_enabled: keep loaded models cached (``Enabled``). Disable it for models used once.
        :param environment: container environment (at most 100 entries, 32 KB in all).
        :param volume_encryption_key: KMS key for the instances' ML storage volumes.
        :param network: run inside a VPC. Default: SageMaker's network.
        :param enable_network_isolation: forbid the container any network call.
        :param parameter_path: publish endpoint name, bucket and prefix as SSM parameters under this path.
        :param data_capture: refused: SageMaker does not support capture or Model Monitor on multi-model endpoints.
        :param shadow_variants: refused: SageMaker excludes multi-model endpoints from shadow tests.
        """
        names = [v.variant_name for v in variants]
        super().__init__(scope, construct_id, endpoint_name=endpoint_name, variant_names=names or ["AllTraffic"])
        owner = f"MultiModelEndpoint {self.node.path}"
        validate_endpoint(owner, endpoint_name=endpoint_name, variants=variants)
        env = dict(environment or {})
        limits.check_environment(owner, [("the container", env)])
        for variant in variants:
            _check_gpu(owner, variant, image)
        if data_capture is not None:
            raise refuse_data_capture(owner, self.kind, CAPTURE_UNSUPPORTED_MULTI_MODEL)
        if shadow_variants:
            raise refuse_shadow_variants(owner, self.kind, SHADOW_UNSUPPORTED_MULTI_MODEL)

        self.execution_role = execution_role_for(self, endpoint_name, execution_role)
        """The role the model runs as."""
        self.model_prefix = model_prefix
        """The prefix this endpoint serves from."""
        self.per_model_metrics: PerModelMetrics | None = None
        """Its per-model metrics, once ``add_per_model_metrics`` was called."""
        image_uri = image.bind(self, self.execution_role.role)
        model_prefix.grant_read(self.execution_role.role)
        self.execution_role.acknowledge_wildcard(
            model_prefix.object_arns,
            "A multi-model endpoint loads any archive under its prefix on demand, named by the request's TargetModel.",
        )

        self.model = create_model(
            self,
            role=self.execution_role,
            network=network,
            enable_network_isolation=enable_network_isolation,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image_uri,
                mode="MultiModel",
                model_data_url=model_prefix.s3_url,
                environment=env or None,
                multi_model_config=sagemaker.CfnModel.MultiModelConfigProperty(
                    model_cache_setting="Enabled" if model_cache_enabled else "Disabled"
                ),
            ),
        )
        """The SageMaker model (generated name)."""

        self._host(self.model, variants, volume_encryption_key)
        publish_endpoint(
            self,
            endpoint_name=endpoint_name,
            parameter_path=parameter_path,
            values={"bucket-name": model_prefix.bucket.bucket_name, "prefix": model_prefix.prefix},
        )

    # -- the endpoint protocol (HostedEndpoint) -------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"multi-model"``."""
        return "multi-model"

    def alarm_specs(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """Per variant: the instance alarms, cache-hit ratio below a floor, model unloads above a ceiling
        (thrashing) and the longest model loading wait."""
        specs: list[AlarmSpec] = []
        for variant in self.production_variants:
            suffix = variant_suffix(self.production_variants, variant)
            specs += instance_alarm_specs(self, variant, thresholds, suffix)
            specs += self._cache_alarm_specs(variant.variant_name, thresholds, suffix)
        return specs

    def _cache_alarm_specs(self, variant: str, thresholds: AlarmThresholds, suffix: str) -> list[AlarmSpec]:
        name = self.endpoint_name
        return [
            AlarmSpec(
                construct_id=f"CacheHitRatio{suffix}",
                metric=self.metric_model_cache_hit(variant_name=variant, period=thresholds.period),
                threshold=thresholds.cache_hit_ratio_floor,
                below=True,
                description=f"{name}/{variant}: cache-hit ratio below {thresholds.cache_hit_ratio_floor}",
            ),
            AlarmSpec(
                construct_id=f"ModelUnloads{suffix}",
                metric=self.metric_model_unloads(variant_name=variant, period=thresholds.period),
                threshold=thresholds.model_unloads_per_period,
                description=(
                    f"{name}/{variant}: more than {thresholds.model_unloads_per_period} models "
                    "unloaded per period (the model cache is thrashing: add instances or memory)"
                ),
            ),
            AlarmSpec(
                construct_id=f"ModelLoadingWait{suffix}",
                metric=self.metric_model_loading_wait_time(
                    variant_name=variant, statistic="Maximum", period=thresholds.period
                ),
                threshold=microseconds(thresholds.model_loading_wait_max),
                description=(
                    f"{name}/{variant}: a model loading wait above "
                    f"{duration_milliseconds(thresholds.model_loading_wait_max)} ms"
                ),
            ),
        ]

    def add_per_model_metrics(self, *, bounded_models: bool = False) -> PerModelMetrics:
        """Per-model invocations, errors and latency from the container's JSON log lines (``PerModelMetrics``, id
        ``PerModelMetrics``), on the endpoint's log group ``/aws/sagemaker/Endpoints/<name>``; the dashboard
        section then shows the top models.

        SageMaker publishes no per-model metric for multi-model endpoints: the serving container must log one JSON
        line per request (``images/multi-model-server`` does; AWS's images do not). ``bounded_models`` adds metric
        filters with a ``TargetModel`` dimension, for model sets well under 1,000 (docs/OPERATIONS.md).
        """
        self.per_model_metrics = PerModelMetrics(
            self,
            "PerModelMetrics",
            endpoint_name=self.endpoint_name,
            log_group_name=naming.endpoint_log_group(self.endpoint_name),
            bounded_models=bounded_models,
        )
        return self.per_model_metrics

    def dashboard_rows(self) -> list[list[cloudwatch.IWidget]]:
        """Per variant: traffic, latency and utilization; then model cache, loading times and unloads; the top
        models by invocations, errors and latency when per-model metrics are on."""
        rows = [instance_variant_row(self, v.variant_name, v.instance_type) for v in self.production_variants]
        rows += [self._model_cache_row(v.variant_name) for v in self.production_variants]
        if self.per_model_metrics is not None:
            rows.append(
                [
                    self.per_model_metrics.top_models_widget(kind, width=8)
                    for kind in ("invocations", "errors", "latency")
                ]
            )
        return rows

    def _model_cache_row(self, variant: str) -> list[cloudwatch.IWidget]:
        title = f"{self.endpoint_name}/{variant}"
        return [
            cloudwatch.GraphWidget(
                title=f"{title}: model cache",
                left=[self.metric_model_cache_hit(variant_name=variant, period=MINUTE, label="cache-hit ratio")],
                right=[self.metric_loaded_model_count(variant_name=variant, period=MINUTE, label="loaded models")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: model loading (ms)",
                left=[
                    milliseconds(self.metric_model_loading_wait_time(variant_name=variant, period=MINUTE), "wait"),
                    milliseconds(self.metric_model_downloading_time(variant_name=variant, period=MINUTE), "download"),
                    milliseconds(self.metric_model_loading_time(variant_name=variant, period=MINUTE), "load"),
                    milliseconds(self.metric_model_unloading_time(variant_name=variant, period=MINUTE), "unload"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{title}: models unloaded per minute (thrashing)",
                left=[self.metric_model_unloads(variant_name=variant, period=MINUTE, label="unloads")],
                width=8,
            ),
        ]

    def check_smoke_invocation(self, owner: str, invocation: SmokeInvocation) -> None:
        """A canary names one archive exactly (``NAME.tar.gz`` under the prefix, no wildcard), and no container."""
        if invocation.inference_component:
            raise limits.fail(
                owner, "inference_component", invocation.inference_component, "does not apply to a multi-model endpoint"
            )
        target = invocation.target_model
        if not target or invocation.target_container:
            raise limits.fail(owner, "target_model", target, "is required (and alone) for a multi-model endpoint")
        limits.check_target_pattern(owner, "target_model", target)
        # The guard serves only '<prefix><name>.tar.gz' keys (archive_rules.check_key), and a pattern would grant
        # the smoke test every model it matches.
        problems = [str(p) for p in check_key(target, "")]
        if any(c in target for c in "*?") or problems:
            raise limits.fail(
                owner,
                "target_model",
                target,
                "must name one archive exactly (NAME.tar.gz, no wildcard)" + (f": {problems[0]}" if problems else ""),
            )
        if any(part in ("", ".", "..") for part in target.split("/")):
            raise limits.fail(owner, "target_model", target, "must be a relative key without '.' or '..'")

    def grant_smoke_invocations(self, grantee: iam.IGrantable, invocations: Sequence[SmokeInvocation]) -> iam.Grant:
        """InvokeEndpoint for the canary models only."""
        return self.grant_invoke(grantee, models=[i.target_model or "" for i in invocations])

    @staticmethod
    def from_endpoint_name(
        scope: Construct, construct_id: str, endpoint_name: str, *, variant_names: Sequence[str] = ("AllTraffic",)
    ) -> MultiModelEndpointBase:
        """An existing multi-model endpoint, e.g. from another stack, to grant on or to monitor."""
        limits.check_name(f"MultiModelEndpoint {construct_id}", "endpoint_name", endpoint_name, lowercase=True)
        return MultiModelEndpointBase(scope, construct_id, endpoint_name=endpoint_name, variant_names=variant_names)

    @staticmethod
    def from_endpoint_arn(
        scope: Construct, construct_id: str, endpoint_arn: str, *, variant_names: Sequence[str] = ("AllTraffic",)
    ) -> MultiModelEndpointBase:
        """An existing multi-model endpoint by ARN, possibly in another account or region."""
        return MultiModelEndpoint.from_endpoint_attributes(
            scope, construct_id, EndpointAttributes(endpoint_arn=endpoint_arn, variant_names=variant_names)
        )

    @staticmethod
    def from_endpoint_attributes(
        scope: Construct, construct_id: str, attributes: EndpointAttributes
    ) -> MultiModelEndpointBase:
        """An existing multi-model endpoint from its ARN and variants."""
        name = endpoint_name_from_arn(f"MultiModelEndpoint {construct_id}", attributes.endpoint_arn)
        return MultiModelEndpointBase(
            scope,
            construct_id,
            endpoint_name=name,
            variant_names=attributes.variant_names,
            endpoint_arn=attributes.endpoint_arn,
        )


def _check_gpu(owner: str, variant: ProductionVariant, image: ServingImage) -> None:
    if limits.is_token(variant.instance_type) or not limits.is_gpu_instance_type(variant.instance_type):
        return
    field = f"instance_type of variant {variant.variant_name!r}"
    if not image.is_triton:
        raise limits.fail(owner, field, variant.instance_type, "is a GPU type: GPU multi-model needs a Triton image")
    if variant.instance_type not in limits.MME_GPU_INSTANCE_TYPES:
        allowed = ", ".join(sorted(limits.MME_GPU_INSTANCE_TYPES))
        raise limits.fail(owner, field, variant.instance_type, f"is not a single-GPU type for multi-model ({allowed})")
