"""The rules every model archive must pass: one implementation for ``modelctl validate`` and the artifact guard.

Standard library only (the artifact guard's asset carries the ``hosting_contract`` package). An archive is
read as a stream: gzip (whose CRC and length are checked at the end), then tar in stream mode, so memory stays
constant whatever the archive's size and nothing is written to disk.
"""

from __future__ import annotations

import gzip
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, Any, Literal, cast

ARCHIVE_SUFFIX = ".tar.gz"
WARMUP_SUFFIX = ".warmup.json"
#: TargetModel: 1-1024 printable characters, no leading whitespace (botocore: ``\A\S[\p{Print}]*\z``).
MAX_TARGET_MODEL = 1024
_CHUNK = 1024 * 1024
_VERSION = re.compile(r"^\d+\Z")
_SAVED_MODEL = "saved_model.pb"
_MAR_MANIFEST = "MAR-INF/MANIFEST.json"


class Layout(Enum):
    """What the files inside an archive must look like, per serving container.

    SageMaker extracts the archive into the container's model directory (``/opt/ml/model``, or one folder per
    TargetModel on a multi-model endpoint), so each layout is what that container looks for there.
    """

    FLAT = "flat"
    """Files at the archive root, no wrapping top folder: the framework containers' ``model_fn(model_dir)``
    reads them there, with ``code/inference.py`` (+ ``code/requirements.txt``) beside them (sagemaker-python-sdk,
    doc/frameworks/pytorch/using_pytorch.rst, "Model Directory Structure")."""

    MMS = "mms"
    """Multi Model Server: ``MAR-INF/MANIFEST.json`` at the root."""

    TRITON = "triton"
    """NVIDIA Triton: ``<model>/config.pbtxt`` and numeric version folders ``<model>/<n>/``."""

    TENSORFLOW = "tensorflow"
    """TensorFlow Serving: a SavedModel in a numeric version folder, ``<n>/saved_model.pb`` (+ ``<n>/variables/``),
    or ``<model>/<n>/saved_model.pb`` for several models; ``code/inference.py`` optional.

    Caution: with ``SAGEMAKER_MULTI_MODEL=true`` the container configures each TargetModel from the version
    folders at its archive root only (python_service.py, tfs_utils.create_tfs_config_individual_model), so on a
    multi-model endpoint only ``<n>/saved_model.pb`` loads; ``<model>/<n>/`` is for one-model containers."""

    @property
    def summary(self) -> str:
        """What the layout looks like, in a few words (for help texts)."""
        return _SUMMARIES[self]


_SUMMARIES = {
    Layout.FLAT: "files at the root",
    Layout.MMS: "MAR-INF/MANIFEST.json",
    Layout.TRITON: "<model>/config.pbtxt + <model>/<n>/",
    Layout.TENSORFLOW: "<n>/saved_model.pb or <model>/<n>/saved_model.pb",
}


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


class _Deadline:
    """Asks the caller's ``should_stop`` and ends the check, with the reason, when it says so."""

    def __init__(self, should_stop: Callable[[], bool] | None, report: Report) -> None:
        self.should_stop = should_stop
        self.report = report

    def poll(self) -> None:
        if self.should_stop is not None and self.should_stop():
            self.report.problems.append(
                Problem(
                    "time",
                    "not checked completely before the checker's deadline: stopped after "
                    f"{self.report.entries} entries and {self.report.uncompressed_bytes} bytes; the archive may "
                    "be valid (modelctl validate tells), the checker needs more time for it",
                )
            )
            raise _LimitReachedError


@dataclass(frozen=True)
class GzipReading:
    """How ``check_archive`` inflates: the standard library's ``gzip`` by default (the guard Lambda's).

    ``open`` takes the compressed stream and returns a binary reader of the uncompressed bytes (a context manager)
    and a callable giving the compressed bytes read so far (for the compression ratio); ``tar_mode`` is how
    ``tarfile`` reads it (``"r|"``: a stream; ``"r:"`` for a reader that also seeks forward); ``errors`` are the
    reader's own exception types for corrupt data, beside ``zlib.error`` and ``OSError``.
    """

    open: Callable[[Any], tuple[Any, Callable[[], int]]]
    tar_mode: Literal["r|", "r:"] = "r|"
    errors: tuple[type[BaseException], ...] = ()


