"""``modelctl package``: a deterministic model.tar.gz with the directory's files at the archive root."""

from __future__ import annotations

import gzip
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

from hosting_contract.archive_rules import Layout, Limits, check_archive

#: Every entry's modification time; fixed so that the same input gives the same bytes.
FIXED_MTIME = 0
#: The version folder ``--layout tensorflow`` puts a SavedModel in when it sits at the directory's root.
TENSORFLOW_VERSION = "1"


class PackagingError(Exception):
    """The directory cannot be packaged; the message says which file and why."""


def package_directory(source: Path, output: Path, *, layout: Layout = Layout.FLAT, limits: Limits | None = None) -> int:
    """Write ``source``'s contents to ``output`` (``.tar.gz``) and return the archive's size in bytes.

    Entries are sorted, owned by uid/gid 0 with no user or group names, dated ``FIXED_MTIME``, with modes
    normalised to 0644 (0755 for executables and folders); the gzip header carries no name or time. Links must
    stay inside ``source``; devices, FIFOs and sockets are refused. The result is checked with the same rules
    as ``modelctl validate`` before it is moved into place.

    With ``Layout.TENSORFLOW``, a SavedModel at ``source``'s root (``saved_model.pb``, ``variables/``...) is
    written under the version folder ``1/``, ``code/`` staying at the root; ``<n>/saved_model.pb`` is kept as is.
    """
    source = source.resolve()
    if not source.is_dir():
        raise PackagingError(f"{source} is not a directory")
    if not output.name.endswith(".tar.gz"):
        raise PackagingError(f"{output} must end with .tar.gz")
    # TensorFlow Serving loads only <n>/saved_model.pb, and tf.saved_model.save() writes no version folder.
    rename = _into_version_folder if layout is Layout.TENSORFLOW and (source / "saved_model.pb").is_file() else None
    buffer = output.with_name(output.name + ".partial")
    try:
        with (
            buffer.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_MTIME, compresslevel=6) as zipped,
            tarfile.open(fileobj=zipped, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            # "modelctl package . -o model.tar.gz" writes inside the source: never archive the archive itself.
            own = {output.resolve(), buffer.resolve()}
            entries = [(_entry(source, path, rename), path) for path in _walk(source) if path not in own]
            if rename is not None:
                entries.append((_folder(TENSORFLOW_VERSION), source))
            for info, path in sorted(entries, key=lambda entry: entry[0].name):
                if info.isfile():
                    with path.open("rb") as contents:
                        tar.addfile(info, contents)
                else:
                    tar.addfile(info)
        with buffer.open("rb") as written:
            report = check_archive(written, layout=layout, limits=limits)
        if not report.valid:
            raise PackagingError("; ".join(str(p) for p in report.problems))
        buffer.replace(output)
    finally:
        buffer.unlink(missing_ok=True)
    return output.stat().st_size


def _walk(root: Path) -> list[Path]:
    """Every path below ``root``, sorted by its relative POSIX name (links are not followed)."""
    found = []
    for directory, folders, files in os.walk(root, followlinks=False):
        for name in folders + files:
            found.append(Path(directory, name))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _into_version_folder(relative: str) -> str:
    """The archive name of ``relative`` when the SavedModel moves into the version folder (``code/`` stays)."""
    if relative == "." or relative == "code" or relative.startswith("code/"):
        return relative
    return f"{TENSORFLOW_VERSION}/{relative}"


def _folder(name: str) -> tarfile.TarInfo:
    """A folder entry with the same normalised metadata as every other entry."""
    info = _blank(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


def _blank(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _entry(root: Path, path: Path, rename: Callable[[str], str] | None = None) -> tarfile.TarInfo:
    relative = path.relative_to(root).as_posix()
    status = path.lstat()
    name = rename(relative) if rename else relative
    info = _blank(name)
    if stat.S_ISLNK(status.st_mode):
        target = os.readlink(path)
        resolved = (path.parent / target).resolve()
        if os.path.isabs(target) or not resolved.is_relative_to(root):
            raise PackagingError(f"{relative}: link to {target!r} points outside {root}")
        info.type = tarfile.SYMTYPE
        info.linkname = target
        if rename:
            # The link or its target may have moved into the version folder: point at where the target now is.
            aimed = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
            info.linkname = posixpath.relpath(rename(aimed), posixpath.dirname(name) or ".")
        info.mode = 0o777
        return info
    if stat.S_ISDIR(status.st_mode):
        return _folder(name)
    if not stat.S_ISREG(status.st_mode):
        raise PackagingError(f"{relative}: not a regular file, folder or link (device, FIFO or socket)")
    info.size = status.st_size
    info.mode = 0o755 if status.st_mode & 0o111 else 0o644
    return info
