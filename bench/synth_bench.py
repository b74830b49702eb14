"""Synthesis and test-suite benchmarks, as ratios against baselines measured in the same run.

1. ``cdk synth`` of every stage, against the same stages holding empty stacks (same flags, rule packs, CLI);
2. synthesis of one stage with 10, 50, 100 and 200 multi-model endpoints over 16 Hosting stacks, against the
   same stage with 1, and the cost of each extra endpoint (targets: full / empty at most 1.3, at most 30 ms per
   extra endpoint at 100 and at 200);
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
from dataclasses import replace
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


def _synth(app_command: str | None, runs: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        command = [str(CDK), "synth", "--quiet", "--no-notices", "--output", out]
        if app_command:
            command += ["--app", app_command]
        return _seconds(command, runs)


def _stage_with(endpoints: int) -> float:
    """Seconds to build and synthesize one stage with ``endpoints`` multi-model endpoints, in this process."""
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
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    # The rule packs' verdict is reported, not raised: only the time of the same work counts.
    context["@aws-cdk/core:failSynthOnValidationErrors"] = False
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        cdk_app = cdk.App(context=context, outdir=out)
        app_module.build(cdk_app, (config,))
        cdk_app.synth()
        return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of each CLI synth; the median counts")
    arguments = parser.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    python = sys.executable

    empty = _synth(f"{python} -m bench.empty_app", arguments.runs)
    full = _synth(None, arguments.runs)
    print(f"1. cdk synth, every stage: {full:.2f} s; same stages with empty stacks: {empty:.2f} s")
    print(f"   ratio full / empty: {full / empty:.2f} (target: at most 1.3)")

    _stage_with(1)  # warm the jsii runtime and the validators
    one = _stage_with(1)
    print(f"2. one stage with 1 endpoint: {one:.2f} s")
    for count in (10, 50, 100, 200):
        seconds = _stage_with(count)
        per = (seconds - one) / (count - 1)
        ratio = seconds / one
        print(
            f"   {count:3d} endpoints: {seconds:6.2f} s  ratio to 1: {ratio:5.2f}  each extra: {per * 1000:4.0f} ms"
            + ("  (target: at most 30 ms)" if count >= 100 else "")
        )

    start = time.perf_counter()
    # As make test runs it, without coverage: two workers.
    command = [python, "-m", "pytest", "-q", "--numprocesses", "2"]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    suite = time.perf_counter() - start
    print(f"3. test suite: {suite:.1f} s wall; ratio to an empty-app synth: {suite / empty:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
