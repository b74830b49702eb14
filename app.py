#!/usr/bin/env python3
"""The CDK app: one Stage per environment, each checked by the compliance packs."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from constructs_lib.errors import ValidationError
from stacks.compliance import VALIDATION_REPORT, add_compliance_checks, unacknowledged_findings
from stacks.config import select_environments
from stacks.stage import ModelHostingStage


def build(app: cdk.App) -> list[ModelHostingStage]:
    """Add the stage of every selected environment (all, or ``-c env=NAME``) to ``app``."""
    stages = []
    for config in select_environments(app.node.try_get_context("env")):
        stage = ModelHostingStage(app, config.stage_id, config=config)
        add_compliance_checks(stage)
        stages.append(stage)
    return stages


def main(app: cdk.App | None = None) -> int:
    """Synthesize every selected stage.

    Exit status 2 for a configuration error (one line, no stack trace), 1 for unacknowledged compliance
    findings (each listed), 0 otherwise.
    """
    app = app or cdk.App()
    # Findings are reported by us below, the same way whether the CLI, pytest or python runs the app.
    app.node.set_context("@aws-cdk/core:failSynthOnValidationErrors", False)
    try:
        build(app)
    except ValidationError as error:
        # A configuration mistake is the user's to fix: say what and where, without a stack trace.
        print(f"error: {error}", file=sys.stderr)
        return 2
    assembly = app.synth()
    findings = unacknowledged_findings(assembly.directory)
    if findings:
        print(f"error: {len(findings)} unacknowledged compliance finding(s):", file=sys.stderr)
        for finding in findings:
            print(f"  {finding}", file=sys.stderr)
        print(f"details: {assembly.directory}/{VALIDATION_REPORT}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
