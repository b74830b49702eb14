"""Benchmark modelctl's archives against the usual tools, on the same model-like data, in the same run.

The data (``--mib``, default ``BENCH_ARCHIVE_MIB`` or 1024 MiB) is what a model folder holds: weight shards of
float32 values drawn from normal distributions (most of the bytes: their low mantissa bits are noise, their
exponents repeat), an embedding table with zeroed padding rows, a tokenizer (JSON), a config and code.

1. package: ``modelctl package DIR -o ours.tar.gz`` against ``tar czf theirs.tar.gz -C DIR .`` (GNU tar piping
   through ``gzip -6``); ``modelctl package`` includes its own check of the archive it wrote.
2. validate: ``modelctl validate ours.tar.gz`` (every rule, to the gzip CRC) against Python's zlib inflating the
   same archive (every gzip member, output discarded: the least any check of it must do).
3. size: ours against ``tar czf``'s (``gzip -6``).

Each command runs as its own process, timed with its peak memory (the data is made by another process: a child's
peak counts its parent's memory at the fork); the fastest of ``--runs`` counts, runs alternating. Prints
speed-ups (theirs / ours: above 1 is faster) and the targets: package >= 3x, validate >= 1.5x, size within 5%.
Usage: python -m bench.archive_bench [--mib N] [--runs N]
"""

from __future__ import annotations

import argparse
import array
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_MIB = 1024 * 1024
#: float32 values per generated block (4 MiB); blocks repeat only at distances deflate cannot see (32 KiB).
_BLOCK_VALUES = _MIB
#: The targets of issue 13 ("Faster archives").
PACKAGE_TARGET, VALIDATE_TARGET, SIZE_TARGET = 3.0, 1.5, 1.05

#: What the baseline runs: zlib (Python's own) inflating every gzip member of the archive, output discarded.
_INFLATE = """
import sys, zlib
inflater = zlib.decompressobj(31)
with open(sys.argv[1], "rb") as archive:
    while chunk := archive.read(1 << 20):
        while chunk:
            inflater.decompress(chunk)
            chunk = b""
            if inflater.eof:
                chunk, inflater = inflater.unused_data, zlib.decompressobj(31)
"""


def _weights(count: int, seed: int = 13) -> list[bytes]:
    """``count`` blocks of float32 weights, each from a normal distribution of its own spread (as layers differ)."""
    rng = random.Random(seed)
    return [
        array.array("f", (rng.gauss(0.0, 0.02 * (1 + i % 4)) for _ in range(_BLOCK_VALUES))).tobytes()
        for i in range(count)
    ]


def make_model(root: Path, mib: int) -> Path:
    """A model folder of about ``mib`` MiB: 94% weight shards, 4% embeddings, a tokenizer, a config, code."""
    source = root / "model"
    (source / "code").mkdir(parents=True)
    blocks = _weights(6)
    block_mib = len(blocks[0]) // _MIB
    shards = 4
    for shard in range(shards):
        with (source / f"model-{shard + 1:05d}-of-{shards:05d}.bin").open("wb") as handle:
            for index in range(max(1, mib * 94 // 100 // shards // block_mib)):
                handle.write(blocks[(shard + index) % len(blocks)])
    with (source / "embeddings.bin").open("wb") as handle:
        zero_row = bytes(_MIB)
        for index in range(max(1, mib * 4 // 100)):
            # Every third MiB of rows is padding, zeroed.
            handle.write(zero_row if index % 3 == 0 else blocks[index % len(blocks)][:_MIB])
    vocabulary = {f"token{i}_{(i * 7919) % 10007}": i for i in range(mib * 200)}
    (source / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocabulary}}))
    (source / "config.json").write_text(json.dumps({"hidden_size": 4096, "num_hidden_layers": 32}))
    (source / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return model_dir\n")
    return source


def _timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB) of ``command``, measured for that child alone."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    # wait4 returns the resource usage of this one child (RUSAGE_CHILDREN would keep the largest so far).
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise subprocess.CalledProcessError(code, command)
    return elapsed, usage.ru_maxrss


def _best(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, int]]:
    """Each command's fastest run and largest peak memory; runs alternate between the commands."""
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            results[name].append(_timed(command))
    return {name: (min(r[0] for r in runs_), max(r[1] for r in runs_)) for name, runs_ in results.items()}


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=int(os.environ.get("BENCH_ARCHIVE_MIB", "1024")))
    parser.add_argument("--runs", type=int, default=3, help="runs of each command; the fastest counts")
    parser.add_argument("--make-model", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.make_model:
        make_model(arguments.make_model, arguments.mib)
        return 0
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as scratch:
        root = Path(scratch)
        subprocess.run(
            [python, "-m", "bench.archive_bench", "--mib", str(arguments.mib), "--make-model", str(root)], check=True
        )
        source = root / "model"
        data_mib = sum(p.stat().st_size for p in source.rglob("*") if p.is_file()) / _MIB
        ours, theirs = root / "ours.tar.gz", root / "theirs.tar.gz"
        packaging = _best(
            {
                "package": [python, "-m", "modelctl", "package", str(source), "-o", str(ours), "--quiet"],
                "tar czf": ["tar", "czf", str(theirs), "-C", str(source), "."],
            },
            arguments.runs,
        )
        checking = _best(
            {
                "validate": [python, "-m", "modelctl", "validate", str(ours), "--quiet"],
                "zlib inflate": [python, "-c", _INFLATE, str(ours)],
            },
            arguments.runs,
        )
        ours_mib, theirs_mib = ours.stat().st_size / _MIB, theirs.stat().st_size / _MIB

    def row(name: str, result: tuple[float, int], mib: float) -> str:
        seconds, kib = result
        return f"  {name:<34}{seconds:8.2f} s {mib / seconds:8.1f} MiB/s   peak {kib / 1024:7.1f} MiB"

    package_speedup = packaging["tar czf"][0] / packaging["package"][0]
    validate_speedup = checking["zlib inflate"][0] / checking["validate"][0]
    size_ratio = ours_mib / theirs_mib
    print(
        f"data: {data_mib:.0f} MiB (float32 weights, embeddings, tokenizer), {os.cpu_count()} cores, "
        f"fastest of {arguments.runs} run(s)"
    )
    print("package (MiB/s of data):")
    print(row("modelctl package", packaging["package"], data_mib))
    print(row("tar czf (gzip -6)", packaging["tar czf"], data_mib))
    print("validate (MiB/s of archive):")
    print(row("modelctl validate", checking["validate"], ours_mib))
    print(row("Python zlib inflate, same archive", checking["zlib inflate"], ours_mib))
    print(f"archive: ours {ours_mib:.1f} MiB, tar czf's {theirs_mib:.1f} MiB")
    print(
        f"package speed-up vs tar czf:        {package_speedup:5.2f}x (target >= {PACKAGE_TARGET:g}x: "
        f"{_verdict(package_speedup >= PACKAGE_TARGET)})"
    )
    print(
        f"validate speed-up vs zlib inflate:  {validate_speedup:5.2f}x (target >= {VALIDATE_TARGET:g}x: "
        f"{_verdict(validate_speedup >= VALIDATE_TARGET)})"
    )
    print(
        f"size vs gzip -6:                    {size_ratio:5.3f}  (target <= {SIZE_TARGET:g}: "
        f"{_verdict(size_ratio <= SIZE_TARGET)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
