"""Reading a synthesized cloud assembly (cdk.out): its stages, their stacks and templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SynthesizedStack:
    """One stack template inside a stage of the assembly."""

    stage: str
    stack_name: str
    template_path: Path
    account: str = "unknown"
    region: str = "unknown"
    """From the stack's environment (``aws://ACCOUNT/REGION``); ``unknown`` for an environment-agnostic stack."""

    @property
    def metadata_path(self) -> Path:
        """The CDK's ``<stack>.metadata.json`` beside the template (construct metadata, acknowledgments)."""
        return self.template_path.with_name(self.template_path.name.replace(".template.json", ".metadata.json"))

    def template(self) -> dict[str, Any]:
        """The parsed CloudFormation template."""
        loaded: dict[str, Any] = json.loads(self.template_path.read_text())
        return loaded

    def resource_count(self) -> int:
        """Resources in the template, CDK metadata excluded."""
        resources = self.template().get("Resources", {})
        return sum(1 for r in resources.values() if r.get("Type") != "AWS::CDK::Metadata")


def _manifest(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return manifest


def nested_assemblies(outdir: Path) -> dict[str, str]:
    """Each stage of the cloud assembly in ``outdir`` (its construct id, the manifest's ``displayName``) and the
    folder of its nested assembly, in manifest order."""
    folders = {}
    for artifact_id, artifact in _manifest(outdir).get("artifacts", {}).items():
        if artifact.get("type") == "cdk:cloud-assembly":
            properties = artifact["properties"]
            folders[properties.get("displayName") or artifact_id.removeprefix("assembly-")] = properties[
                "directoryName"
            ]
    return folders


def synthesized_stacks(outdir: Path) -> Iterator[SynthesizedStack]:
    """Every stack of every stage in ``outdir``, in manifest order."""
    for stage, folder in nested_assemblies(outdir).items():
        stage_dir = outdir / folder
        for stack in _manifest(stage_dir).get("artifacts", {}).values():
            if stack.get("type") == "aws:cloudformation:stack":
                props = stack["properties"]
                account, region = _environment(str(stack.get("environment", "")))
                yield SynthesizedStack(
                    stage=stage,
                    stack_name=props.get("stackName", stack.get("displayName", "")),
                    template_path=stage_dir / props["templateFile"],
                    account=account,
                    region=region,
                )


def _environment(environment: str) -> tuple[str, str]:
    """``aws://111111111111/eu-west-1`` as (account, region); the CDK writes ``unknown-account`` and
    ``unknown-region`` for an environment-agnostic stack."""
    parts = environment.removeprefix("aws://").split("/")
    if len(parts) != 2:
        return "unknown", "unknown"
    account, region = parts
    return (
        "unknown" if account.startswith("unknown") else account,
        "unknown" if region.startswith("unknown") else region,
    )
