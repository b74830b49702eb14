"""ScalingGuard: lets an endpoint update change a scaled variant's instance type (see lambda/scaling_guard)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from constructs_lib.compliance import acknowledge, default_policy, nag_resource_id
from constructs_lib.hardened_function import HardenedFunction


class ScalingGuardProvider(Construct):
    """The Lambda function behind every ScalingGuard of a stack (create one and share it).

    It may describe, register and deregister SageMaker scalable targets and their policies and scheduled
    actions, and nothing else.
    """

    def __init__(self, scope: Construct, construct_id: str, *, log_encryption_key: kms.IKey | None = None) -> None:
        """Create the function.

        :param log_encryption_key: KMS key for the function's log group (its key policy must allow CloudWatch
            Logs). Default: CloudWatch Logs' own encryption, acknowledged as such.
        """
        super().__init__(scope, construct_id)
        custom = HardenedFunction(
            self,
            "Resource",
            folder="scaling_guard",
            description="Releases and restores SageMaker scalable targets around endpoint instance-type changes",
            log_encryption_key=log_encryption_key,
        )
        self.function = custom.function
        """The function; custom resources use its ARN as service token."""
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    "application-autoscaling:DescribeScheduledActions",
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:PutScheduledAction",
                    "application-autoscaling:DeleteScheduledAction",
                ],
                resources=["*"],
            )
        )
        stack = cdk.Stack.of(self)
        endpoints = stack.format_arn(service="sagemaker", resource="endpoint", resource_name="*")
        configs = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
        # Registering a SageMaker target makes Application Auto Scaling check the endpoint with the caller's rights.
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                ],
                resources=[endpoints, configs],
            )
        )
        policy = default_policy(custom.role)
        for resource, why in (
            ("*", "Application Auto Scaling's actions have no resource-level permissions for scalable targets."),
            (endpoints, "The guard serves every scaled endpoint of the stack; their names are only known per request."),
            (configs, "Endpoint configs have generated names (they are replaced on every change)."),
        ):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{nag_resource_id(self, resource)}]", why)
        custom.acknowledge_inline_policy()


class ScalingGuard(Construct):
    """Release and restore of an endpoint's scaled variants around its updates.

    ``release`` is ordered before the endpoint and ``restore`` after it; scalable targets registered through
    ``add_variant`` are ordered after ``restore``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        provider: ScalingGuardProvider,
        endpoint: sagemaker.CfnEndpoint,
        endpoint_name: str,
    ) -> None:
        """Guard ``endpoint`` (named ``endpoint_name``) with ``provider``'s function."""
        super().__init__(scope, construct_id)
        self._variants: dict[str, str] = {}
        self.release = cdk.CustomResource(
            self,
            "Release",
            service_token=provider.function.function_arn,
            resource_type="Custom::SageMakerScalingRelease",
            properties={
                "Action": "release",
                "EndpointName": endpoint_name,
                "Variants": [],
            },
        )
        """Runs before the endpoint update."""
        endpoint.node.add_dependency(self.release)
        self.restore = cdk.CustomResource(
            self,
            "Restore",
            service_token=provider.function.function_arn,
            resource_type="Custom::SageMakerScalingRestore",
            properties={
                "Action": "restore",
                "EndpointName": endpoint_name,
                "Snapshot": self.release.get_att_string("Snapshot"),
            },
        )
        """Runs after the endpoint update."""
        self.restore.node.add_dependency(endpoint)

    def add_variant(self, variant_name: str, instance_type: str, scalable_target: IConstruct) -> None:
        """Guard ``variant_name`` (now of ``instance_type``), whose scalable target is ``scalable_target``."""
        self._variants[variant_name] = instance_type
        resource = self.release.node.default_child
        assert isinstance(resource, cdk.CfnResource)
        resource.add_property_override(
            "Variants",
            [{"VariantName": name, "InstanceType": kind} for name, kind in sorted(self._variants.items())],
        )
        scalable_target.node.add_dependency(self.restore)
