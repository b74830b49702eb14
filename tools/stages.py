"""The stages of one environment, one per region, as the configuration places them.

The deploy workflow builds its matrix from this (the regions of an environment deploy side by side), and
``make diff`` / ``make deploy`` select their stacks with it, so neither repeats the stage ids or regions.

Usage::

    python -m tools.stages --env prod                      # one line per stage: stage region account assembly
    python -m tools.stages --env prod --json               # the same as one JSON list (a workflow matrix)
    python -m tools.stages --env prod --assembly cdk.out   # and check that cdk.out holds every one of them

Exit status 0, 1 when ``--assembly`` lacks a stage (synthesize that environment first), 2 for a usage or
configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from stacks.config import ConfigError, EnvironmentConfig
from tools.cloud_assembly import nested_assemblies


@dataclass(frozen=True)
class Stage:
    """One stage of an environment: where it deploys and where the cloud assembly holds it."""

    environment: str
    stage: str
    """The stage id, the prefix of its stacks' ids: ``Prod``, ``Prod-eu-central-1``."""
    region: str
    account: str
    assembly: str
    """The stage's nested assembly folder inside ``cdk.out`` (what ``modelctl preflight --assembly`` reads)."""


class MissingStageError(Exception):
    """The cloud assembly does not hold a stage the configuration places."""


def stages(environment: str, environments: Sequence[EnvironmentConfig]) -> list[Stage]:
    """Every stage of ``environment``, its home region first. Raises ConfigError for an unknown name."""
    for configured in environments:
        if configured.name == environment:
            return [
                Stage(
                    environment=placement.name,
                    stage=placement.stage_id,
                    region=placement.region,
                    account=placement.account,
                    # A top-level Stage's assembly is named after its id (Stage.artifactId in aws-cdk-lib).
                    assembly=f"assembly-{placement.stage_id}",
                )
                for placement in configured.placements()
            ]
    known = ", ".join(e.name for e in environments) or "none"
    raise ConfigError(f"environment {environment!r} is unknown; known environments: {known}")


def in_assembly(found: list[Stage], outdir: Path) -> list[Stage]:
    """``found`` with each stage's nested assembly folder as ``outdir``'s manifest names it.

    Raises MissingStageError for a stage ``outdir`` does not hold: deploying would silently skip it.
    """
    if not (outdir / "manifest.json").is_file():
        raise MissingStageError(f"{outdir} holds no cloud assembly: run make synth")
    folders = nested_assemblies(outdir)  # stage id -> nested assembly folder
    missing = [s.stage for s in found if s.stage not in folders]
    if missing:
        raise MissingStageError(
            f"{outdir} holds no stage {', '.join(missing)} (it holds {', '.join(sorted(folders)) or 'none'}): "
            f"synthesize environment {found[0].environment} first (make synth ENV={found[0].environment})"
        )
    return [replace(s, assembly=folders[s.stage]) for s in found]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.stages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True, help="environment name (dev, staging, prod)")
    parser.add_argument("--json", action="store_true", help="one JSON list on one line (a GitHub Actions matrix)")
    parser.add_argument("--assembly", type=Path, help="a cloud assembly (cdk.out) that must hold every stage")
    return parser


def main(argv: Sequence[str], environments: Sequence[EnvironmentConfig] | None = None) -> int:
    """Print the stages of ``--env``; ``environments`` defaults to the configured ones."""
    arguments = _parser().parse_args(argv)
    try:
        if environments is None:
            from stacks.environments import ENVIRONMENTS

            environments = ENVIRONMENTS
        found = stages(arguments.env, environments)
        if arguments.assembly is not None:
            found = in_assembly(found, arguments.assembly)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except MissingStageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if arguments.json:
        # One line: GitHub's step outputs (name=value in $GITHUB_OUTPUT) are line-based.
        print(json.dumps([asdict(s) for s in found], separators=(",", ":")))
    else:
        for s in found:
            print(s.stage, s.region, s.account, s.assembly)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
