"""The synth review: what will be deployed, read from cdk.out (never from the Python configuration).

Writes ``<outdir>/REVIEW.md`` and prints a compact table. With ``--base OTHER_OUTDIR`` it also says what
changed: endpoints added or removed, instance changes, access changes, and (loudly) any stateful resource that
would be replaced or removed.

Usage: python -m tools.review cdk.out [--base path/to/old/cdk.out] [--models-per-endpoint 10]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.cfn_limits import limit_use
from tools.cloud_assembly import SynthesizedStack, synthesized_stacks
from tools.text_table import aligned

PRICES = Path(__file__).with_name("prices.json")
#: Types whose replacement loses data: a review must shout when one would be replaced or removed.
STATEFUL_TYPES = {
    "AWS::KMS::Key": ("KeySpec", "KeyUsage", "MultiRegion"),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::ECR::Repository": ("RepositoryName", "EncryptionConfiguration"),
}


# -- reading templates ---------------------------------------------------------------------------------------


def render(value: Any) -> str:
    """A template value as text: literals as they are, references in angle brackets."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(render(p) for p in parts)
        if value.get("Ref") == "AWS::URLSuffix":
            return "amazonaws.com"
        if value.get("Ref") == "AWS::Partition":
            return "aws"
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if "Fn::GetStackOutput" in value:
            return f"<output of {value['Fn::GetStackOutput']['StackName']}>"
        if "Fn::FindInMap" in value:
            return "<per-region mapping>"
    return json.dumps(value, sort_keys=True)


def _ref(value: Any) -> str | None:
    """The logical id a Ref or GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass
class Variant:
    """A production variant as deployed."""

    name: str
    instance_type: str
    initial_count: int
    min_count: int
    max_count: int
    scaled: bool = False


@dataclass
class Component:
    """An inference component as deployed: one model placed on an endpoint's instances."""

    name: str
    """Its InferenceComponentName (rendered)."""
    image: str
    data: str
    """Its model's archive (``ModelDataUrl``), or ``-``."""
    cpu_cores: float | None
    accelerators: int | None
    min_memory_mb: int | None
    max_memory_mb: int | None
    copies: int
    """Copies at creation (``RuntimeConfig.CopyCount``)."""
    min_copies: int
    max_copies: int
    scaled: bool = False
    """Whether a ScalableTarget (``inference-component/<name>``) scales its copy count."""
    rolling_update: str = "SageMaker default (blue/green)"


@dataclass
class Endpoint:
    """An endpoint as deployed."""

    stage: str
    stack: str
    region: str
    name: str
    kind: str
    images: list[str]
    data: list[str]
    cache: str
    variants: list[Variant]
    deployment: str
    rollback_alarms: int
    components: list[Component] = field(default_factory=list)
    """Inference components (kind ``IC``): the models, placed on the variants' instances."""

    @property
    def key(self) -> tuple[str, str]:
        """Identity across two assemblies."""
        return self.stage, self.name


@dataclass(frozen=True, order=True)
class Access:
    """One principal's right to invoke one endpoint."""

    stage: str
    endpoint: str
    principal: str
    effect: str
    scope: str


@dataclass
class Acknowledgment:
    """One acknowledged compliance finding."""

    stage: str
    path: str
    rule: str
    reason: str


@dataclass
class Assembly:
    """What a cdk.out holds, for review."""

    endpoints: list[Endpoint] = field(default_factory=list)
    access: list[Access] = field(default_factory=list)
    acknowledgments: list[Acknowledgment] = field(default_factory=list)
    limits: list[tuple[str, str, int, int]] = field(default_factory=list)
    stateful: dict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)


def read_assembly(outdir: Path) -> Assembly:
    """Read every stage and stack of ``outdir``."""
    assembly = Assembly()
    for stack in synthesized_stacks(outdir):
        template = stack.template()
        resources: dict[str, Any] = template.get("Resources", {})
        region = _region(stack)
        assembly.endpoints.extend(_endpoints(stack, region, resources))
        assembly.access.extend(_access(stack.stage, resources, _component_endpoints(resources)))
        assembly.acknowledgments.extend(_acknowledgments(stack))
        assembly.limits.extend((u.stack, u.limit, u.count, u.maximum) for u in limit_use(stack))
        for logical_id, resource in resources.items():
            if resource["Type"] in STATEFUL_TYPES:
                assembly.stateful[(stack.stack_name, logical_id)] = (resource["Type"], resource.get("Properties", {}))
    return assembly


