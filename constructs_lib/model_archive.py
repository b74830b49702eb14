"""ModelArchive: one ``model.tar.gz`` object, the model data of a single-model container."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs_lib.errors import ValidationError
from constructs_lib.model_prefix import grant_decrypt_through_s3, tag_condition


class ModelArchive:
    """An S3 object ``s3://<bucket>/<key>`` ending in ``.tar.gz``, unpacked by SageMaker into ``/opt/ml/model``."""

    def __init__(
        self,
        *,
        bucket: s3.IBucket,
        key: str,
        encryption_key: kms.IKey | None = None,
        required_tag: tuple[str, str] | None = None,
    ) -> None:
        """Describe the archive ``key`` of ``bucket`` (encrypted with ``encryption_key``, if any).

        :param required_tag: readers may get the object only while it carries this (key, value) tag.
        """
        if not cdk.Token.is_unresolved(key) and (
            not key.endswith(".tar.gz") or key.startswith("/") or ".." in key.split("/") or len(key) > 1024
        ):
            raise ValidationError(f"ModelArchive: key {key!r} must be a relative S3 key ending in .tar.gz")
        self.bucket = bucket
        """The bucket."""
        self.key = key
        """The object key."""
        self.encryption_key = encryption_key
        """The key that encrypts the archive, if any."""
        self.required_tag = required_tag
        """The tag the object needs before readers may get it, if any."""

    @property
    def s3_url(self) -> str:
        """``s3://<bucket>/<key>``: the container's ``ModelDataUrl``."""
        return f"s3://{self.bucket.bucket_name}/{self.key}"

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read this one object (and decrypt it through S3)."""
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[self.bucket.arn_for_objects(self.key)],
            conditions=tag_condition(self.required_tag),
        )
        grant_decrypt_through_s3(grantee, bucket=self.bucket, encryption_key=self.encryption_key)
        return grant
