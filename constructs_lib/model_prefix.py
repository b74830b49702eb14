"""ModelPrefix: the S3 prefix of the artifact bucket that one multi-model endpoint serves from."""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs_lib.errors import ValidationError
from hosting_contract.served_prefix import endpoint_prefix

# S3 "safe characters" only, segments separated by single slashes, ending with a slash.
_PREFIX = re.compile(r"^([A-Za-z0-9!_.*'()-]+/)+\Z")


class ModelPrefix:
    """One prefix of the model-artifact bucket, e.g. ``models/home-values/``; every archive under it is a model.

    SageMaker's ``ModelDataUrl`` for a multi-model endpoint is this prefix, and a request's ``TargetModel`` is an
    archive's key relative to it (``Chicago_IL.tar.gz`` or ``team-a/m1.tar.gz``).
    """

    def __init__(
        self,
        *,
        bucket: s3.IBucket,
        prefix: str,
        encryption_key: kms.IKey | None = None,
        required_tag: tuple[str, str] | None = None,
    ) -> None:
        """Describe ``prefix`` of ``bucket``.

        :param prefix: ends with ``/``, no leading ``/``, no empty segment, no ``..``.
        :param encryption_key: the bucket's KMS key; readers are granted ``kms:Decrypt`` through S3 only.
        :param required_tag: readers may get only objects carrying this (key, value) tag, e.g. the artifact
            guard's ``("guard-verdict", "valid")``: an unchecked or rejected archive can never be loaded.
        """
        if not _PREFIX.match(prefix) or any(part in (".", "..") for part in prefix.split("/")):
            raise ValidationError(
                f"ModelPrefix: prefix {prefix!r} must be S3-safe segments each ending with '/', e.g. 'models/mme/'"
            )
        self.bucket = bucket
        """The artifact bucket."""
        self.prefix = prefix
        """The key prefix, ending with ``/``."""
        self.encryption_key = encryption_key
        """The key that encrypts the archives, if any."""
        self.required_tag = required_tag
        """The tag an object needs before readers may get it, if any."""

    @classmethod
    def for_endpoint(
        cls,
        *,
        bucket: s3.IBucket,
        endpoint_name: str,
        encryption_key: kms.IKey | None = None,
        required_tag: tuple[str, str] | None = None,
    ) -> ModelPrefix:
        """The conventional prefix of an endpoint: ``models/<endpoint_name>/``."""
        return cls(
            bucket=bucket,
            prefix=endpoint_prefix(endpoint_name),
            encryption_key=encryption_key,
            required_tag=required_tag,
        )

    @property
    def s3_url(self) -> str:
        """``s3://<bucket>/<prefix>``: the multi-model ``ModelDataUrl``."""
        return f"s3://{self.bucket.bucket_name}/{self.prefix}"

    @property
    def object_arns(self) -> str:
        """The ARN pattern of every object under the prefix: ``arn:aws:s3:::<bucket>/<prefix>*``."""
        return self.bucket.arn_for_objects(f"{self.prefix}*")

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list and read archives under this prefix only (and decrypt them through S3)."""
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[self.object_arns],
            conditions=tag_condition(self.required_tag),
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.prefix}*"]}},
        )
        grant_decrypt_through_s3(grantee, bucket=self.bucket, encryption_key=self.encryption_key)
        return grant


def tag_condition(required_tag: tuple[str, str] | None) -> dict[str, dict[str, str]] | None:
    """The IAM condition that an object carries ``required_tag`` (None for no condition)."""
    if required_tag is None:
        return None
    key, value = required_tag
    return {"StringEquals": {f"s3:ExistingObjectTag/{key}": value}}


def grant_decrypt_through_s3(grantee: iam.IGrantable, *, bucket: s3.IBucket, encryption_key: kms.IKey | None) -> None:
    """``kms:Decrypt`` on the bucket's key, only for requests S3 makes on the grantee's behalf."""
    if encryption_key is None:
        return
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["kms:Decrypt"],
        resource_arns=[encryption_key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Stack.of(bucket).region}.amazonaws.com"}},
    )
