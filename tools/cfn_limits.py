"""How much of CloudFormation's per-template limits each synthesized stack uses (for the review report).

Enforcement is at synth: ``app.main`` counts each template's resources (over 500 fails), the CDK's built-in
validator refuses more than 200 outputs or parameters, and ``stacks.compliance`` turns its template-size warning
into a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.cloud_assembly import SynthesizedStack

#: (name, maximum). Template bytes: the limit for a template CloudFormation reads from S3, as the CDK deploys.
LIMITS = (("resources", 500), ("outputs", 200), ("parameters", 200), ("template bytes", 1024 * 1024))


@dataclass(frozen=True)
class LimitUse:
    """How much of one limit one stack uses."""

    stack: str
    limit: str
    count: int
    maximum: int


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
