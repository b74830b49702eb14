"""tools.stages: the stages of an environment (one per region), as the deploy workflow and make deploy use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import examples
from tests.support import Synthesis, feature_environment
from tools import stages as tool

_PROD = feature_environment("prod", account="333333333333", additional_regions=("eu-central-1", "us-east-1"))
_DEV = feature_environment("dev")
_ENVIRONMENTS = (_DEV, _PROD)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = tool.main(list(argv), environments=_ENVIRONMENTS)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assembly(tmp_path: Path, *stage_ids: str) -> Path:
    """A cloud assembly's top manifest with a nested assembly per stage, as aws-cdk-lib writes it."""
    artifacts = {
        f"assembly-{stage}": {
            "type": "cdk:cloud-assembly",
            "properties": {"directoryName": f"assembly-{stage}", "displayName": stage},
        }
        for stage in stage_ids
    }
    artifacts["Tree"] = {"type": "cdk:tree", "properties": {"file": "tree.json"}}
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return tmp_path


def test_every_region_of_an_environment_is_a_stage_home_region_first(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--env", "prod")
    assert status == 0
    assert out.splitlines() == [
        "Prod eu-west-1 333333333333 assembly-Prod",
        "Prod-eu-central-1 eu-central-1 333333333333 assembly-Prod-eu-central-1",
        "Prod-us-east-1 us-east-1 333333333333 assembly-Prod-us-east-1",
    ]


def test_json_is_one_line_a_workflow_matrix_can_include(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--env", "dev", "--json")
    assert status == 0
    assert out.count("\n") == 1  # GitHub's step outputs are name=value lines
    assert json.loads(out) == [
        {
            "environment": "dev",
            "stage": "Dev",
            "region": "eu-west-1",
            "account": "111111111111",
            "assembly": "assembly-Dev",
        }
    ]


def test_an_unknown_environment_is_a_usage_error_naming_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "--env", "qa")
    assert (status, out) == (2, "")
    assert err == "error: environment 'qa' is unknown; known environments: dev, prod\n"


def test_the_assembly_must_hold_every_stage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Synthesized before the second region was added: deploying it would silently skip that region.
    outdir = _assembly(tmp_path, "Dev", "Prod", "Prod-eu-central-1")
    status, out, err = _run(capsys, "--env", "prod", "--assembly", str(outdir))
    assert (status, out) == (1, "")
    assert err == (
        f"error: {outdir} holds no stage Prod-us-east-1 (it holds Dev, Prod, Prod-eu-central-1): "
        "synthesize environment prod first (make synth ENV=prod)\n"
    )


def test_a_folder_without_an_assembly_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = _run(capsys, "--env", "dev", "--assembly", str(tmp_path))
    assert status == 1
    assert err == f"error: {tmp_path} holds no cloud assembly: run make synth\n"


def test_the_nested_folder_is_the_one_the_manifest_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outdir = _assembly(tmp_path, "Dev")
    manifest = json.loads((outdir / "manifest.json").read_text())
    manifest["artifacts"]["assembly-Dev"]["properties"]["directoryName"] = "assembly-Dev-renamed"
    (outdir / "manifest.json").write_text(json.dumps(manifest))
    status, out, _ = _run(capsys, "--env", "dev", "--assembly", str(outdir), "--json")
    assert status == 0
    assert json.loads(out)[0]["assembly"] == "assembly-Dev-renamed"


def test_the_shipped_prod_runs_in_two_regions(capsys: pytest.CaptureFixture[str]) -> None:
    # The configured environments by default: what deploy.yml's build job and make deploy read.
    assert tool.main(["--env", "prod", "--json"]) == 0
    placed = json.loads(capsys.readouterr().out)
    assert [(s["stage"], s["region"]) for s in placed] == [
        (p.stage_id, p.region) for p in examples.PLACEMENTS if p.name == "prod"
    ]
    assert tuple(s["region"] for s in placed) == examples.PINNED_REGIONS["prod"]


def test_the_session_assembly_holds_every_configured_stage(
    capsys: pytest.CaptureFixture[str], synthesis: Synthesis
) -> None:
    outdir = synthesis.outdir
    for name in examples.NAMES:
        assert tool.main(["--env", name, "--assembly", str(outdir)]) == 0, capsys.readouterr().err
        for line in capsys.readouterr().out.splitlines():
            assembly = line.split()[3]
            assert (outdir / assembly / "manifest.json").is_file()
