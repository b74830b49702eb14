"""Archives made by the tests, hostile ones included."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One tar member to write: a file with ``data``, or another type with ``linkname``."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""


def tar_gz(entries: Iterable[Entry]) -> bytes:
    """A .tar.gz of ``entries``, exactly as given (no sanitising)."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w|") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.type
            info.linkname = entry.linkname
            info.size = len(entry.data) if entry.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(entry.data) if entry.type == tarfile.REGTYPE else None)
    return raw.getvalue()


def good() -> bytes:
    """A valid flat archive: files at the root."""
    return tar_gz([Entry("model.json", b'{"weights": [1.0], "bias": 0}'), Entry("code/inference.py", b"print(1)\n")])


def saved_model(folder: str) -> list[Entry]:
    """A TensorFlow SavedModel's files (tf.saved_model.save writes this tree) under ``folder`` ('' for the root)."""
    prefix = f"{folder}/" if folder else ""
    return [
        Entry(f"{prefix}saved_model.pb", b"\x08\x01 graph"),
        Entry(f"{prefix}variables/variables.index", b"index"),
        Entry(f"{prefix}variables/variables.data-00000-of-00001", b"weights"),
    ]


def tensorflow_code() -> list[Entry]:
    """The SageMaker TensorFlow Serving container's optional pre/post-processing code."""
    return [
        Entry("code/inference.py", b"def handler(data, context):\n    return data\n"),
        Entry("code/requirements.txt"),
    ]


def extract(data: bytes, destination: Path) -> Path:
    """Unpack ``data`` (a .tar.gz made by the tests) into ``destination``, as SageMaker would."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(destination, filter="data")
    return destination
