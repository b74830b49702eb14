"""ModelStore: the stateful stack of an environment (KMS key, artifact bucket, ECR repository)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_lib import ModelArtifactStore, ServingImageRepository
from stacks.config import EnvironmentConfig


class ModelStoreStack(cdk.Stack):
    """Holds everything that must outlive a redeploy of the hosting stack.

    The Hosting stack can be destroyed and rebuilt without losing an artifact: it only references what this
    stack exports as typed attributes. Tools discover the bucket and key through SSM parameters under
    ``<ssm_path>/model-store/``.
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
        images = ServingImageRepository(self, "ServingImages", removal_policy=removal_policy)

        self.artifact_store: ModelArtifactStore = store
        self.bucket: s3.IBucket = store.bucket
        self.key: kms.IKey = store.key
        self.repository: ecr.IRepository = images.repository
        self.parameter_path = f"{config.ssm_path}/model-store"

        parameters = Construct(self, "Parameters")
        for parameter_id, name, value, description in (
            ("BucketName", "bucket-name", store.bucket.bucket_name, "model-artifact bucket"),
            ("KeyArn", "kms-key-arn", store.key.key_arn, "KMS key of the model-artifact bucket"),
            ("RepositoryUri", "repository-uri", images.repository.repository_uri, "ECR repository for serving images"),
        ):
            ssm.StringParameter(
                parameters,
                parameter_id,
                parameter_name=f"{self.parameter_path}/{name}",
                string_value=value,
                description=f"{config.name}: {description}",
            )