def _region(stack: SynthesizedStack) -> str:
    manifest = json.loads((stack.template_path.parent / "manifest.json").read_text())
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("properties", {}).get("templateFile") == stack.template_path.name:
            environment = str(artifact.get("environment", ""))
            return environment.rsplit("/", 1)[-1] if environment else "unknown"
    return "unknown"


def _endpoints(stack: SynthesizedStack, region: str, resources: dict[str, Any]) -> Iterable[Endpoint]:
    scaling = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget":
            properties = resource["Properties"]
            scaling[render(properties["ResourceId"])] = (properties["MinCapacity"], properties["MaxCapacity"])
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SageMaker::Endpoint":
            continue
        properties = resource["Properties"]
        name = render(properties.get("EndpointName", "<generated>"))
        config = resources.get(_ref(properties["EndpointConfigName"]) or "", {}).get("Properties", {})
        variants_raw = config.get("ProductionVariants", [])
        components: list[Component] = []
        if variants_raw and "ModelName" not in variants_raw[0]:
            # An endpoint of inference components: its variant has instances and no model; the components place
            # the models on them (CreateEndpointConfig, SageMaker API Reference: ProductionVariant.ModelName).
            components = list(_components(resources, logical_id, name, scaling))
            kind, cache = "IC", "-"
            images = [f"{c.name}: {c.image}" for c in components]
            data = [f"{c.name}: {c.data}" for c in components]
        else:
            model_id = (_ref(variants_raw[0]["ModelName"]) if variants_raw else None) or ""
            model = resources.get(model_id, {}).get("Properties", {})
            kind, images, data, cache = _model_kind(model)
        variants = []
        for raw in variants_raw:
            count = int(raw.get("InitialInstanceCount", 1))
            target = f"endpoint/{name}/variant/{raw['VariantName']}"
            low, high = scaling.get(target, (count, count))
            scaled = target in scaling
            managed = raw.get("ManagedInstanceScaling", {})
            if managed.get("Status") == "ENABLED":
                # SageMaker adds and removes instances as the components' copies need them.
                low, high, scaled = managed.get("MinInstanceCount", count), managed.get("MaxInstanceCount", count), True
            instance_type = render(raw.get("InstanceType", "serverless"))
            variants.append(Variant(raw["VariantName"], instance_type, count, int(low), int(high), scaled=scaled))
        deployment = properties.get("DeploymentConfig", {})
        routing = deployment.get("BlueGreenUpdatePolicy", {}).get("TrafficRoutingConfiguration", {})
        policy = "SageMaker default (blue/green, all at once)"
        if routing:
            size = routing.get("CanarySize") or routing.get("LinearStepSize") or {}
            step = f" {size.get('Value')}%" if size else ""
            policy = f"blue/green {routing['Type'].lower()}{step}, wait {routing.get('WaitIntervalInSeconds', 0)} s"
        alarms = len(deployment.get("AutoRollbackConfiguration", {}).get("Alarms", []))
        yield Endpoint(
            stack.stage, stack.stack_name, region, name, kind, images, data, cache, variants, policy, alarms, components
        )


def _places_on(component: dict[str, Any], endpoint_id: str, endpoint_name: str) -> bool:
    """Whether the inference component's EndpointName names this endpoint (a GetAtt of it, or its name)."""
    target = component.get("EndpointName")
    return _ref(target) == endpoint_id or render(target) == endpoint_name


def _component_name(properties: dict[str, Any]) -> str:
    """The component's name as its ARN and its ScalableTarget's ResourceId spell it (lowercased, as in ARNs)."""
    return render(properties.get("InferenceComponentName", "")).lower()


def _components(
    resources: dict[str, Any], endpoint_id: str, endpoint_name: str, scaling: dict[str, tuple[int, int]]
) -> Iterable[Component]:
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SageMaker::InferenceComponent":
            continue
        properties = resource["Properties"]
        if not _places_on(properties, endpoint_id, endpoint_name):
            continue
        specification = properties.get("Specification", {})
        # The model a component serves: a SageMaker model (ModelName), or a container of its own (Container).
        model = resources.get(_ref(specification.get("ModelName")) or "", {}).get("Properties", {})
        container = model.get("PrimaryContainer") or specification.get("Container") or {}
        data = container.get("ModelDataUrl") or container.get("ArtifactUrl")
        needs = specification.get("ComputeResourceRequirements", {})
        copies = int(properties.get("RuntimeConfig", {}).get("CopyCount", 1))
        resource_id = f"inference-component/{_component_name(properties)}"
        targets = [limits for target, limits in scaling.items() if target.lower() == resource_id]
        low, high = targets[0] if targets else (copies, copies)
        yield Component(
            name=render(properties.get("InferenceComponentName", logical_id)),
            image=render(container.get("Image", "-")),
            data=render(data) if data else "-",
            cpu_cores=needs.get("NumberOfCpuCoresRequired"),
            accelerators=needs.get("NumberOfAcceleratorDevicesRequired"),
            min_memory_mb=needs.get("MinMemoryRequiredInMb"),
            max_memory_mb=needs.get("MaxMemoryRequiredInMb"),
            copies=copies,
            min_copies=int(low),
            max_copies=int(high),
            scaled=bool(targets),
            rolling_update=_rolling_update(properties.get("DeploymentConfig", {})),
        )


