"""The architecture diagram is drawn from the synthesized assembly (the session's synthesis of the examples)."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest

from stacks.config import InferenceComponentEndpointConfig, MultiContainerEndpointConfig
from tests import examples
from tests.support import Synthesis
from tools import diagram, review


@pytest.fixture(scope="module")
def assembly(synthesis: Synthesis) -> review.Assembly:
    return review.read_assembly(synthesis.outdir)


@pytest.mark.parametrize("name", examples.NAMES)
def test_the_diagram_shows_every_endpoint_and_its_access(assembly: review.Assembly, name: str) -> None:
    config = examples.environment(name)
    source = diagram.dot(assembly, config.stage_id)
    assert source.startswith("digraph architecture {")
    for deployed in config.endpoint_names():
        assert f'"{deployed}\\n' in source
    for item in examples.endpoints(config):
        for consumer in item.consumers:
            assert f'label="{examples.construct_id(item.name)}{consumer.name}"' in source
            denied = consumer.denied if isinstance(item, MultiContainerEndpointConfig) else ()
            if denied:
                scope = f"TargetContainerHostname {', '.join(denied)}"
                assert f'label="Deny: {scope}", color=red' in source


@pytest.mark.parametrize("name", examples.NAMES)
def test_containers_and_components_are_drawn_inside_their_endpoint(assembly: review.Assembly, name: str) -> None:
    config = examples.environment(name)
    source = diagram.dot(assembly, config.stage_id)
    for item in examples.endpoints(config):
        deployed = config.endpoint_name(item.name)
        # The endpoint's cluster, then a node per container or component inside it.
        cluster = source[source.index(f'label="{deployed}\\n') :].split("    }", 1)[0]
        if isinstance(item, InferenceComponentEndpointConfig):
            drawn = re.findall(r'\[label="([^"\\]+)\\n', cluster)
            assert drawn == [f"{deployed}-{c.name}" for c in item.components]
        elif isinstance(item, MultiContainerEndpointConfig):
            drawn = re.findall(r'\[label="([^"\\]+)\\n', cluster)
            assert drawn == [c.hostname for c in item.containers]
        else:
            assert '[label="model\\n' in cluster


@pytest.mark.parametrize("name", examples.NAMES)
def test_whether_stateful_resources_survive_is_read_from_the_templates(assembly: review.Assembly, name: str) -> None:
    """Dev's stateful resources go with its stacks but for the access logs; staging's and prod's model store stays
    (README, tests/examples.py), though their functions' log groups and dead letters go."""
    config = examples.environment(name)
    source = diagram.dot(assembly, config.stage_id)
    store = f"{config.stage_id}-ModelStore"
    bucket = f"sagemaker-models-{config.name}-{config.account}-{config.region}"
    # The model bucket, labelled from its properties, serves every endpoint's data.
    described = f'label="{bucket}\\nSSE-KMS, versioned, access-logged\\n'
    if examples.PINNED_RETAIN[name]:
        assert f'{described}RETAINED when the stack goes"' in source
        assert f'label="{store}: some stateful resources retained, others destroyed with the stack"' in source
    else:
        assert f'{described}destroyed with the stack"' in source
        # The access-log bucket alone stays (ModelArtifactStore.access_log_bucket says why).
        assert f'label="{store}: some stateful resources retained, others destroyed with the stack"' in source
        assert source.count("RETAINED") == 1
        assert '[label="Artifacts/AccessLogs\\nSSE-S3, versioned\\nRETAINED when the stack goes"' in source
    assert source.count('[label="model data", style=dashed]') >= len(config.endpoint_names())


def test_the_label_follows_the_deletion_policy(assembly: review.Assembly) -> None:
    """Not fixed text: the same stage with its policies flipped says the opposite."""
    flipped = copy.deepcopy(assembly)
    stage = examples.environment(examples.NAMES[0]).stage_id
    for resource in flipped.resources:
        resource.deletion_policy = "Retain" if resource.deletion_policy == "Delete" else "Delete"
    source = diagram.dot(flipped, stage)
    assert ("RETAINED when the stack goes" in source) is not examples.PINNED_RETAIN[examples.NAMES[0]]


def test_an_unknown_stage_is_refused(assembly: review.Assembly) -> None:
    with pytest.raises(ValueError, match="no endpoint in stage 'Nope'"):
        diagram.dot(assembly, "Nope")


def test_the_diagram_goes_under_the_assembly_by_default(synthesis: Synthesis, tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    shutil.copytree(synthesis.outdir, outdir, ignore=shutil.ignore_patterns("asset.*"))
    assert diagram.main([str(outdir), "--stage", examples.STAGE_IDS[0]]) == 0
    assert (outdir / f"architecture-{examples.STAGE_IDS[0]}.dot").read_text().startswith("digraph architecture {")
    assert diagram.main([str(outdir), "--stage", examples.STAGE_IDS[0], "-o", str(tmp_path / "docs" / "a.dot")]) == 0
    assert (tmp_path / "docs" / "a.dot").is_file()
    assert diagram.main([str(tmp_path / "nothing"), "--stage", "Prod"]) == 2