def _standard_gzip(stream: Any) -> tuple[Any, Callable[[], int]]:
    counting = _Counting(stream)
    return gzip.GzipFile(fileobj=cast(IO[bytes], counting), mode="rb"), lambda: counting.count


STANDARD_GZIP = GzipReading(open=_standard_gzip)


def check_archive(
    stream: IO[bytes] | Any,
    *,
    layout: Layout = Layout.FLAT,
    limits: Limits | None = None,
    should_stop: Callable[[], bool] | None = None,
    reading: GzipReading = STANDARD_GZIP,
) -> Report:
    """Check a ``.tar.gz`` read from ``stream`` (any object with ``read(size)``) against every rule.

    ``should_stop`` is asked between members and between chunks of a file; once it answers True the check
    ends with a ``time`` problem, so a caller with a deadline (the guard Lambda) gets a verdict before it.
    ``reading`` chooses the inflater (``modelctl validate`` brings a parallel one); the rules are the same.
    """
    limits = limits or Limits()
    report = Report()
    names: list[str] = []
    deadline = _Deadline(should_stop, report)
    consumed: Callable[[], int] = lambda: 0  # noqa: E731  (until the reader is open)
    corrupt: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, OSError, zlib.error, *reading.errors)
    try:
        unzipped, consumed = reading.open(stream)
        with unzipped:
            with tarfile.open(fileobj=unzipped, mode=reading.tar_mode) as tar:
                for member in tar:
                    deadline.poll()
                    _check_member(member, tar, names, report, consumed, limits, deadline)
            # Read to the end of the gzip stream: its CRC and length are checked only there.
            while unzipped.read(_CHUNK):
                deadline.poll()
    except _LimitReachedError:
        pass
    except corrupt as error:
        report.problems.append(Problem("corrupt", f"not a readable .tar.gz ({type(error).__name__}: {error})"))
    report.compressed_bytes = consumed()
    if report.valid:
        report.problems.extend(_check_layout(names, layout))
    return report


def _check_member(
    member: tarfile.TarInfo,
    tar: tarfile.TarFile,
    names: list[str],
    report: Report,
    consumed: Callable[[], int],
    limits: Limits,
    deadline: _Deadline,
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
        _read_file(member, tar, report, consumed, limits, deadline)
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
    member: tarfile.TarInfo,
    tar: tarfile.TarFile,
    report: Report,
    consumed: Callable[[], int],
    limits: Limits,
    deadline: _Deadline,
) -> None:
    extracted = tar.extractfile(member)
    if extracted is None:
        return
    while chunk := extracted.read(_CHUNK):
        deadline.poll()
        report.uncompressed_bytes += len(chunk)
        if report.uncompressed_bytes > limits.max_uncompressed_bytes:
            report.problems.append(Problem("size", f"more than {limits.max_uncompressed_bytes} bytes once extracted"))
            raise _LimitReachedError
        if report.uncompressed_bytes > limits.ratio_grace_bytes:
            ratio = report.uncompressed_bytes / max(consumed(), 1)
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
    checks = {
        Layout.FLAT: _check_flat,
        Layout.MMS: _check_mms,
        Layout.TRITON: _check_triton,
        Layout.TENSORFLOW: _check_tensorflow,
    }
    return checks[layout](files)


# Every piece of advice below must, followed as written, give an archive that passes this check *and* that the
# container loads: tests/modelctl/test_archive_rules.py follows each one literally. "modelctl package DIR"
# puts DIR's contents at the archive root (-o is required).


