"""Benchmark the archive tools against the system's own, on the same data, in the same run.

1. ``modelctl validate``'s checker against ``gzip -dc > /dev/null`` on one archive (default: 2 GiB of data,
   half of it compressible: an archive of about 1 GiB), with each one's peak memory;
2. ``modelctl package`` against ``tar czf`` on the same directory.

Prints the ratios (ours / theirs: below 1 is faster). Usage: python -m bench.archive_bench [--mib N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHUNK = 1024 * 1024


def _make_directory(root: Path, mib: int) -> Path:
    """A model-like directory: a few large weight files (about half compressible) and some small ones."""
    source = root / "model"
    (source / "code").mkdir(parents=True)
    files = 4
    pattern = (bytes(range(256)) * 16)[:4096] * (_CHUNK // 2 // 4096)
    for index in range(files):
        with (source / f"weights-{index}.bin").open("wb") as handle:
            for _ in range(mib // files):
                # Half noise, half repetition: gzip has real work to do both ways (not just stored blocks).
                handle.write(os.urandom(_CHUNK // 2) + pattern)
    for index in range(20):
        (source / "code" / f"module_{index}.py").write_text(f"VALUE = {index}\n" * 200)
    (source / "config.json").write_text('{"name": "bench"}')
    return source


def _timed(command: list[str], stdout: int | None = None) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB) of ``command``, measured for that child alone."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=stdout)
    # wait4 returns the resource usage of this one child (RUSAGE_CHILDREN would keep the largest so far).
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, command)
    return elapsed, usage.ru_maxrss


def _best(command: list[str], runs: int, stdout: int | None = None) -> tuple[float, int]:
    results = [_timed(command, stdout) for _ in range(runs)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=int(os.environ.get("BENCH_ARCHIVE_MIB", "2048")))
    parser.add_argument("--runs", type=int, default=2, help="runs of each command; the fastest counts")
    arguments = parser.parse_args(argv)
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="archive-bench-") as scratch:
        root = Path(scratch)
        source = _make_directory(root, arguments.mib)
        ours_archive, tar_archive = root / "ours.tar.gz", root / "tar.tar.gz"

        package = [python, "-m", "modelctl", "package", str(source), "-o", str(ours_archive)]
        tar = ["tar", "czf", str(tar_archive), "-C", str(source), "."]
        package_seconds, _ = _best(package, 1, subprocess.DEVNULL)
        tar_seconds, _ = _best(tar, 1)

        validate = [
            python,
            "-c",
            "import sys; from hosting_contract.archive_rules import check_archive;"
            f"r = check_archive(open({str(ours_archive)!r}, 'rb')); sys.exit(0 if r.valid else 1)",
        ]
        gunzip = ["gzip", "-dc", str(ours_archive)]
        gzip_seconds, gzip_kib = _best(gunzip, arguments.runs, subprocess.DEVNULL)
        validate_seconds, validate_kib = _best(validate, arguments.runs)
        size_mib = ours_archive.stat().st_size / _CHUNK

    def row(name: str, seconds: float, kib: int) -> str:
        return f"{name:<24}{seconds:7.2f} s {size_mib / seconds:8.1f} MiB/s   peak {kib / 1024:6.1f} MiB"

    print(f"archive: {size_mib:.0f} MiB compressed ({arguments.mib} MiB of data), {os.cpu_count()} cores")
    print(row("validate (modelctl)", validate_seconds, validate_kib))
    print(row("gzip -dc > /dev/null", gzip_seconds, gzip_kib))
    print(f"ratio validate / gzip -dc: {validate_seconds / gzip_seconds:.2f}")
    print(f"package (modelctl)      {package_seconds:7.2f} s")
    print(f"tar czf                 {tar_seconds:7.2f} s")
    print(f"ratio package / tar czf: {package_seconds / tar_seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
