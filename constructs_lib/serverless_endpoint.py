"""ServerlessEndpoint: one model on SageMaker Serverless Inference (the worked example of docs/EXTENDING.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_factory import AlarmThresholds, error_rate_spec, model_latency_spec
from constructs_lib.dashboard_widgets import MINUTE, milliseconds, traffic_and_latency
from constructs_lib.data_capture import (
    CAPTURE_UNSUPPORTED_SERVERLESS,
    SHADOW_UNSUPPORTED_SERVERLESS,
    DataCapture,
    refuse_data_capture,
    refuse_shadow_variants,
)
from constructs_lib.endpoint_base import EndpointBase, create_endpoint, create_model, publish_endpoint
from constructs_lib.execution_role import ExecutionRole, execution_role_for
from constructs_lib.hosted_endpoint import AlarmSpec, OperatedEndpoint, SmokeInvocation
from constructs_lib.model_archive import ModelArchive
from constructs_lib.production_variant import ProductionVariant
from constructs_lib.serving_image import ServingImage

#: Serverless memory sizes SageMaker accepts (1-6 GB in 1 GB steps).
MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_CONCURRENCY = 200
VARIANT = "AllTraffic"


class ServerlessEndpoint(EndpointBase, OperatedEndpoint):
    """One model behind a serverless endpoint: no instances, billed per request, scales to zero.

    Serverless endpoints cannot host multi-model or multi-container models, GPUs, VPCs or network isolation,
    and have one variant. Cold starts take seconds; ``provisioned_concurrency`` keeps that many warm.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        image: ServingImage,
        model_data: ModelArchive | None = None,
        memory_size_in_mb: int = 2048,
        max_concurrency: int = 5,
        provisioned_concurrency: int | None = None,
        environment: Mapping[str, str] | None = None,
        encryption_key: kms.IKey | None = None,
        execution_role: ExecutionRole | iam.IRole | None = None,
        parameter_path: str | None = None,
        data_capture: DataCapture | None = None,
        shadow_variants: Sequence[ProductionVariant] = (),
    ) -> None:
        """Create the model, the serverless endpoint config and the endpoint.

        :param endpoint_name: stable, lowercase, 1-63 letters, digits and hyphens.
        :param image: the serving container (CPU).
        :param model_data: the model's ``.tar.gz``; the role may read that object only.
        :param memory_size_in_mb: 1024-6144 in 1024 steps. Default: 2048.
        :param max_concurrency: concurrent requests, 1-200. Default: 5.
        :param provisioned_concurrency: warm capacity, 1-``max_concurrency``. Default: none (cold starts).
        :param environment: container environment (at most 100 entries, 32 KB).
        :param encryption_key: KMS key SageMaker uses for the endpoint's image and data.
        :param execution_role: the role the model runs as: an ``ExecutionRole`` or any ``iam.IRole`` (extended with
            the grants below when it is mutable). Default: a new least-privilege role.
        :param parameter_path: publish the endpoint name as an SSM parameter under this path.
        :param data_capture: refused: Serverless Inference does not support data capture.
        :param shadow_variants: refused: SageMaker excludes serverless inference from shadow tests.
        """
        super().__init__(scope, construct_id, endpoint_name=endpoint_name, variant_names=[VARIANT])
        owner = f"ServerlessEndpoint {self.node.path}"
        # 1. Validate every prop at construction, naming the construct, the field and the value.
        limits.check_name(owner, "endpoint_name", endpoint_name, lowercase=True)
        if not limits.is_token(memory_size_in_mb) and memory_size_in_mb not in MEMORY_SIZES_MB:
            raise limits.fail(owner, "memory_size_in_mb", memory_size_in_mb, f"must be one of {MEMORY_SIZES_MB}")
        limits.check_range(owner, "max_concurrency", max_concurrency, 1, MAX_CONCURRENCY)
        limits.check_range(owner, "provisioned_concurrency", provisioned_concurrency, 1, max_concurrency)
        env = dict(environment or {})
        limits.check_environment(owner, [("the container", env)])
        if data_capture is not None:
            raise refuse_data_capture(owner, self.kind, CAPTURE_UNSUPPORTED_SERVERLESS)
        if shadow_variants:
            raise refuse_shadow_variants(owner, self.kind, SHADOW_UNSUPPORTED_SERVERLESS)

        # 2. Least privilege: the role pulls its image and reads its archive, nothing else.
        self.execution_role = execution_role_for(self, endpoint_name, execution_role)
        """The role the model runs as."""
        image_uri = image.bind(self, self.execution_role.role)
        if model_data is not None:
            model_data.grant_read(self.execution_role.role)

        # 3. Resources: no names on the model and config (replaced on change), a stable endpoint name.
        self.model = create_model(
            self,
            role=self.execution_role,
            network=None,
            enable_network_isolation=False,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image_uri, model_data_url=model_data.s3_url if model_data else None, environment=env or None
            ),
        )
        """The SageMaker model (generated name)."""
        resources = create_endpoint(
            self,
            endpoint_name=endpoint_name,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT,
                    model_name=self.model.attr_model_name,
                    serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                        memory_size_in_mb=memory_size_in_mb,
                        max_concurrency=max_concurrency,
                        provisioned_concurrency=provisioned_concurrency,
                    ),
                )
            ],
            volume_encryption_key=encryption_key,
        )
        self.endpoint_config = resources.config
        """The endpoint config (generated name)."""
        self.endpoint = resources.endpoint
        """The endpoint (stable name)."""
        publish_endpoint(self, endpoint_name=endpoint_name, parameter_path=parameter_path, values={})

    # 4. Grants: whole endpoint only (one model: nothing to scope by TargetModel or hostname).
    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call ``sagemaker:InvokeEndpoint`` on this endpoint."""
        return self._grant_invoke(grantee)

    # 5. Metrics: the base class has invocations, latency, errors; serverless adds its cold-start time.
    def metric_model_setup_time(self, **props: Any) -> cloudwatch.Metric:
        """Time to launch compute for a cold start, in microseconds (Average)."""
        return self.metric("ModelSetupTime", unit=cloudwatch.Unit.MICROSECONDS, **props)

    # 6. The endpoint protocol (HostedEndpoint): alarms, dashboard rows and smoke tests fit for this kind.
    @property
    def kind(self) -> str:
        """``"serverless"``."""
        return "serverless"

    def alarm_specs(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """5XX error rate and p99 model latency; no instance metrics (there are no instances to watch)."""
        return [error_rate_spec(self, VARIANT, thresholds), model_latency_spec(self, VARIANT, thresholds)]

    def dashboard_rows(self) -> list[list[cloudwatch.IWidget]]:
        """Traffic and latency, and the cold starts' setup time."""
        cold_starts = cloudwatch.GraphWidget(
            title=f"{self.endpoint_name}: cold starts (ms)",
            left=[milliseconds(self.metric_model_setup_time(period=MINUTE), "model setup")],
            width=8,
        )
        return [[*traffic_and_latency(self, VARIANT), cold_starts]]

    def check_smoke_invocation(self, owner: str, invocation: SmokeInvocation) -> None:
        """One model: a request names no target model, no container and no inference component."""
        if invocation.inference_component:
            raise limits.fail(
                owner, "inference_component", invocation.inference_component, "does not apply to a serverless endpoint"
            )
        if invocation.target_model or invocation.target_container:
            target = invocation.target_model or invocation.target_container
            raise limits.fail(owner, "target", target, "does not apply to a single-model endpoint")

    def grant_smoke_invocations(self, grantee: iam.IGrantable, invocations: Sequence[SmokeInvocation]) -> iam.Grant:  # noqa: ARG002
        """The whole endpoint: one model, nothing narrower to grant."""
        return self.grant_invoke(grantee)
