"""What every endpoint offers, created here or imported: name, ARN, metrics, invoke grants; and its resources."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib import metric_facts
from constructs_lib import sagemaker_limits as limits
from constructs_lib.execution_role import ExecutionRole
from constructs_lib.production_variant import ProductionVariant, validate_variants

#: Invocation and model-loading metrics.
INVOCATION_NAMESPACE = "AWS/SageMaker"
#: Instance utilization metrics (and LoadedModelCount).
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"

# Instance types whose local NVMe storage SageMaker encrypts in hardware: the volume KMS key stays on their endpoint
# config, where it "does not encrypt instance local storage" (SageMaker API Reference, CreateEndpointConfig,
# KmsKeyId; earlier editions said the call failed, and a test watches botocore's copy of that text).
_LOCAL_NVME = re.compile(r"^ml\.([a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|p4d|p4de|p5|p5e|p5en)\.")


@dataclass(frozen=True, kw_only=True)
class EndpointNetwork:
    """Run the model's containers inside a VPC."""

    vpc: ec2.IVpc
    """The VPC."""

    subnet_type: ec2.SubnetType = ec2.SubnetType.PRIVATE_WITH_EGRESS
    """Which of the VPC's subnets, when ``subnets`` is empty. Default: the private subnets with egress."""

    subnets: Sequence[ec2.ISubnet] = ()
    """Explicit subnets (1-16); overrides ``subnet_type``."""

    security_groups: Sequence[ec2.ISecurityGroup] = ()
    """1-5 security groups. Default: one created for the model, with no inbound rule."""


class InvocationMetrics:
    """The invocation metrics SageMaker publishes for a variant and for an inference component alike (namespace
    ``AWS/SageMaker``); each class supplies ``metric`` with its own dimensions."""

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        raise NotImplementedError

    def metric_invocations(self, **props: Any) -> cloudwatch.Metric:
        """Requests sent (Sum)."""
        return self.metric("Invocations", statistic="Sum", **props)

    def metric_model_latency(self, **props: Any) -> cloudwatch.Metric:
        """Time the model took to respond, in microseconds (Average)."""
        return self.metric("ModelLatency", unit=cloudwatch.Unit.MICROSECONDS, **props)

    def metric_overhead_latency(self, **props: Any) -> cloudwatch.Metric:
        """SageMaker's own overhead per request, in microseconds (Average)."""
        return self.metric("OverheadLatency", unit=cloudwatch.Unit.MICROSECONDS, **props)

    def metric_invocation_4xx_errors(self, **props: Any) -> cloudwatch.Metric:
        """Requests answered with a 4XX error (Sum)."""
        return self.metric("Invocation4XXErrors", statistic="Sum", **props)

    def metric_invocation_5xx_errors(self, **props: Any) -> cloudwatch.Metric:
        """Requests answered with a 5XX error (Sum)."""
        return self.metric("Invocation5XXErrors", statistic="Sum", **props)

    def metric_invocation_model_errors(self, **props: Any) -> cloudwatch.Metric:
        """Requests the model failed (non-2xx, socket errors, timeouts) (Sum)."""
        return self.metric("InvocationModelErrors", statistic="Sum", **props)

    def metric_error_rate(self, *, period: cdk.Duration, **props: Any) -> cloudwatch.MathExpression:
        """5XX errors as a percent of invocations, 0 without traffic; ``props`` choose the metrics (for a variant:
        ``variant_name``, ``dimensions``)."""
        return cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={
                "errors": self.metric_invocation_5xx_errors(**props),
                "invocations": self.metric_invocations(**props),
            },
            period=period,
            label="5XX error rate (%)",
        )


