"""Architecture diagram of one stage, drawn from the synthesized cloud assembly (Graphviz DOT).

Usage: python -m tools.diagram cdk.out --stage Prod -o docs/architecture.dot
Render: dot -Tpng docs/architecture.dot -o docs/architecture.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.review import Assembly, read_assembly


def _id(text: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in text)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _short(principal: str) -> str:
    """A principal's construct path without its stage, stack and the generic Resource/Role segments."""
    parts = [p for p in principal.split("/")[2:] if p not in ("Resource", "Role")]
    return "/".join(parts) or principal


def dot(assembly: Assembly, stage: str) -> str:
    """The DOT source for ``stage``: stores, endpoints, who invokes them, the guard and the alarms."""
    endpoints = [e for e in assembly.endpoints if e.stage == stage]
    if not endpoints:
        raise ValueError(f"no endpoint in stage {stage!r}")
    access = [a for a in assembly.access if a.stage == stage]
    lines = [
        "digraph architecture {",
        "  rankdir=LR; fontname=Helvetica; node [fontname=Helvetica, fontsize=10, shape=box, style=rounded];",
        "  edge [fontname=Helvetica, fontsize=9];",
        f"  label={_quote(f'SageMaker multi-model and multi-container hosting: stage {stage} (from cdk.out)')};",
        '  subgraph cluster_store { label="ModelStore (stateful, retained)"; style=dashed;',
        '    bucket [label="S3 model-artifact bucket\\nSSE-KMS, versioned, access-logged\\nmodels/<endpoint>/..."];',
        '    key [label="KMS key\\n(rotation)"]; ecr [label="ECR serving images\\n(scan on push, immutable)"];',
        "    key -> bucket [style=dotted, label=encrypts]; }",
        '  subgraph cluster_hosting { label="Hosting (stateless)"; style=dashed;',
        '    guard [label="Artifact guard (Lambda)\\ntags valid / rejected\\nquarantines rejects"];',
        '    topic [label="SNS alarm topic (KMS)"]; dashboard [label="CloudWatch dashboard"];',
    ]
    for endpoint in endpoints:
        variants = ", ".join(f"{v.instance_type} x {v.min_count}-{v.max_count}" for v in endpoint.variants)
        detail = (endpoint.cache and endpoint.cache != "-" and f"cache {endpoint.cache}") or endpoint.deployment
        label = f"{endpoint.name}\\n{endpoint.kind}\\n{variants}\\n{detail}"
        lines.append(f"    {_id(endpoint.name)} [label={_quote(label)}, shape=box3d];")
    lines.append("  }")
    lines += [
        '  uploads [label="ML engineers\\n(modelctl upload)", shape=ellipse];',
        '  uploads -> bucket [label="PutObject"];',
        '  bucket -> guard [label="EventBridge: Object Created"];',
        "  guard -> topic [label=rejections];",
    ]
    for endpoint in endpoints:
        lines.append(f'  bucket -> {_id(endpoint.name)} [label="GetObject (tag valid only)", style=dashed];')
        lines.append(f"  {_id(endpoint.name)} -> topic [label=alarms, style=dotted];")
        lines.append(f"  {_id(endpoint.name)} -> dashboard [style=dotted, arrowhead=none];")
    principals = sorted({a.principal for a in access})
    for principal in principals:
        lines.append(f"  {_id(principal)} [label={_quote(_short(principal))}, shape=ellipse];")
    for a in access:
        style = "color=red, fontcolor=red" if a.effect == "Deny" else ""
        label = f"{a.effect}: {a.scope}"
        lines.append(
            f"  {_id(a.principal)} -> {_id(a.endpoint)} [label={_quote(label)}{', ' + style if style else ''}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Draw one stage from a synthesized cloud assembly.")
    parser.add_argument("outdir", type=Path, nargs="?", default=Path("cdk.out"))
    parser.add_argument("--stage", default="Prod")
    parser.add_argument("-o", "--output", type=Path, required=True)
    arguments = parser.parse_args(argv)
    try:
        arguments.output.write_text(dot(read_assembly(arguments.outdir), arguments.stage))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
