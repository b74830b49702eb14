"""ModelStore: the stack of an environment that exists first (KMS key, artifact bucket and its guard, ECR
repository, the alarm topic, and what tools need to upload before any endpoint exists).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib import AlarmTopic, ArtifactGuard, ModelArtifactStore, ServingImageRepository
from constructs_lib.artifact_catalog import ArtifactCatalog
from constructs_lib.operations_key import OperationsKey
from hosting_contract import naming, ssm_paths
from stacks.config import EnvironmentConfig


class ModelStoreStack(cdk.Stack):
    """Holds everything that must exist before an endpoint can be created, and outlive the hosting stack.

    SageMaker's CreateModel reads each container's archive, and execution roles read only archives the
    artifact guard tagged valid, so the guard lives here, beside the bucket it guards: deploy this stack,
    upload (``modelctl upload``), check (``modelctl preflight``), then deploy Hosting. Tools discover the bucket,
    key, guard and each endpoint's archive locations through SSM parameters under ``<ssm_path>/``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal_policy = cdk.RemovalPolicy.RETAIN if config.retain_stateful_resources else cdk.RemovalPolicy.DESTROY

        store = ModelArtifactStore(
            self,
            "Artifacts",
            removal_policy=removal_policy,
            noncurrent_version_expiration=cdk.Duration.days(config.noncurrent_version_expiration_days),
            bucket_name=config.artifact_bucket_name,
        )
        # The stage's key, decided before the first deploy: ECR cannot change a repository's encryption later.
        images = ServingImageRepository(self, "ServingImages", removal_policy=removal_policy, encryption_key=store.key)

        self.artifact_store: ModelArtifactStore = store
        self.bucket: s3.IBucket = store.bucket
        self.key: kms.IKey = store.key
        self.repository: ecr.IRepository = images.repository
        self.parameter_path = ssm_paths.model_store_path(config.name)

        operations = OperationsKey(
            self,
            "OperationsKey",
            description=f"SageMaker hosting ({config.name}): alarm topic, artifact guard queue and logs",
            removal_policy=removal_policy,
        )
        self.operations_key: kms.IKey = operations.key
        """Encrypts the alarm topic, the guard's dead-letter queue and its log group."""
        self.alarm_topic = AlarmTopic(
            self,
            "AlarmTopic",
            encryption_key=self.operations_key,
            alarm_name_prefix=config.alarm_name_prefix,
            email_addresses=[config.alarm_email] if config.alarm_email else [],
        )
        """Every alarm of the stage, and every rejected upload, notifies this topic."""

        self.catalog = ArtifactCatalog(
            self, "ArtifactCatalog", parameter_path=config.artifact_parameter_path, endpoints=config.artifacts()
        )
        """Where each endpoint's archives go, and their layouts: modelctl uploads there before Hosting exists."""
        guard_rule = f"sagemaker-hosting-{config.name}-artifact-guard"
        self.artifact_guard = ArtifactGuard(
            self,
            "ArtifactGuard",
            bucket=store.bucket,
            encryption_key=store.key,
            topic=self.alarm_topic.topic,
            queue_key=self.operations_key,
            guard_limits=config.guard_limits,
            prefixes=self.catalog.guarded_prefixes(),
            rule_name=guard_rule,
        )
        """Checks every archive uploaded under a served prefix; only its verdict makes an archive loadable."""
        operations.allow_event_rules([self.format_arn(service="events", resource="rule", resource_name=guard_rule)])

        # SageMaker writes each endpoint's container logs to /aws/sagemaker/Endpoints/<name> and creates that
        # group, never expiring, if it does not exist (SageMaker Developer Guide, "Log Amazon SageMaker AI events
        # with Amazon CloudWatch"). Created here first, it gets a retention and this stage's key, and outlives
        # rebuilds of the Hosting stack like the archives do.
        endpoint_logs = Construct(self, "EndpointLogs")
        self.endpoint_log_groups: dict[str, logs.ILogGroup] = {
            name: logs.LogGroup(
                endpoint_logs,
                name,
                log_group_name=naming.endpoint_log_group(name),
                retention=config.endpoint_log_retention,
                encryption_key=self.operations_key,
                removal_policy=removal_policy,
            )
            for name in config.endpoint_names()
        }
        """The log group of each endpoint, by deployed name."""
        self.component_log_groups: dict[str, logs.ILogGroup] = {
            name: logs.LogGroup(
                endpoint_logs,
                f"Component{name}",
                log_group_name=naming.component_log_group(name),
                retention=config.endpoint_log_retention,
                encryption_key=self.operations_key,
                removal_policy=removal_policy,
            )
            for name in config.component_names()
        }
        """The log group of each inference component, by deployed name (the same care as the endpoints')."""

        parameters = Construct(self, "Parameters")
        for parameter_id, name, value, description in (
            ("BucketName", ssm_paths.BUCKET_NAME, store.bucket.bucket_name, "model-artifact bucket"),
            ("KeyArn", ssm_paths.KMS_KEY_ARN, store.key.key_arn, "KMS key of the model-artifact bucket"),
            (
                "RepositoryUri",
                ssm_paths.REPOSITORY_URI,
                images.repository.repository_uri,
                "ECR repository for serving images",
            ),
            (
                "GuardFunction",
                ssm_paths.ARTIFACT_GUARD_FUNCTION,
                self.artifact_guard.function.function_name,
                "artifact guard function (modelctl rescan invokes it)",
            ),
            ("AlarmTopicArn", ssm_paths.ALARM_TOPIC_ARN, self.alarm_topic.topic.topic_arn, "alarm topic of the stage"),
        ):
            ssm.StringParameter(
                parameters,
                parameter_id,
                parameter_name=ssm_paths.model_store_parameter(config.name, name),
                string_value=value,
                description=f"{config.name}: {description}",
            )

    def grant_rescan(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` ask the guard to check objects again (``modelctl rescan``)."""
        return self.artifact_guard.function.grant_invoke(grantee)
