"""Acknowledging one compliance finding on one construct, with its reason.

cdk-nag 3.x reports findings as policy-validation violations; an acknowledgment is attached to the narrowest
construct that causes the finding, for one rule id (granular where nag gives one), with a reason that says why
the finding does not apply there. Constructs acknowledge what is inherent to them, so every user of the
construct gets the same, reviewed reason instead of writing their own.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge the finding ``rule_id`` on ``scope`` (and only there) for ``reason``.

    ``reason`` must say why the rule does not apply to this construct; an empty or placeholder reason is
    refused, since a reviewer reads it in the synth report.
    """
    if len(reason.strip()) < 20:
        raise ValueError(
            f"acknowledgment of {rule_id!r} on {scope.node.path!r} needs a specific reason, got {reason!r}"
        )
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))
