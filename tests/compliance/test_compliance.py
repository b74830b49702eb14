"""Compliance is asserted: zero unacknowledged findings, and no acknowledgment without a finding."""

from __future__ import annotations

from unittest import mock

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

import app as app_module
from stacks.compliance import Finding, add_compliance_checks
from stacks.stage import ModelHostingStage
from tests.support import acknowledgments, compliance_findings, make_app

_REPORT = {"@aws-cdk/core:failSynthOnValidationErrors": False}


def test_every_stage_has_zero_unacknowledged_findings(stages: list[ModelHostingStage]) -> None:
    app = stages[0].node.scope
    assert isinstance(app, cdk.App)
    findings = compliance_findings(app)
    assert not findings, "unacknowledged compliance findings:\n" + "\n".join(map(str, findings))


def test_every_acknowledgment_silences_a_real_finding(stages: list[ModelHostingStage]) -> None:
    acknowledged = {ack for stage in stages for ack in acknowledgments(stage)}
    assert acknowledged, "expected acknowledgments (e.g. the access-log bucket's SSE-S3)"
    # Build the same app again with acknowledging turned off: what fires there is what the acknowledgments hide.
    with mock.patch.object(cdk.Validations, "acknowledge", return_value=None):
        raw = compliance_findings(_app_without_acknowledgments())
    stale = [
        ack
        for ack in acknowledged
        if not any(f.rule == ack.rule and (f.path == ack.path or f.path.startswith(ack.path + "/")) for f in raw)
    ]
    assert not stale, "acknowledgments with no finding to silence:\n" + "\n".join(map(str, sorted(stale, key=str)))


def _app_without_acknowledgments() -> cdk.App:
    app = make_app(**_REPORT)
    app_module.build(app)
    return app


def test_the_gate_lists_an_unacknowledged_finding() -> None:
    app = make_app(**_REPORT)
    stage = cdk.Stage(app, "Bad")
    stack = cdk.Stack(stage, "Store")
    s3.Bucket(stack, "Plain")  # no logging, no SSL policy, no versioning, no KMS
    add_compliance_checks(stage)
    findings = compliance_findings(app)
    assert Finding("AwsSolutions-S1", "Bad/Store/Plain/Resource") in findings
    assert Finding("AwsSolutions-S10", "Bad/Store/Plain/Resource") in findings
    assert Finding("HIPAA.Security-S3DefaultEncryptionKMS", "Bad/Store/Plain/Resource") in findings
