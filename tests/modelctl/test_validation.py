"""modelctl validate's checker gives the artifact guard's verdict (``check_archive``) on every archive, written by
modelctl (parallel members) or by anything else, hostile and broken ones included."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from hosting_contract.archive_rules import Layout, Limits, Report, check_archive
from modelctl import gzip_io, validation
from tests.modelctl.archives import Entry, good, saved_model, tar_gz, tensorflow_code

BOMB_LIMITS = Limits(max_compression_ratio=100, ratio_grace_bytes=1024 * 1024)


def _ours(gzipped: bytes) -> bytes:
    """The same tar, in modelctl's gzip (members of ``gzip_io.MEMBER_BYTES``)."""
    raw = io.BytesIO()
    with gzip_io.MemberWriter(raw) as writer:
        writer.write(gzip.decompress(gzipped))
    return raw.getvalue()


def _cases() -> dict[str, tuple[bytes, Layout, Limits | None]]:
    big = os.urandom(9 * 1024 * 1024)  # spans three members of ours
    links = [
        Entry("weights/v1.bin", b"x"),
        Entry("model.bin", type=tarfile.SYMTYPE, linkname="weights/v1.bin"),
        Entry("copy.bin", type=tarfile.LNKTYPE, linkname="weights/v1.bin"),
    ]
    hostile = [
        Entry("/etc/passwd", b"x"),
        Entry("../evil.py", b"x"),
        Entry("a/../../evil.py", b"x"),
        Entry("link", type=tarfile.SYMTYPE, linkname="/etc/shadow"),
        Entry("hard", type=tarfile.LNKTYPE, linkname="not-in-archive"),
        Entry("tty", type=tarfile.CHRTYPE),
        Entry("pipe", type=tarfile.FIFOTYPE),
        Entry("model.bin", b"x"),
    ]
    cases: dict[str, tuple[bytes, Layout, Limits | None]] = {
        "good": (good(), Layout.FLAT, None),
        "large": (tar_gz([Entry("a.bin", big), Entry("code/inference.py", b"x")]), Layout.FLAT, None),
        "links": (tar_gz(links), Layout.FLAT, None),
        "hostile": (tar_gz(hostile), Layout.FLAT, None),
        "empty": (tar_gz([]), Layout.FLAT, None),
        "wrapped": (tar_gz([Entry("mymodel/model.json", b"{}")]), Layout.FLAT, None),
        "size": (tar_gz([Entry("a.bin", big)]), Layout.FLAT, Limits(max_uncompressed_bytes=5 * 1024 * 1024)),
        "entries": (tar_gz([Entry(f"f{i}", b"x") for i in range(6)]), Layout.FLAT, Limits(max_entries=5)),
        "bomb": (tar_gz([Entry("zeros.bin", bytes(20 * 1024 * 1024))]), Layout.FLAT, BOMB_LIMITS),
        "mms": (good(), Layout.MMS, None),
        "triton": (
            tar_gz([Entry("resnet/config.pbtxt", b"name"), Entry("resnet/1/m.onnx", b"x")]),
            Layout.TRITON,
            None,
        ),
        "tensorflow": (tar_gz(saved_model("1") + tensorflow_code()), Layout.TENSORFLOW, None),
        "not a tar": (gzip.compress(b"just text, not a tar archive" * 20), Layout.FLAT, None),
    }
    for name, (data, layout, limits) in list(cases.items()):
        if name != "not a tar":
            cases[f"{name}, modelctl's gzip"] = (_ours(data), layout, limits)
    return cases


CASES = _cases()


def _summary(report: Report) -> tuple[list[str], int, int, int]:
    return [p.rule for p in report.problems], report.entries, report.uncompressed_bytes, report.compressed_bytes


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_report_as_the_guard(name: str) -> None:
    data, layout, limits = CASES[name]
    guard = check_archive(io.BytesIO(data), layout=layout, limits=limits)
    ours = validation.check(io.BytesIO(data), layout=layout, limits=limits)
    assert [str(p) for p in ours.problems] == [str(p) for p in guard.problems]
    rules, entries, uncompressed, compressed = _summary(ours)
    assert (rules, entries) == _summary(guard)[:2]
    if guard.valid:
        # Read to the end: every byte counted alike. A check stopped early counts what each reader had read.
        assert (uncompressed, compressed) == (guard.uncompressed_bytes, len(data))


def test_a_bomb_in_members_is_stopped_early() -> None:
    bomb = CASES["bomb, modelctl's gzip"][0]
    report = validation.check(io.BytesIO(bomb), limits=BOMB_LIMITS)
    assert [p.rule for p in report.problems] == ["compression-ratio"]
    assert report.uncompressed_bytes < 20 * 1024 * 1024  # it stopped reading


@pytest.mark.parametrize("encoding", ["python", "modelctl"])
def test_broken_archives_are_corrupt(encoding: str) -> None:
    data = CASES["large" if encoding == "python" else "large, modelctl's gzip"][0]
    broken = bytearray(data)
    broken[-8] ^= 0xFF  # the last member's CRC32
    for damaged, reason in (
        (bytes(broken), "BadGzipFile: CRC check failed"),
        (data[: len(data) // 2], "EOFError: Compressed file ended before the end-of-stream marker was reached"),
        (data[:30], "EOFError: Compressed file ended before the end-of-stream marker was reached"),
    ):
        guard = check_archive(io.BytesIO(damaged))
        ours = validation.check(io.BytesIO(damaged))
        assert [p.rule for p in ours.problems] == [p.rule for p in guard.problems] == ["corrupt"]
        # The same reason, in the words of Python's gzip (which prints the CRCs in hex, ISA-L's reader in decimal).
        assert guard.problems[0].message.startswith(f"not a readable .tar.gz ({reason}")
        assert ours.problems[0].message.startswith(f"not a readable .tar.gz ({reason}")


def test_progress_counts_the_archive() -> None:
    data = CASES["large, modelctl's gzip"][0]
    steps: list[int] = []
    assert validation.check(io.BytesIO(data), progress=steps.append).valid
    assert sum(steps) == len(data)
