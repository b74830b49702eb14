"""``modelctl validate``: the artifact guard's rules, read with ISA-L's inflate on every core.

The rules are ``hosting_contract.archive_rules``'s, member by member and for the layout: only the gzip reader
differs from ``check_archive`` (the guard's, standard library only), so both give the same verdict on any archive
(tests/modelctl/test_validation.py compares them on every archive the rule tests build). It leans on that
module's per-member helpers until ``check_archive`` takes a reader of its own.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable
from typing import IO, Any

from hosting_contract import archive_rules as rules
from hosting_contract.archive_rules import Layout, Limits, Problem, Report
from modelctl import gzip_io

#: Pieces in which the end of the stream is read.
_PIECE = 1024 * 1024


class _Consumed:
    """The compressed bytes read so far, as ``archive_rules`` reads them (``count``, for the compression ratio)."""

    def __init__(self, reader: gzip_io.MemberReader) -> None:
        self.reader = reader

    @property
    def count(self) -> int:
        return self.reader.consumed


def check(
    stream: IO[bytes] | Any,
    *,
    layout: Layout = Layout.FLAT,
    limits: Limits | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """``archive_rules.check_archive``'s report on the ``.tar.gz`` read from ``stream`` (a binary file); each
    step of compressed bytes read goes to ``progress``."""
    limits = limits or Limits()
    report = Report()
    names: list[str] = []
    unzipped = gzip_io.open_reader(stream, progress=progress)
    consumed = _Consumed(unzipped)
    deadline = rules._Deadline(None, report)
    try:
        # "r:" on a reader that only reads and seeks forward, as tarfile's stream mode ("r|") does, without that
        # mode's copies of every byte through its buffer (the same TarFile code parses both).
        with unzipped, tarfile.open(fileobj=unzipped, mode="r:") as tar:
            for member in tar:
                rules._check_member(member, tar, names, report, consumed, limits, deadline)  # type: ignore[arg-type]
            # Read to the end of the gzip stream: its CRC and length are checked only there.
            while unzipped.read(_PIECE):
                pass
    except rules._LimitReachedError:
        pass
    except (tarfile.TarError, EOFError, OSError, zlib.error, gzip_io.INFLATE_ERROR) as error:
        report.problems.append(Problem("corrupt", f"not a readable .tar.gz ({type(error).__name__}: {error})"))
    report.compressed_bytes = consumed.count
    if report.valid:
        report.problems.extend(rules._check_layout(names, layout))
    return report
