"""EndpointSmokeTest: after each deploy, invoke an endpoint's canaries; any failure fails the deployment."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.hardened_function import HardenedFunction
from constructs_lib.hosted_endpoint import HostedEndpoint, SmokeInvocation

#: The function's timeout. The function answers CloudFormation before it, whatever the endpoint does: it stops
#: testing at a deadline taken from Lambda's remaining time.
FUNCTION_TIMEOUT = cdk.Duration.minutes(10)
#: How much longer than the function CloudFormation waits by default (ServiceTimeout, "AWS::CloudFormation::
#: CustomResource", AWS CloudFormation Template Reference: 1 to 3600 seconds, 3600 when unset). CloudFormation
#: invokes the function asynchronously ("Using AWS Lambda with CloudFormation", AWS Lambda Developer Guide), so
#: the invocation may wait in Lambda's queue a little before its own timeout starts counting.
SERVICE_TIMEOUT_SLACK = cdk.Duration.minutes(1)


class SmokeTestProvider(Construct):
    """The function behind every EndpointSmokeTest of a stack (create one per stack and share it)."""

    def __init__(self, scope: Construct, construct_id: str, *, log_encryption_key: kms.IKey | None = None) -> None:
        """Create the function (log group encrypted with ``log_encryption_key`` when given)."""
        super().__init__(scope, construct_id)
        self.timeout = FUNCTION_TIMEOUT
        """The function's timeout."""
        self.custom = HardenedFunction(
            self,
            "Resource",
            folder="smoke_test",
            description="Post-deploy smoke test of SageMaker endpoints",
            log_encryption_key=log_encryption_key,
            timeout=self.timeout,
            # CloudFormation invokes a custom resource's function asynchronously: Lambda's default two retries
            # would run the canaries again after CloudFormation stopped waiting; every path answers, so a retry
            # has nothing to add.
            retry_attempts=0,
        )
        self.function = self.custom.function
        """The function; custom resources use its ARN as service token."""
        stack = cdk.Stack.of(self)
        # DescribeEndpoint on exactly the endpoints under test: each EndpointSmokeTest adds its own (allow_endpoint).
        self._describe = iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"])
        self._described: set[str] = set()
        # During a rollback CloudFormation sends an ordinary Update; only the stack's status tells the function
        # not to fail it. DescribeStacks takes a stack ARN as resource (Service Authorization Reference, "Actions,
        # resources, and condition keys for AWS CloudFormation"), so it is granted on this stack alone.
        self.custom.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id])
        )
        self.custom.acknowledge_inline_policy()

    def allow_endpoint(self, endpoint_arn: str) -> None:
        """Let the function describe the endpoint ``endpoint_arn`` (its status and running config)."""
        if endpoint_arn in self._described:
            return
        if not self._described:
            self.custom.role.add_to_principal_policy(self._describe)
        self._described.add(endpoint_arn)
        self._describe.add_resources(endpoint_arn)


class EndpointSmokeTest(Construct):
    """A custom resource, run whenever the endpoint's config changes, that fails the deployment when:

    - the endpoint is not InService, or runs another endpoint config than the one this deploy set (SageMaker
      rolled the update back on its own, which CloudFormation alone reports as a success);
    - any ``invocations`` fails (a multi-model canary still loading is retried, up to a few minutes);
    - the invocations do not finish before the function's deadline (it then answers before its timeout).

    It never fails a rollback: while the stack rolls back it answers SUCCESS without invoking anything.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: HostedEndpoint,
        invocations: Sequence[SmokeInvocation],
        provider: SmokeTestProvider,
        service_timeout: cdk.Duration | None = None,
    ) -> None:
        """Test ``endpoint`` with ``invocations`` (canary models, each Direct container, or each inference component).

        :param provider: the function of this stack (it may read this stack's status only).
        :param service_timeout: how long CloudFormation waits for the answer before failing the resource
            (``ServiceTimeout``, whole seconds up to an hour). Longer than the function's timeout, which the
            function always answers within. Default: the function's timeout plus a minute.
        """
        super().__init__(scope, construct_id)
        owner = f"EndpointSmokeTest {self.node.path}"
        if cdk.Stack.of(provider) is not cdk.Stack.of(self):
            raise limits.fail(
                owner, "provider", provider.node.path, "must be in the same stack (it reads that stack's status)"
            )
        timeout = service_timeout or provider.timeout.plus(SERVICE_TIMEOUT_SLACK)
        if timeout.to_seconds() <= provider.timeout.to_seconds():
            raise limits.fail(
                owner,
                "service_timeout",
                timeout.to_human_string(),
                f"must be longer than the function's timeout ({provider.timeout.to_human_string()}): "
                "CloudFormation would give up while the test still runs",
            )
        if not invocations:
            raise limits.fail(owner, "invocations", [], "must list at least one request")
        for invocation in invocations:
            endpoint.check_smoke_invocation(owner, invocation)
        provider.allow_endpoint(endpoint.endpoint_arn)
        endpoint.grant_smoke_invocations(provider.custom.role, invocations)
        expectations = endpoint.prepare_smoke_test(provider.custom.role)
        properties: dict[str, object] = {
            "EndpointName": endpoint.endpoint_name,
            # A new config on every change: the test runs after each deploy that touched the endpoint.
            "ExpectedEndpointConfigName": endpoint.endpoint_config.attr_endpoint_config_name,
            "Invocations": [_render(i) for i in invocations],
        }
        if expectations.expected_models:
            # A new model name on every change of a tested component: the test runs after it too.
            properties["ExpectedModels"] = dict(expectations.expected_models)
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.function.function_arn,
            resource_type="Custom::SageMakerSmokeTest",
            # Unset, CloudFormation would wait an hour for a function that stopped without answering.
            service_timeout=timeout,
            properties=properties,
        )
        """The custom resource."""
        provider.custom.backs(self.resource)
        # CustomResource renders ServiceTimeout as a string, which the CDK's CloudFormation validator reports
        # (W9003): the resource specification types it as an integer.
        cfn = self.resource.node.default_child
        assert isinstance(cfn, cdk.CfnResource)
        cfn.add_property_override("ServiceTimeout", int(timeout.to_seconds()))
        self.resource.node.add_dependency(endpoint.endpoint, *expectations.dependencies)


def _render(call: SmokeInvocation) -> dict[str, str]:
    rendered = {"Body": call.body, "ContentType": call.content_type}
    if call.target_model:
        rendered["TargetModel"] = call.target_model
    if call.target_container:
        rendered["TargetContainerHostname"] = call.target_container
    if call.inference_component:
        rendered["InferenceComponentName"] = call.inference_component
    return rendered


__all__ = ["FUNCTION_TIMEOUT", "SERVICE_TIMEOUT_SLACK", "EndpointSmokeTest", "SmokeInvocation", "SmokeTestProvider"]
