"""The synth review: what will be deployed and what changes, read from cdk.out (never from the Python configuration).

Writes ``<outdir>/REVIEW.md`` and prints a short summary. With ``--base OTHER_OUTDIR`` the report opens with the
changes, each saying how it deploys: it replaces the endpoint, shifts traffic to a new fleet (a new endpoint
config: blue/green all at once, or canary or linear when the endpoint has a deployment policy), rolls an inference
component, or is made in place. A stateful resource (bucket, KMS key, ECR repository, log group, queue, table) that
would be replaced or removed comes first of all, and fails the command unless allowed.

Exit codes: 0 reviewed; 2 no cloud assembly where one was named; 3 a stateful resource would be replaced or removed
(or a KMS key changed in a way CloudFormation refuses) and ``--allow-replace`` does not name it.

Usage: python -m tools.review cdk.out [--base old/cdk.out] [--allow-replace ID[,STACK/ID...]]
       [--models-per-endpoint 10] [--prices tools/prices.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.cfn_limits import limit_use
from tools.cloud_assembly import SynthesizedStack, synthesized_stacks
from tools.text_table import aligned

PRICES = Path(__file__).with_name("prices.json")
EXIT_USAGE = 2
EXIT_STATEFUL = 3

#: Resource types whose replacement or removal loses data: objects, key material (what it encrypted becomes
#: unreadable once the key is deleted), images, log events, queued messages, items. SSM parameters are not among
#: them: their value is the template's and comes back with it. Each with its ``createOnlyProperties`` (changing one
#: replaces the resource) as cfn-lint's bundled CloudFormation resource schemas list them
#: (``cfnlint/data/schemas/resources/<id>.json``, found through ``providers/<region>.json``); copied here because
#: ``make review`` runs without the test dependencies, and checked against the installed cfn-lint by
#: tests/unit/test_review.py.
STATEFUL_TYPES: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": ("/properties/BucketName", "/properties/BucketNamePrefix", "/properties/BucketNamespace"),
    "AWS::KMS::Key": (),
    "AWS::ECR::Repository": (
        "/properties/RepositoryName",
        "/properties/EncryptionConfiguration",
        "/properties/EncryptionConfiguration/EncryptionType",
        "/properties/EncryptionConfiguration/KmsKey",
    ),
    "AWS::Logs::LogGroup": ("/properties/LogGroupName",),
    "AWS::SQS::Queue": ("/properties/FifoQueue", "/properties/QueueName"),
    "AWS::DynamoDB::Table": ("/properties/TableName", "/properties/ImportSourceSpecification"),
}
#: Properties no update may change: "If you change the value of the KeySpec, KeyUsage, Origin, or MultiRegion
#: properties of an existing KMS key, the update request fails, regardless of the value of the UpdateReplacePolicy
#: attribute" (AWS::KMS::Key, CloudFormation Template Reference).
IMMUTABLE: dict[str, tuple[str, ...]] = {"AWS::KMS::Key": ("KeySpec", "KeyUsage", "Origin", "MultiRegion")}

#: Every SageMaker action that invokes an endpoint (Service Authorization Reference, Amazon SageMaker AI).
INVOKE_ACTIONS = (
    "sagemaker:InvokeEndpoint",
    "sagemaker:InvokeEndpointAsync",
    "sagemaker:InvokeEndpointWithResponseStream",
)
#: AWS managed policies reviewed for what they allow on endpoints, keyed by the ARN's part after ``:policy/``: the
#: statements of each that can allow an invoke, from the policy's JSON document in the AWS Managed Policy Reference
#: Guide (AmazonSageMakerFullAccess: ``sagemaker:*`` on every resource but domains, user profiles, apps and flow
#: definitions; AdministratorAccess: ``*``; PowerUserAccess: every action but IAM's, Organizations' and Account's),
#: or none. Any other managed policy is shown in the access matrix as unreadable at synth: its document is not in
#: the template, and it may allow invoking any endpoint.
AWS_MANAGED_POLICIES: dict[str, tuple[dict[str, Any], ...]] = {
    "AdministratorAccess": ({"Effect": "Allow", "Action": "*", "Resource": "*"},),
    "PowerUserAccess": ({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},),
    "AmazonSageMakerFullAccess": (
        {
            "Effect": "Allow",
            "Action": "sagemaker:*",
            "NotResource": [
                "arn:aws:sagemaker:*:*:domain/*",
                "arn:aws:sagemaker:*:*:user-profile/*",
                "arn:aws:sagemaker:*:*:app/*",
                "arn:aws:sagemaker:*:*:flow-definition/*",
            ],
        },
    ),
    "service-role/AWSLambdaBasicExecutionRole": (),
    "service-role/AWSLambdaVPCAccessExecutionRole": (),
}

DEFAULT_DEPLOYMENT = "SageMaker default (blue/green, all at once)"
DEFAULT_COMPONENT_UPDATE = "SageMaker default (blue/green)"
#: The scope of a statement without conditions.
WHOLE_ENDPOINT = "whole endpoint"
#: The scope of a statement naming an endpoint of inference components but none of its components.
ENDPOINT_ALONE = "endpoint ARN alone: any component, unless SageMaker checks component ARNs (undocumented)"
#: What the cost of an endpoint that scales to no instance is at its minimum.
IDLE = "0 when idle"
ESTIMATE = "estimate"


# -- reading templates ---------------------------------------------------------------------------------------

_PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def render(value: Any) -> str:
    """A template value as text: literals as they are, references in angle brackets."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(render(p) for p in parts)
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return render(variables[name])
                return _PSEUDO.get(name, f"<{name}>")

            return re.sub(r"\$\{([^}!][^}]*)\}", substitute, str(text))
        if "Ref" in value:
            return _PSEUDO.get(str(value["Ref"]), f"<{value['Ref']}>")
        if "Fn::GetAtt" in value:
            attribute = value["Fn::GetAtt"]
            return f"<{'.'.join(attribute) if isinstance(attribute, list) else attribute}>"
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
            attribute = value["Fn::GetAtt"]
            return str(attribute[0] if isinstance(attribute, list) else attribute.split(".")[0])
    return None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _number(value: Any) -> str:
    """A number as a person writes it: ``500000``, ``0.5`` (not ``5e+05``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return render(value)
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def _path(resource: dict[str, Any], logical_id: str) -> str:
    """A resource's construct path (``aws:cdk:path`` metadata) without the trailing ``/Resource``."""
    path = resource.get("Metadata", {}).get("aws:cdk:path") or logical_id
    return str(path).removesuffix("/Resource")


# -- what an assembly holds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """One container of a model, in the order the model lists them."""

    hostname: str
    """``ContainerHostname``, ``#<index>`` for an unnamed one of several, or empty for a model's only container."""
    image: str
    data: str
    """The model archive or prefix (``ModelDataUrl``, or ``ModelDataSource``'s S3 URI), or ``-``."""
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return self.hostname or "model"


@dataclass
class Variant:
    """A production variant as deployed."""

    name: str
    instance_type: str
    initial_count: int
    min_count: int
    max_count: int
    scaled: bool = False
    scaling: str = "fixed"
    """Who scales it: ``fixed``, ``Application Auto Scaling`` (a ScalableTarget) or ``managed instance scaling``
    (the endpoint config's own, for inference components)."""
    policies: dict[str, str] = field(default_factory=dict)
    """Its scaling policies and scheduled actions, by logical id or schedule name, described."""
    settings: dict[str, Any] = field(default_factory=dict)
    """The rest of its ProductionVariant (weight, routing, volume, timeouts...), as synthesized."""


