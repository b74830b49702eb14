"""ServingImageRepository: the ECR repository for custom (bring-your-own) serving images."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from constructs import Construct

from constructs_lib.errors import ValidationError


class ServingImageRepository(Construct):
    """An ECR repository for serving images: scan on push, immutable tags, bounded history.

    Tags are immutable so that a model's ``Image`` always means the same bytes: an endpoint that is rolled back
    gets the image it ran before, not whatever was pushed last under the same tag.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: cdk.RemovalPolicy,
        max_image_count: int = 100,
        untagged_image_expiration: cdk.Duration | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        """Create the repository.

        :param removal_policy: ``RETAIN`` in production; ``DESTROY`` deletes the repository and its images.
        :param max_image_count: how many images are kept; older ones expire. Default: 100.
        :param untagged_image_expiration: when untagged layers (failed or superseded pushes) expire.
            Default: 14 days.
        :param encryption_key: encrypts the images at rest (SSE-KMS). Decide before the first deploy: a
            repository's encryption cannot change once created (AWS::ECR::Repository ``EncryptionConfiguration``
            requires replacement). ECR uses the key through a grant it creates, so pulling principals need no
            KMS permission (Amazon ECR User Guide, "Encryption at rest"). Default: ECR's AES256.
        """
        super().__init__(scope, construct_id)
        if max_image_count < 1:
            raise ValidationError(
                f"ServingImageRepository {self.node.path}: max_image_count must be at least 1, got {max_image_count}"
            )
        self.repository = ecr.Repository(
            self,
            "Resource",
            image_scan_on_push=True,
            encryption=ecr.RepositoryEncryption.KMS if encryption_key is not None else None,
            encryption_key=encryption_key,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="Expire untagged images",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=untagged_image_expiration or cdk.Duration.days(14),
                    rule_priority=1,
                ),
                ecr.LifecycleRule(
                    description=f"Keep the newest {max_image_count} images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=max_image_count,
                    rule_priority=2,
                ),
            ],
            removal_policy=removal_policy,
            # With DESTROY, CloudFormation deletes a repository only once it is empty: EmptyOnDelete has
            # CloudFormation delete its images first (AWS::ECR::Repository, ``EmptyOnDelete``), no custom resource.
            empty_on_delete=removal_policy == cdk.RemovalPolicy.DESTROY,
        )
        """The ECR repository."""
