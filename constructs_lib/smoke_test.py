"""EndpointSmokeTest: after each deploy, invoke an endpoint's canaries; any failure fails the deployment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.compliance import acknowledge, default_policy, nag_resource_id
from constructs_lib.hardened_function import HardenedFunction
from constructs_lib.multi_container_endpoint import InferenceMode, MultiContainerEndpoint
from constructs_lib.multi_model_endpoint import MultiModelEndpoint


@dataclass(frozen=True, kw_only=True)
class SmokeInvocation:
    """One request the smoke test sends."""

    body: str
    """The request body (text)."""

    content_type: str = "application/json"
    """Its content type."""

    target_model: str | None = None
    """Multi-model: the canary model (it must be uploaded, and valid, before the deploy)."""

    target_container: str | None = None
    """Direct multi-container: the container to call."""


class SmokeTestProvider(Construct):
    """The function behind every EndpointSmokeTest of a stack (create one and share it)."""

    def __init__(self, scope: Construct, construct_id: str, *, log_encryption_key: kms.IKey | None = None) -> None:
        """Create the function (log group encrypted with ``log_encryption_key`` when given)."""
        super().__init__(scope, construct_id)
        self.custom = HardenedFunction(
            self,
            "Resource",
            folder="smoke_test",
            description="Post-deploy smoke test of SageMaker endpoints",
            log_encryption_key=log_encryption_key,
            timeout=cdk.Duration.minutes(10),
        )
        self.function = self.custom.function
        """The function; custom resources use its ARN as service token."""
        stack = cdk.Stack.of(self)
        endpoints = stack.format_arn(service="sagemaker", resource="endpoint", resource_name="*")
        self.custom.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoints])
        )
        acknowledge(
            default_policy(self.custom.role),
            f"AwsSolutions-IAM5[Resource::{nag_resource_id(self, endpoints)}]",
            "DescribeEndpoint only: it reads the status and config of the endpoints under test. Invocation is "
            "granted per endpoint and canary.",
        )
        self.custom.acknowledge_inline_policy()


class EndpointSmokeTest(Construct):
    """A custom resource, run whenever the endpoint's config changes, that fails the deployment when:

    - the endpoint is not InService, or runs another endpoint config than the one this deploy set (SageMaker
      rolled the update back on its own, which CloudFormation alone reports as a success);
    - any ``invocations`` fails (a multi-model canary still loading is retried, up to a few minutes).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: MultiModelEndpoint | MultiContainerEndpoint,
        invocations: Sequence[SmokeInvocation],
        provider: SmokeTestProvider,
    ) -> None:
        """Test ``endpoint`` with ``invocations`` (canary models, or each Direct container)."""
        super().__init__(scope, construct_id)
        owner = f"EndpointSmokeTest {self.node.path}"
        if not invocations:
            raise limits.fail(owner, "invocations", [], "must list at least one request")
        for invocation in invocations:
            _check_invocation(owner, endpoint, invocation)
        if isinstance(endpoint, MultiModelEndpoint):
            endpoint.grant_invoke(provider.custom.role, models=[i.target_model or "" for i in invocations])
        elif endpoint.mode is InferenceMode.DIRECT:
            endpoint.grant_invoke(provider.custom.role, containers=[i.target_container or "" for i in invocations])
        else:
            endpoint.grant_invoke(provider.custom.role)
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.function.function_arn,
            resource_type="Custom::SageMakerSmokeTest",
            properties={
                "EndpointName": endpoint.endpoint_name,
                # A new config on every change: the test runs after each deploy that touched the endpoint.
                "ExpectedEndpointConfigName": endpoint.endpoint_config.attr_endpoint_config_name,
                "Invocations": [_render(i) for i in invocations],
            },
        )
        """The custom resource."""
        self.resource.node.add_dependency(endpoint.endpoint)


def _check_invocation(owner: str, endpoint: MultiModelEndpoint | MultiContainerEndpoint, call: SmokeInvocation) -> None:
    if isinstance(endpoint, MultiModelEndpoint):
        if not call.target_model or call.target_container:
            raise limits.fail(
                owner, "target_model", call.target_model, "is required (and alone) for a multi-model endpoint"
            )
        limits.check_target_pattern(owner, "target_model", call.target_model)
    elif endpoint.mode is InferenceMode.DIRECT:
        if call.target_container not in endpoint.hostnames or call.target_model:
            raise limits.fail(owner, "target_container", call.target_container, f"must be one of {endpoint.hostnames}")
    elif call.target_container or call.target_model:
        raise limits.fail(owner, "target", call.target_container or call.target_model, "does not apply to a pipeline")


def _render(call: SmokeInvocation) -> dict[str, str]:
    rendered = {"Body": call.body, "ContentType": call.content_type}
    if call.target_model:
        rendered["TargetModel"] = call.target_model
    if call.target_container:
        rendered["TargetContainerHostname"] = call.target_container
    return rendered
