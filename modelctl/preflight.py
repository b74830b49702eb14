"""Before ``cdk deploy`` of a stage's Hosting stack: is every archive it will load there, and valid?

SageMaker's CreateModel fails when a container's ``ModelDataUrl`` cannot be read ("Could not find model data
at s3://..."), and the execution roles may read only archives the artifact guard tagged valid; the smoke test
invokes its canary models right after the deploy. The synthesized templates say exactly which archives those
are: the Hosting template's ``AWS::SageMaker::Model`` containers (an ``AWS::SageMaker::InferenceComponent``'s
archive is the ``ModelDataUrl`` of the model its ``Specification.ModelName`` names) and
``Custom::SageMakerSmokeTest`` invocations, and the ModelStore template's artifact catalog (where each endpoint's
archives go). This reads them from a cloud assembly (``cdk.out``) and checks each archive in the account.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosting_contract import ssm_paths
from hosting_contract.archive_rules import VALID
from modelctl.aws import (
    INFERENCE_COMPONENTS,
    PENDING,
    UNVERIFIED,
    ModelctlError,
    NotFoundError,
    missing,
    tags,
    verdict,
)

_STACK = "aws:cloudformation:stack"


@dataclass(frozen=True)
class Requirement:
    """One archive the stage's Hosting deploy needs."""

    needed_by: str
    """What needs it, e.g. ``model MnistModel, container tensorflow-mnist``, ``inference component
    dev-tabular-churn (model TabularChurnModel)`` or ``smoke test of dev-home-values``."""
    bucket: str
    key: str
    endpoint: str
    """The deployed endpoint name."""
    container: str | None = None
    target_model: str | None = None
    layout: str = "flat"
    component: str | None = None
    """An inference component's configured (short) name, as ``modelctl upload --component`` takes it."""


@dataclass(frozen=True)
class Finding:
    """A requirement that is not met, and the command that meets it."""

    requirement: Requirement
    state: str
    fix: str

    def __str__(self) -> str:
        r = self.requirement
        return f"{self.state}: s3://{r.bucket}/{r.key} (needed by {r.needed_by})\n    fix: {self.fix}"


