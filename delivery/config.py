"""Who may deploy what: the GitHub repository whose workflows assume the roles, and where they deploy.

The accounts and regions are the app's own (``stacks/environments.py``); only the repository is new here, and,
like the accounts, it is a placeholder to replace (or override: ``make delivery GITHUB_REPOSITORY=owner/name``).
So is the repository's OIDC subject prefix, for a repository whose tokens carry its ids (docs/DELIVERY.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import aws_cdk as cdk

from stacks.config import ConfigError, EnvironmentConfig

#: GitHub's OIDC issuer ("OpenID Connect reference", GitHub Actions documentation) and the audience
#: aws-actions/configure-aws-credentials asks for by default.
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"

#: The name shipped as GITHUB_REPOSITORY: the delivery app refuses to synthesize roles that trust it.
PLACEHOLDER_REPOSITORY = "example-org/sagemaker-multi-hosting"
#: The repository (owner/name) whose workflows may assume the roles: set it (the shipped value is a placeholder).
GITHUB_REPOSITORY = PLACEHOLDER_REPOSITORY
#: The context key that overrides it (``cdk synth -c github-repository=owner/name``).
REPOSITORY_CONTEXT = "github-repository"
#: The repository as its OIDC tokens' subject names it, when GitHub adds the owner's and the repository's ids
#: ("Immutable subject claims", OpenID Connect reference, GitHub Actions documentation): ``owner@ID/name@ID``.
#: None: ``owner/name``, GitHub's format for repositories created before 15 July 2026 that have not opted in.
GITHUB_SUBJECT: str | None = None
#: The context key that overrides it (``cdk synth -c github-subject=owner@ID/name@ID``, or cdk.json's context).
SUBJECT_CONTEXT = "github-subject"
#: Account -> ARN of a GitHub OIDC provider that already exists there (IAM allows one per URL and account, so a
#: second stack creating one would fail): e.g. ``{"111111111111": "arn:aws:iam::111111111111:oidc-provider/``
#: ``token.actions.githubusercontent.com"}``.
EXISTING_OIDC_PROVIDERS: dict[str, str] = {}
#: The context key the CDK reads a non-default bootstrap qualifier from (``cdk bootstrap --qualifier``).
QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"

# GitHub: owner names are letters, digits and single inner hyphens (at most 39); repository names letters,
# digits, '.', '_' and '-'. No wildcard can pass: the trust policy compares the subject with StringEquals.
_OWNER = r"[A-Za-z0-9][A-Za-z0-9-]{0,38}"
_NAME = r"[A-Za-z0-9._-]{1,100}"
_REPOSITORY = re.compile(rf"^{_OWNER}/{_NAME}\Z")
# The immutable format puts both ids or neither, each after its name with '@' (which no GitHub name contains); an
# optional leading "repo:" lets the prefix GitHub shows be pasted as it is.
_SUBJECT = re.compile(rf"^(?:repo:)?(?P<owner>{_OWNER})(?:@\d+/(?P<id_name>{_NAME})@\d+|/(?P<name>{_NAME}))\Z")
# A branch as it appears in the token's subject (ref:refs/heads/<branch>); no wildcards either.
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}\Z")
# cdk bootstrap's Qualifier parameter (AllowedPattern of the bootstrap template).
_QUALIFIER = re.compile(r"^[A-Za-z0-9_-]{1,10}\Z")
# IAM role names: 1-64 of letters, digits and +=,.@_- ("IAM and AWS STS quotas", IAM User Guide).
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}\Z")
_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):oidc-provider/" + re.escape(GITHUB_OIDC_HOST) + r"\Z")


@dataclass(frozen=True, kw_only=True)
class DeliveryConfig:
    """The delivery stacks' configuration: one stack per account that any environment deploys to."""

    repository: str
    """``owner/name`` of the GitHub repository whose workflows may assume the roles."""

    environments: tuple[EnvironmentConfig, ...]
    """The app's environments: each gets a deploy role and a diff role in its account."""

    subject: str | None = None
    """The repository as its tokens' ``sub`` claim names it: ``owner@OWNER_ID/name@REPO_ID`` for a repository on
    GitHub's immutable subject claims (``repo:`` in front is accepted); None: ``repository``, the older format."""

    branch: str = "main"
    """The branch whose workflows may assume the read-only diff roles (the prod plan runs there)."""

    plan_environments: tuple[str, ...] = ("prod",)
    """Environments whose diff role only jobs on ``branch`` may assume (the plan), never a pull request: a pull
    request's jobs run the workflow files of its own branch, so anyone who may push a branch could run any code
    with that role."""

    existing_oidc_providers: Mapping[str, str] = field(default_factory=dict)
    """Account -> ARN of a GitHub OIDC provider that already exists there (IAM allows one per URL and account):
    the stack then uses it instead of creating one."""

    bootstrap_qualifier: str = cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
    """The qualifier the accounts were bootstrapped with (``cdk bootstrap --qualifier``; the CDK's default)."""

    role_prefix: str = "sagemaker-hosting-github"
    """Role names are ``<prefix>-deploy-<environment>`` and ``<prefix>-diff-<environment>``."""

    deploy_session_hours: int = 3
    """The deploy roles' longest session: a prod deploy with blue/green bake times outlasts the default hour,
    and the CDK CLI renews its bootstrap-role sessions only while this one is valid."""

    def __post_init__(self) -> None:
        if not _REPOSITORY.match(self.repository):
            raise ConfigError(f"delivery: repository {self.repository!r} must be owner/name as GitHub spells it")
        if self.subject is not None:
            subject = _SUBJECT.match(self.subject)
            if subject is None:
                raise ConfigError(
                    f"delivery: subject {self.subject!r} must be owner/name or owner@OWNER_ID/name@REPO_ID, as the "
                    "repository's OIDC subject prefix spells it"
                )
            named = f"{subject['owner']}/{subject['id_name'] or subject['name']}"
            # GitHub's names are case-insensitive; a subject of another repository is a copying mistake.
            if named.lower() != self.repository.lower():
                raise ConfigError(f"delivery: subject {self.subject!r} names repository {named}, not {self.repository}")
        if not _BRANCH.match(self.branch):
            raise ConfigError(f"delivery: branch {self.branch!r} must be a branch name without wildcards")
        if not _QUALIFIER.match(self.bootstrap_qualifier):
            raise ConfigError(
                f"delivery: bootstrap_qualifier {self.bootstrap_qualifier!r} must be 1-10 letters, digits, '_' or '-'"
            )
        if not 1 <= self.deploy_session_hours <= 12:
            raise ConfigError(f"delivery: deploy_session_hours {self.deploy_session_hours} must be 1 to 12 (IAM)")
        if not self.environments:
            raise ConfigError("delivery: no environments")
        names = [e.name for e in self.environments]
        for planned in self.plan_environments:
            if planned not in names:
                raise ConfigError(
                    f"delivery: plan_environments names {planned!r}, which is not an environment ({', '.join(names)})"
                )
        for environment in self.environments:
            for kind in ("deploy", "diff"):
                name = self.role_name(kind, environment.name)
                if not _ROLE_NAME.match(name):
                    raise ConfigError(f"delivery: role name {name!r} is not a valid IAM role name (1-64 characters)")
        accounts = {e.account for e in self.environments}
        for account, arn in self.existing_oidc_providers.items():
            match = _PROVIDER_ARN.match(arn)
            if match is None or match.group(1) != account:
                raise ConfigError(
                    f"delivery: existing_oidc_providers[{account!r}] = {arn!r} must be the ARN of the "
                    f"{GITHUB_OIDC_HOST} provider in account {account}"
                )
            if account not in accounts:
                raise ConfigError(
                    f"delivery: existing_oidc_providers names account {account}, which no environment uses"
                )

    def role_name(self, kind: str, environment: str) -> str:
        """The name of an environment's ``deploy`` or ``diff`` role."""
        return f"{self.role_prefix}-{kind}-{environment}"

    def accounts(self) -> dict[str, tuple[EnvironmentConfig, ...]]:
        """Account -> the environments deploying there, in configuration order (IAM is per account)."""
        found: dict[str, tuple[EnvironmentConfig, ...]] = {}
        for environment in self.environments:
            found[environment.account] = (*found.get(environment.account, ()), environment)
        return found

    @property
    def subject_prefix(self) -> str:
        """What every subject of GitHub's default template starts with: ``repo:owner/name`` or, for a repository on
        immutable subject claims, ``repo:owner@OWNER_ID/name@REPO_ID``."""
        return "repo:" + (self.subject or self.repository).removeprefix("repo:")

    def environment_subject(self, environment: str) -> str:
        """The token subject of a job that runs in GitHub environment ``environment``."""
        return f"{self.subject_prefix}:environment:{environment}"

    def diff_subjects(self, environment: str) -> tuple[str, ...]:
        """The token subjects that may assume ``environment``'s diff role: for a planned environment
        (``plan_environments``), its plan, a job on ``branch`` that uses no GitHub environment; for the others,
        pull-request jobs (their diff), and nothing on ``branch``, where no job diffs them."""
        if environment in self.plan_environments:
            return (f"{self.subject_prefix}:ref:refs/heads/{self.branch}",)
        return (f"{self.subject_prefix}:pull_request",)
