"""The architecture diagram is drawn from the synthesized assembly."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.stage import ModelHostingStage
from tools import diagram, review


def test_prod_diagram_shows_endpoints_and_access(stages: list[ModelHostingStage]) -> None:
    outdir = Path(stages[0].node.scope.synth().directory)  # type: ignore[union-attr]
    source = diagram.dot(review.read_assembly(outdir), "Prod")
    assert source.startswith("digraph architecture {")
    for name in ("prod-home-values", "prod-mnist", "prod-churn-pipeline"):
        assert f'"{name}\\n' in source
    assert 'label="Deny: TargetContainerHostname pytorch-*", color=red' in source
    assert 'label="MnistTensorflowClient"' in source
    with pytest.raises(ValueError, match="no endpoint in stage 'Nope'"):
        diagram.dot(review.read_assembly(outdir), "Nope")
