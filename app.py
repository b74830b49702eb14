#!/usr/bin/env python3
"""The CDK app: one Stage per environment and region, each checked by the compliance packs."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from constructs_lib.errors import ValidationError
from stacks.compliance import add_compliance_checks, report_findings
from stacks.config import EnvironmentConfig, check_environments, select_environments
from stacks.stage import ModelHostingStage

#: CloudFormation's limit on resources per template ("AWS CloudFormation quotas", AWS CloudFormation User Guide).
MAX_RESOURCES = 500
_SPLIT_ADVICE = "(spread the endpoints over more Hosting stacks: hosting_stacks in the environment)"


def configured_environments() -> tuple[EnvironmentConfig, ...]:
    """The configured environments (``stacks/environments.py``), validated as the module builds them."""
    from stacks.environments import ENVIRONMENTS

    return ENVIRONMENTS


def build(app: cdk.App, environments: tuple[EnvironmentConfig, ...] | None = None) -> list[ModelHostingStage]:
    """Add the stages of every selected environment (all, or ``-c env=NAME``), one per region, to ``app``."""
    # Imported here, not at the top: a mistake in the environments is then a ConfigError that main() reports.
    selected = environments if environments is not None else configured_environments()
    check_environments(selected)
    stages = []
    for environment in select_environments(app.node.try_get_context("env"), selected):
        for config in environment.placements():
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
    # The CDK would refuse a stack over 500 resources with an exception whose text is all we would get; the
    # count is read from the synthesized templates below instead, and reported like every other finding.
    app.node.set_context("@aws-cdk/core:stackResourceLimit", 0)
    try:
        build(app, environments)
    except ValidationError as error:
        # A configuration mistake is the user's to fix: say what and where, without a stack trace.
        print(f"error: {error}", file=sys.stderr)
        return 2
    assembly = app.synth()
    too_big = [
        (stack.hierarchical_id, len(stack.template.get("Resources", {})))
        for stack in assembly.stacks_recursively
        if len(stack.template.get("Resources", {})) > MAX_RESOURCES
    ]
    if too_big:
        print("error: CloudFormation would refuse these templates:", file=sys.stderr)
        for name, count in too_big:
            print(f"  {name}: resources {count} of {MAX_RESOURCES} {_SPLIT_ADVICE}", file=sys.stderr)
        return 1
    return report_findings(assembly.directory)


if __name__ == "__main__":
    sys.exit(main())
