"""The delivery stacks: GitHub's OIDC provider and, per environment, a deploy role and a read-only diff role.

Trust policies and permissions are asserted whole: a condition or a resource more is as much a finding as one
less.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from unittest import mock

import aws_cdk as cdk
import pytest
import yaml  # type: ignore[import-untyped]
from botocore.exceptions import ClientError

import delivery.github_oidc
from delivery import app as delivery_app
from delivery.config import DeliveryConfig
from delivery.github_oidc import BOOTSTRAP_ROLES, DEPLOY_BOOTSTRAP_ROLES, bootstrap_role_arn
from hosting_contract.served_prefix import SERVED_ROOT
from modelctl import cli as modelctl_cli
from modelctl import preflight
from stacks.config import ConfigError
from tests import examples
from tests.support import (
    ROOT,
    Synthesis,
    cdk_context,
    cfn_lint,
    compliance_findings,
    feature_environment,
    make_app,
)
from tools.cloud_assembly import synthesized_stacks

REPOSITORY = "octo-org/models"
_EXAMPLES = tuple(examples.environment(name) for name in examples.NAMES)
_DEV = feature_environment("dev", account="111111111111")
_STAGING = feature_environment("staging", account="111111111111")
_PROD = feature_environment("prod", account="333333333333", additional_regions=("eu-central-1",))
_FEDERATED = {"Federated": {"Fn::GetAtt": ["GitHubOidcProvider", "Arn"]}}


def _config(**changes: Any) -> DeliveryConfig:
    settings: dict[str, Any] = {"repository": REPOSITORY, "environments": (_DEV, _STAGING, _PROD), **changes}
    return DeliveryConfig(**settings)


def _templates(config: DeliveryConfig) -> dict[str, dict[str, Any]]:
    """Stack name -> synthesized template."""
    app = make_app()
    stacks = delivery_app.build(app, config)
    assembly = app.synth()
    for stack in stacks:
        # Deployed with the administrator's own credentials, never through the roles it grants access to.
        assert assembly.get_stack_by_name(stack.stack_name).assume_role_arn is None
    return {s.stack_name: assembly.get_stack_by_name(s.stack_name).template for s in stacks}


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _role(template: dict[str, Any], name: str) -> dict[str, Any]:
    (role,) = [r for r in _resources(template, "AWS::IAM::Role").values() if r["Properties"]["RoleName"] == name]
    return role


def _policy_of(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The statements of the managed policies attached to role ``name``."""
    (logical_id,) = [
        k for k, r in _resources(template, "AWS::IAM::Role").items() if r["Properties"]["RoleName"] == name
    ]
    statements: list[dict[str, Any]] = []
    for policy in _resources(template, "AWS::IAM::ManagedPolicy").values():
        if {"Ref": logical_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return _templates(_config())


def test_one_stack_per_account_holding_the_roles_of_its_environments(templates: dict[str, dict[str, Any]]) -> None:
    assert set(templates) == {"GitHubDelivery-111111111111", "GitHubDelivery-333333333333"}
    names = {
        stack: sorted(r["Properties"]["RoleName"] for r in _resources(t, "AWS::IAM::Role").values())
        for stack, t in templates.items()
    }
    assert names == {
        "GitHubDelivery-111111111111": [
            "sagemaker-hosting-github-deploy-dev",
            "sagemaker-hosting-github-deploy-staging",
            "sagemaker-hosting-github-diff-dev",
            "sagemaker-hosting-github-diff-staging",
        ],
        "GitHubDelivery-333333333333": ["sagemaker-hosting-github-deploy-prod", "sagemaker-hosting-github-diff-prod"],
    }


def test_nothing_but_the_provider_roles_and_policies(templates: dict[str, dict[str, Any]]) -> None:
    # No custom resource (iam.OpenIdConnectProvider would bring a Lambda function), no inline policy.
    for template in templates.values():
        kinds = {r["Type"] for r in template["Resources"].values()}
        assert kinds == {"AWS::IAM::OIDCProvider", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}
        assert "Parameters" not in template  # plain CloudFormation: no bootstrap version check either


def test_the_provider_is_github_for_sts_without_a_thumbprint(templates: dict[str, dict[str, Any]]) -> None:
    for template in templates.values():
        (provider,) = _resources(template, "AWS::IAM::OIDCProvider").values()
        assert provider["Properties"] == {
            "Url": "https://token.actions.githubusercontent.com",
            "ClientIdList": ["sts.amazonaws.com"],
        }


def test_a_deploy_role_trusts_only_its_github_environment_of_this_repository(
    templates: dict[str, dict[str, Any]],
) -> None:
    role = _role(templates["GitHubDelivery-333333333333"], "sagemaker-hosting-github-deploy-prod")
    assert role["Properties"]["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Effect": "Allow",
                "Principal": _FEDERATED,
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": "repo:octo-org/models:environment:prod",
                    }
                },
            }
        ],
    }
    # A blue/green prod deploy outlasts the default hour; the CLI renews its role sessions from this one.
    assert role["Properties"]["MaxSessionDuration"] == 3 * 3600
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]


