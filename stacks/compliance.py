"""The compliance rule packs every stage is checked against, and reading their verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
import cdk_nag
from constructs import IConstruct

#: The report every validation plugin (cdk-nag packs, CDK's built-in CloudFormation validator) writes into.
VALIDATION_REPORT = "validation-report.json"


def add_compliance_checks(scope: IConstruct) -> None:
    """Check ``scope`` with the AwsSolutions, HIPAA Security, NIST 800-53 R5 and PCI DSS 3.2.1 packs.

    cdk-nag 3.x runs as a policy-validation plugin; its findings are written to ``validation-report.json`` in
    the cloud assembly, and ``unacknowledged_findings`` reads them back.
    """
    cdk.Validations.of(scope).add_plugins(
        cdk_nag.AwsSolutionsChecks(scope, verbose=True),
        cdk_nag.HIPAASecurityChecks(scope, verbose=True),
        cdk_nag.NIST80053R5Checks(scope, verbose=True),
        cdk_nag.PCIDSS321Checks(scope, verbose=True),
    )


#: Warnings that fail synthesis all the same: CloudFormation refuses a template over 1 MB, the CDK only warns.
PROMOTED_WARNINGS = frozenset({"Annotation::@aws-cdk/core:Stack.templateSize"})


@dataclass(frozen=True, order=True)
class Finding:
    """One unacknowledged finding: the rule and the construct path it fired on (and what it says)."""

    rule: str
    path: str
    description: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.rule} on {self.path}"

    def explained(self) -> str:
        """The finding with the first sentence of its description."""
        first = self.description.split(" - (", 1)[0].split(". ", 1)[0].strip()
        return f"{self} ({first})" if first else str(self)


def unacknowledged_findings(assembly_directory: str | Path) -> list[Finding]:
    """Every failed rule of every validation plugin in the assembly at ``assembly_directory``, sorted.

    That is the rule packs, the CDK's built-in CloudFormation validator (which also enforces the 200 outputs
    and 200 parameters of a template) and the CDK's own template-size warning. The app reads the report itself
    because, when the CDK CLI runs a Python app, a failed validation only sets the exit code of the jsii Node
    process, and the app would otherwise exit 0.
    """
    report = json.loads((Path(assembly_directory) / VALIDATION_REPORT).read_text())
    return sorted(
        {
            Finding(violation["ruleName"], construct["constructPath"], violation.get("description", ""))
            for plugin in report.get("pluginReports", [])
            for violation in plugin.get("violations", [])
            if violation.get("severity", "error") == "error" or violation["ruleName"] in PROMOTED_WARNINGS
            for construct in violation.get("violatingConstructs", [])
        }
    )


def report_findings(directory: str) -> int:
    """Print the assembly's unacknowledged findings (compliance rules, CloudFormation schema errors, template
    limits) to stderr, one a line; 1 if there are any, else 0: what an app's ``main`` exits with."""
    import sys

    findings = unacknowledged_findings(directory)
    if not findings:
        return 0
    print(f"error: {len(findings)} unacknowledged finding(s):", file=sys.stderr)
    for finding in findings:
        print(f"  {finding.explained()}", file=sys.stderr)
    print(f"details: {directory}/{VALIDATION_REPORT}", file=sys.stderr)
    return 1
