"""Synthesis and test-suite benchmarks, as ratios against baselines measured in the same run.

1. ``cdk synth`` of every stage, against the same stages holding empty stacks (same flags, rule packs, CLI);
2. synthesis of one stage with 10, 50, 100 and 200 multi-model endpoints over 16 Hosting stacks, against the
   same stage with 1, and the cost of each extra endpoint (targets: full / empty at most 1.3, at most 30 ms per
   extra endpoint at 100 and at 200), split into building and synthesizing, beside the floor: what creating that
   many CloudFormation resources from Python costs at least, plus the CDK's synthesis of them;
3. the whole test suite's wall time, against an empty-app synth.

Usage: python -m bench.synth_bench [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"


def _seconds(command: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of ``command`` over ``runs`` runs (output discarded)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _synth(app_command: str | None, runs: int) -> tuple[float, int]:
    """Median seconds of ``cdk synth`` (of ``app_command``, or cdk.json's app), and the resources it wrote."""
    with tempfile.TemporaryDirectory() as out:
        command = [str(CDK), "synth", "--quiet", "--no-notices", "--output", out]
        if app_command:
            command += ["--app", app_command]
        seconds = _seconds(command, runs)
        templates = Path(out).glob("assembly-*/*.template.json")
        return seconds, sum(len(json.loads(path.read_text()).get("Resources", {})) for path in templates)


def _reporting_context() -> dict[str, object]:
    """cdk.json's context, the rule packs' verdict reported instead of raised: only the time of the same work
    counts."""
    context: dict[str, object] = json.loads((ROOT / "cdk.json").read_text())["context"]
    context["@aws-cdk/core:failSynthOnValidationErrors"] = False
    return context


@dataclass(frozen=True)
class StageTimes:
    """One stage built and synthesized in this process."""

    build: float
    """Seconds to build its constructs: every construct, property and grant is a call into the CDK's Node process."""
    synth: float
    """Seconds of ``app.synth()``: the CDK's own synthesis in Node (tokens, the validators, the rule packs)."""
    resources: int
    """CloudFormation resources in its templates."""

    @property
    def total(self) -> float:
        return self.build + self.synth


def _stage_with(endpoints: int) -> StageTimes:
    """One stage with ``endpoints`` multi-model endpoints, built and synthesized in this process."""
    import aws_cdk as cdk

    import app as app_module
    from stacks.environments import ENVIRONMENTS

    dev = ENVIRONMENTS[0]
    template = dev.multi_model_endpoints[0]
    config = dev.replace(
        multi_model_endpoints=tuple(replace(template, name=f"city-{i}") for i in range(endpoints)),
        multi_container_endpoints=(),
        # As many stacks at every size, so that the difference between sizes is the endpoints' cost alone.
        hosting_stacks=16,
    )
    context = _reporting_context()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        cdk_app = cdk.App(context=context, outdir=out)
        app_module.build(cdk_app, (config,))
        built = time.perf_counter()
        assembly = cdk_app.synth()
        done = time.perf_counter()
        resources = sum(len(stack.template.get("Resources", {})) for stack in assembly.stacks_recursively)
        return StageTimes(built - start, done - built, resources)


def _resource_seconds(count: int = 400) -> tuple[float, float]:
    """Seconds to create, then to synthesize, one CloudFormation resource with a few properties from Python
    (``CfnResource``, in a stage with the same context and rule packs): the least any construct library spends per
    resource, whatever it builds around it."""
    import aws_cdk as cdk

    from stacks.compliance import add_compliance_checks

    context = _reporting_context()
    properties = {"Type": "String", "Value": "v", "Tier": "Standard", "Description": "the floor of a resource"}

    def stage_of(size: int) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as out:
            app = cdk.App(context=context, outdir=out)
            stage = cdk.Stage(app, "Floor")
            stack = cdk.Stack(stage, "Floor")
            add_compliance_checks(stage)
            start = time.perf_counter()
            for index in range(size):
                cdk.CfnResource(stack, f"R{index}", type="AWS::SSM::Parameter", properties=properties)
            built = time.perf_counter()
            app.synth()
            return built - start, time.perf_counter() - built

    stage_of(count)  # warms Node's compiler for these calls
    # Medians of five pairs: one round alone varies by half (Node collecting the previous round's garbage).
    pairs = [(stage_of(1), stage_of(count + 1)) for _ in range(5)]
    create = statistics.median((every[0] - one[0]) / count for one, every in pairs)
    synthesize = statistics.median((every[1] - one[1]) / count for one, every in pairs)
    return create, synthesize


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of each CLI synth; the median counts")
    arguments = parser.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    python = sys.executable

    empty, empty_resources = _synth(f"{python} -m bench.empty_app", arguments.runs)
    full, full_resources = _synth(None, arguments.runs)
    print(f"1. cdk synth, every stage: {full:.2f} s; same stages with empty stacks: {empty:.2f} s")
    print(f"   ratio full / empty: {full / empty:.2f} (target: at most 1.3)")

    _stage_with(1)  # warm the jsii runtime and the validators
    one = _stage_with(1)
    print(f"2. one stage with 1 endpoint: {one.total:.2f} s")
    largest = one
    counts = (10, 50, 100, 200)
    for count in counts:
        times = _stage_with(count)
        per = (times.total - one.total) / (count - 1)
        ratio = times.total / one.total
        print(
            f"   {count:3d} endpoints: {times.total:6.2f} s  ratio to 1: {ratio:5.2f}  each extra: {per * 1000:4.0f} ms"
            + ("  (target: at most 30 ms)" if count >= 100 else "")
        )
        largest = times
    extra = counts[-1] - 1
    build = (largest.build - one.build) / extra
    synth = (largest.synth - one.synth) / extra
    resources = (largest.resources - one.resources) / extra
    print(
        f"   each extra endpoint at {counts[-1]}: {build * 1000:.0f} ms building its constructs, "
        f"{synth * 1000:.0f} ms in the CDK's synthesis; {resources:.1f} CloudFormation resources"
    )
    create, synthesize = _resource_seconds()
    floor = create + synthesize
    print(
        f"   floor: {resources:.1f} resources x ({create * 1000:.2f} ms to create one from Python (CfnResource) + "
        f"{synthesize * 1000:.2f} ms to synthesize it) = {floor * resources * 1000:.0f} ms per endpoint"
    )
    added = full_resources - empty_resources
    print(
        f"   floor of 1.: the empty stages + {added} resources x {floor * 1000:.2f} ms = "
        f"{empty + added * floor:.2f} s, ratio {(empty + added * floor) / empty:.2f}"
    )

    start = time.perf_counter()
    # As make test runs it (two workers, bytecode written: see the Makefile), without coverage.
    command = [python, "-m", "pytest", "-q", "--numprocesses", "2"]
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env=environment)
    suite = time.perf_counter() - start
    print(f"3. test suite: {suite:.1f} s wall; ratio to an empty-app synth: {suite / empty:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