@dataclass(frozen=True)
class Alarm:
    """A CloudWatch alarm on an endpoint, a variant or an inference component."""

    name: str
    """Its description, else its name."""
    condition: str
    """Metric, statistic, threshold, datapoints and periods, missing data: what a change to it would change."""
    threshold: str = ""
    """Metric and threshold alone (``ModelLatency p99 > 500000``), for the report's overview."""


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
    rolling_update: str = DEFAULT_COMPONENT_UPDATE
    policies: dict[str, str] = field(default_factory=dict)
    """Its copy-count scaling policies and scheduled actions, described."""
    environment: tuple[tuple[str, str], ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    """Its model's other properties (role, network isolation, VPC), as synthesized."""


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
    account: str = "unknown"
    logical_id: str = ""
    containers: list[Container] = field(default_factory=list)
    """The model's containers (none for an endpoint of inference components: its components have them)."""
    capture: str = "off"
    alarms: dict[str, Alarm] = field(default_factory=dict)
    """By logical id: the alarms watching it, its variants or its components."""
    retains_variant_properties: bool = False
    """``RetainAllVariantProperties``: an update keeps the running instance counts and weights."""
    model_settings: dict[str, Any] = field(default_factory=dict)
    config_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Identity across two assemblies."""
        return self.stage, self.name

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:endpoint/{self.name.lower()}"

    def component_arn(self, component: Component) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:inference-component/{component.name.lower()}"

    @property
    def deployment_policy(self) -> str:
        """Its deployment policy in a few words, with its rollback alarms."""
        rollback = f", rollback on {self.rollback_alarms} alarms" if self.rollback_alarms else ""
        return f"{self.deployment}{rollback}"

    @property
    def rollout(self) -> str:
        """How a new endpoint config reaches it (UpdateEndpoint, under its deployment policy)."""
        return f"new endpoint config, UpdateEndpoint {self.deployment_policy}"


@dataclass(frozen=True, order=True)
class Access:
    """One principal's right (or denial) to invoke one endpoint, or one of its inference components."""

    stage: str
    endpoint: str
    principal: str
    effect: str
    scope: str
    """The condition that narrows it (TargetModel, container, component), or ``whole endpoint``."""
    actions: str = "InvokeEndpoint"
    """The invoke actions it covers, without the ``sagemaker:`` prefix."""
    unscoped: str = ""
    """What the statement leaves open: wildcard actions or resources, models or containers it does not narrow."""
    source: str = "inline policy"


@dataclass
class Acknowledgment:
    """One acknowledged compliance finding."""

    stage: str
    path: str
    rule: str
    reason: str


@dataclass
class Resource:
    """A resource of a template, with where it is and what deleting it does."""

    stage: str
    stack: str
    logical_id: str
    type: str
    properties: dict[str, Any]
    path: str
    deletion_policy: str
    update_replace_policy: str

    @property
    def retained(self) -> bool:
        """Whether deleting or replacing the stack leaves it (and its data) in the account."""
        return self.deletion_policy in ("Retain", "RetainExceptOnCreate", "Snapshot")


@dataclass
class Assembly:
    """What a cdk.out holds, for review."""

    endpoints: list[Endpoint] = field(default_factory=list)
    access: list[Access] = field(default_factory=list)
    acknowledgments: list[Acknowledgment] = field(default_factory=list)
    limits: list[tuple[str, str, int, int]] = field(default_factory=list)
    stateful: dict[tuple[str, str], Resource] = field(default_factory=dict)
    """Resources whose replacement or removal loses data (of a type in ``STATEFUL_TYPES``), by (stack, id)."""
    resources: list[Resource] = field(default_factory=list)
    """Every resource of every template (the diagram draws from them)."""
    stages: list[str] = field(default_factory=list)
    stacks: list[str] = field(default_factory=list)


def read_assembly(outdir: Path) -> Assembly:
    """Read every stage and stack of ``outdir``."""
    assembly = Assembly()
    loaded: list[tuple[SynthesizedStack, dict[str, Any]]] = []
    for stack in synthesized_stacks(outdir):
        resources: dict[str, Any] = stack.template().get("Resources", {})
        loaded.append((stack, resources))
        if stack.stage not in assembly.stages:
            assembly.stages.append(stack.stage)
        assembly.stacks.append(stack.stack_name)
        assembly.endpoints.extend(_endpoints(stack, resources))
        assembly.acknowledgments.extend(_acknowledgments(stack))
        assembly.limits.extend((u.stack, u.limit, u.count, u.maximum) for u in limit_use(stack))
        for logical_id, resource in resources.items():
            found = Resource(
                stage=stack.stage,
                stack=stack.stack_name,
                logical_id=logical_id,
                type=resource["Type"],
                properties=resource.get("Properties", {}),
                path=_path(resource, logical_id),
                deletion_policy=resource.get("DeletionPolicy", "Delete"),
                update_replace_policy=resource.get("UpdateReplacePolicy", "Delete"),
            )
            assembly.resources.append(found)
            if found.type in STATEFUL_TYPES:
                assembly.stateful[(stack.stack_name, logical_id)] = found
    # Access second: a statement may name an endpoint of any stack (its ARN says which).
    for stack, resources in loaded:
        assembly.access.extend(_access(stack, resources, assembly.endpoints))
    return assembly


# -- endpoints -------------------------------------------------------------------------------------------------


@dataclass
class _Target:
    minimum: int
    maximum: int
    policies: dict[str, str] = field(default_factory=dict)


def _scaling_targets(resources: dict[str, Any]) -> dict[str, _Target]:
    """Application Auto Scaling's targets by ResourceId (lowercased: component names are lowercase in them), each
    with its scheduled actions and the scaling policies attached to it."""
    by_resource: dict[str, _Target] = {}
    by_id: dict[str, _Target] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::ApplicationAutoScaling::ScalableTarget":
            continue
        properties = resource["Properties"]
        target = _Target(int(properties["MinCapacity"]), int(properties["MaxCapacity"]))
        for action in properties.get("ScheduledActions", []):
            target.policies[f"schedule {render(action.get('ScheduledActionName', '?'))}"] = _schedule(action)
        by_resource[render(properties["ResourceId"]).lower()] = target
        by_id[logical_id] = target
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::ApplicationAutoScaling::ScalingPolicy":
            continue
        properties = resource["Properties"]
        found = by_id.get(_ref(properties.get("ScalingTargetId")) or "") or by_resource.get(
            render(properties.get("ResourceId", "")).lower()
        )
        if found is not None:
            found.policies[logical_id] = _scaling_policy(properties)
    return by_resource


def _schedule(action: dict[str, Any]) -> str:
    limits = action.get("ScalableTargetAction", {})
    bounds = ", ".join(
        f"{label} {limits[key]}" for key, label in (("MinCapacity", "min"), ("MaxCapacity", "max")) if key in limits
    )
    zone = f" {action['Timezone']}" if "Timezone" in action else ""
    return f"schedule {render(action.get('ScheduledActionName', '?'))} {render(action.get('Schedule'))}{zone}: {bounds}"


def _scaling_policy(properties: dict[str, Any]) -> str:
    kind = properties.get("PolicyType", "?")
    if kind == "TargetTrackingScaling":
        config = properties.get("TargetTrackingScalingPolicyConfiguration", {})
        predefined = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
        custom = config.get("CustomizedMetricSpecification", {})
        metric = predefined or f"{custom.get('MetricName', 'custom metric')} {custom.get('Statistic', '')}".strip()
        text = f"target tracking {metric} at {_number(config.get('TargetValue'))}"
        cooldowns = [
            f"{label} {config[key]} s"
            for key, label in (("ScaleInCooldown", "in"), ("ScaleOutCooldown", "out"))
            if key in config
        ]
        if cooldowns:
            text += f" (cooldown {', '.join(cooldowns)})"
        return text + (", never scales in" if config.get("DisableScaleIn") else "")
    if kind == "StepScaling":
        config = properties.get("StepScalingPolicyConfiguration", {})
        steps = ", ".join(
            f"[{_number(step.get('MetricIntervalLowerBound', '-inf'))}, "
            f"{_number(step.get('MetricIntervalUpperBound', 'inf'))}) {int(step.get('ScalingAdjustment', 0)):+d}"
            for step in config.get("StepAdjustments", [])
        )
        return f"step scaling {config.get('AdjustmentType', '?')} {steps}, cooldown {config.get('Cooldown', 0)} s"
    return str(kind)


_OPERATORS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def _alarm(logical_id: str, properties: dict[str, Any]) -> Alarm:
    metrics = properties.get("Metrics", [])
    metric = properties.get("MetricName") or next(
        (m.get("Label") or m.get("Expression") for m in metrics if m.get("ReturnData", True)), "metric math"
    )
    statistic = properties.get("Statistic") or properties.get("ExtendedStatistic") or ""
    period = properties.get("Period") or next(
        (m["MetricStat"].get("Period") for m in metrics if "MetricStat" in m), "?"
    )
    operator = properties.get("ComparisonOperator", "?")
    periods = properties.get("EvaluationPeriods", 1)
    threshold = (
        f"{metric}{' ' + statistic if statistic else ''} {_OPERATORS.get(operator, operator)} "
        f"{_number(properties.get('Threshold', properties.get('ThresholdMetricId', '?')))}"
    )
    condition = f"{threshold}, {properties.get('DatapointsToAlarm', periods)} of {periods} x {period} s"
    if "TreatMissingData" in properties:
        condition += f", missing data {properties['TreatMissingData']}"
    name = render(properties.get("AlarmDescription") or properties.get("AlarmName") or logical_id)
    return Alarm(name, condition, threshold)


def _alarm_dimensions(properties: dict[str, Any]) -> dict[str, str]:
    dimensions = {d["Name"]: render(d["Value"]) for d in properties.get("Dimensions", [])}
    for metric in properties.get("Metrics", []):
        for d in metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []):
            dimensions.setdefault(d["Name"], render(d["Value"]))
    return dimensions


def _environment(container: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), render(v)) for k, v in container.get("Environment", {}).items()))


def _container(raw: dict[str, Any], hostname: str) -> Container:
    data = raw.get("ModelDataUrl") or raw.get("ModelDataSource", {}).get("S3DataSource", {}).get("S3Uri")
    return Container(hostname, render(raw.get("Image", "-")), render(data) if data else "-", _environment(raw))


def _model(model: dict[str, Any]) -> tuple[str, list[Container], str]:
    """A SageMaker model's kind (single model, MME, MCE Direct or Serial), its containers and its cache setting."""
    primary = model.get("PrimaryContainer")
    if primary:
        multi = primary.get("Mode") == "MultiModel"
        cache = primary.get("MultiModelConfig", {}).get("ModelCacheSetting", "Enabled") if multi else "-"
        return ("MME" if multi else "single model"), [_container(primary, "")], cache
    containers = model.get("Containers", [])
    mode = model.get("InferenceExecutionConfig", {}).get("Mode", "Serial")
    found = [_container(c, render(c.get("ContainerHostname", f"#{i}"))) for i, c in enumerate(containers)]
    return f"MCE {mode}", found, "-"


