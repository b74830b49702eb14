"""ScalingGuard: lets an endpoint update change a scaled variant's instance type (see functions/scaling_guard)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IConstruct

from constructs_lib import sagemaker_limits as limits
from constructs_lib.alarm_topic import alarm_when_any, event_rule_metric
from constructs_lib.compliance import acknowledge, default_policy, nag_resource_id
from constructs_lib.hardened_function import HardenedFunction
from hosting_contract import ssm_paths

#: The function's timeout. It stops starting AWS calls a minute before (functions/scaling_guard/handler.py), so it
#: always answers CloudFormation itself.
FUNCTION_TIMEOUT = cdk.Duration.minutes(5)
#: How long CloudFormation waits for an answer (default: an hour): a little above the function's timeout, for
#: the invocation's queueing and cold start, so that a lost answer fails the deployment in minutes.
SERVICE_TIMEOUT = cdk.Duration.minutes(6)
#: How the CloudWatch alarms of a SageMaker variant's target-tracking policy begin: ``TargetTracking-`` and the
#: target's resource id (``endpoint/<endpoint>/variant/<variant>``), then ``-AlarmHigh-``/``-AlarmLow-`` and an id.
TARGET_TRACKING_ALARM_PREFIX = "TargetTracking-endpoint/"
#: Lambda's quota on a function's environment variables, names and values in aggregate (Lambda Developer Guide,
#: "Lambda quotas": 4 KB); the guard's lists the endpoints of its stack.
LAMBDA_ENVIRONMENT_BYTES = 4 * 1024
#: The longest SSM parameter name, hence snapshot path, when the path is known only at deploy time ("Parameter
#: naming constraints", AWS Systems Manager User Guide: 1011 characters).
_LONGEST_SSM_PATH = 1011


class ScalingGuardProvider(Construct):
    """The Lambda function behind every ScalingGuard of a stack (create one and share it).

    It may describe, register and deregister SageMaker scalable targets and their policies and scheduled
    actions (with the CloudWatch rights on their target-tracking alarms that Application Auto Scaling requires
    of its caller), read endpoints and their configs, keep snapshots in SSM parameters under
    ``<snapshot_parameter_path>/scaling-guard/``, read its own stack's status, and nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_encryption_key: kms.IKey | None = None,
        snapshot_parameter_path: str | None = None,
    ) -> None:
        """Create the function.

        :param log_encryption_key: KMS key for the function's log group (its key policy must allow CloudWatch
            Logs). Default: CloudWatch Logs' own encryption, acknowledged as such.
        :param snapshot_parameter_path: the SSM path (starts with '/', no trailing '/') under which released
            scalable targets are kept, as ``<path>/scaling-guard/<endpoint>/<variant>``, until they are
            registered again. Default: ``/sagemaker-hosting/<stack name>``.
        """
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        path = (
            snapshot_parameter_path
            if snapshot_parameter_path is not None
            else ssm_paths.snapshot_root(stack.stack_name)
        )
        if not limits.is_token(path) and not ssm_paths.is_path(path):
            raise limits.fail(
                f"ScalingGuardProvider {self.node.path}",
                "snapshot_parameter_path",
                path,
                "must start with '/', not end with '/', and hold only letters, digits and _.-/",
            )
        self.snapshot_parameter_path = path
        """The SSM path of the snapshots (they are under ``<path>/scaling-guard/``)."""
        custom = HardenedFunction(
            self,
            "Resource",
            folder="scaling_guard",
            description="Releases and restores SageMaker scalable targets around endpoint instance-type changes",
            log_encryption_key=log_encryption_key,
            timeout=FUNCTION_TIMEOUT,
            environment={ssm_paths.SNAPSHOT_PATH_VARIABLE: path},
            # A retry would come after CloudFormation stopped waiting (SERVICE_TIMEOUT) and could run alongside
            # the rollback's requests; every path answers, so a retry has nothing to add.
            retry_attempts=0,
            without_dead_letters=(
                "Backs custom resources, which answer CloudFormation on every path (ServiceTimeout bounds the wait "
                "otherwise), and settles a completed rollback: an idempotent pass over the stored snapshots, which "
                "a failed pass leaves stored and logs (the runbook's manual steps apply); a dead-letter queue would "
                "hold nothing more to act on."
            ),
        )
        self.function = custom.function
        """The function; custom resources use its ARN as service token."""
        self.custom = custom
        """The function with its role and settings (``HardenedFunction``)."""
        # Reading is unconditional (the Describe actions take no resource and no service condition key); every
        # write is held to SageMaker variants by Application Auto Scaling's own condition keys, which the Service
        # Authorization Reference lists for Register/Deregister, Put/Delete scaling policy and scheduled action.
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    "application-autoscaling:DescribeScheduledActions",
                ],
                resources=["*"],
            )
        )
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:PutScheduledAction",
                    "application-autoscaling:DeleteScheduledAction",
                ],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "application-autoscaling:service-namespace": "sagemaker",
                        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
                    }
                },
            )
        )
        configs = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
        # Registering a SageMaker target makes Application Auto Scaling check the endpoint with the caller's
        # rights; the guard reads what the endpoint runs. Endpoints are the guarded ones only (allow_endpoint).
        self._endpoint_rights = iam.PolicyStatement(
            actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"]
        )
        self._endpoints: set[str] = set()
        self._endpoint_names: list[str] = []
        self._role = custom.role
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpointConfig"], resources=[configs])
        )
        # Application Auto Scaling checks that the caller of RegisterScalableTarget, PutScalingPolicy and
        # DeleteScalingPolicy may itself describe, put and delete CloudWatch alarms ("Permissions validation for
        # API calls on target resources" and "Identity-based policy examples", SageMaker endpoints, Application
        # Auto Scaling User Guide). The alarms of a SageMaker variant's target-tracking policy are named
        # ``TargetTracking-endpoint/<endpoint>/variant/<variant>-AlarmHigh-<uuid>`` (and ``-AlarmLow-``): the
        # Service Authorization Reference gives all three actions the ``alarm`` resource, so all are scoped to them.
        alarms = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{TARGET_TRACKING_ALARM_PREFIX}*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
                resources=[alarms],
            )
        )
        # The snapshots survive between requests: a rollback's requests do not carry earlier answers.
        # A parameter's ARN is ``parameter`` followed by its name, which starts with '/'.
        folder = ssm_paths.snapshots_path(path)
        snapshots = f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:parameter{folder}/*"
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ssm:GetParameter",
                    "ssm:GetParametersByPath",
                    "ssm:PutParameter",
                    "ssm:DeleteParameter",
                ],
                resources=[snapshots],
            )
        )
        # The one case the custom resources cannot settle (see after_rollback in the function): once this stack's
        # rollback is complete, CloudFormation's "Stack Status Change" event (AWS CloudFormation User Guide, "Stack
        # Status Change event detail": detail.stack-id, detail.status-details.status) has the function register
        # again what that rollback released and left released, on this stack's endpoints (GUARDED_ENDPOINTS). It
        # reads the status again before it acts.
        self.after_rollback = events.Rule(
            self,
            "AfterRollback",
            description="Scaling guard: registers again the scalable targets still released once the stack rolled back",
            event_pattern=events.EventPattern(
                source=["aws.cloudformation"],
                detail_type=["CloudFormation Stack Status Change"],
                detail={"stack-id": [stack.stack_id], "status-details": {"status": ["UPDATE_ROLLBACK_COMPLETE"]}},
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=4, max_event_age=cdk.Duration.hours(1))],
        )
        """Sends this stack's UPDATE_ROLLBACK_COMPLETE to the function."""
        # A rollback sends the same Update request as a forward update: only the stack's status tells them apart.
        custom.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[cdk.Aws.STACK_ID])
        )
        policy = default_policy(custom.role)
        for resource, why in (
            (
                "*",
                "Application Auto Scaling's Describe actions take no resource; its writes are held to SageMaker "
                "variants by the service-namespace and scalable-dimension condition keys (scalable-target ARNs "
                "carry generated ids that cannot be named in advance).",
            ),
            (configs, "Endpoint configs have generated names (they are replaced on every change)."),
            (
                alarms,
                "Only the target-tracking alarms Application Auto Scaling creates for SageMaker variants: their names "
                "end in a generated id, after endpoint and variant names known only per request. Application Auto "
                "Scaling requires the caller to hold these CloudWatch rights when it registers targets and puts or "
                "deletes policies.",
            ),
            (
                snapshots,
                "One parameter per released variant, named after endpoints and variants known only per request; "
                "the wildcard is confined to the guard's own folder of the stage's SSM path.",
            ),
        ):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{nag_resource_id(self, resource)}]", why)
        custom.acknowledge_inline_policy()

    def add_alarms(self, action: cloudwatch.IAlarmAction) -> list[cloudwatch.Alarm]:
        """Alarms, notifying ``action``, when the function fails (it answers CloudFormation's requests itself, so a
        failure is a pass after a rollback that could not register every variant again, or a timeout) and when
        EventBridge could not hand it the rollback's event at all (the function then never runs)."""
        five_minutes = cdk.Duration.minutes(5)
        why = "a variant may be left without autoscaling after a rollback: register it from its snapshot"
        return [
            alarm_when_any(
                self,
                "ErrorsAlarm",
                metric=self.function.metric_errors(period=five_minutes, statistic="Sum"),
                description=f"Scaling guard: the function failed (see its log group); {why} (docs/OPERATIONS.md)",
                action=action,
            ),
            # "Monitoring Amazon EventBridge": FailedInvocations, invocations that failed permanently (after the
            # target's retries); RuleName alone is a rule of the default event bus.
            alarm_when_any(
                self,
                "AfterRollbackFailedAlarm",
                metric=event_rule_metric(self.after_rollback, "FailedInvocations"),
                description=f"Scaling guard: EventBridge could not deliver the stack's rollback event; {why} "
                "(docs/OPERATIONS.md)",
                action=action,
            ),
        ]

    def allow_endpoint(self, endpoint_name: str) -> None:
        """Let the function describe and scale the endpoint ``endpoint_name`` (each ScalingGuard calls this)."""
        arn = cdk.Stack.of(self).format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name)
        if arn in self._endpoints:
            return
        if not self._endpoints:
            self._role.add_to_principal_policy(self._endpoint_rights)
        names = ",".join(sorted([*self._endpoint_names, endpoint_name]))
        path = self.snapshot_parameter_path
        size = sum(
            len(key) + value
            for key, value in (
                (ssm_paths.SNAPSHOT_PATH_VARIABLE, _LONGEST_SSM_PATH if limits.is_token(path) else len(path)),
                (ssm_paths.GUARDED_ENDPOINTS_VARIABLE, len(names)),
            )
        )
        if size > LAMBDA_ENVIRONMENT_BYTES:
            raise limits.fail(
                f"ScalingGuardProvider {self.node.path}",
                "endpoint",
                endpoint_name,
                f"would take the scaling guard's environment to {size} bytes, over Lambda's "
                f"{LAMBDA_ENVIRONMENT_BYTES} for all of a function's variables: spread the endpoints over more "
                "Hosting stacks (hosting_stacks)",
            )
        self._endpoints.add(arn)
        self._endpoint_rights.add_resources(arn)
        self._endpoint_names.append(endpoint_name)
        self.function.add_environment(ssm_paths.GUARDED_ENDPOINTS_VARIABLE, names)


class ScalingGuard(Construct):
    """Release and restore of an endpoint's scaled variants around its updates, and around their rollbacks.

    ``release`` is ordered before the endpoint and ``restore`` after it; scalable targets registered through
    ``add_variant`` are ordered after ``restore``. Both get the guarded variants; ``restore`` also gets
    ``release``'s token, which changes whenever ``release`` released something, so that ``restore`` runs then.
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
        provider.allow_endpoint(endpoint_name)
        super().__init__(scope, construct_id)
        self._variants: dict[str, str] = {}
        self.release = cdk.CustomResource(
            self,
            "Release",
            service_token=provider.function.function_arn,
            service_timeout=SERVICE_TIMEOUT,
            resource_type="Custom::SageMakerScalingRelease",
            properties={
                "Action": "release",
                "EndpointName": endpoint_name,
                "Variants": [],
            },
        )
        """Runs before the endpoint update; on a rollback, reconciles with the live endpoint (either side of it)."""
        endpoint.node.add_dependency(self.release)
        self.restore = cdk.CustomResource(
            self,
            "Restore",
            service_token=provider.function.function_arn,
            service_timeout=SERVICE_TIMEOUT,
            resource_type="Custom::SageMakerScalingRestore",
            properties={
                "Action": "restore",
                "EndpointName": endpoint_name,
                "Variants": [],
                # Now a short token (the snapshots are in SSM). The attribute keeps its old name: a stack deployed
                # before resolves it from ``release``'s last answer, which has no other attribute.
                "Snapshot": self.release.get_att_string("Snapshot"),
            },
        )
        """Runs after the endpoint update; on a rollback, reconciles with the live endpoint (either side of it)."""
        self.restore.node.add_dependency(endpoint)
        provider.custom.backs(self.release)
        provider.custom.backs(self.restore)

    def add_variant(self, variant_name: str, instance_type: str, scalable_target: IConstruct) -> None:
        """Guard ``variant_name`` (now of ``instance_type``), whose scalable target is ``scalable_target``."""
        self._variants[variant_name] = instance_type
        variants = [{"VariantName": name, "InstanceType": kind} for name, kind in sorted(self._variants.items())]
        # ``restore`` needs them too: on a rollback both reconcile these variants with what the endpoint runs.
        for custom in (self.release, self.restore):
            resource = custom.node.default_child
            assert isinstance(resource, cdk.CfnResource)
            resource.add_property_override("Variants", variants)
        scalable_target.node.add_dependency(self.restore)