def test_a_deploy_role_may_assume_the_bootstrap_roles_of_its_regions_and_read_what_preflight_reads(
    templates: dict[str, dict[str, Any]],
) -> None:
    statements = _policy_of(templates["GitHubDelivery-333333333333"], "sagemaker-hosting-github-deploy-prod")
    roles = [
        f"arn:aws:iam::333333333333:role/cdk-hnb659fds-{kind}-role-333333333333-{region}"
        for kind in ("deploy", "file-publishing", "lookup")
        for region in ("eu-central-1", "eu-west-1")
    ]
    buckets = [f"arn:aws:s3:::sagemaker-models-prod-333333333333-{r}" for r in ("eu-central-1", "eu-west-1")]
    assert statements == [
        {"Sid": "AssumeCdkBootstrapRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": roles},
        {
            "Sid": "ListArtifactBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
            "Resource": buckets,
        },
        {
            "Sid": "ReadArchiveMetadata",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectTagging"],
            "Resource": [f"{b}/models/*" for b in buckets],
        },
    ]


def test_prods_diff_role_trusts_main_alone(templates: dict[str, dict[str, Any]]) -> None:
    # A pull request's jobs run the workflow files of its branch: a pull_request subject would let anyone who may
    # push a branch run any code with prod's diff role. The plan on main is its one caller.
    role = _role(templates["GitHubDelivery-333333333333"], "sagemaker-hosting-github-diff-prod")
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:octo-org/models:ref:refs/heads/main",
        }
    }
    assert "pull requests" not in role["Properties"]["Description"]


def test_a_diff_role_trusts_pull_requests_alone_and_may_only_look_up(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = templates["GitHubDelivery-111111111111"]
    role = _role(template, "sagemaker-hosting-github-diff-staging")
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Effect": "Allow",
            "Principal": _FEDERATED,
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    # No job on main diffs staging: only prod's plan runs there (deploy.yml).
                    "token.actions.githubusercontent.com:sub": "repo:octo-org/models:pull_request",
                }
            },
        }
    ]
    assert "MaxSessionDuration" not in role["Properties"]
    assert _policy_of(template, "sagemaker-hosting-github-diff-staging") == [
        {
            "Sid": "AssumeCdkLookupRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::111111111111:role/cdk-hnb659fds-lookup-role-111111111111-eu-west-1",
        }
    ]


def test_an_existing_provider_is_used_not_created() -> None:
    arn = "arn:aws:iam::333333333333:oidc-provider/token.actions.githubusercontent.com"
    templates = _templates(_config(existing_oidc_providers={"333333333333": arn}))
    prod = templates["GitHubDelivery-333333333333"]
    assert not _resources(prod, "AWS::IAM::OIDCProvider")
    for name in ("sagemaker-hosting-github-deploy-prod", "sagemaker-hosting-github-diff-prod"):
        (statement,) = _role(prod, name)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Federated": arn}
    assert len(_resources(templates["GitHubDelivery-111111111111"], "AWS::IAM::OIDCProvider")) == 1


