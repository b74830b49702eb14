"""The delivery CDK app: one GitHubOidcStack per account the environments deploy to (``make delivery``).

Synthesized apart from the hosting app (``cdk synth --app "python -m delivery.app" -o cdk.out.delivery``) and
deployed once per account by an administrator; docs/DELIVERY.md walks through it. Checked by the same
compliance packs as the stages.
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

from constructs_lib.errors import ValidationError
from delivery.config import (
    EXISTING_OIDC_PROVIDERS,
    GITHUB_REPOSITORY,
    GITHUB_SUBJECT,
    PLACEHOLDER_REPOSITORY,
    QUALIFIER_CONTEXT,
    REPOSITORY_CONTEXT,
    SUBJECT_CONTEXT,
    DeliveryConfig,
)
from delivery.github_oidc import GitHubOidcStack
from stacks.compliance import add_compliance_checks, report_findings


def configured(app: cdk.App) -> DeliveryConfig:
    """The configured repository and subject (or the ``github-repository`` and ``github-subject`` contexts),
    existing providers and qualifier (or the CDK's bootstrap-qualifier context), and the app's environments."""
    from stacks.environments import ENVIRONMENTS

    subject = app.node.try_get_context(SUBJECT_CONTEXT) or GITHUB_SUBJECT
    repository = str(app.node.try_get_context(REPOSITORY_CONTEXT) or GITHUB_REPOSITORY)
    if repository == PLACEHOLDER_REPOSITORY:
        # The roles would trust whoever owns that name on GitHub, and the deploy role reaches the bootstrap roles.
        raise ValidationError(
            f"delivery: repository {repository!r} is the shipped placeholder: set GITHUB_REPOSITORY in "
            f"delivery/config.py, or make delivery GITHUB_REPOSITORY=owner/name (context {REPOSITORY_CONTEXT})"
        )
    return DeliveryConfig(
        repository=repository,
        subject=None if subject is None else str(subject),
        environments=ENVIRONMENTS,
        existing_oidc_providers=EXISTING_OIDC_PROVIDERS,
        bootstrap_qualifier=str(
            app.node.try_get_context(QUALIFIER_CONTEXT) or cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
        ),
    )


def stack_id(account: str) -> str:
    """The stack of ``account``: its id and CloudFormation name."""
    return f"GitHubDelivery-{account}"


def build(app: cdk.App, config: DeliveryConfig) -> list[GitHubOidcStack]:
    """One stack per account, each checked by the compliance packs."""
    stacks = []
    for account, environments in config.accounts().items():
        stack = GitHubOidcStack(app, stack_id(account), config=config, account=account, environments=environments)
        add_compliance_checks(stack)
        stacks.append(stack)
    return stacks


def main(app: cdk.App | None = None, config: DeliveryConfig | None = None) -> int:
    """Synthesize; exit 2 for a configuration error, 1 for unacknowledged compliance findings, 0 otherwise."""
    app = app or cdk.App()
    app.node.set_context("@aws-cdk/core:failSynthOnValidationErrors", False)
    try:
        build(app, config or configured(app))
    except ValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    assembly = app.synth()
    return report_findings(assembly.directory)


if __name__ == "__main__":
    sys.exit(main())
