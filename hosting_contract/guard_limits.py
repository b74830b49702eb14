"""The artifact guard's limits: set in the configuration, passed to the function in its environment.

``GuardLimits`` is what the ``ArtifactGuard`` construct takes and what its function reads back
(``to_environment`` / ``from_environment``, the only encoding of the three variables); ``archive_limits`` turns
it into the checker's ``archive_rules.Limits``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from hosting_contract.archive_rules import Limits

_GIB = 1024**3

MAX_UNCOMPRESSED_BYTES: Final = "MAX_UNCOMPRESSED_BYTES"
"""Environment variable: ``max_uncompressed_gib`` in bytes."""
MAX_ENTRIES: Final = "MAX_ENTRIES"
"""Environment variable: ``max_entries``."""
MAX_COMPRESSION_RATIO: Final = "MAX_COMPRESSION_RATIO"
"""Environment variable: ``max_compression_ratio``."""

#: What each limit may be, (lowest, highest or None): outside it a limit would pass bombs or refuse every upload.
RANGES: Final[Mapping[str, tuple[float, float | None]]] = MappingProxyType(
    {
        # The guard reads the whole archive within Lambda's 15 minutes (about 10 of them for reading).
        "max_uncompressed_gib": (1, 100),
        "max_entries": (1, None),
        # gzip already shrinks ordinary model files about 1.1-3x.
        "max_compression_ratio": (2, None),
    }
)


@dataclass(frozen=True, kw_only=True)
class GuardLimits:
    """Bounds on one archive (decompression bombs, runaway archives); ``RANGES`` says what each may be."""

    max_uncompressed_gib: int = 50
    """Total size of an archive's files once extracted, 1-100 GiB: the guard reads it all within Lambda's 15
    minutes (about 10 of them for reading), so a larger limit would let archives time out instead of pass."""

    max_entries: int = 100_000
    """Files, folders and links in one archive, at least 1."""

    max_compression_ratio: float = 200.0
    """Uncompressed / compressed bytes, at least 2: gzip already shrinks ordinary model files about 1.1-3x, so a
    lower limit would reject most archives."""

    def to_environment(self) -> dict[str, str]:
        """The function's environment variables for these limits."""
        return {
            MAX_UNCOMPRESSED_BYTES: str(self.max_uncompressed_gib * _GIB),
            MAX_ENTRIES: str(self.max_entries),
            MAX_COMPRESSION_RATIO: str(self.max_compression_ratio),
        }

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> GuardLimits:
        """The limits ``to_environment`` wrote (``os.environ`` in the function); ``ValueError`` if malformed."""
        size = int(environment[MAX_UNCOMPRESSED_BYTES])
        if size <= 0 or size % _GIB:
            raise ValueError(f"{MAX_UNCOMPRESSED_BYTES} {size} is no positive whole number of GiB")
        return cls(
            max_uncompressed_gib=size // _GIB,
            max_entries=int(environment[MAX_ENTRIES]),
            max_compression_ratio=float(environment[MAX_COMPRESSION_RATIO]),
        )

    def archive_limits(self) -> Limits:
        """These limits as the archive checker takes them."""
        return Limits(
            max_uncompressed_bytes=self.max_uncompressed_gib * _GIB,
            max_entries=self.max_entries,
            max_compression_ratio=self.max_compression_ratio,
        )