def _check_flat(files: list[str]) -> list[Problem]:
    tops = {f.split("/", 1)[0] for f in files}
    if not (all("/" in f for f in files) and len(tops) == 1):
        return []
    (top,) = tops
    inside = f"every file is inside {top + '/'!r}"
    if _tensorflow_versions(files, top):
        # Unwrapping 1/saved_model.pb would give a root saved_model.pb, which TensorFlow Serving cannot load.
        return [
            Problem(
                "layout",
                f"{inside}, a SavedModel in a numeric version folder: this is the TensorFlow Serving layout: "
                "check it with --layout tensorflow",
            )
        ]
    if f"{top}/config.pbtxt" in files:
        # Triton wants <model>/config.pbtxt: the wrapping folder is the model's, unwrapping breaks it.
        return [
            Problem("layout", f"{inside}, a Triton model: this is the Triton layout: check it with --layout triton")
        ]
    if top == "code":
        # The containers import code/inference.py from there: unwrapping it would hide the handler.
        return [
            Problem(
                "wrapped",
                f"{inside} and nothing else: the model's files go at the archive root beside code/ "
                "(model.pth, code/inference.py): put both in one folder DIR, then modelctl package DIR "
                "-o model.tar.gz",
            )
        ]
    return [
        Problem(
            "wrapped",
            f"{inside}: package the folder's contents so they sit at the archive root "
            f"(modelctl package {top} -o model.tar.gz, or tar czf model.tar.gz -C {top} .)",
        )
    ]


def _tensorflow_versions(files: Iterable[str], top: str) -> bool:
    """Whether ``top`` is a SavedModel version folder (``<n>/saved_model.pb``) or holds one."""
    for f in files:
        parts = f.split("/")
        if parts[-1] == _SAVED_MODEL and parts[0] == top and _VERSION.match(parts[-2]) and len(parts) <= 3:
            return True
    return False


def _check_mms(files: list[str]) -> list[Problem]:
    if _MAR_MANIFEST in files:
        return []
    nested = sorted(f for f in files if f.endswith("/" + _MAR_MANIFEST))
    if nested:
        folder = nested[0][: -len("/" + _MAR_MANIFEST)]
        return [
            Problem(
                "layout",
                f"Multi Model Server layout needs {_MAR_MANIFEST} at the archive root, not in {folder + '/'!r}: "
                f"package that folder's contents (modelctl package {folder} --layout mms -o model.tar.gz)",
            )
        ]
    # model-archiver --archive-format no-archive writes the model's files and MAR-INF/ into one folder
    # (awslabs/multi-model-server, model-archiver/README.md): that folder is what goes at the root.
    return [
        Problem(
            "layout",
            f"Multi Model Server layout needs {_MAR_MANIFEST} at the archive root: model-archiver --model-name "
            "NAME --archive-format no-archive --export-path OUT ... writes it in OUT/NAME/, then "
            "modelctl package OUT/NAME --layout mms -o model.tar.gz",
        )
    ]


def _check_triton(files: Iterable[str]) -> list[Problem]:
    # Triton's model repository: <repository>/<model>/config.pbtxt and numeric <model>/<n>/ folders holding the
    # model file (triton-inference-server/server, docs/user_guide/model_repository.md, "Repository Layout");
    # the archive root is the repository.
    files = list(files)
    models = sorted({f.split("/")[0] for f in files if f.count("/") == 1 and f.endswith("/config.pbtxt")})
    if not models:
        if "config.pbtxt" in files:
            return [
                Problem(
                    "layout",
                    "Triton layout needs <model>/config.pbtxt, not config.pbtxt at the archive root: move the "
                    "model's files into REPO/<model>/ (REPO/<model>/config.pbtxt, REPO/<model>/1/...), then "
                    "modelctl package REPO --layout triton -o model.tar.gz",
                )
            ]
        deeper = sorted(f for f in files if f.endswith("/config.pbtxt") and f.count("/") >= 2)
        if deeper:
            repository = posixpath.dirname(posixpath.dirname(deeper[0]))
            return [
                Problem(
                    "layout",
                    f"Triton layout needs <model>/config.pbtxt at the top, not under {repository + '/'!r}: "
                    f"package that folder's contents (modelctl package {repository} --layout triton -o model.tar.gz)",
                )
            ]
        return [Problem("layout", "Triton layout needs <model>/config.pbtxt")]
    problems = []
    for model in models:
        versions = {f.split("/")[1] for f in files if f.startswith(f"{model}/") and f.count("/") >= 2}
        if not any(_VERSION.match(v) for v in versions):
            problems.append(Problem("layout", f"Triton model {model!r} has no numeric version folder ({model}/1/...)"))
    return problems