def _size(size: dict[str, Any]) -> str:
    """A batch or traffic step: ``CAPACITY_PERCENT``, ``INSTANCE_COUNT`` or ``COPY_COUNT``."""
    value = size.get("Value", "?")
    kind = size.get("Type")
    if kind == "CAPACITY_PERCENT":
        return f"{value}%"
    if kind == "INSTANCE_COUNT":
        return f"{value} instance{'' if value == 1 else 's'}"
    return f"{value} cop{'y' if value == 1 else 'ies'}"


def _deployment(config: dict[str, Any]) -> tuple[str, int]:
    """An endpoint's deployment policy (``DeploymentConfig``) in a few words, and its rollback alarms."""
    alarms = len(config.get("AutoRollbackConfiguration", {}).get("Alarms", []))
    rolling = config.get("RollingUpdatePolicy")
    if rolling:
        text = f"rolling {_size(rolling.get('MaximumBatchSize', {}))} at a time"
        return f"{text}, wait {rolling.get('WaitIntervalInSeconds', 0)} s", alarms
    routing = config.get("BlueGreenUpdatePolicy", {}).get("TrafficRoutingConfiguration", {})
    if not routing:
        return DEFAULT_DEPLOYMENT, alarms
    size = routing.get("CanarySize") or routing.get("LinearStepSize")
    step = f" {_size(size)}" if size else ""
    return f"blue/green {routing['Type'].lower()}{step}, wait {routing.get('WaitIntervalInSeconds', 0)} s", alarms


def _capture(config: dict[str, Any]) -> str:
    capture = config.get("DataCaptureConfig")
    if not capture or capture.get("EnableCapture") is False:
        return "off"
    modes = "+".join(str(o.get("CaptureMode")) for o in capture.get("CaptureOptions", []))
    return f"{capture.get('InitialSamplingPercentage', '?')}% of {modes} to {render(capture.get('DestinationS3Uri'))}"


#: Variant properties the review reports on their own; the rest are its settings.
_VARIANT_FIELDS = ("VariantName", "InstanceType", "InitialInstanceCount", "ModelName")


#: ``Variant.scaling`` of a variant that is a scalable target.
AUTO_SCALING = "Application Auto Scaling"


def _variant(raw: dict[str, Any], endpoint: str, targets: dict[str, _Target]) -> Variant:
    count = int(raw.get("InitialInstanceCount", 1))
    settings = {k: v for k, v in raw.items() if k not in _VARIANT_FIELDS}
    variant = Variant(raw["VariantName"], render(raw.get("InstanceType", "serverless")), count, count, count)
    target = targets.get(f"endpoint/{endpoint}/variant/{raw['VariantName']}".lower())
    if target is not None:
        variant.min_count, variant.max_count, variant.policies = target.minimum, target.maximum, target.policies
        variant.scaled, variant.scaling = True, AUTO_SCALING
    managed = raw.get("ManagedInstanceScaling", {})
    if managed.get("Status") == "ENABLED":
        # SageMaker adds and removes instances as the components' copies need them.
        variant.min_count = int(managed.get("MinInstanceCount", count))
        variant.max_count = int(managed.get("MaxInstanceCount", count))
        variant.scaled, variant.scaling = True, "managed instance scaling"
        settings["ManagedInstanceScaling"] = {
            k: v for k, v in managed.items() if k not in ("MinInstanceCount", "MaxInstanceCount")
        }
    variant.settings = settings
    return variant