def test_another_qualifier_and_branch_reach_every_arn_and_subject() -> None:
    templates = _templates(_config(bootstrap_qualifier="team1", branch="release"))
    template = templates["GitHubDelivery-111111111111"]
    (lookup,) = _policy_of(template, "sagemaker-hosting-github-diff-dev")
    assert lookup["Resource"] == "arn:aws:iam::111111111111:role/cdk-team1-lookup-role-111111111111-eu-west-1"
    # The branch is where prod's plan runs: prod's diff role trusts it.
    prod = _role(templates["GitHubDelivery-333333333333"], "sagemaker-hosting-github-diff-prod")
    (statement,) = prod["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:octo-org/models:ref:refs/heads/release"
    )


@pytest.mark.parametrize("subject", ["octo-org@123456/models@456789", "repo:octo-org@123456/models@456789"])
def test_an_immutable_subject_reaches_every_trust_policy(subject: str) -> None:
    # GitHub's immutable subject claims: repositories created from 15 July 2026 (or renamed, transferred or opted
    # in) send repo:owner@OWNER_ID/name@REPO_ID:..., which a name-only subject never matches.
    templates = _templates(_config(subject=subject))
    prefix = "repo:octo-org@123456/models@456789"
    trusted = {
        role["Properties"]["RoleName"]: role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"][
            "StringEquals"
        ]["token.actions.githubusercontent.com:sub"]
        for template in templates.values()
        for role in _resources(template, "AWS::IAM::Role").values()
    }
    assert trusted == {
        "sagemaker-hosting-github-deploy-dev": f"{prefix}:environment:dev",
        "sagemaker-hosting-github-deploy-staging": f"{prefix}:environment:staging",
        "sagemaker-hosting-github-deploy-prod": f"{prefix}:environment:prod",
        "sagemaker-hosting-github-diff-dev": f"{prefix}:pull_request",
        "sagemaker-hosting-github-diff-staging": f"{prefix}:pull_request",
        "sagemaker-hosting-github-diff-prod": f"{prefix}:ref:refs/heads/main",
    }


def test_the_subject_comes_from_the_github_subject_context() -> None:
    app = make_app(**{"github-repository": REPOSITORY, "github-subject": "octo-org@123456/models@456789"})
    config = delivery_app.configured(app)
    assert config.environment_subject("prod") == "repo:octo-org@123456/models@456789:environment:prod"
    assert delivery_app.configured(make_app(**{"github-repository": REPOSITORY})).subject_prefix == (
        "repo:octo-org/models"
    )


def test_the_bootstrap_role_names_are_the_bootstrap_templates() -> None:
    # The roles `cdk bootstrap` (the CLI pinned in package.json) creates, by their RoleName.
    template = (ROOT / "node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml").read_text()
    bootstrap = yaml.load(template, Loader=yaml.CSafeLoader)  # yaml.safe_load's rules, libyaml's speed
    names = {
        r["Properties"]["RoleName"]["Fn::Sub"] for r in bootstrap["Resources"].values() if r["Type"] == "AWS::IAM::Role"
    }
    for kind in BOOTSTRAP_ROLES:
        arn = bootstrap_role_arn(kind, qualifier="${Qualifier}", account="${AWS::AccountId}", region="${AWS::Region}")
        assert arn.split(":role/")[1] in names
    assert bootstrap["Parameters"]["Qualifier"]["Default"] == _config().bootstrap_qualifier


def test_the_stacks_are_compliant_with_every_pack_and_cfn_lint_clean(templates: dict[str, dict[str, Any]]) -> None:
    app = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    delivery_app.build(app, _config())
    assert compliance_findings(app) == []
    for template in templates.values():
        assert cfn_lint(template) == []


