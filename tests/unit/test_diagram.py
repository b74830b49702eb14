"""The architecture diagram is drawn from the synthesized assembly (the session's synthesis of the examples)."""

from __future__ import annotations

import pytest

from stacks.config import MultiContainerEndpointConfig
from tests import examples
from tests.support import Synthesis
from tools import diagram, review


@pytest.mark.parametrize("name", examples.NAMES)
def test_the_diagram_shows_every_endpoint_and_its_access(synthesis: Synthesis, name: str) -> None:
    config = examples.environment(name)
    source = diagram.dot(review.read_assembly(synthesis.outdir), config.stage_id)
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


def test_an_unknown_stage_is_refused(synthesis: Synthesis) -> None:
    with pytest.raises(ValueError, match="no endpoint in stage 'Nope'"):
        diagram.dot(review.read_assembly(synthesis.outdir), "Nope")
