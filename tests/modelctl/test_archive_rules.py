"""Every rule of the shared checker fires on an archive built to break it."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from modelctl.archive_rules import Layout, Limits, check_archive, check_key, tag_value
from tests.modelctl.archives import Entry, good, tar_gz


def _rules(data: bytes, layout: Layout = Layout.FLAT, limits: Limits | None = None) -> list[str]:
    return [p.rule for p in check_archive(io.BytesIO(data), layout=layout, limits=limits).problems]


def test_a_good_archive_is_valid() -> None:
    report = check_archive(io.BytesIO(good()))
    assert report.valid
    assert report.entries == 2
    assert report.uncompressed_bytes == len(b'{"weights": [1.0], "bias": 0}') + len(b"print(1)\n")
    assert report.compressed_bytes == len(good())


@pytest.mark.parametrize(
    ("entries", "rule"),
    [
        ([Entry("/etc/passwd", b"x")], "absolute-path"),
        ([Entry("../evil.py", b"x")], "path-escape"),
        ([Entry("a/../../evil.py", b"x")], "path-escape"),
        ([Entry("model.bin", b"x"), Entry("link", type=tarfile.SYMTYPE, linkname="/etc/shadow")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("link", type=tarfile.SYMTYPE, linkname="../../outside")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("hard", type=tarfile.LNKTYPE, linkname="../outside")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("hard", type=tarfile.LNKTYPE, linkname="not-in-archive")], "link-escape"),
        ([Entry("model.bin", b"x"), Entry("tty", type=tarfile.CHRTYPE)], "special-file"),
        ([Entry("model.bin", b"x"), Entry("disk", type=tarfile.BLKTYPE)], "special-file"),
        ([Entry("model.bin", b"x"), Entry("pipe", type=tarfile.FIFOTYPE)], "special-file"),
    ],
)
def test_hostile_entries(entries: list[Entry], rule: str) -> None:
    assert rule in _rules(tar_gz(entries))


def test_links_inside_the_archive_are_fine() -> None:
    entries = [
        Entry("weights/v1.bin", b"x"),
        Entry("model.bin", type=tarfile.SYMTYPE, linkname="weights/v1.bin"),
        Entry("copy.bin", type=tarfile.LNKTYPE, linkname="weights/v1.bin"),
    ]
    assert _rules(tar_gz(entries)) == []


def test_empty_archive() -> None:
    assert _rules(tar_gz([])) == ["empty"]
    assert _rules(tar_gz([Entry("folder", type=tarfile.DIRTYPE)])) == ["empty"]


def test_wrapping_top_folder_is_refused_with_the_fix() -> None:
    report = check_archive(io.BytesIO(tar_gz([Entry("mymodel/model.json", b"{}"), Entry("mymodel/code/a.py", b"")])))
    assert [p.rule for p in report.problems] == ["wrapped"]
    assert "tar czf model.tar.gz -C mymodel ." in report.problems[0].message


def test_size_limit() -> None:
    data = tar_gz([Entry("a.bin", os.urandom(3000))])
    assert _rules(data, limits=Limits(max_uncompressed_bytes=2000)) == ["size"]


def test_entry_limit() -> None:
    data = tar_gz([Entry(f"f{i}", b"x") for i in range(6)])
    assert _rules(data, limits=Limits(max_entries=5)) == ["entry-count"]


def test_decompression_bomb_is_stopped_early() -> None:
    bomb = tar_gz([Entry("zeros.bin", bytes(20 * 1024 * 1024))])  # 20 MiB of zeros, ~20 KiB compressed
    limits = Limits(max_compression_ratio=100, ratio_grace_bytes=1024 * 1024)
    report = check_archive(io.BytesIO(bomb), limits=limits)
    assert [p.rule for p in report.problems] == ["compression-ratio"]
    assert report.uncompressed_bytes < 20 * 1024 * 1024  # it stopped reading


def test_truncated_gzip() -> None:
    data = good()
    assert _rules(data[: len(data) // 2]) == ["corrupt"]


def test_bad_gzip_checksum() -> None:
    data = bytearray(good())
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    assert _rules(bytes(data)) == ["corrupt"]


def test_not_gzip_and_not_tar() -> None:
    assert _rules(b"PK\x03\x04 a zip file") == ["corrupt"]
    assert _rules(gzip.compress(b"just text, not a tar archive" * 20)) == ["corrupt"]


def test_mms_layout() -> None:
    assert _rules(good(), Layout.MMS) == ["layout"]
    assert _rules(tar_gz([Entry("MAR-INF/MANIFEST.json", b"{}"), Entry("model.pt", b"x")]), Layout.MMS) == []


def test_triton_layout() -> None:
    assert _rules(good(), Layout.TRITON) == ["layout"]
    no_version = tar_gz([Entry("resnet/config.pbtxt", b"name: 'resnet'"), Entry("resnet/model.onnx", b"x")])
    assert _rules(no_version, Layout.TRITON) == ["layout"]
    ok = tar_gz([Entry("resnet/config.pbtxt", b"name: 'resnet'"), Entry("resnet/1/model.onnx", b"x")])
    assert _rules(ok, Layout.TRITON) == []


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("models/mme/Chicago_IL.zip", "key-suffix"),
        ("models/mme/Chicago IL.tar.gz", "key-characters"),
        ("models/mme/tab\tname.tar.gz", "key-characters"),
        ("models/mme/" + "x" * 1020 + ".tar.gz", "key-length"),
        ("models/other/Chicago_IL.tar.gz", "key-prefix"),
    ],
)
def test_key_rules(key: str, rule: str) -> None:
    assert rule in [p.rule for p in check_key(key, "models/mme/")]


def test_a_good_key() -> None:
    assert check_key("models/mme/team-a/Chicago_IL.tar.gz", "models/mme/") == []


def test_tag_values_are_safe() -> None:
    assert (
        tag_value("wrapped: every file is inside 'x/' (tar czf ...)")
        == "wrapped: every file is inside _x/_ _tar czf ..._"
    )
    assert len(tag_value("x" * 400)) == 256
