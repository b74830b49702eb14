"""A stage's endpoints across Hosting stacks: membership by name alone, every template within CloudFormation's
limits at 200 endpoints, and stacks that depend on the ModelStore only (so they deploy in parallel)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.config import EnvironmentConfig
from stacks.environments import ENVIRONMENTS
from stacks.hosting_shards import shard_of, shards, stack_id
from stacks.stage import ModelHostingStage
from tests.support import cdk_context
from tools.cfn_limits import limit_use
from tools.cloud_assembly import synthesized_stacks

#: Pinned: an endpoint's stack must never change, or CloudFormation would create it twice (its name is fixed).
#: CRC-32 of the configured name, modulo the environment's hosting_stacks.
PINNED = {
    ("home-values", 16): 9,
    ("mnist", 16): 14,
    ("churn-pipeline", 16): 7,
    ("city-0", 16): 12,
    ("city-199", 16): 8,
    ("home-values", 4): 1,
    ("city-0", 4): 0,
}


@pytest.mark.parametrize(("name", "count"), sorted(PINNED))
def test_an_endpoints_stack_is_pinned(name: str, count: int) -> None:
    assert shard_of(name, count) == PINNED[(name, count)]


def test_adding_endpoints_moves_none() -> None:
    before = {f"city-{i}": shard_of(f"city-{i}", 16) for i in range(100)}
    after = {f"city-{i}": shard_of(f"city-{i}", 16) for i in range(200)}
    assert {name: after[name] for name in before} == before


def test_one_hosting_stack_keeps_its_name() -> None:
    """The shipped environments have one Hosting stack, named as before sharding existed."""
    assert stack_id(0, 1) == "Hosting"
    assert [stack_id(i, 3) for i in range(3)] == ["Hosting00", "Hosting01", "Hosting02"]
    for config in ENVIRONMENTS:
        (only,) = shards(config)
        assert only.stack_id == "Hosting"
        assert len(only.multi_model_endpoints) == len(config.multi_model_endpoints)


def _two_hundred(stacks: int) -> EnvironmentConfig:
    dev = ENVIRONMENTS[0]
    template = dev.multi_model_endpoints[0]
    return dev.replace(
        multi_model_endpoints=tuple(replace(template, name=f"city-{i}") for i in range(200)),
        multi_container_endpoints=(),
        hosting_stacks=stacks,
    )


@pytest.fixture(scope="module")
def two_hundred(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelHostingStage, Path]:
    """A stage of 200 multi-model endpoints over 16 Hosting stacks, synthesized (without the rule packs, which
    the stages test runs: this test is about CloudFormation's limits and stack membership)."""
    out = tmp_path_factory.mktemp("two-hundred")
    app = cdk.App(context=cdk_context(), outdir=str(out))
    config = _two_hundred(16)
    stage = ModelHostingStage(app, config.stage_id, config=config)
    app.synth()
    return stage, out


def test_two_hundred_endpoints_fit_cloudformation(two_hundred: tuple[ModelHostingStage, Path]) -> None:
    stage, out = two_hundred
    assert len(stage.hosting_stacks) == 16
    used = [use for stack in synthesized_stacks(out) for use in limit_use(stack)]
    over = [use for use in used if use.count > use.maximum * 0.9]
    assert over == [], "a Hosting stack is within 10% of a CloudFormation limit: raise hosting_stacks"
    resources = {use.stack: use.count for use in used if use.limit == "resources"}
    assert len(resources) == 17  # 16 Hosting stacks and the ModelStore


def test_each_endpoint_is_in_the_stack_its_name_says(two_hundred: tuple[ModelHostingStage, Path]) -> None:
    stage, _ = two_hundred
    found: dict[str, str] = {}
    for hosting in stage.hosting_stacks:
        for name in hosting.multi_model_endpoints:
            found[name] = hosting.node.id
    assert len(found) == 200
    assert all(found[name] == stack_id(shard_of(name, 16), 16) for name in found)
    assert stage.hosting_stack_of("city-7").node.id == found["city-7"]


def test_hosting_stacks_depend_on_the_model_store_only(two_hundred: tuple[ModelHostingStage, Path]) -> None:
    """No Hosting stack waits for another: ``cdk deploy --concurrency`` deploys them side by side."""
    stage, out = two_hundred
    (assembly,) = out.glob("assembly-*")
    manifest = json.loads((assembly / "manifest.json").read_text())
    model_store = stage.model_store.artifact_id
    for hosting in stage.hosting_stacks:
        dependencies = {
            d for d in manifest["artifacts"][hosting.artifact_id].get("dependencies", []) if ".assets" not in d
        }
        assert dependencies == {model_store}, hosting.artifact_id


def test_the_stage_refuses_hosting_when_several_stacks_hold_it(two_hundred: tuple[ModelHostingStage, Path]) -> None:
    stage, _ = two_hundred
    with pytest.raises(ValueError, match="16 Hosting stacks"):
        _ = stage.hosting


def test_hosting_stacks_is_checked() -> None:
    from stacks.config import ConfigError

    with pytest.raises(ConfigError, match="field 'hosting_stacks': 0 must be between 1 and 64"):
        ENVIRONMENTS[0].replace(hosting_stacks=0)
