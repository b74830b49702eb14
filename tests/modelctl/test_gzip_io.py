"""modelctl's gzip: standard files (every reader reads them), the same bytes for the same input, members read in
parallel, anything else read in sequence, and every broken file refused as Python's gzip refuses it."""

from __future__ import annotations

import array
import functools
import gzip
import io
import random
import shutil
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from modelctl import gzip_io

MEMBER = gzip_io.MEMBER_BYTES


@functools.cache
def _weights(megabytes: int) -> bytes:
    """float32 weights from a normal distribution, as model shards hold them (a MiB of them, repeated: deflate
    sees 32 KiB back, so it compresses the repetition like new weights)."""
    rng = random.Random(5)
    return array.array("f", (rng.gauss(0.0, 0.05) for _ in range(262_144))).tobytes() * megabytes


@functools.cache
def _data() -> bytes:
    """Two and a half members: weights, zeros (a run deflate shrinks), text."""
    return _weights(6) + bytes(3 * 1024 * 1024) + b"model_fn(model_dir)\n" * 60_000


def _ours(data: bytes, *, threads: int | None = None, piece: int = 100_000) -> bytes:
    raw = io.BytesIO()
    with gzip_io.MemberWriter(raw, threads=threads) as writer:
        for start in range(0, len(data), piece):
            writer.write(data[start : start + piece])
    return raw.getvalue()


def _read(compressed: bytes, *, piece: int = 777_777, parallel: int | None = None) -> tuple[bytes, int]:
    """What the reader hands out, read in odd pieces, and the compressed bytes it counted; ``parallel``: how many
    members it must have inflated in parallel."""
    with gzip_io.open_reader(io.BytesIO(compressed)) as reader:
        out = b"".join(iter(lambda: reader.read(piece), b""))
        if parallel is not None:
            assert reader.parallel_members == parallel
        return out, reader.consumed


def _members(compressed: bytes) -> list[tuple[int, bytes]]:
    """(offset, header) of each member, hopping by the size subfield."""
    found, offset = [], 0
    while offset < len(compressed):
        header = compressed[offset : offset + 20]
        found.append((offset, header))
        offset += struct.unpack("<I", header[16:20])[0]
    return found


def test_every_gzip_reader_reads_it(tmp_path: Path) -> None:
    data = _data()
    compressed = _ours(data)
    assert gzip.decompress(compressed) == data
    path = tmp_path / "data.gz"
    path.write_bytes(compressed)
    gunzip = shutil.which("gzip")
    assert gunzip is not None
    assert subprocess.run([gunzip, "-dc", str(path)], capture_output=True, check=True).stdout == data


def test_a_tar_of_it_is_read_by_tarfile_and_tar(tmp_path: Path) -> None:
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("weights.bin")
        weights = _weights(6)
        info.size = len(weights)
        tar.addfile(info, io.BytesIO(weights))
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_ours(tar_bytes.getvalue()))
    with tarfile.open(archive, "r:gz") as tar:
        extracted = tar.extractfile("weights.bin")
        assert extracted is not None
        assert extracted.read() == weights
    listing = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, text=True, check=True).stdout
    assert listing.split() == ["weights.bin"]


