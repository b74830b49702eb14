"""The rules every model archive must pass: one implementation for ``modelctl validate`` and the artifact guard.

Standard library only (the Lambda bundles this file). An archive is read as a stream: gzip (whose CRC and
length are checked at the end), then tar in stream mode, so memory stays constant whatever the archive's size
and nothing is written to disk.
"""

from __future__ import annotations

import gzip
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, Any, cast

ARCHIVE_SUFFIX = ".tar.gz"
WARMUP_SUFFIX = ".warmup.json"
#: TargetModel: 1-1024 printable characters, no leading whitespace (botocore: ``\A\S[\p{Print}]*\z``).
MAX_TARGET_MODEL = 1024
_CHUNK = 1024 * 1024
_VERSION = re.compile(r"^\d+$")


class Layout(Enum):
    """What the files inside an archive must look like, per serving container."""

    FLAT = "flat"
    """Files at the archive root (SageMaker extracts into the model directory), no wrapping top folder."""

    MMS = "mms"
    """Multi Model Server: ``MAR-INF/MANIFEST.json`` at the root."""

    TRITON = "triton"
    """NVIDIA Triton: ``<model>/config.pbtxt`` and numeric version folders ``<model>/<n>/``."""


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile or broken archive from exhausting the checker or the serving instance."""

    max_uncompressed_bytes: int = 50 * 1024**3
    """Total size of the files once extracted."""

    max_entries: int = 100_000
    """Files, folders and links."""

    max_compression_ratio: float = 200.0
    """Uncompressed / compressed bytes: far above any real model (decompression bombs)."""

    ratio_grace_bytes: int = 64 * 1024**2
    """The ratio is judged only past this many uncompressed bytes (small archives of text compress well)."""


@dataclass(frozen=True)
class Problem:
    """One broken rule: a short rule id and a sentence for the person who made the archive."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass
class Report:
    """What a check found."""

    problems: list[Problem] = field(default_factory=list)
    entries: int = 0
    uncompressed_bytes: int = 0
    compressed_bytes: int = 0

    @property
    def valid(self) -> bool:
        """No problem found."""
        return not self.problems


def check_key(key: str, prefix: str) -> list[Problem]:
    """The object key under a served prefix: ``<prefix><TargetModel>``, TargetModel ending in ``.tar.gz``."""
    problems = []
    target_model = key[len(prefix) :] if key.startswith(prefix) else key
    if not key.startswith(prefix):
        problems.append(Problem("key-prefix", f"{key!r} is not under the served prefix {prefix!r}"))
    if not target_model.endswith(ARCHIVE_SUFFIX):
        problems.append(Problem("key-suffix", f"{target_model!r} does not end with {ARCHIVE_SUFFIX}"))
    if not 1 <= len(target_model) <= MAX_TARGET_MODEL:
        problems.append(Problem("key-length", f"TargetModel is {len(target_model)} characters; 1-1024 allowed"))
    if any(c.isspace() for c in target_model) or not target_model.isprintable():
        problems.append(Problem("key-characters", f"{target_model!r} has whitespace or unprintable characters"))
    return problems


class _Counting:
    """Counts the compressed bytes read from the underlying stream."""

    def __init__(self, raw: IO[bytes] | Any) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.raw.read(size)
        self.count += len(data)
        return data


class _LimitReachedError(Exception):
    """A limit was hit: stop reading."""


def check_archive(stream: IO[bytes] | Any, *, layout: Layout = Layout.FLAT, limits: Limits | None = None) -> Report:
    """Check a ``.tar.gz`` read from ``stream`` (any object with ``read(size)``) against every rule."""
    limits = limits or Limits()
    report = Report()
    counting = _Counting(stream)
    names: list[str] = []
    try:
        with gzip.GzipFile(fileobj=cast(IO[bytes], counting), mode="rb") as unzipped:
            with tarfile.open(fileobj=unzipped, mode="r|") as tar:
                for member in tar:
                    _check_member(member, tar, names, report, counting, limits)
            # Read to the end of the gzip stream: its CRC and length are checked only there.
            while unzipped.read(_CHUNK):
                pass
    except _LimitReachedError:
        pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        report.problems.append(Problem("corrupt", f"not a readable .tar.gz ({type(error).__name__}: {error})"))
    report.compressed_bytes = counting.count
    if report.valid:
        report.problems.extend(_check_layout(names, layout))
    return report


