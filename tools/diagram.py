"""Architecture diagram of one stage, drawn from the synthesized cloud assembly (Graphviz DOT).

Everything drawn is read from the stage's templates: its stacks; their stateful resources, labelled with what their
properties say (encryption, versioning, rotation, scanning, retention) and whether deleting the stack keeps them
(``DeletionPolicy``: dev's are destroyed with it, staging's and prod's retained); the functions, topics, queues and
EventBridge rules; each endpoint with its variants and deployment policy, and inside it its containers or its
inference components; which bucket serves each model's data; and who may invoke what (denials in red).

Usage: python -m tools.diagram cdk.out [--stage Prod] [-o cdk.out/architecture-Prod.dot]
Render: dot -Tpng cdk.out/architecture-Prod.dot -o cdk.out/architecture-Prod.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from tools.review import STATEFUL_TYPES, Assembly, Endpoint, Resource, read_assembly, render


def _id(text: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in text)


def _cluster(text: str) -> str:
    """A subgraph id Graphviz draws as a box: its name must start with ``cluster``."""
    return "cluster_" + _id(text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(principal: str) -> str:
    """A principal's construct path without its stage, stack and the generic Resource/Role segments."""
    parts = [p for p in principal.split("/")[2:] if p not in ("Resource", "Role")]
    return "/".join(parts) or principal


def _name(resource: Resource) -> str:
    """A resource's construct path without its stage and stack, nor the generic Resource segments."""
    parts = [p for p in resource.path.split("/")[2:] if p != "Resource"]
    return "/".join(parts) or resource.logical_id


def _image(image: str) -> str:
    """An image URI without its registry: ``pytorch-inference:2.6.0-cpu-py312``."""
    return image.rsplit("/", 1)[-1]


def _kept(resource: Resource) -> str:
    return "RETAINED when the stack goes" if resource.retained else "destroyed with the stack"


def _describe(resource: Resource) -> list[str]:
    """What a stateful resource's properties say, a phrase each."""
    p = resource.properties
    if resource.type == "AWS::S3::Bucket":
        rules = p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])
        algorithm = rules[0].get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "")
        details = ["SSE-KMS" if algorithm.startswith("aws:kms") else "SSE-S3" if algorithm else "default encryption"]
        if p.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            details.append("versioned")
        if "LoggingConfiguration" in p:
            details.append("access-logged")
        return [render(p.get("BucketName", _name(resource))), ", ".join(details)]
    if resource.type == "AWS::KMS::Key":
        return [f"KMS key {_name(resource)}", "rotation" if p.get("EnableKeyRotation") else "no rotation"]
    if resource.type == "AWS::ECR::Repository":
        details = ["scan on push" if p.get("ImageScanningConfiguration", {}).get("ScanOnPush") else "no scan"]
        details.append(str(p.get("ImageTagMutability", "MUTABLE")).lower() + " tags")
        return [f"ECR {render(p.get('RepositoryName', _name(resource)))}", ", ".join(details)]
    if resource.type == "AWS::SQS::Queue":
        return [f"SQS {_name(resource)}", f"kept {int(p.get('MessageRetentionPeriod', 345600)) // 86400} d"]
    return [f"{resource.type.split('::')[-1]} {_name(resource)}"]


def _stateful_nodes(resources: list[Resource]) -> list[str]:
    """A node per stateful resource; log groups, often one per endpoint, as one node per retention and fate."""
    lines = []
    groups: dict[tuple[str, str], list[Resource]] = {}
    for r in resources:
        if r.type == "AWS::Logs::LogGroup":
            days = str(r.properties.get("RetentionInDays", "never expire"))
            groups.setdefault((days, _kept(r)), []).append(r)
            continue
        label = "\n".join([*_describe(r), _kept(r)])
        shape = "cylinder" if r.type in ("AWS::S3::Bucket", "AWS::DynamoDB::Table") else "box"
        lines.append(f"    {_id(r.stack + r.logical_id)} [label={_quote(label)}, shape={shape}];")
    for (days, kept), members in groups.items():
        retention = f"{days} d" if days.isdigit() else days
        label = f"{len(members)} log group{'s' if len(members) > 1 else ''}\nretention {retention}\n{kept}"
        lines.append(f"    {_id(members[0].stack + 'logs' + days + kept)} [label={_quote(label)}, shape=folder];")
    return lines