def _templates(assembly: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(nested assembly folder, template) for every stack of every stage in ``assembly``."""
    for manifest in sorted(assembly.glob("**/manifest.json")):
        artifacts = json.loads(manifest.read_text()).get("artifacts", {})
        for artifact in artifacts.values():
            if artifact.get("type") == _STACK:
                template = manifest.parent / artifact["properties"]["templateFile"]
                yield manifest.parent, json.loads(template.read_text())


def _resources(template: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == kind:
            yield logical_id, resource.get("Properties", {})


def _catalogs(assembly: Path, environment: str) -> dict[Path, dict[str, dict[str, Any]]]:
    """Nested assembly folder -> the artifact catalog (endpoint -> entry) of each stage of ``environment``."""
    if not assembly.is_dir():
        raise NotFoundError(f"{assembly} is not a cloud assembly: run make synth first (or pass --assembly)")
    catalog_path = ssm_paths.artifacts_path(environment) + "/"
    stages: dict[Path, dict[str, dict[str, Any]]] = {}
    for folder, template in _templates(assembly):
        for _, parameter in _resources(template, "AWS::SSM::Parameter"):
            name = parameter.get("Name", "")
            if isinstance(name, str) and name.startswith(catalog_path):
                stages.setdefault(folder, {})[name[len(catalog_path) :]] = json.loads(parameter["Value"])
    if not stages:
        raise NotFoundError(f"{assembly} holds no stage of environment {environment!r}: synthesize it first")
    return stages


def canaries(assembly: Path, environment: str, endpoint: str) -> set[str]:
    """The TargetModels the smoke tests of deployed endpoint ``endpoint`` invoke, in every stage (region) of
    ``environment`` in ``assembly``: the artifact catalog does not record them, the Hosting templates do."""
    folders = set(_catalogs(assembly, environment))
    found = set()
    for folder, template in _templates(assembly):
        if folder not in folders:
            continue
        for _, smoke in _resources(template, "Custom::SageMakerSmokeTest"):
            if smoke.get("EndpointName") == endpoint:
                found |= {i["TargetModel"] for i in smoke.get("Invocations", []) if "TargetModel" in i}
    return found


def requirements(assembly: Path, environment: str) -> list[Requirement]:
    """Every archive the Hosting stack of ``environment`` in ``assembly`` needs, in template order."""
    stages = _catalogs(assembly, environment)
    if len(stages) > 1:
        raise ModelctlError(f"{assembly} holds environment {environment!r} more than once ({sorted(map(str, stages))})")
    ((folder, catalog),) = stages.items()
    by_key = {
        archive["key"]: (endpoint, hostname, archive["layout"], document["kind"])
        for endpoint, document in catalog.items()
        for hostname, archive in document.get("containers", {}).items()
    }
    found: list[Requirement] = []
    for stage_folder, template in _templates(assembly):
        if stage_folder != folder:
            continue
        components = _components_by_model(template)
        for logical_id, model in _resources(template, "AWS::SageMaker::Model"):
            for container in (
                [model["PrimaryContainer"]] if "PrimaryContainer" in model else model.get("Containers", [])
            ):
                url = container.get("ModelDataUrl")
                if url is None or container.get("Mode") == "MultiModel":
                    continue  # a multi-model prefix: CreateModel needs no archive there
                if not isinstance(url, str) or not url.startswith("s3://"):
                    raise ModelctlError(f"model {logical_id}: ModelDataUrl {url!r} is not a literal s3:// URL")
                bucket, key = url.removeprefix("s3://").split("/", 1)
                endpoint, hostname, layout, kind = by_key.get(key, ("", container.get("ContainerHostname"), "flat", ""))
                component = components.get(logical_id)
                is_component = component is not None or kind == INFERENCE_COMPONENTS
                found.append(
                    Requirement(
                        needed_by=(
                            f"inference component {component or '?'} (model {logical_id})"
                            if is_component
                            else f"model {logical_id}, container {container.get('ContainerHostname', '?')}"
                        ),
                        bucket=bucket,
                        key=key,
                        endpoint=endpoint,
                        # ``modelctl upload`` names a component's archive by --component, a container's by --container.
                        component=hostname if is_component else None,
                        container=None if is_component else hostname,
                        layout=layout,
                    )
                )
        for logical_id, smoke in _resources(template, "Custom::SageMakerSmokeTest"):
            endpoint = smoke["EndpointName"]
            document = catalog.get(endpoint)
            for invocation in smoke.get("Invocations", []):
                target_model = invocation.get("TargetModel")
                if target_model is None or document is None:
                    continue
                found.append(
                    Requirement(
                        needed_by=f"smoke test {logical_id} of {endpoint}",
                        bucket=_bucket(template, logical_id),
                        key=document["prefix"] + target_model,
                        endpoint=endpoint,
                        target_model=target_model,
                        layout=document.get("layout", "flat"),
                    )
                )
    return found


def _components_by_model(template: dict[str, Any]) -> dict[str, str]:
    """Model logical id -> the name of the inference component that loads it (its logical id when the name is not
    a literal). ``Specification.ModelName`` takes a model's name: a ``Fn::GetAtt`` of the model's ``ModelName``
    ("AWS::SageMaker::InferenceComponent InferenceComponentSpecification", CloudFormation Template Reference)."""
    found = {}
    for logical_id, component in _resources(template, "AWS::SageMaker::InferenceComponent"):
        model = component.get("Specification", {}).get("ModelName")
        if isinstance(model, dict) and "Fn::GetAtt" in model:
            name = component.get("InferenceComponentName")
            found[str(model["Fn::GetAtt"][0])] = name if isinstance(name, str) else logical_id
    return found


def _bucket(template: dict[str, Any], needed_by: str) -> str:
    """The artifact bucket, as the template's models name it (by name: Hosting imports no bucket export)."""
    for _, model in _resources(template, "AWS::SageMaker::Model"):
        for container in [model.get("PrimaryContainer", {}), *model.get("Containers", [])]:
            url = container.get("ModelDataUrl")
            if isinstance(url, str) and url.startswith("s3://"):
                return url.removeprefix("s3://").split("/", 1)[0]
    raise ModelctlError(f"{needed_by}: no model of its stack names the artifact bucket")


def check(s3: Any, environment: str, needed: list[Requirement]) -> list[Finding]:
    """Each requirement not met: missing, pending, rejected or unverified, with the command that fixes it."""
    findings = []
    for requirement in needed:
        short = requirement.endpoint.removeprefix(f"{environment}-") or "?"
        endpoint = f"--env {environment} --endpoint {short}"
        place = endpoint
        if requirement.container:
            place += f" --container {requirement.container}"
        if requirement.component:
            place += f" --component {requirement.component}"
        layout = f" --layout {requirement.layout}"
        upload = f"modelctl upload ARCHIVE.tar.gz {place}"
        # A container's or component's key comes from the catalog; a canary's model is named with --as.
        renamed = upload + (" --as NEW.tar.gz" if requirement.target_model else "") + layout
        if requirement.target_model:
            upload += f" --as {requirement.target_model}"
        upload += layout
        if not requirement.endpoint:
            findings.append(
                Finding(requirement, "not in the artifact catalog", "redeploy the ModelStore stack first (cdk deploy)")
            )
            continue
        try:
            head = s3.head_object(Bucket=requirement.bucket, Key=requirement.key)
        except Exception as error:
            if not missing(error):
                raise
            versions = s3.list_object_versions(Bucket=requirement.bucket, Prefix=requirement.key)
            used = [v for v in versions.get("Versions", []) if v["Key"] == requirement.key]
            if used:
                # modelctl never reuses a key: SageMaker keeps serving cached copies of a replaced archive.
                findings.append(
                    Finding(
                        requirement,
                        "removed (rejected and quarantined, or deleted)",
                        "give it a new name in the configuration (model_data_key, or the smoke test's target_model),"
                        f" synthesize and deploy ModelStore, then {renamed}",
                    )
                )
            else:
                findings.append(Finding(requirement, "missing", upload))
            continue
        state = verdict(tags(s3, requirement.bucket, requirement.key), head.get("VersionId"))
        if state == VALID:
            continue
        fix = {
            # rescan takes an endpoint and checks all its archives: it has no --container or --component.
            PENDING: f"wait for the artifact guard, or modelctl rescan {endpoint}",
            UNVERIFIED: f"modelctl rescan {endpoint} (the verdict was not written by the guard for this version)",
        }.get(
            state,
            f"fix the archive (modelctl validate --layout {requirement.layout}), then {upload} "
            "under a new name and point the configuration at it",
        )
        findings.append(Finding(requirement, state, fix))
    return findings
