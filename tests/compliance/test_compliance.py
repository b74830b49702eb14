"""Compliance is asserted: zero unacknowledged findings, and no acknowledgment without a finding."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

import app as app_module
from stacks.compliance import Finding, add_compliance_checks, unacknowledged_findings
from tests.support import Synthesis, acknowledgments, compliance_findings, make_app

_REPORT = {"@aws-cdk/core:failSynthOnValidationErrors": False}


def test_every_stage_has_zero_unacknowledged_findings(synthesis: Synthesis) -> None:
    # The session's synthesis is app.main's: its validation report is the one `make test` gates on.
    findings = unacknowledged_findings(synthesis.outdir)
    assert not findings, "unacknowledged compliance findings:\n" + "\n".join(map(str, findings))
    assert synthesis.status == 0, synthesis.stderr


def test_every_acknowledgment_silences_a_real_finding(synthesis: Synthesis) -> None:
    acknowledged = synthesis.acknowledgments()
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


def test_the_assembly_records_every_acknowledgment_of_the_tree(synthesis: Synthesis) -> None:
    # The check above reads them from the assembly: it must miss none. The CDK writes every stack's metadata the
    # same way, so one stack's tree is enough to compare (each construct of the tree is a call into Node).
    stack = synthesis.stage("dev").model_store
    in_tree = set(acknowledgments(stack))
    assert in_tree
    assert {ack for ack in synthesis.acknowledgments() if ack.path.startswith(stack.node.path + "/")} == in_tree


def test_the_assembly_s_acknowledgments_miss_none_wherever_they_sit() -> None:
    """In a stack's resource, on a stack, in a nested stage, in a stack outside any stage, on a stage, on a
    construct of a stage that is no stack, on the app: the same as the tree's."""
    from constructs import Construct

    from constructs_lib.compliance import acknowledge

    app = make_app(**_REPORT)
    stage = cdk.Stage(app, "Outer")
    nested = cdk.Stage(stage, "Inner")
    places = [
        s3.Bucket(cdk.Stack(stage, "Store"), "Plain").node.default_child,
        cdk.Stack(stage, "Other"),
        cdk.Stack(nested, "Deep"),
        nested,
        Construct(nested, "Loose"),
        cdk.Stack(app, "Top"),
        stage,
        Construct(stage, "Loose"),
        app,
    ]
    for place in places:
        acknowledge(place, "AwsSolutions-S1", "a reason long enough for the acknowledgment check")
    synthesized = Synthesis(app=app, stages=[stage], outdir=Path(app.synth().directory), status=0, stderr="")
    assert synthesized.acknowledgments() == set(acknowledgments(app))
    assert len(synthesized.acknowledgments()) == len(places)


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