#: Other resources drawn, by type: how to label them.
_OTHERS = {
    "AWS::Lambda::Function": "Lambda",
    "AWS::SNS::Topic": "SNS topic",
    "AWS::CloudWatch::Dashboard": "dashboard",
    "AWS::Events::Rule": "EventBridge rule",
}


def _other_nodes(resources: list[Resource]) -> list[str]:
    lines = []
    for r in resources:
        kind = _OTHERS.get(r.type)
        if kind is None:
            continue
        label = f"{kind}\n{_name(r)}"
        if r.type == "AWS::Lambda::Function":
            label += f"\n{render(r.properties.get('Runtime', 'container image'))}"
        if r.type == "AWS::SNS::Topic" and "KmsMasterKeyId" in r.properties:
            label += "\nKMS-encrypted"
        if r.type == "AWS::Events::Rule":
            pattern = r.properties.get("EventPattern", {})
            label += f"\n{', '.join(render(t) for t in pattern.get('detail-type', []))}"
        shape = "note" if r.type == "AWS::CloudWatch::Dashboard" else "component"
        lines.append(f"    {_id(r.stack + r.logical_id)} [label={_quote(label)}, shape={shape}];")
    return lines


def _anchor(endpoint: Endpoint) -> str:
    """The node edges to an endpoint point at (its first container or component: Graphviz draws edges between
    nodes, clipped at the cluster by ``lhead``)."""
    return _id(f"{endpoint.stack}/{endpoint.name}/0")


def _endpoint_cluster(endpoint: Endpoint) -> list[str]:
    variants = ", ".join(f"{v.instance_type} x {v.min_count}-{v.max_count}" for v in endpoint.variants)
    details = [endpoint.name, endpoint.kind, variants, endpoint.deployment_policy]
    if endpoint.cache not in ("-", ""):
        details.append(f"model cache {endpoint.cache}")
    if endpoint.capture != "off":
        details.append(f"data capture {endpoint.capture.split(' to ')[0]}")
    details.append(f"{len(endpoint.alarms)} alarms")
    lines = [
        f"    subgraph {_cluster(endpoint.stack + endpoint.name)} {{",
        f"      label={_quote(chr(10).join(details))}; style=rounded; color=gray40;",
    ]
    for index, container in enumerate(endpoint.containers):
        label = f"{container.label}\n{_image(container.image)}"
        lines.append(f"      {_id(f'{endpoint.stack}/{endpoint.name}/{index}')} [label={_quote(label)}, shape=box3d];")
    for index, component in enumerate(endpoint.components):
        scaling = f", scales {component.min_copies}-{component.max_copies}" if component.scaled else ""
        label = f"{component.name}\n{_image(component.image)}\n{component.copies} copies{scaling}"
        lines.append(f"      {_id(f'{endpoint.stack}/{endpoint.name}/{index}')} [label={_quote(label)}, shape=box3d];")
    if not endpoint.containers and not endpoint.components:
        lines.append(f"      {_anchor(endpoint)} [label={_quote(endpoint.name)}, shape=box3d];")
    lines.append("    }")
    return lines


def _data_edges(endpoints: list[Endpoint], resources: list[Resource]) -> list[str]:
    """bucket -> container or component, where its model data is in that bucket."""
    buckets = {
        render(r.properties["BucketName"]): r
        for r in resources
        if r.type == "AWS::S3::Bucket" and "BucketName" in r.properties
    }
    lines = []
    for e in endpoints:
        sources = [c.data for c in e.containers] + [c.data for c in e.components]
        for index, data in enumerate(sources):
            bucket = buckets.get(data.removeprefix("s3://").split("/", 1)[0]) if data.startswith("s3://") else None
            if bucket is not None:
                target = _id(f"{e.stack}/{e.name}/{index}")
                lines.append(
                    f'  {_id(bucket.stack + bucket.logical_id)} -> {target} [label="model data", style=dashed];'
                )
    return lines


