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
from constructs_lib.endpoint_base import (
    INSTANCE_NAMESPACE,
    EndpointBase,
    EndpointNetwork,
    create_model,
    publish_endpoint,
    validate_endpoint,
)
from constructs_lib.execution_role import ExecutionRole
from constructs_lib.model_prefix import ModelPrefix
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.serving_image import ServingImage


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


class MultiModelEndpoint(MultiModelEndpointBase):
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
        execution_role: ExecutionRole | None = None,
        model_cache_enabled: bool = True,
        environment: Mapping[str, str] | None = None,
        volume_encryption_key: kms.IKey | None = None,
        network: EndpointNetwork | None = None,
        enable_network_isolation: bool = False,
        parameter_path: str | None = None,
    ) -> None:
        """Create the model, endpoint config and endpoint.

        :param endpoint_name: stable, lowercase, 1-63 letters, digits and hyphens.
        :param image: the serving container (Multi Model Server, TorchServe, XGBoost, Triton for GPU...).
        :param model_prefix: where the archives live; the role may read that prefix only.
        :param variants: 1-10 production variants. A GPU instance type requires a Triton image and one of
            the single-GPU types SageMaker supports for multi-model endpoints.
        :param execution_role: the role the model runs as. Default: a new least-privilege role.
        :param model_cache_enabled: keep loaded models cached (``Enabled``). Disable it for models used once.
        :param environment: container environment (at most 100 entries, 32 KB in all).
        :param volume_encryption_key: KMS key for the instances' ML storage volumes.
        :param network: run inside a VPC. Default: SageMaker's network.
        :param enable_network_isolation: forbid the container any network call.
        :param parameter_path: publish endpoint name, bucket and prefix as SSM parameters under this path.
        """
        names = [v.variant_name for v in variants]
        super().__init__(scope, construct_id, endpoint_name=endpoint_name, variant_names=names or ["AllTraffic"])
        owner = f"MultiModelEndpoint {self.node.path}"
        validate_endpoint(owner, endpoint_name=endpoint_name, variants=variants)
        env = dict(environment or {})
        limits.check_environment(owner, [("the container", env)])
        for variant in variants:
            _check_gpu(owner, variant, image)

        self.execution_role = execution_role or ExecutionRole(self, "ExecutionRole", endpoint_name=endpoint_name)
        """The role the model runs as."""
        self.model_prefix = model_prefix
        """The prefix this endpoint serves from."""
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

    @staticmethod
    def from_endpoint_name(
        scope: Construct, construct_id: str, endpoint_name: str, *, variant_names: Sequence[str] = ("AllTraffic",)
    ) -> MultiModelEndpointBase:
        """An existing multi-model endpoint, e.g. from another stack, to grant on or to monitor."""
        limits.check_name(f"MultiModelEndpoint {construct_id}", "endpoint_name", endpoint_name, lowercase=True)
        return MultiModelEndpointBase(scope, construct_id, endpoint_name=endpoint_name, variant_names=variant_names)


def _check_gpu(owner: str, variant: ProductionVariant, image: ServingImage) -> None:
    if limits.is_token(variant.instance_type) or not limits.is_gpu_instance_type(variant.instance_type):
        return
    field = f"instance_type of variant {variant.variant_name!r}"
    if not image.is_triton:
        raise limits.fail(owner, field, variant.instance_type, "is a GPU type: GPU multi-model needs a Triton image")
    if variant.instance_type not in limits.MME_GPU_INSTANCE_TYPES:
        allowed = ", ".join(sorted(limits.MME_GPU_INSTANCE_TYPES))
        raise limits.fail(owner, field, variant.instance_type, f"is not a single-GPU type for multi-model ({allowed})")
