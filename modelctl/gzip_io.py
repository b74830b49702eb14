"""Fast gzip for model archives: ISA-L's deflate (python-isal), on every core, in a standard gzip file.

``MemberWriter`` cuts the stream into ``MEMBER_BYTES`` pieces and deflates each on its own, in parallel, into one
gzip member: a gzip file is "a series of members" (RFC 1952, 2.2), so ``gzip -d``, ``tar xzf``, Python's ``gzip``
and ``tarfile`` (the artifact guard's reader) read it as one stream. Each member's header carries its total size
in an extra subfield (RFC 1952, 2.3.1.1; the way BGZF lets readers hop from member to member), so ``open_reader``
inflates the next members in parallel too. An archive written by anything else (or whose subfield does not hold
true) is read in sequence, with ISA-L's inflate.

The same input gives the same bytes: members are cut at fixed offsets, each is deflated from its bytes alone,
and headers carry no name and a zero time. What may differ is the deflate stream across python-isal versions and
CPU families (ISA-L picks its kernels per CPU), as zlib's output may across zlib builds.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, cast

from isal import igzip, isal_zlib

#: Uncompressed bytes per gzip member: enough for deflate to reach its ratio, small enough for every core to
#: have work on a model of a few hundred MiB, and to bound memory (members in flight x 2 x this).
MEMBER_BYTES = 4 * 1024 * 1024
#: ISA-L's levels are 0-3; 2 compresses float32 weights like ``gzip -6`` at several times its speed.
LEVEL = 2
#: The extra subfield naming a member's total size in bytes (little-endian 32 bits), ours by its id.
SUBFIELD_ID = b"mc"
_FEXTRA = 0x04
_OS_UNKNOWN = 255
#: ID1 ID2 CM FLG MTIME XFL OS, XLEN, then the subfield: SI1 SI2 LEN, the size.
_HEADER = struct.Struct("<BBBBIBBH2sHI")
_FIXED = struct.Struct("<BBBBIBBH")
#: What the sequential reader is asked for at a time.
_PIECE = 1024 * 1024
#: A member of ours never exceeds its input by this much (ISA-L's levels 1-3 grow incompressible data by a few
#: percent at most: python-isal's own threaded writer sizes its buffers at +10%); a header claiming more is not
#: ours, and is read in sequence instead of being taken into memory.
_MAX_MEMBER = MEMBER_BYTES + MEMBER_BYTES // 8 + 4096
#: What ISA-L raises on a broken deflate stream (its stubs type it as an instance).
INFLATE_ERROR = cast("type[Exception]", isal_zlib.error)


def workers() -> int:
    """The cores this process may use (a container's CPU set, not the host's), at most 8."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no sched_getaffinity
        count = os.cpu_count() or 1
    return max(1, min(count, 8))


def _deflate_member(data: bytes, level: int) -> bytes:
    compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    size = _HEADER.size + len(body) + 8
    header = _HEADER.pack(0x1F, 0x8B, 8, _FEXTRA, 0, 0, _OS_UNKNOWN, 8, SUBFIELD_ID, 4, size)
    return header + body + struct.pack("<II", isal_zlib.crc32(data), len(data) & 0xFFFFFFFF)


class MemberWriter(io.RawIOBase):
    """A writable gzip stream onto ``raw``: members deflated in parallel, written in order. Close it to finish
    the file (``raw`` stays open)."""

    def __init__(self, raw: IO[bytes], *, level: int = LEVEL, threads: int | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._level = level
        self._threads = threads or workers()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="deflate")
        self._pending: deque[Future[bytes]] = deque()
        self._buffer = bytearray()
        self._members = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        while len(self._buffer) >= MEMBER_BYTES:
            self._submit(bytes(self._buffer[:MEMBER_BYTES]))
            del self._buffer[:MEMBER_BYTES]
        return len(memoryview(data))

    def _submit(self, chunk: bytes) -> None:
        # Twice as many members in flight as threads: each thread has the next one ready, memory stays bounded.
        while len(self._pending) >= 2 * self._threads:
            self._raw.write(self._pending.popleft().result())
        self._pending.append(self._pool.submit(_deflate_member, chunk, self._level))
        self._members += 1

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._buffer or not self._members:
                self._submit(bytes(self._buffer))
                self._buffer.clear()
            while self._pending:
                self._raw.write(self._pending.popleft().result())
        finally:
            for future in self._pending:
                future.cancel()
            self._pool.shutdown(wait=True)
            super().close()


