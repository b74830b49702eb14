"""The synth review, read from a real cloud assembly of every stage, and its comparison with a base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from stacks.stage import ModelHostingStage
from tools import review


@pytest.fixture(scope="module")
def outdir(stages: list[ModelHostingStage]) -> Path:
    return Path(stages[0].node.scope.synth().directory)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def assembly(outdir: Path) -> review.Assembly:
    return review.read_assembly(outdir)


def _endpoint(assembly: review.Assembly, stage: str, name: str) -> review.Endpoint:
    return next(e for e in assembly.endpoints if (e.stage, e.name) == (stage, name))


def test_endpoints_of_every_stage_with_their_kind(assembly: review.Assembly) -> None:
    assert sorted((e.stage, e.name, e.kind) for e in assembly.endpoints) == sorted(
        (stage, f"{stage.lower()}-{name}", kind)
        for stage in ("Dev", "Staging", "Prod")
        for name, kind in (("home-values", "MME"), ("mnist", "MCE Direct"), ("churn-pipeline", "MCE Serial"))
    )


def test_variants_scaling_cache_and_deployment(assembly: review.Assembly) -> None:
    home = _endpoint(assembly, "Prod", "prod-home-values")
    (variant,) = home.variants
    assert (variant.instance_type, variant.initial_count, variant.min_count, variant.max_count) == (
        "ml.m5.xlarge",
        2,
        2,
        8,
    )
    assert home.cache == "Enabled"
    assert home.deployment == "SageMaker default (blue/green, all at once)"
    assert home.images == ["141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"]
    mnist = _endpoint(assembly, "Prod", "prod-mnist")
    assert (mnist.deployment, mnist.rollback_alarms) == ("blue/green canary 50%, wait 600 s", 2)
    assert (
        mnist.images[0]
        == "tensorflow-mnist: 763104351884.dkr.ecr.eu-west-1.amazonaws.com/tensorflow-inference:2.20.0-cpu-py312"
    )


def test_access_matrix_includes_conditions_and_denies(assembly: review.Assembly) -> None:
    prod = {(a.principal, a.effect, a.scope) for a in assembly.access if a.endpoint == "prod-mnist"}
    assert ("Prod/Hosting/MnistTensorflowClient", "Allow", "TargetContainerHostname tensorflow-mnist") in prod
    assert ("Prod/Hosting/MnistTensorflowClient", "Deny", "TargetContainerHostname pytorch-*") in prod
    home = {(a.principal, a.scope) for a in assembly.access if a.endpoint == "prod-home-values"}
    assert ("Prod/Hosting/HomeValuesChicagoAnalytics", "TargetModel Chicago_IL*") in home


def test_cost_uses_the_price_table_and_says_where_a_price_came_from(assembly: review.Assembly) -> None:
    table = json.loads(review.PRICES.read_text())
    home = review.cost(_endpoint(assembly, "Prod", "prod-home-values"), table, models_per_endpoint=10)
    assert home.low == pytest.approx(2 * 0.23)
    assert home.high == pytest.approx(8 * 0.23)
    assert home.single_model == pytest.approx(10 * 2 * 0.23)
    assert home.note == "us-east-1 price"
    missing = review.cost(_endpoint(assembly, "Prod", "prod-mnist"), table, models_per_endpoint=10)
    assert missing.low is None
    assert missing.note == "no price for ml.c5.xlarge: add it to tools/prices.json"
    table = {**table, "prices": {"eu-west-1": {"ml.c5.xlarge": 0.2}}}
    mnist = review.cost(_endpoint(assembly, "Prod", "prod-mnist"), table, models_per_endpoint=10)
    assert (mnist.low, mnist.single_model, mnist.note) == (pytest.approx(0.4), pytest.approx(0.8), "")


def test_report_lists_acknowledgments_and_limits(assembly: review.Assembly) -> None:
    text = "\n".join(review.report(assembly, json.loads(review.PRICES.read_text()), 10))
    assert "| Prod | Prod/ModelStore/Artifacts/AccessLogs/Resource | HIPAA.Security-S3DefaultEncryptionKMS |" in text
    assert "| Prod-Hosting | resources |" in text
    assert "| Prod-Hosting | template bytes |" in text


def _copy(outdir: Path, tmp_path: Path) -> Path:
    base = tmp_path / "base"
    shutil.copytree(outdir, base, ignore=shutil.ignore_patterns("asset.*"))
    return base


def _edit(base: Path, stack_prefix: str, edit: Any) -> None:
    path = next(base.rglob(f"{stack_prefix}*.template.json"))
    template = json.loads(path.read_text())
    edit(template["Resources"])
    path.write_text(json.dumps(template))


def test_no_change_against_itself(outdir: Path, tmp_path: Path, assembly: review.Assembly) -> None:
    assert review.changes(review.read_assembly(_copy(outdir, tmp_path)), assembly) == ["- no change"]


def test_changes_are_reported_and_stateful_replacement_is_loud(
    outdir: Path, tmp_path: Path, assembly: review.Assembly
) -> None:
    base = _copy(outdir, tmp_path)

    def older_store(resources: dict[str, Any]) -> None:
        # In the base the bucket had another logical id: now it would be replaced.
        resources["ArtifactsBucketOld"] = resources.pop("ArtifactsBucket88671897")
        resources["ArtifactsKeyA4B22E2B"]["Properties"]["KeySpec"] = "RSA_2048"

    def older_hosting(resources: dict[str, Any]) -> None:
        config = next(r for k, r in resources.items() if k.startswith("HomeValuesConfig"))
        config["Properties"]["ProductionVariants"][0]["InstanceType"] = "ml.c5.xlarge"
        del resources[next(k for k in resources if k.startswith("MnistTensorflowClientDefaultPolicy"))]

    _edit(base, "ProdModelStore", older_store)
    _edit(base, "ProdHosting", older_hosting)
    lines = review.changes(review.read_assembly(base), assembly)
    assert (
        lines[0]
        == "**!!! STATEFUL RESOURCE REMOVED OR REPLACED: Prod-ModelStore ArtifactsBucketOld (AWS::S3::Bucket)**"
    )
    assert (
        "**!!! STATEFUL RESOURCE REPLACED: Prod-ModelStore ArtifactsKeyA4B22E2B (AWS::KMS::Key): KeySpec changes**"
        in lines
    )
    assert (
        "- instances changed: Prod / prod-home-values / AllTraffic: ml.c5.xlarge x 2 (2-8) -> ml.m5.xlarge x 2 (2-8)"
        in lines
    )
    assert (
        "- access granted: Prod/Hosting/MnistTensorflowClient Allow prod-mnist (TargetContainerHostname tensorflow-mnist)"
        in lines
    )


def test_cli_writes_the_report_and_refuses_a_missing_assembly(
    outdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _copy(outdir, tmp_path)
    assert review.main([str(base)]) == 0
    assert (base / "REVIEW.md").read_text().startswith("# Synth review")
    assert "prod-home-values" in capsys.readouterr().out
    assert review.main([str(tmp_path / "nothing")]) == 2