def _batch(size: dict[str, Any]) -> str:
    """A rolling batch (``InferenceComponentCapacitySize``): ``COPY_COUNT`` copies or ``CAPACITY_PERCENT``."""
    value = size.get("Value", "?")
    if size.get("Type") == "CAPACITY_PERCENT":
        return f"{value}%"
    return f"{value} cop{'y' if value == 1 else 'ies'}"


def _rolling_update(deployment: dict[str, Any]) -> str:
    """An inference component's update policy (``InferenceComponentDeploymentConfig``), in a few words."""
    rolling = deployment.get("RollingUpdatePolicy")
    if not rolling:
        return "SageMaker default (blue/green)"
    text = f"rolling {_batch(rolling.get('MaximumBatchSize', {}))} at a time"
    text += f", wait {rolling.get('WaitIntervalInSeconds', 0)} s"
    if "MaximumExecutionTimeoutInSeconds" in rolling:
        text += f", timeout {rolling['MaximumExecutionTimeoutInSeconds']} s"
    if "RollbackMaximumBatchSize" in rolling:
        text += f", roll back {_batch(rolling['RollbackMaximumBatchSize'])} at a time"
    alarms = len(deployment.get("AutoRollbackConfiguration", {}).get("Alarms", []))
    if alarms:
        text += f", rollback on {alarms} alarms"
    return text


def _model_kind(model: dict[str, Any]) -> tuple[str, list[str], list[str], str]:
    primary = model.get("PrimaryContainer")
    if primary:
        multi = primary.get("Mode") == "MultiModel"
        cache = primary.get("MultiModelConfig", {}).get("ModelCacheSetting", "Enabled") if multi else "-"
        return (
            ("MME" if multi else "single model"),
            [render(primary["Image"])],
            [render(primary.get("ModelDataUrl", "-"))],
            cache,
        )
    containers = model.get("Containers", [])
    mode = model.get("InferenceExecutionConfig", {}).get("Mode", "Serial")
    images = [f"{c.get('ContainerHostname', f'#{i}')}: {render(c['Image'])}" for i, c in enumerate(containers)]
    data = [
        f"{c.get('ContainerHostname', f'#{i}')}: {render(c.get('ModelDataUrl', '-'))}" for i, c in enumerate(containers)
    ]
    return f"MCE {mode}", images, data, "-"


def _principals(resources: dict[str, Any], policy: dict[str, Any]) -> list[str]:
    names = []
    for role in _as_list(policy["Properties"].get("Roles", [])):
        logical_id = _ref(role)
        path = resources.get(logical_id or "", {}).get("Metadata", {}).get("aws:cdk:path", logical_id)
        names.append(str(path or render(role)).removesuffix("/Resource"))
    return names


