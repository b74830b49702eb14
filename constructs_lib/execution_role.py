"""ExecutionRole: the least-privilege role a SageMaker model runs as."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.compliance import acknowledge, acknowledge_control_rule, default_policy, nag_resource_id
from constructs_lib.errors import ValidationError
from constructs_lib.sagemaker_limits import check_name
from hosting_contract import naming

_NO_RESOURCE_SCOPE = "{action} has no resource-level permissions in IAM; AWS offers only Resource '*'."


class ExecutionRole(Construct):
    """The role SageMaker assumes to pull images, read model archives and write logs and metrics.

    It starts with CloudWatch Logs on the endpoint's own log group, ``cloudwatch:PutMetricData`` and
    ``ecr:GetAuthorizationToken``. Images and prefixes add their grants when bound (``ServingImage.bind``,
    ``ModelPrefix.grant_read``). Never ``AmazonSageMakerFullAccess``.

    Given an existing ``role`` (any ``iam.IRole``), the same statements are added to it; an imported role
    (``iam.Role.from_role_arn(..., mutable=False)``) takes none, and must already hold them.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, endpoint_name: str, role: iam.IRole | None = None
    ) -> None:
        """Create the role for the endpoint named ``endpoint_name`` (its log group is scoped by that name), or
        extend ``role`` with the same statements."""
        super().__init__(scope, construct_id)
        self._has_policy = False
        check_name(f"ExecutionRole {self.node.path}", "endpoint_name", endpoint_name, lowercase=True)
        stack = cdk.Stack.of(self)
        self.role: iam.IRole = role or iam.Role(
            self,
            "Resource",
            # Confused-deputy guard for the trust policy: SageMaker assumes the role only on behalf of this
            # account's resources in this region (SageMaker Developer Guide, "Cross-service confused deputy
            # prevention": aws:SourceAccount and aws:SourceArn).
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="sagemaker", resource="*")},
                },
            ),
            description=f"SageMaker execution role of endpoint {endpoint_name}",
        )
        """The IAM role."""
        # SageMaker creates the endpoint's log group itself when it does not exist yet.
        self._allow_logs(
            naming.endpoint_log_group(endpoint_name),
            create=True,
            streams="SageMaker names the log streams of its own log group per variant and instance at run time.",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"], resources=["*"])
        )
        self._acknowledge_policy(
            "AwsSolutions-IAM5[Resource::*]",
            " ".join(
                _NO_RESOURCE_SCOPE.format(action=a) for a in ("cloudwatch:PutMetricData", "ecr:GetAuthorizationToken")
            ),
        )
        if not self._owns_policy:
            return
        acknowledge_control_rule(
            default_policy(self.role),
            "IAMNoInlinePolicy",
            "This policy belongs to this one role and is created and deleted with it; a managed policy would "
            "add an attachment point for other roles without narrowing any permission.",
        )

    def allow_log_group(self, log_group_name: str) -> None:
        """Let the containers write to the existing log group ``log_group_name`` too (its streams are named by
        SageMaker at run time), e.g. an inference component's."""
        self._allow_logs(
            log_group_name,
            create=False,
            streams="SageMaker names the log streams of this log group per copy and instance at run time.",
        )

    def _allow_logs(self, log_group_name: str, *, create: bool, streams: str) -> None:
        """Describe (and create, if ``create``) the log group ``log_group_name`` and write to any of its streams,
        whose names SageMaker chooses (``streams``: why the wildcard, for the acknowledgment)."""
        log_group = cdk.Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=log_group_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        actions = ["logs:CreateLogGroup", "logs:DescribeLogStreams"] if create else ["logs:DescribeLogStreams"]
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=[log_group]))
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[f"{log_group}:log-stream:*"]
            )
        )
        self.acknowledge_wildcard(f"{log_group}:log-stream:*", streams)

    def add_to_policy(self, statement: iam.PolicyStatement) -> None:
        """Add ``statement`` to the role's policy."""
        self.role.add_to_principal_policy(statement)

    def acknowledge_wildcard(self, resource: str, reason: str) -> None:
        """Acknowledge the AwsSolutions-IAM5 finding for the wildcard ARN ``resource`` in this role's policy.

        ``resource`` is the ARN as granted (tokens allowed, same stack only); ``reason`` says why the wildcard
        cannot be narrowed.
        """
        self._acknowledge_policy(f"AwsSolutions-IAM5[Resource::{nag_resource_id(self, resource)}]", reason)

    @property
    def _owns_policy(self) -> bool:
        """Whether grants land in a policy of this app's (an imported, immutable role takes none)."""
        # Asked of the CDK until the policy exists (the first grant creates it), then remembered.
        if not self._has_policy:
            self._has_policy = self.role.node.try_find_child("DefaultPolicy") is not None
        return self._has_policy

    def _acknowledge_policy(self, rule_id: str, reason: str) -> None:
        if self._owns_policy:
            acknowledge(default_policy(self.role), rule_id, reason)


def execution_role_for(
    scope: Construct, endpoint_name: str, execution_role: ExecutionRole | iam.IRole | None
) -> ExecutionRole:
    """What an endpoint runs as: ``execution_role`` as given, any ``iam.IRole`` extended, or a new role."""
    if isinstance(execution_role, ExecutionRole):
        return execution_role
    if isinstance(execution_role, iam.Role):
        _check_trusts_sagemaker(f"endpoint {scope.node.path}", execution_role)
    return ExecutionRole(scope, "ExecutionRole", endpoint_name=endpoint_name, role=execution_role)


def _check_trusts_sagemaker(owner: str, role: iam.Role) -> None:
    """CreateModel passes the role to SageMaker, which must be able to assume it: its trust policy must allow
    ``sts:AssumeRole`` to ``sagemaker.amazonaws.com`` (SageMaker Developer Guide, "How to use SageMaker AI
    execution roles"); otherwise the deploy fails at CreateModel. An imported role's trust is not known here."""
    document = role.assume_role_policy
    statements = cdk.Stack.of(role).resolve(document.to_json())["Statement"] if document else []
    for statement in statements:
        services = statement.get("Principal", {}).get("Service", [])
        actions = statement.get("Action", [])
        if (
            statement.get("Effect") == "Allow"
            and "sagemaker.amazonaws.com" in ([services] if isinstance(services, str) else services)
            and "sts:AssumeRole" in ([actions] if isinstance(actions, str) else actions)
        ):
            return
    raise ValidationError(
        f"{owner}: execution_role {role.node.path} must trust sagemaker.amazonaws.com (sts:AssumeRole): "
        "SageMaker assumes it to create the model"
    )