def test_the_wildcards_are_acknowledged_one_by_one() -> None:
    # Without the acknowledgments, each wildcard resource of each deploy policy is a finding of its own.
    app = make_app(**{"@aws-cdk/core:failSynthOnValidationErrors": False})
    with mock.patch.object(delivery.github_oidc, "acknowledge"):
        delivery_app.build(app, _config())
    findings = {(f.rule, f.path) for f in compliance_findings(app)}
    wildcards = [
        ("111111111111", "dev", "eu-west-1"),
        ("111111111111", "staging", "eu-west-1"),
        ("333333333333", "prod", "eu-west-1"),
        ("333333333333", "prod", "eu-central-1"),
    ]
    expected = set()
    for account, env, region in wildcards:
        path = f"GitHubDelivery-{account}/DeployPolicy{env.capitalize()}/Resource"
        resource = f"arn:aws:s3:::sagemaker-models-{env}-{account}-{region}/models/*"
        expected.add((f"AwsSolutions-IAM5[Resource::{resource}]", path))
    assert findings == expected


def test_the_roles_outputs_name_the_variables_to_set(templates: dict[str, dict[str, Any]]) -> None:
    outputs = templates["GitHubDelivery-333333333333"]["Outputs"]
    assert {o["Description"] for o in outputs.values()} == {
        "GitHub environment prod: variable DEPLOY_ROLE_ARN",
        "Repository variable DIFF_ROLE_ARN_PROD",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repository": "octo-org/*"}, "repository 'octo-org/*' must be owner/name as GitHub spells it"),
        ({"repository": "models"}, "repository 'models' must be owner/name as GitHub spells it"),
        ({"subject": "octo-org@1/*"}, "subject 'octo-org@1/*' must be owner/name or owner@OWNER_ID/name@REPO_ID"),
        ({"subject": "octo-org@123/models"}, "must be owner/name or owner@OWNER_ID/name@REPO_ID"),  # both ids
        ({"subject": "octo-org/models@456"}, "must be owner/name or owner@OWNER_ID/name@REPO_ID"),
        ({"subject": "repo:octo-org@123/models@456:ref:refs/heads/main"}, "must be owner/name or owner@OWNER_ID"),
        ({"subject": "octo-org@123/other@456"}, "subject 'octo-org@123/other@456' names repository octo-org/other"),
        ({"plan_environments": ("production",)}, "plan_environments names 'production', which is not an environment"),
        ({"branch": "release/*"}, "branch 'release/*' must be a branch name without wildcards"),
        ({"bootstrap_qualifier": "hnb659fds-xyz"}, "bootstrap_qualifier 'hnb659fds-xyz' must be 1-10 letters"),
        ({"deploy_session_hours": 13}, "deploy_session_hours 13 must be 1 to 12 (IAM)"),
        ({"environments": ()}, "delivery: no environments"),
        ({"role_prefix": "x" * 60}, "is not a valid IAM role name (1-64 characters)"),
        (
            {
                "existing_oidc_providers": {
                    "333333333333": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
                }
            },
            "existing_oidc_providers['333333333333'] = 'arn:aws:iam::111111111111:oidc-provider/token.actions"
            ".githubusercontent.com' must be the ARN of the token.actions.githubusercontent.com provider in account "
            "333333333333",
        ),
        (
            {
                "existing_oidc_providers": {
                    "222222222222": "arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com"
                }
            },
            "existing_oidc_providers names account 222222222222, which no environment uses",
        ),
    ],
)
def test_configuration_mistakes_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"^delivery: ") as raised:
        _config(**changes)
    assert message in str(raised.value)


def test_main_reports_a_configuration_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(**{"github-repository": "not a repository"})
    assert delivery_app.main(app) == 2
    assert capsys.readouterr().err == (
        "error: delivery: repository 'not a repository' must be owner/name as GitHub spells it\n"
    )


def test_main_refuses_roles_for_the_placeholder_repository(capsys: pytest.CaptureFixture[str]) -> None:
    # Whoever owns the placeholder's name on GitHub could otherwise assume the roles.
    assert delivery_app.main(make_app()) == 2
    assert capsys.readouterr().err.startswith(
        "error: delivery: repository 'example-org/sagemaker-multi-hosting' is the shipped placeholder: set "
    )


def test_main_reports_a_wrong_subject_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app(**{"github-repository": REPOSITORY, "github-subject": "octo-org@123456/models"})
    assert delivery_app.main(app) == 2
    assert capsys.readouterr().err == (
        "error: delivery: subject 'octo-org@123456/models' must be owner/name or owner@OWNER_ID/name@REPO_ID, as the "
        "repository's OIDC subject prefix spells it\n"
    )


def test_main_synthesizes_the_shipped_configuration(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context=cdk_context(**{"github-repository": REPOSITORY}))
    assert delivery_app.main(app) == 0
    accounts = sorted({e.account for e in _EXAMPLES})
    assert sorted(p.name for p in tmp_path.glob("*.template.json")) == [
        f"GitHubDelivery-{a}.template.json" for a in accounts
    ]
    # The example prod runs in two regions: its deploy role reaches the bootstrap roles of both.
    prod = examples.environment("prod")
    template = json.loads((tmp_path / f"GitHubDelivery-{prod.account}.template.json").read_text())
    assume = _policy_of(template, "sagemaker-hosting-github-deploy-prod")[0]
    assert sorted({arn.split(f"-{prod.account}-")[1] for arn in assume["Resource"]}) == sorted(prod.regions)
    assert prod.regions == examples.PINNED_REGIONS["prod"]


def test_the_deploy_policy_covers_the_buckets_and_keys_the_stages_use(synthesis: Synthesis) -> None:
    # The buckets the synthesized ModelStore stacks create, and the archives preflight checks, are inside the
    # deploy role's S3 resources: a renamed bucket or prefix fails here, not at the first deploy.
    config = DeliveryConfig(repository=REPOSITORY, environments=_EXAMPLES)
    templates = _templates(config)
    for environment in _EXAMPLES:
        template = templates[f"GitHubDelivery-{environment.account}"]
        statements = {s["Sid"]: s for s in _policy_of(template, config.role_name("deploy", environment.name))}
        listed = statements["ListArtifactBuckets"]["Resource"]
        listed = [listed] if isinstance(listed, str) else listed
        for placement in environment.placements():
            created = {
                r["Properties"].get("BucketName")
                for stack in synthesized_stacks(synthesis.outdir)
                if stack.stage == placement.stage_id
                for r in stack.template()["Resources"].values()
                if r["Type"] == "AWS::S3::Bucket"
            }
            assert placement.artifact_bucket_name in created
            assert f"arn:aws:s3:::{placement.artifact_bucket_name}" in listed
            needed = preflight.requirements(synthesis.outdir / f"assembly-{placement.stage_id}", environment.name)
            assert all(r.key.startswith(SERVED_ROOT) for r in needed)


# The S3 calls modelctl preflight makes, by the IAM action each needs ("Actions, resources, and condition keys for
# Amazon S3", Service Authorization Reference). A call not listed here fails the test below: add it, and to the
# deploy policy if it needs another action.
_PREFLIGHT_ACTIONS = {
    "head_object": "s3:GetObject",
    "list_object_versions": "s3:ListBucketVersions",
    "get_object_tagging": "s3:GetObjectTagging",
}


class _RecordingClients:
    """``clients`` for modelctl: every service asked for and every call made; the first archive is missing."""

    def __init__(self) -> None:
        self.calls: set[tuple[str, str]] = set()

    def __call__(self, service: str, *_: Any) -> Any:
        outer = self
        missing: list[bool] = [True]

        class Client:
            def __getattr__(self, method: str) -> Any:
                def call(**_: Any) -> Any:
                    outer.calls.add((service, method))
                    if method == "head_object" and missing:
                        missing.clear()
                        raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
                    return {"VersionId": "1", "Versions": [], "TagSet": []}

                return call

        return Client()


def test_the_deploy_role_allows_what_preflight_calls_and_nothing_more(synthesis: Synthesis) -> None:
    # Every non-STS action of the deploy policy is one preflight needs: s3:ListBucket turns HeadObject's 403 for a
    # missing archive into the 404 preflight reports as "missing". No SSM: preflight reads the catalog from the
    # cloud assembly.
    clients = _RecordingClients()
    for placement in examples.PLACEMENTS:
        assembly = synthesis.outdir / f"assembly-{placement.stage_id}"
        argv = ["preflight", "--env", placement.name, "--region", placement.region, "--assembly", str(assembly)]
        assert modelctl_cli.main(argv, clients=clients) in (0, 1)
    assert {service for service, _ in clients.calls} == {"s3"}
    called = {method for _, method in clients.calls}
    assert called == set(_PREFLIGHT_ACTIONS)  # the missing archive's versions were listed, the others' tags read
    config = DeliveryConfig(repository=REPOSITORY, environments=_EXAMPLES)
    templates = _templates(config)
    for environment in _EXAMPLES:
        statements = _policy_of(
            templates[f"GitHubDelivery-{environment.account}"], config.role_name("deploy", environment.name)
        )
        actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert actions - {"sts:AssumeRole"} == {*_PREFLIGHT_ACTIONS.values(), "s3:ListBucket"}


def _execution_policy_services() -> set[str]:
    """The ``AWS::<Service>::*`` rows of docs/DELIVERY.md's table of what --cloudformation-execution-policies must
    allow."""
    text = (ROOT / "docs" / "DELIVERY.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `AWS::")]
    return {service for row in rows for service in re.findall(r"`AWS::(\w+)::\*`", row.split("|")[1])}


def test_the_execution_policy_list_names_every_service_the_stages_use(synthesis: Synthesis) -> None:
    # A bootstrap narrowed to this list must still deploy every resource the stages synthesize; a row no stage
    # needs any more is stale.
    types = {
        resource["Type"]
        for stack in synthesized_stacks(synthesis.outdir)
        for resource in stack.template()["Resources"].values()
    }
    used = {t.split("::")[1] for t in types if t.startswith("AWS::") and t != "AWS::CDK::Metadata"}
    assert {"Events", "SQS"} <= used  # the alarm delivery's rule and queue
    assert _execution_policy_services() == used
    # Custom resources are Lambda functions CloudFormation invokes.
    assert any(t.startswith("Custom::") for t in types)
    assert "| `AWS::Lambda::*`, `Custom::*` |" in (ROOT / "docs" / "DELIVERY.md").read_text()


def test_the_deploy_role_reaches_the_bootstrap_roles_the_assembly_names(synthesis: Synthesis) -> None:
    # What `cdk deploy` of the assembly assumes: each stack's assumeRoleArn and lookupRole (cloud assembly
    # manifest), each asset's publishing role (assets.json); the CloudFormation execution role is passed to
    # CloudFormation by the deploy role, not assumed by the caller (CDK bootstrapping, "Bootstrap roles").
    named: set[str] = set()
    for path in [
        *synthesis.outdir.glob("assembly-*/manifest.json"),
        *synthesis.outdir.glob("assembly-*/*.assets.json"),
    ]:
        named |= set(re.findall(r"cdk-[a-z0-9]+-([a-z-]+)-role-", path.read_text()))
        if path.name.endswith(".assets.json"):
            assert json.loads(path.read_text()).get("dockerImages", {}) == {}, path.name
    assert named - {"cfn-exec"} == set(DEPLOY_BOOTSTRAP_ROLES)