class _Chain(io.RawIOBase):
    """``parts`` (bytes already read), then the rest of ``raw``."""

    def __init__(self, parts: list[bytes], raw: IO[bytes]) -> None:
        super().__init__()
        self._parts = deque(memoryview(p) for p in parts if p)
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if self._parts:
            part = self._parts[0]
            size = min(len(part), len(target))
            target[:size] = part[:size]
            if size == len(part):
                self._parts.popleft()
            else:
                self._parts[0] = part[size:]
            return size
        return self._raw.readinto(target)  # type: ignore[attr-defined,no-any-return]


class _Counted(io.RawIOBase):
    """Reads ``raw``, adding each read's size to ``count``."""

    def __init__(self, raw: IO[bytes], count: Callable[[int], None]) -> None:
        super().__init__()
        self._raw = raw
        self._count = count

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        size: int = self._raw.readinto(target)  # type: ignore[attr-defined]
        self._count(size or 0)
        return size or 0


def _inflate_member(member: bytes) -> bytes | None:
    """The member's bytes (CRC and length checked), or None when it is not what its header claims or is broken:
    the sequential reader then reads it, and says what is wrong in the words Python's gzip would."""
    decompressor = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(member, MEMBER_BYTES + 1)
    except INFLATE_ERROR:
        return None
    if not decompressor.eof or decompressor.unused_data or decompressor.unconsumed_tail or len(data) > MEMBER_BYTES:
        return None
    return data


