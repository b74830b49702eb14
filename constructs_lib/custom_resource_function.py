"""CustomResourceFunction: a Lambda function that CloudFormation invokes for a custom resource."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib.compliance import HIPAA_AND_NIST, acknowledge_control_rule

LAMBDA_DIR = Path(__file__).resolve().parents[1] / "lambda"
#: The newest Python runtime this aws-cdk-lib knows (cdk-nag's AwsSolutions-L1 asks for exactly that); the
#: handlers also run on the project's Python 3.11, where their tests run.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14


class CustomResourceFunction(Construct):
    """A function for custom resources: code from ``lambda/<folder>``, its own role and encrypted log group.

    The compliance findings that cannot apply to a function CloudFormation calls synchronously are acknowledged
    here once, with their reasons (dead-letter queue, reserved concurrency, VPC, the role's inline policy).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        folder: str,
        description: str,
        log_encryption_key: kms.IKey | None = None,
        timeout: cdk.Duration | None = None,
    ) -> None:
        """Create the function from ``lambda/<folder>`` (links in the folder are followed into the asset)."""
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=log_encryption_key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        """The function's role; grant to it."""
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(LAMBDA_DIR / folder), follow_symlinks=cdk.SymlinkFollowMode.ALWAYS),
            timeout=timeout or cdk.Duration.minutes(5),
            memory_size=256,
            role=self.role,
            log_group=log_group,
            description=description,
        )
        """The function; custom resources use its ARN as service token."""
        log_group.grant_write(self.role)
        resource = self.function.node.default_child
        assert resource is not None
        acknowledge_control_rule(
            resource,
            "LambdaDLQ",
            "CloudFormation invokes this custom-resource function synchronously and is told of every failure; "
            "a dead-letter queue would never receive anything.",
            packs=HIPAA_AND_NIST,
        )
        acknowledge_control_rule(
            resource,
            "LambdaConcurrency",
            "Invoked by CloudFormation a few times per deployment; reserving concurrency would take capacity from "
            "the account's pool and fails in accounts at the minimum unreserved concurrency.",
            packs=HIPAA_AND_NIST,
        )
        acknowledge_control_rule(
            resource,
            "LambdaInsideVPC",
            "The function calls only AWS APIs; a VPC would add NAT or interface endpoints without reducing "
            "what it can reach.",
        )
        if log_encryption_key is None:
            acknowledge_control_rule(
                log_group.node.default_child or log_group,
                "CloudWatchLogGroupEncrypted",
                "The log holds resource names and outcomes only; CloudWatch Logs encrypts it with its own key.",
            )

    def acknowledge_inline_policy(self) -> None:
        """Call after the grants, which create the role's default (inline) policy."""
        acknowledge_control_rule(
            self.role.node.find_child("DefaultPolicy").node.find_child("Resource"),
            "IAMNoInlinePolicy",
            "This policy belongs to the function's own role only.",
        )