def _check_member(
    member: tarfile.TarInfo,
    tar: tarfile.TarFile,
    names: list[str],
    report: Report,
    counting: _Counting,
    limits: Limits,
) -> None:
    report.entries += 1
    if report.entries > limits.max_entries:
        report.problems.append(Problem("entry-count", f"more than {limits.max_entries} entries"))
        raise _LimitReachedError
    name = member.name
    normalized = posixpath.normpath(name.removeprefix("./")) if name not in ("", ".", "./") else "."
    if name.startswith("/"):
        report.problems.append(Problem("absolute-path", f"{name!r} is an absolute path"))
    elif normalized == ".." or normalized.startswith("../") or "/../" in f"/{name}/":
        report.problems.append(Problem("path-escape", f"{name!r} climbs out of the archive with '..'"))
    if member.issym() or member.islnk():
        _check_link(member, normalized, names, report)
    elif member.isfile():
        _read_file(member, tar, report, counting, limits)
    elif not member.isdir():
        kind = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "FIFO"}
        report.problems.append(Problem("special-file", f"{name!r} is a {kind.get(member.type, 'special file')}"))
    if member.isfile() or member.issym() or member.islnk():
        names.append(normalized)


def _check_link(member: tarfile.TarInfo, normalized: str, names: list[str], report: Report) -> None:
    target = member.linkname
    if member.issym():
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(normalized), target))
    else:  # a hard link names another member of the archive
        resolved = posixpath.normpath(target.removeprefix("./"))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        kind = "symlink" if member.issym() else "hard link"
        report.problems.append(Problem("link-escape", f"{kind} {member.name!r} -> {target!r} leaves the archive"))
    elif member.islnk() and resolved not in names:
        report.problems.append(Problem("link-escape", f"hard link {member.name!r} -> {target!r} names no earlier file"))


def _read_file(
    member: tarfile.TarInfo, tar: tarfile.TarFile, report: Report, counting: _Counting, limits: Limits
) -> None:
    extracted = tar.extractfile(member)
    if extracted is None:
        return
    while chunk := extracted.read(_CHUNK):
        report.uncompressed_bytes += len(chunk)
        if report.uncompressed_bytes > limits.max_uncompressed_bytes:
            report.problems.append(Problem("size", f"more than {limits.max_uncompressed_bytes} bytes once extracted"))
            raise _LimitReachedError
        if report.uncompressed_bytes > limits.ratio_grace_bytes:
            ratio = report.uncompressed_bytes / max(counting.count, 1)
            if ratio > limits.max_compression_ratio:
                report.problems.append(
                    Problem(
                        "compression-ratio",
                        f"expands more than {limits.max_compression_ratio:g}:1 (a decompression bomb?)",
                    )
                )
                raise _LimitReachedError


def _check_layout(names: list[str], layout: Layout) -> list[Problem]:
    files = [n for n in names if n != "."]
    if not files:
        return [Problem("empty", "the archive holds no file")]
    if layout is Layout.FLAT:
        return _check_flat(files)
    if layout is Layout.MMS:
        if "MAR-INF/MANIFEST.json" not in files:
            return [Problem("layout", "Multi Model Server layout needs MAR-INF/MANIFEST.json at the archive root")]
        return []
    return _check_triton(files)


def _check_flat(files: list[str]) -> list[Problem]:
    tops = {f.split("/", 1)[0] for f in files}
    if all("/" in f for f in files) and len(tops) == 1:
        (top,) = tops
        return [
            Problem(
                "wrapped",
                f"every file is inside {top + '/'!r}: package the folder's contents so they sit at the archive root "
                f"(modelctl package {top}, or tar czf model.tar.gz -C {top} .)",
            )
        ]
    return []


def _check_triton(files: Iterable[str]) -> list[Problem]:
    files = list(files)
    models = sorted({f.split("/")[0] for f in files if f.count("/") == 1 and f.endswith("/config.pbtxt")})
    if not models:
        return [Problem("layout", "Triton layout needs <model>/config.pbtxt")]
    problems = []
    for model in models:
        versions = {f.split("/")[1] for f in files if f.startswith(f"{model}/") and f.count("/") >= 2}
        if not any(_VERSION.match(v) for v in versions):
            problems.append(Problem("layout", f"Triton model {model!r} has no numeric version folder ({model}/1/...)"))
    return problems


# -- the guard's verdict, shared by the guard (writes it) and modelctl (reads it) --------------------------

VERDICT_TAG = "guard-verdict"
REASON_TAG = "guard-reason"
VALID = "valid"
REJECTED = "rejected"
#: Rejected archives are copied here (``quarantine/<original key>``), outside every served prefix.
QUARANTINE_PREFIX = "quarantine/"
_TAG_VALUE = re.compile(r"[^\w .:/=+\-@]")


def tag_value(text: str) -> str:
    """``text`` as an S3 tag value: allowed characters only, at most 256."""
    return _TAG_VALUE.sub("_", text)[:256]
