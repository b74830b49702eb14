"""Acknowledging one compliance finding on one construct, with its reason.

cdk-nag 3.x reports findings as policy-validation violations; an acknowledgment is attached to the narrowest
construct that causes the finding, for one rule id (granular where nag gives one), with a reason that says why
the finding does not apply there. Constructs acknowledge what is inherent to them, so every user of the
construct gets the same, reviewed reason instead of writing their own.
"""

from __future__ import annotations

import weakref

import aws_cdk as cdk
from constructs import IConstruct

#: Each construct's ``Validations``, asked of the CDK once: every call into the CDK's Node process costs a round
#: trip, and a role's policy collects several acknowledgments.
_VALIDATIONS: weakref.WeakKeyDictionary[IConstruct, cdk.Validations] = weakref.WeakKeyDictionary()


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge the finding ``rule_id`` on ``scope`` (and only there) for ``reason``.

    ``reason`` must say why the rule does not apply to this construct; an empty or placeholder reason is
    refused, since a reviewer reads it in the synth report.
    """
    acknowledge_each(scope, {rule_id: reason})


def acknowledge_each(scope: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge each finding of ``reasons`` (rule id to reason) on ``scope`` (and only there), as ``acknowledge``
    does one."""
    for rule_id, reason in reasons.items():
        if len(reason.strip()) < 20:
            raise ValueError(
                f"acknowledgment of {rule_id!r} on {scope.node.path!r} needs a specific reason, got {reason!r}"
            )
    if scope not in _VALIDATIONS:
        _VALIDATIONS[scope] = cdk.Validations.of(scope)
    _VALIDATIONS[scope].acknowledge(*(cdk.Acknowledgment(id=rule, reason=why) for rule, why in reasons.items()))


#: The rule packs besides AwsSolutions. They share rule names, each prefixed with its pack.
CONTROL_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
#: The packs with Lambda reliability rules (LambdaDLQ, LambdaConcurrency); PCI DSS 3.2.1 has none.
HIPAA_AND_NIST = ("HIPAA.Security", "NIST.800.53.R5")


def acknowledge_control_rule(
    scope: IConstruct, rule: str, reason: str, *, packs: tuple[str, ...] = CONTROL_PACKS
) -> None:
    """Acknowledge ``rule`` (e.g. ``IAMNoInlinePolicy``) of the control ``packs`` that have it, on ``scope``."""
    acknowledge_each(scope, {f"{pack}-{rule}": reason for pack in packs})


def nag_resource_id(scope: IConstruct, value: str) -> str:
    """How cdk-nag writes ``value`` (an ARN, maybe with tokens) in a granular id such as ``IAM5[Resource::...]``.

    Literals stay as they are; ``Ref`` becomes ``<Name>`` and ``Fn::GetAtt`` becomes ``<LogicalId.Attribute>``.
    Only same-stack values can be rendered: a cross-stack reference is replaced by the CDK at synthesis, after
    constructs are built, so an acknowledgment could not name it.
    """
    resolved = cdk.Stack.of(scope).resolve(value)
    if isinstance(resolved, str):
        return resolved
    if isinstance(resolved, dict) and set(resolved) == {"Fn::Join"} and resolved["Fn::Join"][0] == "":
        return "".join(_render_part(scope, part) for part in resolved["Fn::Join"][1])
    raise ValueError(f"cannot predict cdk-nag's rendering of {resolved!r} on {scope.node.path}")


def _render_part(scope: IConstruct, part: object) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and set(part) == {"Ref"}:
        return f"<{part['Ref']}>"
    if isinstance(part, dict) and set(part) == {"Fn::GetAtt"}:
        logical_id, attribute = part["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    raise ValueError(f"cannot predict cdk-nag's rendering of {part!r} on {scope.node.path}")


def default_policy(role: IConstruct) -> IConstruct:
    """The ``AWS::IAM::Policy`` a role's grants go to: where inline-policy and IAM5 findings are acknowledged.

    It exists once the role has a grant.
    """
    if role not in _DEFAULT_POLICIES:
        _DEFAULT_POLICIES[role] = role.node.find_child("DefaultPolicy").node.find_child("Resource")
    return _DEFAULT_POLICIES[role]


#: Each role's default policy resource, looked up once (it never moves once created).
_DEFAULT_POLICIES: weakref.WeakKeyDictionary[IConstruct, IConstruct] = weakref.WeakKeyDictionary()