class EndpointBase(InvocationMetrics, cdk.Resource):
    """An endpoint's identity and what can be derived from it: ARN, CloudWatch metrics, invoke grants.

    Both created endpoints and imported ones (``from_endpoint_name``, ``from_endpoint_arn``,
    ``from_endpoint_attributes``) derive from this class, a ``cdk.Resource`` like the CDK's own L2s: an
    imported endpoint of another account or region carries that environment (``env``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_names: Sequence[str],
        endpoint_arn: str | None = None,
    ):
        super().__init__(scope, construct_id, environment_from_arn=endpoint_arn)
        self.endpoint_name = endpoint_name
        """The endpoint's stable name, used by clients."""
        self.endpoint_arn = endpoint_arn or cdk.Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
        )
        """The endpoint's ARN (SageMaker lowercases the name in ARNs)."""
        self.variant_names = tuple(variant_names)
        """The production variants' names; metrics default to the first."""

    # -- metrics ---------------------------------------------------------------------------------------------

    def metric(
        self,
        metric_name: str,
        *,
        namespace: str = INVOCATION_NAMESPACE,
        statistic: str = "Average",
        unit: cloudwatch.Unit | None = None,
        variant_name: str | None = None,
        dimensions: dict[str, str] | None = None,
        **props: Any,
    ) -> cloudwatch.Metric:
        """A metric of this endpoint's variant (default: the first), dimensions EndpointName and VariantName."""
        return metric_facts.metric(
            namespace=namespace,
            metric_name=metric_name,
            statistic=statistic,
            unit=unit,
            dimensions_map={
                "EndpointName": self.endpoint_name,
                "VariantName": variant_name or self.variant_names[0],
                **(dimensions or {}),
            },
            **props,
        )

    def metric_invocations_per_instance(self, **props: Any) -> cloudwatch.Metric:
        """Requests per instance (Sum); what SageMakerVariantInvocationsPerInstance target tracking uses."""
        return self.metric("InvocationsPerInstance", statistic="Sum", **props)

    def _instance_metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        return self.metric(metric_name, namespace=INSTANCE_NAMESPACE, unit=cloudwatch.Unit.PERCENT, **props)

    def metric_cpu_utilization(self, **props: Any) -> cloudwatch.Metric:
        """CPU utilization, percent of one core (0-100 x vCPUs) (Average)."""
        return self._instance_metric("CPUUtilization", **props)

    def metric_memory_utilization(self, **props: Any) -> cloudwatch.Metric:
        """Memory utilization, percent (Average)."""
        return self._instance_metric("MemoryUtilization", **props)

    def metric_disk_utilization(self, **props: Any) -> cloudwatch.Metric:
        """Disk utilization, percent (Average)."""
        return self._instance_metric("DiskUtilization", **props)

    def metric_gpu_utilization(self, **props: Any) -> cloudwatch.Metric:
        """GPU utilization, percent of one GPU (0-100 x GPUs) (Average)."""
        return self._instance_metric("GPUUtilization", **props)

    def metric_gpu_memory_utilization(self, **props: Any) -> cloudwatch.Metric:
        """GPU memory utilization, percent of one GPU (Average)."""
        return self._instance_metric("GPUMemoryUtilization", **props)

    # -- resources of created endpoints ----------------------------------------------------------------------

    def _host(
        self,
        model: sagemaker.CfnModel,
        variants: Sequence[ProductionVariant],
        volume_encryption_key: kms.IKey | None,
        data_capture: sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None = None,
    ) -> None:
        """Serve ``model`` on instance-backed ``variants``: an unnamed endpoint config and the named endpoint."""
        resources = create_endpoint(
            self,
            endpoint_name=self.endpoint_name,
            production_variants=[v.render(model.attr_model_name) for v in variants],
            volume_encryption_key=volume_encryption_key,
            data_capture=data_capture,
        )
        self.endpoint_config = resources.config
        """The endpoint config (generated name)."""
        self.endpoint = resources.endpoint
        """The endpoint (stable name)."""
        self.production_variants = tuple(variants)
        """The production variants, as configured."""

    # -- grants ----------------------------------------------------------------------------------------------

    def _grant_invoke(
        self, grantee: iam.IGrantable, *, condition_key: str | None = None, patterns: Sequence[str] = ()
    ) -> iam.Grant:
        """``sagemaker:InvokeEndpoint`` on this endpoint only, limited to ``patterns`` of ``condition_key``."""
        conditions = {"StringLike": {condition_key: list(patterns)}} if condition_key else None
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:InvokeEndpoint"],
            resource_arns=[self.endpoint_arn],
            conditions=conditions,
        )


@dataclass(frozen=True, kw_only=True)
class EndpointAttributes:
    """What identifies an existing endpoint (``from_endpoint_attributes``)."""

    endpoint_arn: str
    """``arn:<partition>:sagemaker:<region>:<account>:endpoint/<name>``: the account and region it lives in."""

    variant_names: Sequence[str] = ("AllTraffic",)
    """Its production variants; metrics default to the first."""


def endpoint_name_from_arn(owner: str, endpoint_arn: str) -> str:
    """The endpoint name an endpoint ARN ends with (a token stays a token)."""
    if limits.is_token(endpoint_arn):
        return cdk.Arn.extract_resource_name(endpoint_arn, "endpoint")
    parts = endpoint_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sagemaker" or not parts[5].startswith("endpoint/"):
        raise limits.fail(owner, "endpoint_arn", endpoint_arn, "is not a SageMaker endpoint ARN (...:endpoint/NAME)")
    name = parts[5].removeprefix("endpoint/")
    limits.check_name(owner, "endpoint_arn", name, lowercase=True)
    return name


@dataclass(frozen=True)
class EndpointResources:
    """The endpoint config and endpoint created for a model."""

    config: sagemaker.CfnEndpointConfig
    endpoint: sagemaker.CfnEndpoint


def validate_endpoint(owner: str, *, endpoint_name: str, variants: Sequence[ProductionVariant]) -> None:
    """The endpoint name (lowercase, 1-63) and its variants."""
    limits.check_name(owner, "endpoint_name", endpoint_name, lowercase=True)
    validate_variants(owner, variants)