def _endpoints(stack: SynthesizedStack, resources: dict[str, Any]) -> Iterable[Endpoint]:
    targets = _scaling_targets(resources)
    alarms = [
        (_alarm_dimensions(r["Properties"]), logical_id, _alarm(logical_id, r["Properties"]))
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SageMaker::Endpoint":
            continue
        properties = resource["Properties"]
        name = render(properties.get("EndpointName", "<generated>"))
        config = resources.get(_ref(properties["EndpointConfigName"]) or "", {}).get("Properties", {})
        variants_raw = config.get("ProductionVariants", [])
        components: list[Component] = []
        containers: list[Container] = []
        model: dict[str, Any] = {}
        if variants_raw and "ModelName" not in variants_raw[0]:
            # An endpoint of inference components: its variant has instances and no model; the components place
            # the models on them (CreateEndpointConfig, SageMaker API Reference: ProductionVariant.ModelName).
            components = list(_components(resources, logical_id, name, targets))
            kind, cache = "IC", "-"
            images = [f"{c.name}: {c.image}" for c in components]
            data = [f"{c.name}: {c.data}" for c in components]
        else:
            model_id = (_ref(variants_raw[0]["ModelName"]) if variants_raw else None) or ""
            model = resources.get(model_id, {}).get("Properties", {})
            kind, containers, cache = _model(model)
            images = [f"{c.hostname}: {c.image}" if c.hostname else c.image for c in containers]
            data = [f"{c.hostname}: {c.data}" if c.hostname else c.data for c in containers]
        if "AsyncInferenceConfig" in config:
            kind += " async"
        deployment, rollback = _deployment(properties.get("DeploymentConfig", {}))
        watched = {c.name for c in components}
        yield Endpoint(
            stage=stack.stage,
            stack=stack.stack_name,
            region=stack.region,
            name=name,
            kind=kind,
            images=images,
            data=data,
            cache=cache,
            variants=[_variant(raw, name, targets) for raw in variants_raw],
            deployment=deployment,
            rollback_alarms=rollback,
            components=components,
            account=stack.account,
            logical_id=logical_id,
            containers=containers,
            capture=_capture(config),
            alarms={
                alarm_id: alarm
                for dimensions, alarm_id, alarm in alarms
                if dimensions.get("EndpointName") == name or dimensions.get("InferenceComponentName") in watched
            },
            retains_variant_properties=bool(properties.get("RetainAllVariantProperties")),
            model_settings={k: v for k, v in model.items() if k not in ("PrimaryContainer", "Containers")},
            config_settings={
                k: v
                for k, v in config.items()
                if k not in ("ProductionVariants", "DataCaptureConfig", "EndpointConfigName")
            },
        )


def _places_on(component: dict[str, Any], endpoint_id: str, endpoint_name: str) -> bool:
    """Whether the inference component's EndpointName names this endpoint (a GetAtt of it, or its name)."""
    target = component.get("EndpointName")
    return _ref(target) == endpoint_id or render(target) == endpoint_name


def _component_name(properties: dict[str, Any]) -> str:
    """The component's name as its ARN and its ScalableTarget's ResourceId spell it (lowercased, as in ARNs)."""
    return render(properties.get("InferenceComponentName", "")).lower()


def _components(
    resources: dict[str, Any], endpoint_id: str, endpoint_name: str, targets: dict[str, _Target]
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
        raw = model.get("PrimaryContainer") or specification.get("Container") or {}
        data = raw.get("ModelDataUrl") or raw.get("ArtifactUrl")
        needs = specification.get("ComputeResourceRequirements", {})
        copies = int(properties.get("RuntimeConfig", {}).get("CopyCount", 1))
        target = targets.get(f"inference-component/{_component_name(properties)}")
        yield Component(
            name=render(properties.get("InferenceComponentName", logical_id)),
            image=render(raw.get("Image", "-")),
            data=render(data) if data else "-",
            cpu_cores=needs.get("NumberOfCpuCoresRequired"),
            accelerators=needs.get("NumberOfAcceleratorDevicesRequired"),
            min_memory_mb=needs.get("MinMemoryRequiredInMb"),
            max_memory_mb=needs.get("MaxMemoryRequiredInMb"),
            copies=copies,
            min_copies=target.minimum if target else copies,
            max_copies=target.maximum if target else copies,
            scaled=target is not None,
            rolling_update=_rolling_update(properties.get("DeploymentConfig", {})),
            policies=target.policies if target else {},
            environment=_environment(raw),
            settings={k: v for k, v in model.items() if k not in ("PrimaryContainer", "Containers")},
        )


def _rolling_update(deployment: dict[str, Any]) -> str:
    """An inference component's update policy (``InferenceComponentDeploymentConfig``), in a few words."""
    rolling = deployment.get("RollingUpdatePolicy")
    if not rolling:
        return DEFAULT_COMPONENT_UPDATE
    text = f"rolling {_size(rolling.get('MaximumBatchSize', {}))} at a time"
    text += f", wait {rolling.get('WaitIntervalInSeconds', 0)} s"
    if "MaximumExecutionTimeoutInSeconds" in rolling:
        text += f", timeout {rolling['MaximumExecutionTimeoutInSeconds']} s"
    if "RollbackMaximumBatchSize" in rolling:
        text += f", roll back {_size(rolling['RollbackMaximumBatchSize'])} at a time"
    alarms = len(deployment.get("AutoRollbackConfiguration", {}).get("Alarms", []))
    if alarms:
        text += f", rollback on {alarms} alarms"
    return text


# -- access ----------------------------------------------------------------------------------------------------


def _pattern(text: str) -> re.Pattern[str]:
    """An IAM action or resource pattern (``*`` any run of characters, ``?`` one) as a regular expression. A reference
    the review could not resolve (``<...>``) stands for one ARN segment: ``arn:aws:sagemaker:<AWS::Region>:...``
    still matches, a bare ``<Bucket.Arn>`` matches no endpoint."""
    parts = re.split(r"(<[^>]*>|\*|\?)", text)
    regex = "".join(
        ".*" if part == "*" else "." if part == "?" else "[^:/]*" if part.startswith("<") else re.escape(part)
        for part in parts
    )
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _matches(patterns: Sequence[str], value: str) -> list[str]:
    """The patterns among ``patterns`` that match ``value``."""
    return [p for p in patterns if _pattern(p).fullmatch(value)]


def _wild(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def _short(action: str) -> str:
    return action.removeprefix("sagemaker:")


def _invokes(statement: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """The invoke actions a statement covers, and what its wildcards or NotAction open besides."""
    if "NotAction" in statement:
        excluded = [render(a) for a in _as_list(statement["NotAction"])]
        covered = tuple(a for a in INVOKE_ACTIONS if not _matches(excluded, a))
        return covered, f"NotAction {', '.join(excluded)}: every other action"
    actions = [render(a) for a in _as_list(statement.get("Action", []))]
    covered = tuple(a for a in INVOKE_ACTIONS if _matches(actions, a))
    wide = [a for a in actions if _wild(a) and any(_pattern(a).fullmatch(i) for i in covered)]
    return covered, f"Action {', '.join(wide)}" if wide else ""


def _condition(statement: dict[str, Any]) -> str:
    """The conditions of a statement, in a few words: ``TargetModel Chicago_IL*``, ``TargetContainerHostname
    absent``, ``TargetModel a* (or absent)`` for an ``...IfExists`` operator."""
    parts = []
    for operator, entries in statement.get("Condition", {}).items():
        for key, values in entries.items():
            label = key.split(":", 1)[1] if key.lower().startswith("sagemaker:") else key
            shown = ", ".join(render(v) for v in _as_list(values))
            base = operator.removesuffix("IfExists")
            if base == "Null":
                text = f"{label} {'absent' if shown.lower() == 'true' else 'present'}"
            elif "Not" in base:
                text = f"{label} not {shown}"
            elif base.split(":")[-1].startswith(("String", "Arn")):
                text = f"{label} {shown}"
            else:
                text = f"{label} {base} {shown}"
            parts.append(text + (" (or absent)" if operator.endswith("IfExists") else ""))
    return " and ".join(parts) or WHOLE_ENDPOINT


def _could_be_endpoint(pattern: str) -> bool:
    """Whether a resource pattern that matches no endpoint of the assembly still names endpoints (of another
    assembly): the access matrix must show it."""
    return pattern == "*" or ":endpoint/" in pattern or ":inference-component/" in pattern


def _aliases(resources: dict[str, Any], endpoints: Sequence[Endpoint], stack: SynthesizedStack) -> dict[str, str]:
    """How this stack's templates may spell an endpoint's or a component's ARN with a reference, lowercased, to the
    ARN: ``<Endpoint>`` (a Ref is the ARN), ``<Endpoint.EndpointArn>``, the same for inference components."""
    arns = {(e.stack, e.logical_id): e.arn for e in endpoints}
    names = {(e.stack, c.name.lower()): e.component_arn(c) for e in endpoints for c in e.components}
    found = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::SageMaker::Endpoint" and (stack.stack_name, logical_id) in arns:
            arn = arns[(stack.stack_name, logical_id)]
            found[f"<{logical_id}>".lower()] = found[f"<{logical_id}.EndpointArn>".lower()] = arn
        if resource["Type"] == "AWS::SageMaker::InferenceComponent":
            arn = names.get((stack.stack_name, _component_name(resource["Properties"])), "")
            if arn:
                found[f"<{logical_id}>".lower()] = found[f"<{logical_id}.InferenceComponentArn>".lower()] = arn
    return found


def _principal(resources: dict[str, Any], value: Any, kind: str) -> str:
    """A role, user or group: its construct path when the template defines it, else its name."""
    logical_id = _ref(value)
    if logical_id and logical_id in resources:
        return _path(resources[logical_id], logical_id)
    return f"{kind} {render(value)}"


def _holders(resources: dict[str, Any], properties: dict[str, Any]) -> list[str]:
    return [
        _principal(resources, value, kind)
        for key, kind in (("Roles", "role"), ("Users", "user"), ("Groups", "group"))
        for value in _as_list(properties.get(key, []))
    ]


@dataclass(frozen=True)
class _Document:
    """Statements that apply to some principals, and where they come from; ``statements`` None: a managed policy
    whose document is not in the template."""

    principals: tuple[str, ...]
    statements: tuple[dict[str, Any], ...] | None
    source: str


def _documents(resources: dict[str, Any]) -> Iterator[_Document]:
    """Every policy document of the template with the principals it applies to: AWS::IAM::Policy and
    AWS::IAM::ManagedPolicy resources, roles', users' and groups' inline policies and their managed policies."""
    managed = {i for i, r in resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    attached: dict[str, list[str]] = {i: [] for i in managed}
    for logical_id, resource in resources.items():
        kind = {"AWS::IAM::Role": "role", "AWS::IAM::User": "user", "AWS::IAM::Group": "group"}.get(resource["Type"])
        if kind is None:
            continue
        properties = resource.get("Properties", {})
        me = (_principal(resources, {"Ref": logical_id}, kind),)
        for inline in properties.get("Policies", []):
            statements = tuple(_as_list(inline["PolicyDocument"].get("Statement", [])))
            yield _Document(me, statements, f"inline policy {render(inline.get('PolicyName', ''))}")
        for arn in properties.get("ManagedPolicyArns", []):
            if _ref(arn) in managed:
                attached[str(_ref(arn))].extend(me)
                continue
            text = render(arn)
            name = text.split(":policy/", 1)[-1]
            if ":iam::aws:policy/" in text and name in AWS_MANAGED_POLICIES:
                yield _Document(me, AWS_MANAGED_POLICIES[name], f"AWS managed policy {name} (reviewed)")
            else:
                yield _Document(me, None, f"managed policy {text}")
    for logical_id, resource in resources.items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        properties = resource["Properties"]
        principals = tuple(_holders(resources, properties) + attached.get(logical_id, []))
        statements = tuple(_as_list(properties["PolicyDocument"].get("Statement", [])))
        source = "inline policy" if resource["Type"] == "AWS::IAM::Policy" else f"managed policy {logical_id}"
        yield _Document(principals, statements, source)


def _access(stack: SynthesizedStack, resources: dict[str, Any], endpoints: Sequence[Endpoint]) -> Iterable[Access]:
    """Every (principal, endpoint) right to invoke or denial found in ``stack``'s IAM policies; on an endpoint of
    inference components, one per component.

    A statement naming component ARNs reaches those components; one naming the endpoint of inference components
    alone, every component on it: InvokeEndpoint's ``InferenceComponentName`` has no condition key to narrow it.
    """
    aliases = _aliases(resources, endpoints, stack)
    for document in _documents(resources):
        if document.statements is None:
            for principal in document.principals:
                yield Access(
                    stack.stage,
                    "(any)",
                    principal,
                    "unknown",
                    "cannot be read at synth",
                    "?",
                    f"{document.source.removeprefix('managed policy ')}: its document is not in the template; it "
                    "may allow invoking any endpoint",
                    document.source,
                )
            continue
        for statement in document.statements:
            for row in _statement_access(stack, statement, endpoints, aliases, document.source):
                for principal in document.principals:
                    yield Access(
                        row.stage, row.endpoint, principal, row.effect, row.scope, row.actions, row.unscoped, row.source
                    )


def _statement_access(
    stack: SynthesizedStack,
    statement: dict[str, Any],
    endpoints: Sequence[Endpoint],
    aliases: dict[str, str],
    source: str,
) -> Iterator[Access]:
    """What one statement allows or denies on each endpoint it reaches (the principal left empty)."""
    covered, opened = _invokes(statement)
    if not covered:
        return
    effect = str(statement.get("Effect", "Allow"))
    negated = "NotResource" in statement
    patterns = [
        aliases.get(render(r).lower(), render(r))
        for r in _as_list(statement.get("NotResource" if negated else "Resource", []))
    ]

    def hits(arn: str) -> list[str]:
        found = _matches(patterns, arn)
        if negated:
            return [] if found else [f"NotResource {', '.join(patterns)}"]
        return found

    scope = _condition(statement)
    actions = ", ".join(_short(a) for a in covered)
    reached_patterns: set[str] = set()
    for endpoint in endpoints:
        if "unknown" not in (stack.account, endpoint.account) and endpoint.account != stack.account:
            continue  # SageMaker endpoints have no resource policies: no identity policy reaches another account's
        reached = hits(endpoint.arn)
        named = {c.name: hits(endpoint.component_arn(c)) for c in endpoint.components}
        named = {name: found for name, found in named.items() if found}
        if not reached and not named:
            continue
        used = {p for found in (reached, *named.values()) for p in found}
        reached_patterns |= used
        rows = [(f"component {name}", found) for name, found in named.items()]
        if not named:
            rows = [(ENDPOINT_ALONE if endpoint.components and scope == WHOLE_ENDPOINT else scope, reached)]
        for reach, found in rows:
            unscoped = _unscoped(endpoint, scope, opened, found) if effect == "Allow" else ""
            yield Access(endpoint.stage, endpoint.name, "", effect, reach, actions, unscoped, source)
    for pattern in patterns:
        if negated or pattern in reached_patterns or not _could_be_endpoint(pattern):
            continue
        # Named, but not an endpoint of this assembly: another stage's, another app's, or one not yet created.
        target = pattern.rsplit("endpoint/", 1)[-1] if "endpoint/" in pattern else pattern
        notes = [n for n in (opened, f"Resource {pattern}" if _wild(pattern) else "") if n]
        notes.append("no endpoint of this assembly in its account")
        yield Access(stack.stage, target, "", effect, scope, actions, "; ".join(notes), source)


def _unscoped(endpoint: Endpoint, scope: str, opened: str, patterns: Sequence[str]) -> str:
    """What an Allow leaves open on ``endpoint``: wide actions or resources, models or containers not narrowed."""
    notes = [opened] if opened else []
    negated = [p for p in patterns if p.startswith("NotResource ")]
    wide = [p for p in patterns if _wild(p) and p not in negated]
    if wide:
        notes.append(f"Resource {', '.join(wide)}: every endpoint it matches, in this assembly or not")
    notes += [f"{p}: every other resource" for p in negated]
    if endpoint.kind == "MME" and "TargetModel" not in scope:
        notes.append("every model")
    if endpoint.kind == "MCE Direct" and "TargetContainerHostname" not in scope:
        notes.append("every container")
    if "(or absent)" in scope:
        notes.append("requests that name none")
    return "; ".join(notes)


def _acknowledgments(stack: SynthesizedStack) -> Iterable[Acknowledgment]:
    if not stack.metadata_path.is_file():
        return
    for path, entries in json.loads(stack.metadata_path.read_text()).items():
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
    """Empty, or what to know: ``estimate`` (not read from AWS's Price List), another region's price."""
    estimate: bool = False


def _entry(entry: Any) -> tuple[float, bool]:
    """A price table entry: a bare number, or ``{"usd_per_hour": ..., "source": ..., "estimate": ...}``."""
    if isinstance(entry, dict):
        return float(entry["usd_per_hour"]), bool(entry.get("estimate", False))
    return float(entry), False


def price(table: dict[str, Any], region: str, instance_type: str) -> Price | None:
    """The region's price, or another region's (an estimate, noted), or None."""
    prices = table["prices"]
    if instance_type in prices.get(region, {}):
        value, estimate = _entry(prices[region][instance_type])
        return Price(value, ESTIMATE if estimate else "", estimate)
    for other, listed in sorted(prices.items()):
        if instance_type in listed:
            value, _ = _entry(listed[instance_type])
            return Price(value, f"{other} price, {ESTIMATE}", True)
    return None


@dataclass(frozen=True)
class Cost:
    """An endpoint's hourly cost at minimum and maximum scale, and as single-model endpoints."""

    low: float | None
    high: float | None
    single_model: float | None
    note: str
    estimate: bool = False


def cost(endpoint: Endpoint, table: dict[str, Any], models_per_endpoint: int) -> Cost:
    """Cost of ``endpoint``; ``single_model``: its models each on an endpoint of the same minimum size."""
    low = high = 0.0
    notes = set()
    estimate = False
    for variant in endpoint.variants:
        found = price(table, endpoint.region, variant.instance_type)
        if found is None:
            return Cost(None, None, None, f"no price for {variant.instance_type} in {endpoint.region}: add it")
        low += variant.min_count * found.usd_per_hour
        high += variant.max_count * found.usd_per_hour
        estimate = estimate or found.estimate
        if found.note:
            notes.add(found.note)
    if low == 0 and high > 0:
        # Managed instance scaling down to no instance: an idle endpoint of inference components costs nothing.
        notes.add(IDLE)
    # Inference components: the models are the components, each of which could have an endpoint of its own.
    models = models_per_endpoint if endpoint.kind == "MME" else max(len(endpoint.images), 1)
    return Cost(low, high, low * models, ", ".join(sorted(notes)), estimate)


@dataclass(frozen=True)
class Total:
    """The monthly cost of a group of endpoints at minimum and maximum scale."""

    low: float
    high: float
    unpriced: int
    estimate: bool
    priced: int = 0

    def text(self) -> str:
        if not self.priced:
            return f"n/a ({self.unpriced} unpriced)" if self.unpriced else "-"
        money = f"{self.low:,.0f}-{self.high:,.0f}"
        if self.unpriced:
            money += f" + {self.unpriced} unpriced"
        return money + (f" ({ESTIMATE})" if self.estimate else "")


def total(endpoints: Iterable[Endpoint], table: dict[str, Any], models_per_endpoint: int) -> Total:
    hours = float(table["hours_per_month"])
    low = high = 0.0
    unpriced = priced = 0
    estimate = False
    for endpoint in endpoints:
        c = cost(endpoint, table, models_per_endpoint)
        if c.low is None or c.high is None:
            unpriced += 1
            continue
        priced += 1
        low += c.low * hours
        high += c.high * hours
        estimate = estimate or c.estimate
    return Total(low, high, unpriced, estimate, priced)


def _hourly(usd: float) -> str:
    return IDLE if usd == 0 else f"{usd:.3f}"


def _monthly(usd: float, hours: float) -> str:
    return IDLE if usd == 0 else f"{usd * hours:,.0f}"


# -- changes -----------------------------------------------------------------------------------------------------

REPLACES = "replaces"
SHIFTS = "shifts traffic"
ROLLING = "rolling"
IN_PLACE = "in place"
CREATES = "creates"
DELETES = "deletes"
#: A change SageMaker refuses as written: the deploy fails and rolls back.
REFUSED = "refused"


@dataclass(frozen=True)
class Change:
    """One change to an endpoint and how it deploys."""

    stage: str
    endpoint: str
    what: str
    kind: str
    """``replaces``, ``shifts traffic``, ``rolling``, ``in place``, ``creates`` or ``deletes``."""
    how: str = ""

    @property
    def deploys_as(self) -> str:
        return f"**{self.kind}**" + (f": {self.how}" if self.how else "")


@dataclass(frozen=True)
class StatefulChange:
    """A stateful resource that the change replaces or removes (or a KMS key update CloudFormation refuses)."""

    stack: str
    logical_id: str
    type: str
    path: str
    what: str
    old_resource: str
    """What happens to the old resource (its DeletionPolicy or UpdateReplacePolicy)."""

    @property
    def key(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    def allowed_by(self, allowed: Iterable[str]) -> bool:
        return any(a in (self.logical_id, self.key) for a in allowed)


@dataclass
class Diff:
    """What changes from a base assembly to the current one."""

    stateful: list[StatefulChange] = field(default_factory=list)
    endpoints: list[Change] = field(default_factory=list)
    access: list[tuple[str, Access]] = field(default_factory=list)
    """(``added`` or ``removed``, the row of the access matrix)."""
    costs: list[tuple[str, str, Total, Total]] = field(default_factory=list)
    """(stage, endpoint or ``all endpoints``, before, after) where the monthly cost changes."""
    stacks_gone: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.stateful or self.endpoints or self.access or self.costs or self.stacks_gone)


def _pointer(properties: dict[str, Any], pointer: str) -> Any:
    """The value at a schema pointer (``/properties/A/B``) in a resource's properties, or None."""
    value: Any = properties
    for part in pointer.removeprefix("/properties/").split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def stateful_changes(base: Assembly, current: Assembly) -> list[StatefulChange]:
    """Stateful resources of ``base`` that ``current`` replaces or removes, in stacks both assemblies deploy."""
    found = []
    for key, old in sorted(base.stateful.items()):
        if old.stack not in current.stacks:
            continue  # the whole stack is gone from the assembly: cdk deploy leaves it alone (Diff.stacks_gone)
        new = current.stateful.get(key)
        if new is None:
            # The logical id leaves the template: CloudFormation deletes the resource (its DeletionPolicy decides).
            twin = _same_name(old, current)
            what = "removed from the template"
            if twin:
                what = (
                    f"replaced by {twin} (a new logical id, the same name: CloudFormation creates {twin} first, "
                    "which fails while this one holds the name)"
                )
            found.append(_stateful_change(old, what, policy=old.deletion_policy))
            continue
        if new.type != old.type:
            what = f"update fails: its type becomes {new.type} (CloudFormation does not change a resource's type)"
            found.append(_stateful_change(old, what, fate="kept: the deployment fails"))
            continue
        changed = [p.removeprefix("/properties/") for p in STATEFUL_TYPES[old.type] if _differs(old, new, p)]
        # A parent pointer and its children name the same change once.
        changed = [p for p in changed if not any(p.startswith(f"{q}/") for q in changed)]
        if changed:
            what = f"replaced: {', '.join(changed)} changes (create-only)"
            if _named(new) and not any(p.endswith("Name") for p in changed):
                what += "; it has a custom name, so CloudFormation cannot replace it and the update fails"
            found.append(_stateful_change(old, what, policy=old.update_replace_policy))
        refused = [p for p in IMMUTABLE.get(old.type, ()) if old.properties.get(p) != new.properties.get(p)]
        if refused:
            what = f"update fails: {', '.join(refused)} cannot change"
            fate = "kept: CloudFormation refuses the update, and the deployment fails"
            found.append(_stateful_change(old, what, fate=fate))
    return found


def _differs(old: Resource, new: Resource, pointer: str) -> bool:
    return bool(_pointer(old.properties, pointer) != _pointer(new.properties, pointer))


def _names(resource_type: str) -> list[str]:
    """The create-only name properties of a stateful type (``/properties/BucketName``...)."""
    return [p for p in STATEFUL_TYPES[resource_type] if p.count("/") == 2 and p.endswith("Name")]


def _named(resource: Resource) -> bool:
    return any(_pointer(resource.properties, p) is not None for p in _names(resource.type))


def _same_name(old: Resource, current: Assembly) -> str:
    """The logical id under which ``current`` has a resource of the same type and physical name in the same stack:
    the resource moved (a construct renamed), which CloudFormation deploys as a new resource and a deleted one."""
    names = _names(old.type)
    for (stack, logical_id), new in current.stateful.items():
        if stack != old.stack or new.type != old.type or (stack, logical_id) == (old.stack, old.logical_id):
            continue
        for pointer in names:
            value = _pointer(old.properties, pointer)
            if value is not None and value == _pointer(new.properties, pointer):
                return logical_id
    return ""


def _stateful_change(old: Resource, what: str, *, policy: str = "", fate: str = "") -> StatefulChange:
    """``old`` and ``what`` happens to it; its ``fate`` as given, or as the deletion or replacement ``policy``
    CloudFormation applies decides it."""
    if not fate:
        fate = (
            "retained (no longer managed by the stack; its data is kept)"
            if policy in ("Retain", "RetainExceptOnCreate")
            else f"{policy.upper()}D: its data is lost"
            if policy == "Delete"
            else f"{policy} (a snapshot is kept)"
        )
    return StatefulChange(old.stack, old.logical_id, old.type, old.path, what, fate)


def _listing(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items) or "none"


def _containers(old: Endpoint, new: Endpoint) -> Iterator[tuple[str, str]]:
    """What changes in an endpoint's containers, each with how it deploys (its endpoint's rollout)."""
    if old.kind != new.kind:
        yield f"kind {old.kind} -> {new.kind}", SHIFTS
    before = {c.label: c for c in old.containers}
    after = {c.label: c for c in new.containers}
    for label in [c.label for c in new.containers if c.label not in before]:
        yield f"container added: {label} ({after[label].image})", SHIFTS
    for label in [c.label for c in old.containers if c.label not in after]:
        yield f"container removed: {label}", SHIFTS
    kept_before = [c.label for c in old.containers if c.label in after]
    kept_after = [c.label for c in new.containers if c.label in before]
    if kept_before != kept_after:
        serial = " (Serial: the order requests pass through them)" if "Serial" in new.kind else ""
        yield f"containers reordered: {_listing(kept_before)} -> {_listing(kept_after)}{serial}", SHIFTS
    for label in kept_after:
        was, now = before[label], after[label]
        if was.image != now.image:
            yield f"image of {label}: {was.image} -> {now.image}", SHIFTS
        if was.data != now.data:
            yield f"model data of {label}: {was.data} -> {now.data}", SHIFTS
        if was.environment != now.environment:
            keys = sorted({k for k, _ in set(was.environment) ^ set(now.environment)})
            yield f"environment of {label}: {_listing(keys)}", SHIFTS
    if old.model_settings != new.model_settings:
        yield f"model settings: {_listing(_keys(old.model_settings, new.model_settings))}", SHIFTS


def _keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _policies(old: dict[str, str], new: dict[str, str]) -> Iterator[str]:
    for key in sorted(new.keys() - old.keys()):
        yield f"+ {new[key]}"
    for key in sorted(old.keys() - new.keys()):
        yield f"- {old[key]}"
    for key in sorted(old.keys() & new.keys()):
        if old[key] != new[key]:
            yield f"{old[key]} -> {new[key]}"


def _variants(old: Endpoint, new: Endpoint) -> Iterator[tuple[str, str]]:
    before = {v.name: v for v in old.variants}
    after = {v.name: v for v in new.variants}
    for v in [v for v in new.variants if v.name not in before]:
        yield f"variant added: {v.name} ({v.instance_type} x {v.initial_count})", SHIFTS
    for v in [v for v in old.variants if v.name not in after]:
        yield f"variant removed: {v.name}", SHIFTS
    for name in sorted(before.keys() & after.keys()):
        was, now = before[name], after[name]
        if was.instance_type != now.instance_type and was.scaling == AUTO_SCALING != now.scaling:
            # CloudFormation deletes the removed scalable target only in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, after
            # the endpoint's update, and SageMaker refuses a type change of a variant that is still a target
            # ("Update endpoints that use auto scaling", Amazon SageMaker AI Developer Guide).
            yield (
                f"{name}: instance type {was.instance_type} -> {now.instance_type} with its scaling removed: SageMaker "
                "refuses it (the scalable target goes only after the endpoint's update); remove the scaling, deploy, "
                "then change the type",
                REFUSED,
            )
        elif was.instance_type != now.instance_type:
            yield f"{name}: instance type {was.instance_type} -> {now.instance_type}", SHIFTS
        if was.initial_count != now.initial_count:
            kept = " (RetainAllVariantProperties: the running count is kept)" if new.retains_variant_properties else ""
            yield f"{name}: initial instances {was.initial_count} -> {now.initial_count}{kept}", SHIFTS
        if (was.min_count, was.max_count, was.scaling) != (now.min_count, now.max_count, now.scaling):
            # Managed instance scaling is the endpoint config's; a ScalableTarget is updated in place.
            how = SHIFTS if "managed" in (was.scaling + now.scaling) else IN_PLACE
            yield (
                f"{name}: instances {was.min_count}-{was.max_count} ({was.scaling}) -> "
                f"{now.min_count}-{now.max_count} ({now.scaling})",
                how,
            )
        for text in _policies(was.policies, now.policies):
            yield f"{name}: scaling {text}", IN_PLACE
        if was.settings != now.settings:
            yield f"{name}: variant settings {_listing(_keys(was.settings, now.settings))}", SHIFTS


def _component_changes(old: Endpoint, new: Endpoint) -> Iterator[Change]:
    before = {c.name: c for c in old.components}
    after = {c.name: c for c in new.components}

    def change(what: str, kind: str, how: str = "") -> Change:
        return Change(new.stage, new.name, what, kind, how)

    for name in sorted(after.keys() - before.keys()):
        c = after[name]
        yield change(f"component added: {name} ({c.image}, {c.copies} copies)", CREATES, "CreateInferenceComponent")
    for name in sorted(before.keys() - after.keys()):
        yield change(f"component removed: {name}", DELETES, "DeleteInferenceComponent: its callers fail")
    for name in sorted(before.keys() & after.keys()):
        was, now = before[name], after[name]
        update = f"UpdateInferenceComponent {now.rolling_update}"
        for label, a, b in (
            ("image", was.image, now.image),
            ("model data", was.data, now.data),
            ("environment", was.environment, now.environment),
            ("model settings", was.settings, now.settings),
        ):
            if a != b:
                shown = f"{a} -> {b}" if isinstance(a, str) else "changes"
                yield change(f"{name}: {label} {shown}", ROLLING, update)
        reserved = ("cpu_cores", "accelerators", "min_memory_mb", "max_memory_mb")
        if any(getattr(was, r) != getattr(now, r) for r in reserved):
            old_needs = ", ".join(f"{r} {getattr(was, r)}" for r in reserved if getattr(was, r) is not None)
            new_needs = ", ".join(f"{r} {getattr(now, r)}" for r in reserved if getattr(now, r) is not None)
            yield change(f"{name}: reservation {old_needs} -> {new_needs}", ROLLING, update)
        if was.copies != now.copies:
            yield change(
                f"{name}: copies {was.copies} -> {now.copies}", IN_PLACE, "UpdateInferenceComponentRuntimeConfig"
            )
        if (was.min_copies, was.max_copies, was.scaled) != (now.min_copies, now.max_copies, now.scaled):
            yield change(
                f"{name}: copy scaling {was.min_copies}-{was.max_copies} -> {now.min_copies}-{now.max_copies}",
                IN_PLACE,
            )
        for text in _policies(was.policies, now.policies):
            yield change(f"{name}: scaling {text}", IN_PLACE)
        if was.rolling_update != now.rolling_update:
            yield change(
                f"{name}: update policy {was.rolling_update} -> {now.rolling_update}",
                IN_PLACE,
                "governs this and later component updates",
            )


def endpoint_changes(old: Endpoint, new: Endpoint) -> list[Change]:
    """Everything that changes what ``new`` runs, each with how it deploys."""
    found: list[Change] = []

    def add(what: str, kind: str, how: str = "") -> None:
        if kind == SHIFTS and not how:
            how = new.rollout
        found.append(Change(new.stage, new.name, what, kind, how))

    if old.logical_id != new.logical_id:
        add(
            f"logical id {old.logical_id} -> {new.logical_id}",
            REPLACES,
            "CloudFormation creates a new endpoint of the same name and deletes the old one",
        )
    for what, kind in _containers(old, new):
        add(what, kind)
    for what, kind in _variants(old, new):
        add(what, kind)
    if old.capture != new.capture:
        add(f"data capture: {old.capture} -> {new.capture}", SHIFTS)
    if old.config_settings != new.config_settings:
        add(f"endpoint config settings: {_listing(_keys(old.config_settings, new.config_settings))}", SHIFTS)
    if (old.deployment, old.rollback_alarms) != (new.deployment, new.rollback_alarms):
        add(
            f"deployment policy: {old.deployment} (rollback alarms {old.rollback_alarms}) -> {new.deployment} "
            f"(rollback alarms {new.rollback_alarms})",
            IN_PLACE,
            "governs this and later endpoint updates",
        )
    for logical_id in sorted(new.alarms.keys() - old.alarms.keys()):
        add(f"alarm added: {new.alarms[logical_id].name} ({new.alarms[logical_id].condition})", IN_PLACE)
    for logical_id in sorted(old.alarms.keys() - new.alarms.keys()):
        add(f"alarm removed: {old.alarms[logical_id].name}", IN_PLACE)
    for logical_id in sorted(old.alarms.keys() & new.alarms.keys()):
        was, now = old.alarms[logical_id], new.alarms[logical_id]
        if was.condition != now.condition:
            add(f"alarm {now.name}: {was.condition} -> {now.condition}", IN_PLACE)
    found.extend(_component_changes(old, new))
    return found


def diff(base: Assembly, current: Assembly, table: dict[str, Any], models_per_endpoint: int) -> Diff:
    """What changes from ``base`` to ``current``."""
    result = Diff(stateful=stateful_changes(base, current))
    result.stacks_gone = [s for s in base.stacks if s not in current.stacks]
    before = {e.key: e for e in base.endpoints}
    after = {e.key: e for e in current.endpoints}
    # The same logical id under another name: EndpointName is create-only, CloudFormation replaces the endpoint.
    renamed = {
        e.key: old
        for e in current.endpoints
        if e.key not in before
        for old in base.endpoints
        if old.key not in after and (old.stack, old.logical_id) == (e.stack, e.logical_id)
    }
    for e in current.endpoints:
        if e.key in renamed:
            old = renamed[e.key]
            result.endpoints.append(
                Change(
                    e.stage,
                    e.name,
                    f"endpoint renamed: {old.name} -> {e.name}",
                    REPLACES,
                    f"a new endpoint; callers of {old.name} fail once it is deleted",
                )
            )
            result.endpoints.extend(c for c in endpoint_changes(old, e) if not c.what.startswith("logical id"))
        elif e.key not in before:
            result.endpoints.append(Change(e.stage, e.name, f"endpoint added ({e.kind})", CREATES, "a new endpoint"))
        else:
            result.endpoints.extend(endpoint_changes(before[e.key], e))
    gone = {old.key for old in renamed.values()}
    for e in base.endpoints:
        if e.key not in after and e.key not in gone:
            result.endpoints.append(Change(e.stage, e.name, "endpoint removed", DELETES, "its callers fail"))
    result.access = [("added", a) for a in sorted(set(current.access) - set(base.access))]
    result.access += [("removed", a) for a in sorted(set(base.access) - set(current.access))]
    for stage in current.stages + [s for s in base.stages if s not in current.stages]:
        rows = []
        for key in [k for k in after if k[0] == stage] + [k for k in before if k[0] == stage and k not in after]:
            was = total([before[key]] if key in before else [], table, models_per_endpoint)
            now = total([after[key]] if key in after else [], table, models_per_endpoint)
            if (was.low, was.high, was.unpriced) != (now.low, now.high, now.unpriced):
                rows.append((stage, key[1], was, now))
        if rows:
            old_total = stage_total(base, stage, table, models_per_endpoint)
            new_total = stage_total(current, stage, table, models_per_endpoint)
            result.costs += [*rows, (stage, "all endpoints", old_total, new_total)]
    return result


def changes(base: Assembly, current: Assembly, table: dict[str, Any] | None = None) -> list[str]:
    """The changes from ``base`` to ``current`` as report lines (``- no change`` when nothing changes)."""
    table = table or json.loads(PRICES.read_text())
    return changes_section(diff(base, current, table, 10))


# -- the report ---------------------------------------------------------------------------------------------

#: How each kind of change deploys, for the report's readers.
LEGEND = (
    "How each change deploys: **replaces**: CloudFormation creates a new resource and deletes the old one; "
    "**shifts traffic**: a new endpoint config, and UpdateEndpoint moves the traffic to a new fleet under the "
    "endpoint's deployment policy (blue/green all at once by default; canary or linear, with automatic rollback "
    "on its alarms, when the endpoint has a DeploymentConfig); **rolling**: UpdateInferenceComponent replaces the "
    "component's copies batch by batch (blue/green without a rolling policy); **in place**: no new instances "
    "(scaling, alarms, policies); **creates** / **deletes**: a whole endpoint or component; **refused**: SageMaker "
    "refuses the change as written, so the deploy fails and rolls back (the change says what to deploy first)."
)


def stateful_section(found: Sequence[StatefulChange], allowed: Iterable[str], base: str) -> list[str]:
    """The report's first section when stateful resources would be replaced or removed (none otherwise)."""
    if not found:
        return []
    allowed = list(allowed)
    blocked = [c for c in found if not c.allowed_by(allowed)]
    lines = ["## !!! Stateful resources replaced or removed", ""]
    if blocked:
        ids = ",".join(sorted({c.key for c in blocked}))
        lines += [
            f"`make review` exits {EXIT_STATEFUL} until each is allowed explicitly: "
            f"`make review BASE={base} ALLOW_REPLACE={ids}` (`--allow-replace`; a bare logical id allows it in "
            "every stack).",
            "",
        ]
    lines += ["| stack | resource | type | change | the old resource | allowed |", "|---|---|---|---|---|---|"]
    for c in found:
        lines.append(
            f"| {c.stack} | **{c.logical_id}** ({c.path}) | {c.type} | **{c.what}** | {c.old_resource} "
            f"| {'yes' if c.allowed_by(allowed) else '**no**'} |"
        )
    return [*lines, ""]


def changes_section(d: Diff) -> list[str]:
    """The changes as report lines, without a heading; the stateful ones are the report's own first section."""
    if d.empty:
        return ["- no change"]
    lines: list[str] = []
    if d.stateful:
        lines += [f"- {len(d.stateful)} stateful resource(s) replaced or removed: see the first section", ""]
    if d.stacks_gone:
        lines += [
            f"- stacks no longer in the assembly: {_listing(d.stacks_gone)} (`cdk deploy` leaves them and their "
            "resources as they are; delete them by hand if meant)",
            "",
        ]
    if d.endpoints:
        lines += [LEGEND, "", "| stage | endpoint | change | deploys as |", "|---|---|---|---|"]
        lines += [f"| {c.stage} | {c.endpoint} | {c.what} | {c.deploys_as} |" for c in d.endpoints]
        lines.append("")
    if d.access:
        lines += [
            "### Who may invoke",
            "",
            "Rows of the access matrix added or removed (an Allow added grants, a Deny added takes away). IAM "
            "policy changes take effect in place, within seconds (IAM is eventually consistent).",
            "",
            "| change | stage | endpoint | principal | effect | actions | scope | unscoped |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| **{verb}** | {a.stage} | {a.endpoint} | {a.principal} | {a.effect} | {a.actions} | {a.scope} "
            f"| {a.unscoped or '-'} |"
            for verb, a in d.access
        ]
        lines.append("")
    if d.costs:
        lines += [
            "### Cost per month",
            "",
            "At minimum and maximum scale, USD, both sides priced from the current price table.",
            "",
            "| stage | endpoint | before | after | change (min / max) |",
            "|---|---|---|---|---|",
        ]
        for stage, endpoint, old, new in d.costs:
            delta = f"{new.low - old.low:+,.0f} / {new.high - old.high:+,.0f}"
            name = f"**{endpoint}**" if endpoint == "all endpoints" else endpoint
            lines.append(f"| {stage} | {name} | {old.text()} | {new.text()} | {delta} |")
        lines.append("")
    return lines


def report(
    assembly: Assembly,
    table: dict[str, Any],
    models_per_endpoint: int,
    differences: Diff | None = None,
    base: str = "",
    allowed: Iterable[str] = (),
) -> list[str]:
    """REVIEW.md as lines: the changes first (when there is a base), then what will be deployed."""
    allowed = list(allowed)
    lines = [
        "# Synth review",
        "",
        "Read from the synthesized cloud assembly: this is what `cdk deploy` would deploy"
        + (f", compared with `{base}`." if base else "."),
        "",
    ]
    if differences is not None:
        lines += stateful_section(differences.stateful, allowed, base)
        lines += [f"## Changes from `{base}`", "", *changes_section(differences), ""]
    else:
        lines += ["## Changes", "", "No base assembly: `make review BASE=path/to/old/cdk.out` lists what changes.", ""]
    lines += endpoints_section(assembly)
    lines += inference_components(assembly)
    lines += access_section(assembly)
    lines += cost_section(assembly, table, models_per_endpoint)
    lines += acknowledgments_section(assembly)
    lines += ["", "## CloudFormation limits used", "", "| stack | limit | used | of |", "|---|---|---|---|"]
    for stack, limit, count, maximum in assembly.limits:
        lines.append(f"| {stack} | {limit} | {count} | {maximum} |")
    return lines


def endpoints_section(assembly: Assembly) -> list[str]:
    lines = [
        "## Endpoints",
        "",
        "| stage | endpoint | kind | variants (type x count, scaling) | cache | data capture | deployment |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in assembly.endpoints:
        variants = "; ".join(
            f"{v.name}: {v.instance_type} x {v.initial_count}"
            + (f" (scales {v.min_count}-{v.max_count})" if v.scaled else "")
            for v in e.variants
        )
        lines.append(
            f"| {e.stage} | {e.name} | {e.kind} | {variants} | {e.cache} | {e.capture} | {e.deployment_policy} |"
        )
    lines += ["", "### Images and model data", ""]
    for e in assembly.endpoints:
        lines.append(f"- **{e.stage} / {e.name}**: images {'; '.join(e.images)}; data {'; '.join(e.data)}")
    lines += ["", "### Scaling and alarms", ""]
    for e in assembly.endpoints:
        policies = [p for v in e.variants for p in v.policies.values()]
        policies += [f"{c.name}: {p}" for c in e.components for p in c.policies.values()]
        alarms = "; ".join(a.threshold for a in e.alarms.values())
        lines.append(
            f"- **{e.stage} / {e.name}**: scaling {'; '.join(policies) or 'none'}; "
            f"{len(e.alarms)} alarms{': ' + alarms if alarms else ''}"
        )
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


def access_section(assembly: Assembly) -> list[str]:
    lines = [
        "",
        "## Access",
        "",
        "Every statement that allows (or denies) invoking an endpoint, read from the synthesized IAM policies: "
        "inline, managed ones in the template, and AWS managed policies attached to roles (a reviewed few are read "
        f"from {len(AWS_MANAGED_POLICIES)} known documents; any other is shown as unreadable). Actions count "
        "InvokeEndpoint, InvokeEndpointAsync and InvokeEndpointWithResponseStream, also through wildcards and "
        "NotAction; resources count wildcards and NotResource. Scope is the condition that narrows a statement "
        "(TargetModel, TargetContainerHostname, component ARNs); 'unscoped' says what it leaves open. On an endpoint "
        "of inference components, a row per component a statement names; one naming the endpoint alone reaches every "
        "component. Permission boundaries and organization policies are not in templates and not shown.",
        "",
        "| stage | endpoint | principal | effect | actions | scope | unscoped | from |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in sorted(assembly.access):
        lines.append(
            f"| {a.stage} | {a.endpoint} | {a.principal} | {a.effect} | {a.actions} | {a.scope} "
            f"| {a.unscoped or '-'} | {a.source} |"
        )
    return lines


def cost_section(assembly: Assembly, table: dict[str, Any], models_per_endpoint: int) -> list[str]:
    hours = table["hours_per_month"]
    lines = [
        "",
        "## Cost",
        "",
        f"On-demand instance prices from `tools/prices.json` ({table['date']}; {table['source']}). A price marked "
        f"'{ESTIMATE}' was not read from AWS's Price List (`python -m tools.refresh_prices` reads it). "
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
    lines += ["", "Per stage, $/month at minimum-maximum scale:", "", "| stage | $/month |", "|---|---|"]
    for stage in assembly.stages:
        lines.append(f"| {stage} | {stage_total(assembly, stage, table, models_per_endpoint).text()} |")
    lines.append(f"| **all** | {total(assembly.endpoints, table, models_per_endpoint).text()} |")
    return lines


def stage_total(assembly: Assembly, stage: str, table: dict[str, Any], models_per_endpoint: int) -> Total:
    """The cost of ``stage``'s endpoints in ``assembly``."""
    return total((e for e in assembly.endpoints if e.stage == stage), table, models_per_endpoint)


@dataclass(frozen=True)
class AcknowledgmentGroup:
    """The acknowledgments of one rule (in every pack that has it) for one reason."""

    rule: str
    packs: tuple[str, ...]
    reason: str
    count: int
    """Acknowledged findings: one per pack, resource and finding."""
    resources: tuple[str, ...]
    """Construct paths without their stage, each with the stages it is in (``all stages`` when in each)."""


def _rule(rule: str) -> tuple[str, str]:
    """``HIPAA.Security-IAMNoInlinePolicy`` as (pack, rule); ``AwsSolutions-IAM5[Resource::*]`` as
    (``AwsSolutions``, ``IAM5``): the finding in brackets is the group's detail, not its rule."""
    pack, _, name = rule.partition("-")
    if not name:
        pack, name = "", pack
    return pack, name.split("[", 1)[0]


def acknowledgment_groups(assembly: Assembly) -> list[AcknowledgmentGroup]:
    """Acknowledgments grouped by rule and reason, largest groups first."""
    groups: dict[tuple[str, str], list[Acknowledgment]] = {}
    for ack in assembly.acknowledgments:
        groups.setdefault((_rule(ack.rule)[1], ack.reason), []).append(ack)
    found = []
    for (rule, reason), members in groups.items():
        stages_of: dict[str, list[str]] = {}
        for ack in members:
            path = ack.path.removeprefix(f"{ack.stage}/").removesuffix("/Resource")
            if ack.stage not in stages_of.setdefault(path, []):
                stages_of[path].append(ack.stage)
        resources = tuple(
            f"{path} ({'all stages' if len(stages) == len(assembly.stages) else ', '.join(stages)})"
            for path, stages in stages_of.items()
        )
        packs = tuple(sorted({_rule(a.rule)[0] for a in members if _rule(a.rule)[0]}))
        found.append(AcknowledgmentGroup(rule, packs, reason, len(members), resources))
    return sorted(found, key=lambda g: (-g.count, g.rule, g.reason))


def acknowledgments_section(assembly: Assembly) -> list[str]:
    groups = acknowledgment_groups(assembly)
    lines = [
        "",
        "## Compliance acknowledgments",
        "",
        f"{len(assembly.acknowledgments)} acknowledged findings in {len(groups)} groups: one line per rule and "
        "reason, with the packs that have the rule, the number of findings and the resources.",
        "",
        "| rule | packs | findings | reason | resources |",
        "|---|---|---|---|---|",
    ]
    for g in groups:
        lines.append(f"| {g.rule} | {_listing(g.packs)} | {g.count} | {g.reason} | {'; '.join(g.resources)} |")
    return lines


def terminal(assembly: Assembly, table: dict[str, Any], models_per_endpoint: int) -> list[str]:
    """The short summary printed after synth: per stage, its endpoints and monthly cost."""
    rows = [("stage", "endpoints", "$/month min-max")]
    for stage in assembly.stages:
        count = sum(1 for e in assembly.endpoints if e.stage == stage)
        rows.append((stage, str(count), stage_total(assembly, stage, table, models_per_endpoint).text()))
    rows.append(("all", str(len(assembly.endpoints)), total(assembly.endpoints, table, models_per_endpoint).text()))
    return aligned(rows, right=(1,))


def summary(d: Diff, allowed: Iterable[str], base: str) -> list[str]:
    """What the terminal says of the changes: counts by how they deploy, and every stateful replacement."""
    if d.empty:
        return [f"changes from {base}: none"]
    kinds: dict[str, int] = {}
    for c in d.endpoints:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none to endpoints"
    added = sum(1 for verb, _ in d.access if verb == "added")
    lines = [
        f"changes from {base}: {counts}; access rows {added} added, {len(d.access) - added} removed"
        + (f"; cost {_cost_delta(d)}" if d.costs else "")
    ]
    allowed = list(allowed)
    for replaced in d.stateful:
        verdict = "allowed" if replaced.allowed_by(allowed) else f"NOT ALLOWED (ALLOW_REPLACE={replaced.key})"
        lines.append(
            f"!!! {replaced.key} ({replaced.type}): {replaced.what}; old one {replaced.old_resource}: {verdict}"
        )
    return lines


def _cost_delta(d: Diff) -> str:
    low = sum(new.low - old.low for _, endpoint, old, new in d.costs if endpoint == "all endpoints")
    high = sum(new.high - old.high for _, endpoint, old, new in d.costs if endpoint == "all endpoints")
    return f"{low:+,.0f} / {high:+,.0f} $/month (min / max)"


def _allowed(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Review a synthesized cloud assembly.")
    parser.add_argument("outdir", type=Path, nargs="?", default=Path("cdk.out"))
    parser.add_argument("--base", type=Path, help="an earlier cdk.out to compare with")
    parser.add_argument(
        "--allow-replace",
        action="append",
        metavar="ID[,STACK/ID...]",
        help="stateful resources whose replacement or removal is intended (logical id, or stack/logical id)",
    )
    parser.add_argument("--models-per-endpoint", type=int, default=10, help="models assumed per multi-model endpoint")
    parser.add_argument("--prices", type=Path, default=PRICES)
    arguments = parser.parse_args(argv)
    for outdir in filter(None, (arguments.outdir, arguments.base)):
        if not (outdir / "manifest.json").is_file():
            print(f"error: {outdir} holds no cloud assembly (run make synth)", file=sys.stderr)
            return EXIT_USAGE
    table = json.loads(arguments.prices.read_text())
    allowed = _allowed(arguments.allow_replace)
    current = read_assembly(arguments.outdir)
    differences = None
    if arguments.base:
        differences = diff(read_assembly(arguments.base), current, table, arguments.models_per_endpoint)
    base = str(arguments.base or "")
    lines = report(current, table, arguments.models_per_endpoint, differences, base, allowed)
    (arguments.outdir / "REVIEW.md").write_text("\n".join(lines) + "\n")
    print("\n".join(terminal(current, table, arguments.models_per_endpoint)))
    if differences is not None:
        print("\n".join(summary(differences, allowed, base)))
        unused = [a for a in allowed if not any(c.allowed_by([a]) for c in differences.stateful)]
        if unused:
            print(f"note: --allow-replace {','.join(unused)}: no such resource is replaced or removed")
    print(f"review written to {arguments.outdir / 'REVIEW.md'}")
    if differences is not None and any(not c.allowed_by(allowed) for c in differences.stateful):
        print(
            "error: a stateful resource would be replaced or removed (see above); allow it explicitly with "
            "ALLOW_REPLACE=... (make) or --allow-replace",
            file=sys.stderr,
        )
        return EXIT_STATEFUL
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
