"""``modelctl validate``: the artifact guard's rules, read with ISA-L's inflate on every core.

The rules are ``hosting_contract.archive_rules.check_archive``'s (the guard's, standard library only); only the
gzip reader differs, so both give the same verdict on any archive (tests/modelctl/test_validation.py compares
them on every archive the rule tests build).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from hosting_contract.archive_rules import GzipReading, Layout, Limits, Report, check_archive
from modelctl import gzip_io


def check(
    stream: IO[bytes] | Any,
    *,
    layout: Layout = Layout.FLAT,
    limits: Limits | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """``archive_rules.check_archive``'s report on the ``.tar.gz`` read from ``stream`` (a binary file), inflated
    by ISA-L on every core; each step of compressed bytes read goes to ``progress``."""

    def open_reader(raw: Any) -> tuple[gzip_io.MemberReader, Callable[[], int]]:
        reader = gzip_io.open_reader(raw, progress=progress)
        return reader, lambda: reader.consumed

    # "r:" on a reader that only reads and seeks forward, as tarfile's stream mode ("r|") does, without that
    # mode's copies of every byte through its buffer (the same TarFile code parses both).
    reading = GzipReading(open=open_reader, tar_mode="r:", errors=(gzip_io.INFLATE_ERROR,))
    return check_archive(stream, layout=layout, limits=limits, reading=reading)
