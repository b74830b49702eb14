"""GitHub Actions' way into one AWS account: the OIDC provider, and per environment a deploy and a diff role.

No long-lived keys: a workflow job presents GitHub's OIDC token and gets a role's session for that job only.

- The **deploy role** of an environment is trusted only for jobs of this repository that run in the GitHub
  environment of the same name (token subject ``<prefix>:environment:<env>``, the prefix being
  ``repo:<owner>/<name>`` or, on GitHub's immutable subject claims, ``repo:<owner>@<id>/<name>@<id>``), so the
  environment's protection rules (required reviewers on prod, deployment branches) decide who may deploy. It may
  only assume the CDK bootstrap roles of that environment's regions (the CLI deploys through them) and read what
  ``modelctl preflight`` reads: its artifact buckets' archive metadata and tags (S3 only).
- The **diff role** is trusted for jobs on the main branch without an environment (the prod plan, which must run
  before the prod approval) and, except for a planned environment (prod), for pull requests; it may only assume
  the bootstrap lookup roles, which are read-only (``cdk diff --method template`` reads the deployed templates
  with them).

The bootstrap roles trust their own account, so an identity policy here is all a same-account role needs:
no ``cdk bootstrap --trust`` is involved ("Bootstrapping your environment", AWS CDK Developer Guide).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib.compliance import acknowledge
from delivery.config import GITHUB_OIDC_HOST, GITHUB_OIDC_URL, STS_AUDIENCE, DeliveryConfig
from hosting_contract.served_prefix import SERVED_ROOT
from stacks.config import EnvironmentConfig

#: The bootstrap roles a deploy goes through, by the CDK's own ARN templates (DefaultStackSynthesizer).
BOOTSTRAP_ROLES = {
    "deploy": cdk.DefaultStackSynthesizer.DEFAULT_DEPLOY_ROLE_ARN,
    "file-publishing": cdk.DefaultStackSynthesizer.DEFAULT_FILE_ASSET_PUBLISHING_ROLE_ARN,
    "image-publishing": cdk.DefaultStackSynthesizer.DEFAULT_IMAGE_ASSET_PUBLISHING_ROLE_ARN,
    "lookup": cdk.DefaultStackSynthesizer.DEFAULT_LOOKUP_ROLE_ARN,
}


#: The ones ``cdk deploy`` of the stages goes through: deploy, file assets (Lambda code), and lookup (the re-diff
#: inside the prod lock). Not image publishing: the stages build no Docker image asset (serving images are
#: pulled from ECR by tag; a test keeps the assembly so).
DEPLOY_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "lookup")


def bootstrap_role_arn(kind: str, *, qualifier: str, account: str, region: str, partition: str = "aws") -> str:
    """The ARN of bootstrap role ``kind`` (a key of BOOTSTRAP_ROLES) of ``account`` in ``region``."""
    arn = BOOTSTRAP_ROLES[kind]
    for placeholder, value in (
        ("${AWS::Partition}", partition),
        ("${Qualifier}", qualifier),
        ("${AWS::AccountId}", account),
        ("${AWS::Region}", region),
    ):
        arn = arn.replace(placeholder, value)
    return arn


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


class GitHubOidcStack(cdk.Stack):
    """The OIDC provider (or an existing one) of one account, and the roles of the environments deployed there."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeliveryConfig,
        account: str,
        environments: tuple[EnvironmentConfig, ...],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            # IAM is global; the stack lives in the first environment's home region.
            env=cdk.Environment(account=account, region=environments[0].region),
            # Deployed once per account by an administrator with their own credentials, not through the bootstrap
            # roles this stack grants access to; no assets, a plain template CloudFormation can deploy as it is.
            synthesizer=cdk.CliCredentialsStackSynthesizer(),
            description=f"GitHub Actions OIDC provider and deploy/diff roles for {config.repository}",
            termination_protection=True,
        )
        self.config = config
        existing = config.existing_oidc_providers.get(account)
        if existing is not None:
            self.provider_arn = existing
        else:
            # The L1 resource, not iam.OpenIdConnectProvider (a custom resource with a Lambda function). No
            # thumbprint: IAM verifies GitHub's endpoint against its trusted root CAs, and the thumbprint is
            # optional ("Create an OpenID Connect (OIDC) identity provider in IAM", IAM User Guide).
            provider = iam.CfnOIDCProvider(
                self, "GitHubOidcProvider", url=GITHUB_OIDC_URL, client_id_list=[STS_AUDIENCE]
            )
            self.provider_arn = provider.attr_arn
        for environment in environments:
            self._deploy_role(environment)
            self._diff_role(environment)

    def _trust(self, subjects: str | list[str]) -> iam.WebIdentityPrincipal:
        return iam.WebIdentityPrincipal(
            self.provider_arn,
            conditions={
                "StringEquals": {
                    f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                    f"{GITHUB_OIDC_HOST}:sub": subjects,
                }
            },
        )

    def _bootstrap_roles(self, environment: EnvironmentConfig, kinds: tuple[str, ...]) -> list[str]:
        return [
            bootstrap_role_arn(
                kind,
                qualifier=self.config.bootstrap_qualifier,
                account=environment.account,
                region=region,
                partition=self.partition,
            )
            for region in environment.regions
            for kind in kinds
        ]

    def _deploy_role(self, environment: EnvironmentConfig) -> iam.Role:
        name = environment.name
        role = iam.Role(
            self,
            f"DeployRole{_construct_id(name)}",
            role_name=self.config.role_name("deploy", name),
            description=f"GitHub Actions deploys of {name} ({self.config.repository}, GitHub environment {name})",
            assumed_by=self._trust(self.config.environment_subject(name)),
            max_session_duration=cdk.Duration.hours(self.config.deploy_session_hours),
        )
        placements = environment.placements()
        # No SSM: preflight reads the catalog from the cloud assembly and asks S3 alone (HeadObject,
        # ListObjectVersions, GetObjectTagging).
        buckets = [f"arn:{self.partition}:s3:::{p.artifact_bucket_name}" for p in placements]
        archives = [f"{bucket}/{SERVED_ROOT}*" for bucket in buckets]
        policy = iam.ManagedPolicy(
            self,
            f"DeployPolicy{_construct_id(name)}",
            description=f"Assume the CDK bootstrap roles of {name}'s regions; read what modelctl preflight reads",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="AssumeCdkBootstrapRoles",
                    actions=["sts:AssumeRole"],
                    resources=self._bootstrap_roles(environment, DEPLOY_BOOTSTRAP_ROLES),
                ),
                # HeadObject answers 404 for a missing archive only with s3:ListBucket (403 without it), and
                # preflight lists an archive's versions to tell "never uploaded" from "removed".
                iam.PolicyStatement(
                    sid="ListArtifactBuckets",
                    actions=["s3:ListBucket", "s3:ListBucketVersions"],
                    resources=buckets,
                ),
                # Metadata and tags only in effect: the archives are SSE-KMS and this role has no kms:Decrypt.
                iam.PolicyStatement(
                    sid="ReadArchiveMetadata",
                    actions=["s3:GetObject", "s3:GetObjectTagging"],
                    resources=archives,
                ),
            ],
        )
        why = (
            "modelctl preflight reads the metadata and tags of every archive the stage's Hosting stacks name under "
            "the served root; their keys are not known to this stack"
        )
        for resource in archives:
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", why)
        cdk.CfnOutput(
            self,
            f"DeployRoleArn{_construct_id(name)}",
            value=role.role_arn,
            description=f"GitHub environment {name}: variable DEPLOY_ROLE_ARN",
        )
        return role

    def _diff_callers(self, environment: str) -> str:
        if environment in self.config.plan_environments:
            return f"the plan on {self.config.branch} only"
        return "pull requests only"

    def _diff_role(self, environment: EnvironmentConfig) -> iam.Role:
        name = environment.name
        subjects = list(self.config.diff_subjects(name))
        role = iam.Role(
            self,
            f"DiffRole{_construct_id(name)}",
            role_name=self.config.role_name("diff", name),
            description=f"Read-only cdk diff of {name} from {self._diff_callers(name)} ({self.config.repository})",
            assumed_by=self._trust(subjects[0] if len(subjects) == 1 else subjects),
        )
        iam.ManagedPolicy(
            self,
            f"DiffPolicy{_construct_id(name)}",
            description=f"Assume the read-only CDK bootstrap lookup roles of {name}'s regions",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="AssumeCdkLookupRoles",
                    actions=["sts:AssumeRole"],
                    resources=self._bootstrap_roles(environment, ("lookup",)),
                )
            ],
        )
        cdk.CfnOutput(
            self,
            f"DiffRoleArn{_construct_id(name)}",
            value=role.role_arn,
            description=f"Repository variable DIFF_ROLE_ARN_{name.upper().replace('-', '_')}",
        )
        return role
