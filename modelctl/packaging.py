"""``modelctl package``: a deterministic model.tar.gz with the directory's files at the archive root."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hosting_contract.archive_rules import Layout, Limits
from modelctl import gzip_io, validation
from modelctl.errors import INVALID, NOT_FOUND, USAGE, ModelctlError
from modelctl.progress import Advance, Progress, silent

#: Every entry's modification time; fixed so that the same input gives the same bytes.
FIXED_MTIME = 0
#: The version folder ``--layout tensorflow`` puts a SavedModel in when it sits at the directory's root.
TENSORFLOW_VERSION = "1"
#: What ``package`` writes beside its output until the archive is checked: never part of an archive.
PARTIAL_SUFFIX = ".partial"
#: Pieces in which file contents go into the archive (tarfile's own are 10-16 KiB).
_PIECE = 1024 * 1024


class PackagingError(ModelctlError):
    """The directory cannot be packaged; the message says which file and why."""

    status = INVALID


@dataclass(frozen=True)
class Packaged:
    """What ``package_directory`` wrote."""

    size: int
    """The archive's size in bytes."""
    skipped: list[str] = field(default_factory=list)
    """Files of the source left out: archives ``modelctl package`` wrote, and its unfinished ones."""


def package_directory(
    source: Path,
    output: Path,
    *,
    layout: Layout = Layout.FLAT,
    limits: Limits | None = None,
    progress: Progress = silent,
) -> Packaged:
    """Write ``source``'s contents to ``output`` (``.tar.gz``).

    Entries are sorted, owned by uid/gid 0 with no user or group names, dated ``FIXED_MTIME``, with modes
    normalised to 0644 (0755 for executables and folders); each gzip member's header carries no name and a zero
    time (``gzip_io``). Links must stay inside ``source``; devices, FIFOs and sockets are refused. The result is
    checked with the same rules as ``modelctl validate`` before it is moved into place.

    Never archived: ``output`` itself and the file it is written to first (``output`` + ``PARTIAL_SUFFIX``),
    when ``output`` is inside ``source``; other such unfinished files; archives ``modelctl package`` wrote
    (a previous ``-o`` inside the source: listed in ``Packaged.skipped``).

    With ``Layout.TENSORFLOW``, a SavedModel at ``source``'s root (``saved_model.pb``, ``variables/``...) is
    written under the version folder ``1/``, ``code/`` staying at the root; ``<n>/saved_model.pb`` is kept as is.
    """
    if not source.exists():
        raise PackagingError(f"{source}: no such directory", status=NOT_FOUND)
    source = source.resolve()
    if not source.is_dir():
        raise PackagingError(f"{source} is not a directory", status=USAGE)
    if not output.name.endswith(".tar.gz"):
        raise PackagingError(f"{output} must end with .tar.gz", status=USAGE)
    # TensorFlow Serving loads only <n>/saved_model.pb, and tf.saved_model.save() writes no version folder.
    rename = _into_version_folder if layout is Layout.TENSORFLOW and (source / "saved_model.pb").is_file() else None
    buffer = output.with_name(output.name + PARTIAL_SUFFIX)
    skipped: list[str] = []
    try:
        with buffer.open("wb") as raw:
            # "modelctl package . -o model.tar.gz" writes inside the source: never archive the archive itself,
            # by name or by identity (a link to the folder, a hard link).
            own = {output.resolve(), buffer.resolve()}
            identities = {_identity(buffer), _identity(output)} - {None}
            entries = []
            for path in _walk(source):
                if path in own or _identity(path) in identities:
                    continue
                if _written_by_package(path):
                    skipped.append(path.relative_to(source).as_posix())
                    continue
                entries.append((_entry(source, path, rename), path))
            if rename is not None:
                entries.append((_folder(TENSORFLOW_VERSION), source))
            total = sum(info.size for info, _ in entries if info.isfile())
            with (
                progress(f"packaging {output.name}", total) as advance,
                gzip_io.MemberWriter(raw) as zipped,
                # copybufsize: what it reads each file with; TarFile takes it, typeshed's tarfile.open does not.
                tarfile.open(  # type: ignore[call-overload]
                    fileobj=zipped, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_PIECE, copybufsize=_PIECE
                ) as tar,
            ):
                for info, path in sorted(entries, key=lambda entry: entry[0].name):
                    if info.isfile():
                        with path.open("rb") as contents:
                            tar.addfile(info, _Reported(contents, advance))
                    else:
                        tar.addfile(info)
        with buffer.open("rb") as written, progress(f"checking {output.name}", buffer.stat().st_size) as advance:
            report = validation.check(written, layout=layout, limits=limits, progress=advance)
        if not report.valid:
            raise PackagingError("; ".join(str(p) for p in report.problems))
        buffer.replace(output)
    finally:
        buffer.unlink(missing_ok=True)
    return Packaged(size=output.stat().st_size, skipped=skipped)


class _Reported:
    """A file whose reads are reported to ``advance``."""

    def __init__(self, stream: IO[bytes], advance: Advance) -> None:
        self.stream = stream
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.advance(len(data))
        return data


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a regular file, None for anything else or nothing."""
    try:
        status = path.lstat()
    except OSError:
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def _written_by_package(path: Path) -> bool:
    """An unfinished output of ``package``, or an archive it wrote (its first gzip member is one of ours)."""
    if not path.is_file() or path.is_symlink():
        return False
    if path.name.endswith(".tar.gz" + PARTIAL_SUFFIX):
        return True
    return path.name.endswith(".tar.gz") and gzip_io.is_ours(path)


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
