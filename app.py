#!/usr/bin/env python3
"""The CDK app: one Stage per environment, each checked by the compliance packs."""

from __future__ import annotations

import re
import sys

import aws_cdk as cdk

from constructs_lib.errors import ValidationError
from stacks.compliance import VALIDATION_REPORT, add_compliance_checks, unacknowledged_findings
from stacks.config import EnvironmentConfig, check_environments, select_environments
from stacks.stage import ModelHostingStage

_TOO_MANY_RESOURCES = re.compile(r"resources in stack '([^']+)': (\d+) is greater than allowed maximum of (\d+)")
_SPLIT_ADVICE = "(split the stage's endpoints across stacks or environments)"


def configured_environments() -> tuple[EnvironmentConfig, ...]:
    """The configured environments (``stacks/environments.py``), validated as the module builds them."""
    from stacks.environments import ENVIRONMENTS

    return ENVIRONMENTS


def build(app: cdk.App, environments: tuple[EnvironmentConfig, ...] | None = None) -> list[ModelHostingStage]:
    """Add the stage of every selected environment (all, or ``-c env=NAME``) to ``app``."""
    # Imported here, not at the top: a mistake in the environments is then a ConfigError that main() reports.
    selected = environments if environments is not None else configured_environments()
    check_environments(selected)
    stages = []
    for config in select_environments(app.node.try_get_context("env"), selected):
        stage = ModelHostingStage(app, config.stage_id, config=config)
        add_compliance_checks(stage)
        stages.append(stage)
    return stages


def main(app: cdk.App | None = None, environments: tuple[EnvironmentConfig, ...] | None = None) -> int:
    """Synthesize every selected stage.

    Exit status 2 for a configuration error (one line, no stack trace), 1 for unacknowledged compliance
    findings or a template over a CloudFormation limit (each listed), 0 otherwise.
    """
    app = app or cdk.App()
    # Findings are reported by us below, the same way whether the CLI, pytest or python runs the app.
    app.node.set_context("@aws-cdk/core:failSynthOnValidationErrors", False)
    try:
        build(app, environments)
    except ValidationError as error:
        # A configuration mistake is the user's to fix: say what and where, without a stack trace.
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        assembly = app.synth()
    except RuntimeError as error:
        # The CDK checks the resource count itself (a maintained check): say it as plainly as ours.
        too_many = _TOO_MANY_RESOURCES.search(str(error))
        if too_many is None:
            raise
        stack, count, maximum = too_many.groups()
        print("error: CloudFormation would refuse these templates:", file=sys.stderr)
        print(f"  {stack}: resources {count} of {maximum} {_SPLIT_ADVICE}", file=sys.stderr)
        return 1
    findings = unacknowledged_findings(assembly.directory)
    if findings:
        # Unacknowledged compliance findings, CloudFormation schema errors and template limits alike.
        print(f"error: {len(findings)} unacknowledged finding(s):", file=sys.stderr)
        for finding in findings:
            print(f"  {finding.explained()}", file=sys.stderr)
        print(f"details: {assembly.directory}/{VALIDATION_REPORT}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
