"""The synth review, read from a real cloud assembly of every stage, and its comparison with a base.

The assembly is the session's synthesis of the shipped examples; what the review must find in it is derived
from their configuration (``tests/examples.py``). The cost arithmetic is checked on endpoints of its own.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from stacks.config import MultiContainerEndpointConfig, MultiModelEndpointConfig
from tests import examples
from tests.support import Synthesis
from tools import review


@pytest.fixture(scope="module")
def outdir(synthesis: Synthesis) -> Path:
    return synthesis.outdir


@pytest.fixture(scope="module")
def assembly(outdir: Path) -> review.Assembly:
    return review.read_assembly(outdir)


def _endpoint(assembly: review.Assembly, stage: str, name: str) -> review.Endpoint:
    return next(e for e in assembly.endpoints if (e.stage, e.name) == (stage, name))


def test_endpoints_of_every_stage_with_their_kind(assembly: review.Assembly) -> None:
    assert sorted((e.stage, e.name, e.kind) for e in assembly.endpoints) == sorted(
        (config.stage_id, config.endpoint_name(item.name), examples.kind(item))
        for config in examples.ENVIRONMENTS
        for item in examples.endpoints(config)
    )


def _deployment(item: examples.Endpoint) -> tuple[str, int]:
    deployment = item.deployment if isinstance(item, MultiContainerEndpointConfig) else None
    if deployment is None:
        return "SageMaker default (blue/green, all at once)", 0
    wait = int(deployment.wait_interval.to_seconds())
    return f"blue/green {deployment.traffic.value.lower()} {deployment.size_percent}%, wait {wait} s", 2


@pytest.mark.parametrize("name", examples.NAMES)
def test_variants_scaling_cache_and_deployment(assembly: review.Assembly, name: str) -> None:
    config = examples.environment(name)
    for item in examples.endpoints(config):
        found = _endpoint(assembly, config.stage_id, config.endpoint_name(item.name))
        variant, configured = found.variants[0], item.variants[0]
        count = configured.initial_instance_count
        low, high = (item.scaling.min_capacity, item.scaling.max_capacity) if item.scaling else (count, count)
        assert (variant.instance_type, variant.initial_count, variant.min_count, variant.max_count) == (
            configured.instance_type,
            count,
            low,
            high,
        )
        if isinstance(item, MultiModelEndpointConfig):
            assert found.cache == ("Enabled" if item.model_cache_enabled else "Disabled")
        else:
            assert found.cache == "-"
        assert (found.deployment, found.rollback_alarms) == _deployment(item)


def test_the_examples_images(assembly: review.Assembly) -> None:
    for (endpoint, hostname), image in examples.PINNED_IMAGES.items():
        for name in examples.having(endpoint):
            config = examples.environment(name)
            found = _endpoint(assembly, config.stage_id, config.endpoint_name(endpoint))
            assert (f"{hostname}: {image}" if hostname else image) in found.images


def test_access_matrix_includes_conditions_and_denies(assembly: review.Assembly) -> None:
    checked = 0
    for config in examples.ENVIRONMENTS:
        for item in examples.endpoints(config):
            deployed = config.endpoint_name(item.name)
            access = {(a.principal, a.effect, a.scope) for a in assembly.access if a.endpoint == deployed}
            for consumer in item.consumers:
                principal = f"{config.stage_id}/Hosting/{examples.construct_id(item.name)}{consumer.name}"
                if isinstance(item, MultiModelEndpointConfig):
                    assert (principal, "Allow", f"TargetModel {', '.join(consumer.models)}") in access
                elif consumer.containers is None:
                    assert (principal, "Allow", "whole endpoint") in access
                else:
                    assert (principal, "Allow", f"TargetContainerHostname {', '.join(consumer.containers)}") in access
                    if consumer.denied:
                        assert (principal, "Deny", f"TargetContainerHostname {', '.join(consumer.denied)}") in access
                checked += 1
    assert checked


def _priced(instance_type: str, count: int, low: int, high: int) -> review.Endpoint:
    """An endpoint of one variant as the review reads it, for the cost arithmetic alone."""
    return review.Endpoint(
        stage="Prod",
        stack="Prod-Hosting",
        region="eu-west-1",
        name="prod-priced",
        kind="MME",
        images=[],
        data=[],
        cache="Enabled",
        variants=[review.Variant("AllTraffic", instance_type, count, low, high, scaled=low != high)],
        deployment="SageMaker default (blue/green, all at once)",
        rollback_alarms=0,
    )


def test_cost_uses_the_price_table_and_says_where_a_price_came_from() -> None:
    table = json.loads(review.PRICES.read_text())
    home = review.cost(_priced("ml.m5.xlarge", 2, 2, 8), table, models_per_endpoint=10)
    assert home.low == pytest.approx(2 * 0.23)
    assert home.high == pytest.approx(8 * 0.23)
    assert home.single_model == pytest.approx(10 * 2 * 0.23)
    assert home.note == "us-east-1 price"
    missing = review.cost(_priced("ml.c5.xlarge", 2, 2, 2), table, models_per_endpoint=10)
    assert missing.low is None
    assert missing.note == "no price for ml.c5.xlarge: add it to tools/prices.json"
    table = {**table, "prices": {"eu-west-1": {"ml.c5.xlarge": 0.2}}}
    # A multi-container endpoint's models are its containers: two here, each on an endpoint of its own.
    two_containers = dataclasses.replace(
        _priced("ml.c5.xlarge", 2, 2, 2), kind="MCE Direct", images=["a: image-a", "b: image-b"]
    )
    mce = review.cost(two_containers, table, models_per_endpoint=10)
    assert (mce.low, mce.single_model, mce.note) == (pytest.approx(0.4), pytest.approx(0.8), "")


def test_report_lists_acknowledgments_and_limits(assembly: review.Assembly) -> None:
    text = "\n".join(review.report(assembly, json.loads(review.PRICES.read_text()), 10))
    for stage in examples.STAGE_IDS:
        assert (
            f"| {stage} | {stage}/ModelStore/Artifacts/AccessLogs/Resource | HIPAA.Security-S3DefaultEncryptionKMS |"
            in text
        )
        assert f"| {stage}-Hosting | resources |" in text
        assert f"| {stage}-Hosting | template bytes |" in text


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


#: The stage whose base the next test edits: the last, whose examples are all there (tests/examples.py).
STAGE = examples.environment(examples.NAMES[-1])


def test_changes_are_reported_and_stateful_replacement_is_loud(
    outdir: Path, tmp_path: Path, assembly: review.Assembly
) -> None:
    base = _copy(outdir, tmp_path)
    stage = STAGE.stage_id
    home = examples.endpoint(STAGE, examples.HOME_VALUES)
    mnist = examples.endpoint(STAGE, examples.MNIST)
    assert isinstance(mnist, MultiContainerEndpointConfig)
    client = next(c for c in mnist.consumers if c.containers)
    assert client.containers is not None
    client_id = f"{examples.construct_id(mnist.name)}{client.name}"
    instance_type = home.variants[0].instance_type
    older_type = "ml.c5.xlarge" if instance_type != "ml.c5.xlarge" else "ml.m5.large"

    def older_store(resources: dict[str, Any]) -> None:
        # In the base the bucket had another logical id: now it would be replaced.
        resources["ArtifactsBucketOld"] = resources.pop("ArtifactsBucket88671897")
        resources["ArtifactsKeyA4B22E2B"]["Properties"]["KeySpec"] = "RSA_2048"

    def older_hosting(resources: dict[str, Any]) -> None:
        config = next(r for k, r in resources.items() if k.startswith(f"{examples.construct_id(home.name)}Config"))
        config["Properties"]["ProductionVariants"][0]["InstanceType"] = older_type
        del resources[next(k for k in resources if k.startswith(f"{client_id}DefaultPolicy"))]

    _edit(base, f"{stage}ModelStore", older_store)
    _edit(base, f"{stage}Hosting", older_hosting)
    lines = review.changes(review.read_assembly(base), assembly)
    assert (
        lines[0]
        == f"**!!! STATEFUL RESOURCE REMOVED OR REPLACED: {stage}-ModelStore ArtifactsBucketOld (AWS::S3::Bucket)**"
    )
    assert (
        f"**!!! STATEFUL RESOURCE REPLACED: {stage}-ModelStore ArtifactsKeyA4B22E2B (AWS::KMS::Key): KeySpec changes**"
        in lines
    )
    count = home.variants[0].initial_instance_count
    scale = f"({home.scaling.min_capacity}-{home.scaling.max_capacity})" if home.scaling else f"({count}-{count})"
    assert (
        f"- instances changed: {stage} / {STAGE.endpoint_name(home.name)} / AllTraffic: "
        f"{older_type} x {count} {scale} -> {instance_type} x {count} {scale}"
    ) in lines
    assert (
        f"- access granted: {stage}/Hosting/{client_id} Allow {STAGE.endpoint_name(mnist.name)} "
        f"(TargetContainerHostname {', '.join(client.containers)})"
    ) in lines


def test_cli_writes_the_report_and_refuses_a_missing_assembly(
    outdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _copy(outdir, tmp_path)
    assert review.main([str(base)]) == 0
    assert (base / "REVIEW.md").read_text().startswith("# Synth review")
    assert STAGE.endpoint_name(examples.HOME_VALUES) in capsys.readouterr().out
    assert review.main([str(tmp_path / "nothing")]) == 2
