"""A multi-model endpoint with a consumer is compliance-clean by itself, in regional and agnostic stages."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs_lib import ModelPrefix, MultiModelEndpoint, ProductionVariant, ServingImage
from constructs_lib.compliance import CONTROL_PACKS
from stacks.compliance import Finding, add_compliance_checks
from tests.support import compliance_findings, make_app


@pytest.mark.parametrize("env", [cdk.Environment(account="111111111111", region="eu-west-1"), None])
def test_only_the_callers_own_role_is_left_to_acknowledge(env: cdk.Environment | None) -> None:
    app = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    stage = cdk.Stage(app, "S", env=env)
    stack = cdk.Stack(stage, "Hosting")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    bucket = s3.Bucket.from_bucket_attributes(stack, "Bucket", bucket_name="models-bucket", encryption_key=key)
    mme = MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="mme",
        image=ServingImage.from_deep_learning_container("pytorch-inference", "2.3.0-cpu-py311"),
        model_prefix=ModelPrefix.for_endpoint(bucket=bucket, endpoint_name="mme", encryption_key=key),
        variants=[ProductionVariant(instance_type="ml.m5.large")],
        volume_encryption_key=key,
    )
    consumer = iam.Role(stack, "Consumer", assumed_by=iam.AccountRootPrincipal())
    mme.grant_invoke(consumer, models=["a/*"])
    add_compliance_checks(stage)
    findings = compliance_findings(app)
    # Everything the endpoint creates is clean or acknowledged; the caller's role is the caller's to review.
    assert findings == [
        Finding(f"{pack}-IAMNoInlinePolicy", "S/Hosting/Consumer/DefaultPolicy/Resource") for pack in CONTROL_PACKS
    ]
