"""How much of CloudFormation's per-template limits each synthesized stack uses (for the review report).

Enforcement is the CDK's: it refuses a stack over 500 resources, its built-in validator refuses more than 200
outputs or parameters, and ``stacks.compliance`` turns its template-size warning into a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.cloud_assembly import SynthesizedStack, synthesized_stacks

#: (name, maximum). Template bytes: the limit for a template CloudFormation reads from S3, as the CDK deploys.
LIMITS = (("resources", 500), ("outputs", 200), ("parameters", 200), ("template bytes", 1024 * 1024))


@dataclass(frozen=True)
class LimitUse:
    """How much of one limit one stack uses."""

    stack: str
    limit: str
    count: int
    maximum: int

    @property
    def exceeded(self) -> bool:
        """Over the limit: CloudFormation would refuse the template."""
        return self.count > self.maximum

    def __str__(self) -> str:
        return f"{self.stack}: {self.limit} {self.count} of {self.maximum}"


def limit_use(stack: SynthesizedStack) -> list[LimitUse]:
    """Every limit's use by ``stack``."""
    template = stack.template()
    counts = {
        "resources": len(template.get("Resources", {})),
        "outputs": len(template.get("Outputs", {})),
        "parameters": len(template.get("Parameters", {})),
        "template bytes": stack.template_path.stat().st_size,
    }
    return [LimitUse(stack.stack_name, name, counts[name], maximum) for name, maximum in LIMITS]


def assembly_limit_use(outdir: str | Path) -> list[LimitUse]:
    """Every limit's use by every stack of the assembly at ``outdir``."""
    return [use for stack in synthesized_stacks(Path(outdir)) for use in limit_use(stack)]
