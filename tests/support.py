"""Helpers shared by the tests: apps that read cdk.json's context, and compliance findings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

from stacks.compliance import Finding, unacknowledged_findings

ROOT = Path(__file__).resolve().parents[1]


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context (feature flags) plus ``overrides``: a bare ``cdk.App()`` does not read cdk.json.

    Like the CDK CLI, it asks for construct paths in resource metadata (the review report reads them).
    """
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["aws:cdk:enable-path-metadata"] = True
    context.update(overrides)
    return context


def make_app(**overrides: Any) -> cdk.App:
    """An App with the project's feature flags, as ``cdk synth`` would build it."""
    return cdk.App(context=cdk_context(**overrides))


def compliance_findings(app: cdk.App) -> list[Finding]:
    """Synthesize ``app`` and return every unacknowledged finding, as ``make synth`` would report it.

    The app must be built with ``@aws-cdk/core:failSynthOnValidationErrors`` false, or synthesis raises
    instead of reporting.
    """
    return unacknowledged_findings(app.synth().directory)


def acknowledgments(root: IConstruct) -> Iterator[Finding]:
    """Every acknowledgment attached anywhere under ``root``, as (rule, construct path)."""
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for key in entry.data:
                    yield Finding(key.removeprefix("Annotation::"), construct.node.path)


def cfn_lint(template: dict[str, Any], region: str = "eu-west-1") -> list[str]:
    """cfn-lint's findings on ``template`` (``RULE: message``), as ``make test`` runs it (W3005 aside)."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(template), config=ManualArgs(regions=[region], ignore_checks=["W3005"]))
    return [f"{m.rule.id}: {m.message}" for m in matches]


def lambda_module(function: str, module: str) -> Any:
    """Import ``constructs_lib/functions/<function>/<module>.py`` as Lambda would: its folder, plus the shared
    modules its asset bundles (``SHARED_MODULES``), importable by their bare names, and the shared packages
    (``hosting_contract``), importable by their package names from the very folder the asset copies."""
    import importlib
    import importlib.util
    import sys

    from constructs_lib.hardened_function import FUNCTIONS_DIR, SHARED_MODULES

    for path in SHARED_MODULES.get(function, ()):
        if path.is_dir():
            package = importlib.import_module(path.name)
            assert package.__file__ is not None
            assert Path(package.__file__).resolve().parent == path.resolve(), f"{path.name} is not {path}"
            continue
        loaded = sys.modules.get(path.stem)
        if loaded is None or getattr(loaded, "__file__", None) != str(path):
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None
            assert spec.loader is not None
            shared = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = shared
            spec.loader.exec_module(shared)
    folder = str(FUNCTIONS_DIR / function)
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)  # first, so that its handler.py wins over another function's
    shared_names = {path.stem for path in SHARED_MODULES.get(function, ()) if not path.is_dir()}
    for sibling in {"handler", module} - shared_names:
        loaded = sys.modules.get(sibling)
        if loaded is not None and not str(getattr(loaded, "__file__", "")).startswith(folder):
            del sys.modules[sibling]  # another function's module of the same name
    return importlib.import_module(module)


def hosting_stack() -> Any:
    """An empty stack in the examples' account and region, as the Hosting stack would be."""
    import aws_cdk as cdk

    return cdk.Stack(make_app(), "Hosting", env=cdk.Environment(account="111111111111", region="eu-west-1"))


def multi_model_endpoint(stack: Any, *, instances: int = 1) -> Any:
    """A one-variant XGBoost multi-model endpoint ``mme`` in ``stack`` (construct id ``Mme``)."""
    from aws_cdk import aws_s3 as s3

    from constructs_lib import ModelPrefix, MultiModelEndpoint, ProductionVariant, ServingImage

    return MultiModelEndpoint(
        stack,
        "Mme",
        endpoint_name="mme",
        image=ServingImage.from_registry("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
        model_prefix=ModelPrefix.for_endpoint(
            bucket=s3.Bucket.from_bucket_name(stack, "B", "models"), endpoint_name="mme"
        ),
        variants=[ProductionVariant(instance_type="ml.m5.xlarge", initial_instance_count=instances)],
    )