def _rule_edges(resources: list[Resource]) -> list[str]:
    """EventBridge rule -> its targets defined in the stage."""
    ids = {r.logical_id: r for r in resources}
    lines = []
    for r in resources:
        if r.type != "AWS::Events::Rule":
            continue
        for target in r.properties.get("Targets", []):
            arn = target.get("Arn", {})
            logical_id = arn.get("Fn::GetAtt", [""])[0] if isinstance(arn, dict) else ""
            if logical_id in ids:
                lines.append(f"  {_id(r.stack + r.logical_id)} -> {_id(r.stack + logical_id)} [style=dotted];")
    return lines


def _access_edges(assembly: Assembly, stage: str, endpoints: list[Endpoint]) -> list[str]:
    by_name = {e.name: e for e in endpoints}
    access = [a for a in assembly.access if a.stage == stage and a.endpoint in by_name]
    lines = [
        f"  {_id(principal)} [label={_quote(_short(principal))}, shape=ellipse];"
        for principal in sorted({a.principal for a in access})
    ]
    for a in access:
        endpoint = by_name[a.endpoint]
        names = [c.name for c in endpoint.components]
        component = a.scope.removeprefix("component ")
        if component in names:
            target, cluster = _id(f"{endpoint.stack}/{endpoint.name}/{names.index(component)}"), ""
        else:
            target = _anchor(endpoint)
            cluster = f", lhead={_cluster(endpoint.stack + endpoint.name)}"
        style = ", color=red, fontcolor=red" if a.effect == "Deny" else ""
        lines.append(f"  {_id(a.principal)} -> {target} [label={_quote(f'{a.effect}: {a.scope}')}{style}{cluster}];")
    return lines


def _stack_label(stack: str, resources: Iterable[Resource]) -> str:
    kept = {r.retained for r in resources if r.type in STATEFUL_TYPES}
    if not kept:
        return f"{stack} (no stateful resources)"
    if kept == {True}:
        return f"{stack}: stateful resources RETAINED when the stack is deleted"
    if kept == {False}:
        return f"{stack}: stateful resources destroyed with the stack"
    return f"{stack}: some stateful resources retained, others destroyed with the stack"


def dot(assembly: Assembly, stage: str) -> str:
    """The DOT source for ``stage``: its stacks and what they hold, endpoints with their containers or components,
    where model data comes from, and who may invoke what."""
    endpoints = [e for e in assembly.endpoints if e.stage == stage]
    if not endpoints:
        raise ValueError(f"no endpoint in stage {stage!r}")
    resources = [r for r in assembly.resources if r.stage == stage]
    regions = ", ".join(sorted({e.region for e in endpoints}))
    lines = [
        "digraph architecture {",
        "  rankdir=LR; compound=true; fontname=Helvetica;",
        "  node [fontname=Helvetica, fontsize=10, shape=box, style=rounded]; edge [fontname=Helvetica, fontsize=9];",
        f"  label={_quote(f'Stage {stage} ({regions}), drawn from the synthesized templates')};",
    ]
    stacks = list(dict.fromkeys(r.stack for r in resources))
    for stack in stacks:
        members = [r for r in resources if r.stack == stack]
        lines += [
            f"  subgraph {_cluster(stack)} {{",
            f"    label={_quote(_stack_label(stack, members))}; style=dashed;",
            *_stateful_nodes([r for r in members if r.type in STATEFUL_TYPES]),
            *_other_nodes(members),
        ]
        for endpoint in endpoints:
            if endpoint.stack == stack:
                lines += _endpoint_cluster(endpoint)
        lines.append("  }")
    lines += _data_edges(endpoints, resources)
    lines += _rule_edges(resources)
    lines += _access_edges(assembly, stage, endpoints)
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Draw one stage from a synthesized cloud assembly.")
    parser.add_argument("outdir", type=Path, nargs="?", default=Path("cdk.out"))
    parser.add_argument("--stage", default="Prod")
    parser.add_argument("-o", "--output", type=Path, help="the .dot file (default: <outdir>/architecture-<stage>.dot)")
    arguments = parser.parse_args(argv)
    output = arguments.output or arguments.outdir / f"architecture-{arguments.stage}.dot"
    try:
        source = dot(read_assembly(arguments.outdir), arguments.stage)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(source)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