def _check_tensorflow(files: list[str]) -> list[Problem]:
    # What the SageMaker TensorFlow Serving container loads (aws/sagemaker-tensorflow-serving-container):
    # tfs_utils.find_models() takes every folder F with F/<digits>/saved_model.pb as one model named after F, and
    # find_model_versions() lists F's numeric sub-folders with version.lstrip("0"); its README packages
    # "tar -czvf model.tar.gz 12345 code" (12345/saved_model.pb at the root) or model1/<n>/..., model2/<n>/...,
    # with code/inference.py and code/requirements.txt beside them. sagemaker-python-sdk's "Deploying more than
    # one model to your Endpoint" (deploying_tensorflow_serving.rst) shows the same model/<version>/ tree.
    problems = []
    loadable = False
    code = any(f.startswith("code/") for f in files)
    saved_models = sorted(f for f in files if posixpath.basename(f) == _SAVED_MODEL)
    for path in saved_models:
        parts = path.split("/")
        folder = posixpath.dirname(path)
        if len(parts) in (2, 3) and _VERSION.match(parts[-2]):
            if parts[-2].strip("0"):
                loadable = True
            else:
                # "0".lstrip("0") is "": the container writes "versions: " into TF Serving's config and fails
                # to parse it (aws/sagemaker-python-sdk issue #2742).
                problems.append(
                    Problem(
                        "layout",
                        f"{folder + '/'!r} holds saved_model.pb, but the SageMaker TensorFlow Serving container "
                        f"cannot load an all-zero version folder: rename it to a positive number "
                        f"({posixpath.join(posixpath.dirname(folder), '1')}/)",
                    )
                )
        elif len(parts) == 1:
            problems.append(
                Problem(
                    "layout",
                    "saved_model.pb is at the archive root, where TensorFlow Serving does not look: put it in a "
                    "numeric version folder: modelctl package DIR --layout tensorflow -o model.tar.gz "
                    "(writes 1/saved_model.pb; DIR holds saved_model.pb)",
                )
            )
        elif len(parts) == 2 and len(saved_models) > 1:
            # One model among several: give it a version folder and leave the others where they are.
            problems.append(
                Problem(
                    "layout",
                    f"{path!r} is not in a numeric version folder: move the SavedModel's files "
                    f"(saved_model.pb, variables/, assets/) into {folder}/1/",
                )
            )
        else:
            # Packaged on its own, the folder above the version folder (or the SavedModel's folder, which
            # modelctl then puts in 1/) lands at the root: <n>/saved_model.pb loads in every container mode.
            base = posixpath.dirname(folder) if _VERSION.match(parts[-2]) else folder
            note = f" (copy code/ into {base}/ first)" if code else ""
            problems.append(
                Problem(
                    "layout",
                    f"TensorFlow Serving loads <n>/saved_model.pb or <model>/<n>/saved_model.pb, not {path!r}: "
                    f"modelctl package {base} --layout tensorflow -o model.tar.gz{note}",
                )
            )
    if not loadable and not problems:
        problems.append(
            Problem(
                "layout",
                "the archive holds no saved_model.pb: TensorFlow Serving loads SavedModels only (export one with "
                "tf.saved_model.save(model, 'DIR/1'), then modelctl package DIR --layout tensorflow -o model.tar.gz)",
            )
        )
    return problems


# -- the guard's verdict, shared by the guard (writes it) and modelctl (reads it) --------------------------

VERDICT_TAG = "guard-verdict"
REASON_TAG = "guard-reason"
#: The object version the verdict was given for: S3 assigns version ids at upload, so no uploader can forge it.
VERSION_TAG = "guard-version"
VALID = "valid"
REJECTED = "rejected"
#: Rejected archives are copied here (``quarantine/<original key>``), outside every served prefix.
QUARANTINE_PREFIX = "quarantine/"
_TAG_VALUE = re.compile(r"[^\w .:/=+\-@]")


def tag_value(text: str) -> str:
    """``text`` as an S3 tag value: allowed characters only, at most 256."""
    return _TAG_VALUE.sub("_", text)[:256]
