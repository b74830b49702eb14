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
from stacks.hosting_stack import HostingStack
from stacks.model_store_stack import ModelStoreStack
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
def two_hundred(tmp_path_factory: pytest.TempPathFactory) -> tuple[EnvironmentConfig, dict[str, HostingStack], Path]:
    """A stage of 200 multi-model endpoints over 16 Hosting stacks, synthesized: the ModelStore (which catalogs
    all 200), the fullest Hosting stack (every endpoint has the same shape, so it is the worst case of the 16)
    and the emptiest one. Without the rule packs, which the stages test runs: this test is about
    CloudFormation's limits and stack membership; ``make bench`` synthesizes all 16 with them."""
    out = tmp_path_factory.mktemp("two-hundred")
    app = cdk.App(context=cdk_context(), outdir=str(out))
    config = _two_hundred(16)
    stage = cdk.Stage(app, config.stage_id, env=cdk.Environment(account=config.account, region=config.region))
    model_store = ModelStoreStack(stage, "ModelStore", config=config)
    by_size = sorted(shards(config), key=lambda shard: len(shard.multi_model_endpoints))
    built = {
        shard.stack_id: HostingStack(stage, shard.stack_id, config=config, model_store=model_store, shard=shard)
        for shard in (by_size[-1], by_size[0])
    }
    app.synth()
    return config, built, out


#: The tests of ``two_hundred`` run on one worker: the stage is built once (tests/scheduling.py).
_ONE_BUILD = pytest.mark.xdist_group("two hundred endpoints")


@_ONE_BUILD
def test_two_hundred_endpoints_fit_cloudformation(
    two_hundred: tuple[EnvironmentConfig, dict[str, HostingStack], Path],
) -> None:
    config, built, out = two_hundred
    fullest = max(len(shard.multi_model_endpoints) for shard in shards(config))
    assert max(len(stack.multi_model_endpoints) for stack in built.values()) == fullest
    used = [use for stack in synthesized_stacks(out) for use in limit_use(stack)]
    over = [use for use in used if use.count > use.maximum * 0.9]
    assert over == [], "a stack is within 10% of a CloudFormation limit: raise hosting_stacks"
    resources = {use.stack: use.count for use in used if use.limit == "resources"}
    assert len(resources) == 3  # the ModelStore and two Hosting stacks


@_ONE_BUILD
def test_each_endpoint_is_in_the_stack_its_name_says(
    two_hundred: tuple[EnvironmentConfig, dict[str, HostingStack], Path],
) -> None:
    config, built, _ = two_hundred
    members = {e.name: shard.stack_id for shard in shards(config) for e in shard.multi_model_endpoints}
    assert len(members) == 200
    assert all(members[name] == stack_id(shard_of(name, 16), 16) for name in members)
    for construct_id, stack in built.items():
        assert set(stack.multi_model_endpoints) == {name for name, owner in members.items() if owner == construct_id}


@_ONE_BUILD
def test_hosting_stacks_depend_on_the_model_store_only(
    two_hundred: tuple[EnvironmentConfig, dict[str, HostingStack], Path],
) -> None:
    """No Hosting stack waits for another: ``cdk deploy --concurrency`` deploys them side by side."""
    _, built, out = two_hundred
    (assembly,) = out.glob("assembly-*")
    manifest = json.loads((assembly / "manifest.json").read_text())
    (model_store,) = [
        artifact_id
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact.get("displayName", "").startswith("Dev/ModelStore")
        and artifact["type"] == "aws:cloudformation:stack"
    ]
    for hosting in built.values():
        dependencies = {
            d for d in manifest["artifacts"][hosting.artifact_id].get("dependencies", []) if ".assets" not in d
        }
        assert dependencies == {model_store}, hosting.artifact_id


def test_a_stage_builds_every_hosting_stack_even_empty_ones() -> None:
    """A stack that vanished from the app would stay deployed: the set of stacks depends on the number alone."""
    config = ENVIRONMENTS[0].replace(multi_model_endpoints=(), multi_container_endpoints=(), hosting_stacks=3)
    stage = ModelHostingStage(cdk.App(context=cdk_context()), config.stage_id, config=config)
    assert [stack.node.id for stack in stage.hosting_stacks] == ["Hosting00", "Hosting01", "Hosting02"]
    with pytest.raises(ValueError, match="3 Hosting stacks"):
        _ = stage.hosting


def test_hosting_stacks_is_checked() -> None:
    from stacks.config import ConfigError

    with pytest.raises(ConfigError, match="field 'hosting_stacks': 0 must be between 1 and 64"):
        ENVIRONMENTS[0].replace(hosting_stacks=0)