def model_network(
    scope: Construct, role: ExecutionRole, network: EndpointNetwork | None
) -> sagemaker.CfnModel.VpcConfigProperty | None:
    """The model's VpcConfig, and the ENI permissions SageMaker needs to attach to it."""
    if network is None:
        return None
    owner = f"endpoint {scope.node.path}"
    if network.subnets:
        subnet_ids = network.vpc.select_subnets(subnets=list(network.subnets)).subnet_ids
    else:
        subnet_ids = network.vpc.select_subnets(subnet_type=network.subnet_type).subnet_ids
    if not limits.is_token(subnet_ids):
        limits.check_range(owner, "number of subnets", len(subnet_ids), 1, 16)
    groups = list(network.security_groups) or [
        ec2.SecurityGroup(scope, "SecurityGroup", vpc=network.vpc, description=f"SageMaker model of {scope.node.path}")
    ]
    limits.check_range(owner, "number of security_groups", len(groups), 1, 5)
    role.add_to_policy(
        iam.PolicyStatement(
            actions=[
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            resources=["*"],
        )
    )
    return sagemaker.CfnModel.VpcConfigProperty(
        subnets=subnet_ids, security_group_ids=[g.security_group_id for g in groups]
    )


def create_model(
    scope: Construct,
    *,
    role: ExecutionRole,
    network: EndpointNetwork | None,
    enable_network_isolation: bool,
    primary_container: sagemaker.CfnModel.ContainerDefinitionProperty | None = None,
    containers: Sequence[sagemaker.CfnModel.ContainerDefinitionProperty] | None = None,
    inference_execution_mode: str | None = None,
) -> sagemaker.CfnModel:
    """The SageMaker model, without a name (every change replaces it), created after its role's policy."""
    model = sagemaker.CfnModel(
        scope,
        "Model",
        execution_role_arn=role.role.role_arn,
        primary_container=primary_container,
        containers=list(containers) if containers else None,
        inference_execution_config=(
            sagemaker.CfnModel.InferenceExecutionConfigProperty(mode=inference_execution_mode)
            if inference_execution_mode
            else None
        ),
        vpc_config=model_network(scope, role, network),
        enable_network_isolation=enable_network_isolation or None,
    )
    # CreateModel checks that the role can reach the images and model data: the policy must exist first (the
    # role's subtree holds its default policy; an imported role adds no dependency).
    model.node.add_dependency(role, role.role)
    return model


def create_endpoint(
    scope: Construct,
    *,
    endpoint_name: str,
    production_variants: Sequence[sagemaker.CfnEndpointConfig.ProductionVariantProperty],
    volume_encryption_key: kms.IKey | None,
    data_capture: sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None = None,
) -> EndpointResources:
    """An endpoint config (generated name: it is replaced on every change) and an endpoint with a stable name.

    ``data_capture``: a ``DataCapture`` as ``DataCapture.render`` returns it (validated, the execution role granted
    its writes); only kinds SageMaker supports capture on may pass one.
    """
    config = sagemaker.CfnEndpointConfig(
        scope,
        "Config",
        production_variants=list(production_variants),
        kms_key_id=volume_encryption_key.key_arn if volume_encryption_key else None,
        data_capture_config=data_capture,
    )
    if volume_encryption_key is not None:
        for variant in production_variants:
            if variant.instance_type and _LOCAL_NVME.match(variant.instance_type):
                cdk.Annotations.of(config).add_warning_v2(
                    "sagemaker:nvme-volume-key",
                    f"{variant.instance_type} has local NVMe storage encrypted in hardware; "
                    "the volume KMS key does not apply to it",
                )
    endpoint = sagemaker.CfnEndpoint(
        scope,
        "Endpoint",
        endpoint_name=endpoint_name,
        endpoint_config_name=config.attr_endpoint_config_name,
    )
    return EndpointResources(config=config, endpoint=endpoint)


def construct_id_from_name(name: str) -> str:
    """The CamelCase construct id of a hyphenated name (``tensorflow-mnist`` -> ``TensorflowMnist``)."""
    return "".join(part.capitalize() for part in name.split("-"))


def publish_endpoint(
    scope: Construct, *, endpoint_name: str, parameter_path: str | None, values: dict[str, str]
) -> None:
    """Stack outputs, and SSM parameters under ``parameter_path`` when given, for clients and tools."""
    for key, value in {"endpoint-name": endpoint_name, **values}.items():
        output_id = construct_id_from_name(key)
        cdk.CfnOutput(scope, output_id, value=value, description=f"{key} of endpoint {endpoint_name}")
        if parameter_path is not None:
            ssm.StringParameter(
                scope,
                f"{output_id}Parameter",
                parameter_name=f"{parameter_path}/{key}",
                string_value=value,
                description=f"{key} of endpoint {endpoint_name}",
            )


__all__ = [
    "INSTANCE_NAMESPACE",
    "INVOCATION_NAMESPACE",
    "EndpointAttributes",
    "EndpointBase",
    "EndpointNetwork",
    "EndpointResources",
    "construct_id_from_name",
    "create_endpoint",
    "create_model",
    "endpoint_name_from_arn",
    "model_network",
    "publish_endpoint",
    "validate_endpoint",
]
