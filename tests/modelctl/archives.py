"""Archives made by the tests, hostile ones included."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass


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