def test_members_are_cut_at_fixed_offsets_with_a_plain_header() -> None:
    data = _data()
    compressed = _ours(data)
    members = _members(compressed)
    assert len(members) == -(-len(data) // MEMBER)
    for offset, header in members:
        magic, method, flags, mtime, xfl, os_, xlen, subfield, length = struct.unpack("<2sBBIBBH2sH", header[:16])
        # No name, no time: the same input gives the same header.
        assert (magic, method, flags, mtime, xfl, os_) == (b"\x1f\x8b", 8, 0x04, 0, 0, 255)
        assert (xlen, subfield, length) == (8, b"mc", 4)
        size = struct.unpack("<I", header[16:20])[0]
        member = compressed[offset : offset + size]
        assert len(zlib.decompress(member, 31)) == min(MEMBER, len(data) - members.index((offset, header)) * MEMBER)


def test_the_same_input_gives_the_same_bytes_whatever_the_threads_and_writes() -> None:
    data = _data()
    assert _ours(data, threads=1, piece=len(data)) == _ours(data, threads=3, piece=4096) == _ours(data)


def test_an_empty_stream_is_one_empty_member() -> None:
    compressed = _ours(b"")
    assert gzip.decompress(compressed) == b""
    assert _read(compressed) == (b"", len(compressed))


def test_the_reader_returns_every_byte_and_counts_the_compressed_ones() -> None:
    data = _data()
    compressed = _ours(data)
    members = len(_members(compressed))
    assert _read(compressed, parallel=members) == (data, len(compressed))
    assert _read(compressed, piece=MEMBER, parallel=members) == (data, len(compressed))


def test_other_gzip_files_are_read_in_sequence() -> None:
    data = _data()
    ours = _ours(data)
    for compressed, parallel in (
        (gzip.compress(data, compresslevel=1, mtime=0), 0),
        (gzip.compress(data[:1000]) + gzip.compress(data[1000:], compresslevel=1), 0),  # several, none ours
        (ours + gzip.compress(data, compresslevel=1) + bytes(7), len(_members(ours))),  # then another's, padding
    ):
        expected = gzip.decompress(compressed)
        assert _read(compressed, parallel=parallel) == (expected, len(compressed))


def test_a_size_subfield_that_lies_falls_back_to_reading_in_sequence() -> None:
    data = _data()
    compressed = bytearray(_ours(data))
    size = struct.unpack("<I", compressed[16:20])[0]
    compressed[16:20] = struct.pack("<I", size - 100)  # the next "member" starts inside this one
    assert _read(bytes(compressed), parallel=0) == (data, len(compressed))


def test_a_member_that_inflates_to_more_than_ours_do_is_read_in_sequence() -> None:
    # A header of ours on a member of 5 MiB of zeros: never taken whole into memory in parallel.
    zeros = bytes(MEMBER + 1024 * 1024)
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflater.compress(zeros) + deflater.flush()
    size = 20 + len(body) + 8
    header = struct.pack("<BBBBIBBH2sHI", 0x1F, 0x8B, 8, 4, 0, 0, 255, 8, b"mc", 4, size)
    member = header + body + struct.pack("<II", zlib.crc32(zeros), len(zeros))
    assert gzip.decompress(member) == zeros
    assert _read(member, parallel=0) == (zeros, len(member))


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_broken_checksum_is_refused_as_python_refuses_it(where: str) -> None:
    compressed = bytearray(_ours(_data()))
    offset, header = _members(bytes(compressed))[0 if where == "first" else -1]
    crc = offset + struct.unpack("<I", header[16:20])[0] - 8
    compressed[crc] ^= 0xFF
    with pytest.raises(gzip.BadGzipFile, match="CRC check failed"):
        gzip.decompress(bytes(compressed))
    with pytest.raises(gzip.BadGzipFile, match="CRC check failed"):
        _read(bytes(compressed))


def test_a_truncated_file_is_refused_as_python_refuses_it() -> None:
    compressed = _ours(_data())
    for cut in (len(compressed) // 2, len(compressed) - 3, 15):
        with pytest.raises(EOFError, match="Compressed file ended before the end-of-stream marker was reached"):
            gzip.decompress(compressed[:cut])
        with pytest.raises(EOFError, match="Compressed file ended before the end-of-stream marker was reached"):
            _read(compressed[:cut])


def test_not_gzip_is_refused() -> None:
    with pytest.raises(gzip.BadGzipFile, match="Not a gzipped file"):
        _read(b"PK\x03\x04 a zip file, not gzip at all")


def test_the_reader_seeks_forward_only() -> None:
    data = _data()
    with gzip_io.open_reader(io.BytesIO(_ours(data))) as reader:
        assert reader.read(10) == data[:10]
        assert reader.seek(MEMBER + 5) == MEMBER + 5
        assert reader.tell() == MEMBER + 5
        assert reader.read(5) == data[MEMBER + 5 : MEMBER + 10]
        with pytest.raises(tarfile.StreamError, match="seeking backwards is not allowed"):
            reader.seek(3)


def test_progress_is_told_of_every_compressed_byte() -> None:
    compressed = _ours(_data())
    steps: list[int] = []
    with gzip_io.open_reader(io.BytesIO(compressed), progress=steps.append) as reader:
        while reader.read(MEMBER):
            pass
    assert sum(steps) == len(compressed)
    assert len(steps) == len(_members(compressed))


def test_is_ours_tells_an_archive_modelctl_wrote(tmp_path: Path) -> None:
    ours, theirs, short = tmp_path / "ours.gz", tmp_path / "theirs.gz", tmp_path / "short"
    ours.write_bytes(_ours(b"x"))
    theirs.write_bytes(gzip.compress(b"x"))
    short.write_bytes(b"\x1f\x8b")
    assert [gzip_io.is_ours(p) for p in (ours, theirs, short, tmp_path / "missing")] == [True, False, False, False]