class MemberReader(io.RawIOBase):
    """The decompressed stream of the gzip file ``raw``: members of ours inflated in parallel, ahead of the
    reader; from the first member that is not, the rest in sequence (ISA-L's gzip reader, which reads like
    Python's gzip: several members, zero padding, CRC and length checks).

    Reads return what was asked unless the stream ends (as tarfile's stream reader does), a whole member's
    output without a copy when that is what was asked; ``seek`` goes forward only. ``consumed`` counts the
    compressed bytes whose output was handed out, or that the sequential reader read; ``progress`` is told of
    each step; ``parallel_members`` counts the members inflated in parallel.
    """

    def __init__(
        self, raw: IO[bytes], *, threads: int | None = None, progress: Callable[[int], None] | None = None
    ) -> None:
        super().__init__()
        self._raw = raw
        self._progress = progress
        self._threads = threads or workers()
        self._pool: ThreadPoolExecutor | None = None
        # In file order: (a member's compressed bytes, its inflation), kept for a fall-back to the sequential
        # reader; last, (the bytes read past the members, None) where the sequential reader takes over.
        self._ahead: deque[tuple[bytes, Future[bytes | None] | None]] = deque()
        self._members_read = False
        self._sequential: IO[bytes] | None = None
        self._data = b""
        self._offset = 0
        self._position = 0
        self.consumed = 0
        self.parallel_members = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def _count(self, size: int) -> None:
        self.consumed += size
        if self._progress is not None and size:
            self._progress(size)

    def _read_ahead(self) -> None:
        """Read members of ours and start inflating them, up to twice as many as threads."""
        while not self._members_read and len(self._ahead) < 2 * self._threads:
            head = self._raw.read(_HEADER.size)
            member = None
            if len(head) == _HEADER.size:
                magic1, magic2, method, flags, _, _, _, xlen, subfield, length, size = _HEADER.unpack(head)
                fields = (magic1, magic2, method, flags, xlen, subfield, length)
                if fields == (0x1F, 0x8B, 8, _FEXTRA, 8, SUBFIELD_ID, 4) and _HEADER.size < size <= _MAX_MEMBER:
                    head += self._raw.read(size - _HEADER.size)
                    member = head if len(head) == size else None
            if member is None:
                self._members_read = True
                self._ahead.append((head, None))
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="inflate")
            self._ahead.append((member, self._pool.submit(_inflate_member, member)))

    def _start_sequential(self) -> IO[bytes]:
        """Read everything left (what was read ahead, then the rest of the file) in sequence."""
        parts = [data for data, _ in self._ahead]
        for _, inflation in self._ahead:
            if inflation is not None:
                inflation.cancel()
        self._ahead.clear()
        self._members_read = True
        if any(parts):
            # ISA-L's reader reads ahead as little as Python's (128 KiB): ``consumed`` stays what the guard counts.
            chained = _Counted(_Chain(parts, self._raw), self._count)  # type: ignore[arg-type]
            sequential = igzip.IGzipFile(fileobj=chained, mode="rb")  # type: ignore[no-untyped-call]
            self._sequential = cast(IO[bytes], sequential)
        else:
            self._sequential = io.BytesIO()  # the file ended right after a member
        return self._sequential

    def _piece(self) -> bytes:
        """The next piece of output: a member's, or the sequential reader's; empty at the end."""
        sequential = self._sequential
        while sequential is None:
            self._read_ahead()
            member, inflation = self._ahead[0]
            data = inflation.result() if inflation is not None else None
            if data is None:
                sequential = self._start_sequential()
                break
            self._ahead.popleft()
            self._count(len(member))
            self.parallel_members += 1
            if data:
                return data
        return sequential.read(_PIECE)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_PIECE), b""))
        pieces = []
        wanted = size
        while wanted > 0:
            if self._offset == len(self._data):
                self._data, self._offset = self._piece(), 0
                if not self._data:
                    break
            if self._offset == 0 and wanted >= len(self._data):
                piece = self._data
            else:
                piece = self._data[self._offset : self._offset + wanted]
            self._offset += len(piece)
            wanted -= len(piece)
            pieces.append(piece)
        self._position += size - wanted
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Forward only, reading what is skipped (it is checked all the same); backward raises, as tarfile's
        stream reader does."""
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence != io.SEEK_SET:
            raise tarfile.StreamError("seeking from the end is not allowed")
        if offset < self._position:
            raise tarfile.StreamError("seeking backwards is not allowed")
        while self._position < offset and self.read(min(offset - self._position, _PIECE)):
            pass
        return self._position

    def close(self) -> None:
        if self.closed:
            return
        try:
            for _, inflation in self._ahead:
                if inflation is not None:
                    inflation.cancel()
            self._ahead.clear()
            if self._sequential is not None:
                self._sequential.close()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            super().close()


def open_reader(
    raw: IO[bytes], *, threads: int | None = None, progress: Callable[[int], None] | None = None
) -> MemberReader:
    """A reader of ``raw``'s decompressed bytes (``MemberReader``: its ``consumed`` counts compressed bytes)."""
    return MemberReader(raw, threads=threads, progress=progress)


def is_ours(path: os.PathLike[str] | str) -> bool:
    """Whether the file starts with a member of ours: an archive ``modelctl package`` wrote."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_FIXED.size + 4)
    except OSError:
        return False
    if len(head) < _FIXED.size + 4:
        return False
    magic1, magic2, method, flags, _, _, _, xlen = _FIXED.unpack(head[: _FIXED.size])
    return (magic1, magic2, method, flags, xlen) == (0x1F, 0x8B, 8, _FEXTRA, 8) and head[_FIXED.size :][:2] == b"mc"