def _component_endpoints(resources: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """How a statement may name an inference component, lowercased -> (its endpoint's name, its own name): by the
    name its ARN ends with, or as a GetAtt of its ``InferenceComponentArn``."""
    endpoints = {
        logical_id: render(r["Properties"].get("EndpointName", "<generated>"))
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::SageMaker::Endpoint"
    }
    found = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SageMaker::InferenceComponent":
            continue
        properties = resource["Properties"]
        target = properties.get("EndpointName")
        endpoint = endpoints.get(_ref(target) or "", render(target))
        name = render(properties.get("InferenceComponentName", logical_id))
        for alias in (_component_name(properties), f"<{logical_id}.InferenceComponentArn>".lower()):
            found[alias] = (endpoint, name)
    return found


def _access(
    stage: str, resources: dict[str, Any], components: dict[str, tuple[str, str]] | None = None
) -> Iterable[Access]:
    """Every (principal, endpoint) right to invoke; on an endpoint of inference components, one per component.

    A statement naming component ARNs reaches those components; one naming the endpoint of inference components
    alone, every component on it: InvokeEndpoint's ``InferenceComponentName`` has no condition key to narrow it.
    """
    components = components or {}
    with_components = {endpoint for endpoint, _ in components.values()}
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in _as_list(resource["Properties"]["PolicyDocument"]["Statement"]):
            actions = _as_list(statement.get("Action", []))
            if not any(a in ("sagemaker:InvokeEndpoint", "sagemaker:*", "*") for a in actions):
                continue
            scope = "whole endpoint"
            for key, values in statement.get("Condition", {}).get("StringLike", {}).items():
                label = key.split(":", 1)[1]
                scope = f"{label} {', '.join(_as_list(values))}"
            endpoints: list[str] = []
            named: dict[str, list[str]] = {}
            for target in _as_list(statement.get("Resource", [])):
                arn = render(target)
                if "inference-component/" in arn or arn.lower() in components:
                    alias = arn.rsplit("inference-component/", 1)[-1]
                    endpoint, name = components.get(alias.lower(), ("?", alias))
                    named.setdefault(endpoint, []).append(name)
                else:
                    endpoints.append(arn.rsplit("endpoint/", 1)[-1])
            rows = [(e, f"component {n}") for e, names in named.items() for n in names]
            rows += [
                (
                    e,
                    "endpoint ARN alone: any component, unless SageMaker checks component ARNs (undocumented)"
                    if e in with_components and scope == "whole endpoint"
                    else scope,
                )
                for e in endpoints
                if e not in named
            ]
            for endpoint, reach in rows:
                for principal in _principals(resources, resource):
                    yield Access(stage, endpoint, principal, statement["Effect"], reach)


def _acknowledgments(stack: SynthesizedStack) -> Iterable[Acknowledgment]:
    metadata_file = stack.template_path.with_name(stack.template_path.name.replace(".template.json", ".metadata.json"))
    if not metadata_file.is_file():
        return
    for path, entries in json.loads(metadata_file.read_text()).items():
        for entry in entries:
            if entry.get("type") == "aws:cdk:acknowledged-rules":
                for rule, reason in entry["data"].items():
                    yield Acknowledgment(stack.stage, path.lstrip("/"), rule.removeprefix("Annotation::"), reason)


# -- cost ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """An instance-hour price and where it came from."""

    usd_per_hour: float
    note: str


def price(table: dict[str, Any], region: str, instance_type: str) -> Price | None:
    """The region's price, or another region's (noted), or None."""
    prices = table["prices"]
    if instance_type in prices.get(region, {}):
        return Price(prices[region][instance_type], "")
    for other, listed in sorted(prices.items()):
        if instance_type in listed:
            return Price(listed[instance_type], f"{other} price")
    return None


#: What the cost of an endpoint that scales to no instance is at its minimum.
IDLE = "0 when idle"


@dataclass(frozen=True)
class Cost:
    """An endpoint's hourly cost at minimum and maximum scale, and as single-model endpoints."""

    low: float | None
    high: float | None
    single_model: float | None
    note: str


def cost(endpoint: Endpoint, table: dict[str, Any], models_per_endpoint: int) -> Cost:
    """Cost of ``endpoint``; ``single_model``: its models each on an endpoint of the same minimum size."""
    low = high = 0.0
    notes = set()
    for variant in endpoint.variants:
        found = price(table, endpoint.region, variant.instance_type)
        if found is None:
            return Cost(None, None, None, f"no price for {variant.instance_type}: add it to tools/prices.json")
        low += variant.min_count * found.usd_per_hour
        high += variant.max_count * found.usd_per_hour
        if found.note:
            notes.add(found.note)
    if low == 0 and high > 0:
        # Managed instance scaling down to no instance: an idle endpoint of inference components costs nothing.
        notes.add(IDLE)
    # Inference components: the models are the components, each of which could have an endpoint of its own.
    models = models_per_endpoint if endpoint.kind == "MME" else max(len(endpoint.images), 1)
    return Cost(low, high, low * models, ", ".join(sorted(notes)))


def _hourly(usd: float) -> str:
    return IDLE if usd == 0 else f"{usd:.3f}"


def _monthly(usd: float, hours: float) -> str:
    return IDLE if usd == 0 else f"{usd * hours:,.0f}"


# -- the report ---------------------------------------------------------------------------------------------


def report(assembly: Assembly, table: dict[str, Any], models_per_endpoint: int) -> list[str]:
    """REVIEW.md as lines."""
    hours = table["hours_per_month"]
    lines = [
        "# Synth review",
        "",
        "Read from the synthesized cloud assembly: this is what `cdk deploy` would deploy.",
        "",
    ]
    lines += [
        "## Endpoints",
        "",
        "| stage | endpoint | kind | variants (type x count, scaling) | cache | deployment |",
        "|---|---|---|---|---|---|",
    ]
    for e in assembly.endpoints:
        variants = "; ".join(
            f"{v.name}: {v.instance_type} x {v.initial_count}"
            + (f" (scales {v.min_count}-{v.max_count})" if v.scaled else "")
            for v in e.variants
        )
        rollback = f", rollback on {e.rollback_alarms} alarms" if e.rollback_alarms else ""
        lines.append(f"| {e.stage} | {e.name} | {e.kind} | {variants} | {e.cache} | {e.deployment}{rollback} |")
    lines += ["", "### Images and model data", ""]
    for e in assembly.endpoints:
        lines.append(f"- **{e.stage} / {e.name}**: images {'; '.join(e.images)}; data {'; '.join(e.data)}")
    lines += inference_components(assembly)
    lines += [
        "",
        "## Access",
        "",
        "Who may invoke what, read from the synthesized IAM policies (conditions included). On an endpoint of "
        "inference components, a row per component a statement names; a statement naming the endpoint alone "
        "reaches every component on it.",
        "",
    ]
    lines += ["| stage | endpoint | principal | effect | scope |", "|---|---|---|---|---|"]
    for a in sorted(assembly.access):
        lines.append(f"| {a.stage} | {a.endpoint} | {a.principal} | {a.effect} | {a.scope} |")
    lines += [
        "",
        "## Cost",
        "",
        f"On-demand instance prices from `tools/prices.json` ({table['date']}; {table['source']}). "
        f"Monthly = hourly x {hours}. 'As single-model endpoints': each model on its own endpoint of the same "
        f"minimum size ({models_per_endpoint} models per multi-model endpoint assumed; one per container or "
        "inference component). An endpoint of inference components costs its instances (managed instance scaling, "
        "min-max), whatever its components' copies; one that scales to no instance costs nothing while idle "
        f'("{IDLE}").',
        "",
        "| stage | endpoint | $/h min | $/h max | $/month min | $/month max "
        "| as single-model endpoints, $/month | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in assembly.endpoints:
        c = cost(e, table, models_per_endpoint)
        if c.low is None or c.high is None or c.single_model is None:
            lines.append(f"| {e.stage} | {e.name} | n/a | n/a | n/a | n/a | n/a | {c.note} |")
            continue
        single = f"{c.single_model * hours:,.0f} ({c.single_model / c.low:.0f}x)" if c.low else IDLE
        lines.append(
            f"| {e.stage} | {e.name} | {_hourly(c.low)} | {_hourly(c.high)} | {_monthly(c.low, hours)} "
            f"| {_monthly(c.high, hours)} | {single} | {c.note} |"
        )
    lines += ["", "## Compliance acknowledgments", "", "| stage | construct | rule | reason |", "|---|---|---|---|"]
    for ack in assembly.acknowledgments:
        lines.append(f"| {ack.stage} | {ack.path} | {ack.rule} | {ack.reason} |")
    lines += ["", "## CloudFormation limits used", "", "| stack | limit | used | of |", "|---|---|---|---|"]
    for stack, limit, count, maximum in assembly.limits:
        lines.append(f"| {stack} | {limit} | {count} | {maximum} |")
    return lines


def _amount(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def inference_components(assembly: Assembly) -> list[str]:
    """The report's section on inference components (none when no endpoint has any)."""
    rows = [(e, c) for e in assembly.endpoints for c in e.components]
    if not rows:
        return []
    lines = [
        "",
        "### Inference components",
        "",
        "What each copy reserves on the endpoint's instances, and how many copies run. Images and archives are "
        "those of each component's model.",
        "",
        "| stage | endpoint | component | image | archive | CPU cores | accelerators | memory MB (min-max) "
        "| copies | scaling (copies) | update |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e, c in rows:
        memory = (
            f"{_amount(c.min_memory_mb)}-{_amount(c.max_memory_mb)}" if c.max_memory_mb else _amount(c.min_memory_mb)
        )
        scaling = f"{c.min_copies}-{c.max_copies}" if c.scaled else "not scaled"
        lines.append(
            f"| {e.stage} | {e.name} | {c.name} | {c.image} | {c.data} | {_amount(c.cpu_cores)} "
            f"| {_amount(c.accelerators)} | {memory} | {c.copies} | {scaling} | {c.rolling_update} |"
        )
    return lines


def changes(base: Assembly, current: Assembly) -> list[str]:
    """What changed from ``base`` to ``current``; stateful replacements first and loud."""
    lines: list[str] = []
    for (stack, logical_id), (kind, properties) in sorted(base.stateful.items()):
        now = current.stateful.get((stack, logical_id))
        if now is None:
            lines.append(f"**!!! STATEFUL RESOURCE REMOVED OR REPLACED: {stack} {logical_id} ({kind})**")
            continue
        for name in STATEFUL_TYPES[kind]:
            if properties.get(name) != now[1].get(name):
                lines.append(f"**!!! STATEFUL RESOURCE REPLACED: {stack} {logical_id} ({kind}): {name} changes**")
    before = {e.key: e for e in base.endpoints}
    after = {e.key: e for e in current.endpoints}
    for key in sorted(after.keys() - before.keys()):
        lines.append(f"- endpoint added: {key[0]} / {key[1]} ({after[key].kind})")
    for key in sorted(before.keys() - after.keys()):
        lines.append(f"- endpoint removed: {key[0]} / {key[1]}")
    for key in sorted(before.keys() & after.keys()):
        old = {v.name: v for v in before[key].variants}
        for variant in after[key].variants:
            was = old.get(variant.name)
            if was and (was.instance_type, was.initial_count, was.min_count, was.max_count) != (
                variant.instance_type,
                variant.initial_count,
                variant.min_count,
                variant.max_count,
            ):
                where = f"{key[0]} / {key[1]} / {variant.name}"
                lines.append(
                    f"- instances changed: {where}: {was.instance_type} x {was.initial_count} "
                    f"({was.min_count}-{was.max_count}) -> {variant.instance_type} x {variant.initial_count} "
                    f"({variant.min_count}-{variant.max_count})"
                )
    for access in sorted(set(current.access) - set(base.access)):
        lines.append(f"- access granted: {access.principal} {access.effect} {access.endpoint} ({access.scope})")
    for access in sorted(set(base.access) - set(current.access)):
        lines.append(f"- access removed: {access.principal} {access.effect} {access.endpoint} ({access.scope})")
    return lines or ["- no change"]


def terminal(assembly: Assembly, table: dict[str, Any], models_per_endpoint: int) -> list[str]:
    """The compact table printed after synth."""
    rows = [("stage", "endpoint", "kind", "instances", "$/month min-max", "principals")]
    for e in assembly.endpoints:
        c = cost(e, table, models_per_endpoint)
        money = "n/a" if c.low is None or c.high is None else f"{c.low * 730:,.0f}-{c.high * 730:,.0f}"
        instances = ", ".join(f"{v.instance_type} x {v.min_count}-{v.max_count}" for v in e.variants)
        principals = len(
            {a.principal for a in assembly.access if (a.stage, a.endpoint) == e.key and a.effect == "Allow"}
        )
        rows.append((e.stage, e.name, e.kind, instances, money, str(principals)))
    return aligned(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Review a synthesized cloud assembly.")
    parser.add_argument("outdir", type=Path, nargs="?", default=Path("cdk.out"))
    parser.add_argument("--base", type=Path, help="an earlier cdk.out to compare with")
    parser.add_argument("--models-per-endpoint", type=int, default=10, help="models assumed per multi-model endpoint")
    parser.add_argument("--prices", type=Path, default=PRICES)
    arguments = parser.parse_args(argv)
    for outdir in filter(None, (arguments.outdir, arguments.base)):
        if not (outdir / "manifest.json").is_file():
            print(f"error: {outdir} holds no cloud assembly (run make synth)", file=sys.stderr)
            return 2
    table = json.loads(arguments.prices.read_text())
    current = read_assembly(arguments.outdir)
    lines = report(current, table, arguments.models_per_endpoint)
    if arguments.base:
        differences = changes(read_assembly(arguments.base), current)
        lines += ["", f"## Changes from {arguments.base}", "", *differences]
        print("\n".join(differences))
    (arguments.outdir / "REVIEW.md").write_text("\n".join(lines) + "\n")
    print("\n".join(terminal(current, table, arguments.models_per_endpoint)))
    print(f"review written to {arguments.outdir / 'REVIEW.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
