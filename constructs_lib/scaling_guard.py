"""ScalingGuard: lets an endpoint update change a scaled variant's instance type (see lambda/scaling_guard)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from constructs_lib.compliance import HIPAA_AND_NIST, acknowledge, acknowledge_control_rule, nag_resource_id

LAMBDA_DIR = Path(__file__).resolve().parents[1] / "lambda"
#: The newest Python runtime this aws-cdk-lib knows (cdk-nag's AwsSolutions-L1 asks for exactly that); the
#: handlers also run on the project's Python 3.11, where their tests run.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14


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
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=log_encryption_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(LAMBDA_DIR / "scaling_guard")),
            timeout=cdk.Duration.minutes(5),
            memory_size=256,
            role=role,
            log_group=log_group,
            description="Releases and restores SageMaker scalable targets around endpoint instance-type changes",
        )
        """The function; custom resources use its ARN as service token."""
        log_group.grant_write(role)
        role.add_to_principal_policy(
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
        # Registering a SageMaker target makes Application Auto Scaling check the endpoint with the caller's rights.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                ],
                resources=[
                    stack.format_arn(service="sagemaker", resource="endpoint", resource_name="*"),
                    stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*"),
                ],
            )
        )
        self._acknowledge(role, log_encryption_key is None)

    def _acknowledge(self, role: iam.Role, unencrypted_logs: bool) -> None:
        policy = role.node.find_child("DefaultPolicy").node.find_child("Resource")
        function = self.function.node.default_child
        assert function is not None
        stack = cdk.Stack.of(self)
        for resource, why in (
            ("*", "Application Auto Scaling's actions have no resource-level permissions for scalable targets."),
            (
                stack.format_arn(service="sagemaker", resource="endpoint", resource_name="*"),
                "The guard serves every scaled endpoint of the stack; their names are only known per request.",
            ),
            (
                stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*"),
                "Endpoint configs have generated names (they are replaced on every change).",
            ),
        ):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{nag_resource_id(self, resource)}]", why)
        acknowledge_control_rule(policy, "IAMNoInlinePolicy", "This policy belongs to the guard's own role only.")
        acknowledge_control_rule(
            function,
            "LambdaDLQ",
            "CloudFormation invokes this custom-resource function synchronously and is told of every failure; "
            "a dead-letter queue would never receive anything.",
            packs=HIPAA_AND_NIST,
        )
        acknowledge_control_rule(
            function,
            "LambdaConcurrency",
            "Invoked by CloudFormation a few times per deployment; reserving concurrency would take capacity from "
            "the account's pool and fails in accounts at the minimum unreserved concurrency.",
            packs=HIPAA_AND_NIST,
        )
        acknowledge_control_rule(
            function,
            "LambdaInsideVPC",
            "The function calls only AWS control-plane APIs; a VPC would add NAT or interface endpoints "
            "without reducing what it can reach.",
        )
        if unencrypted_logs:
            acknowledge_control_rule(
                self.node.find_child("Logs").node.default_child or self,
                "CloudWatchLogGroupEncrypted",
                "The log holds endpoint and variant names only; CloudWatch Logs encrypts it with its own key.",
            )


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
