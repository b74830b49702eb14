"""Progress bars (tqdm) for the steps ML engineers wait on: packaging, checking and uploading large archives.

A bar goes to stderr, and only when stderr is a terminal and ``--quiet`` was not given: CI logs, pipes and
files get the result lines alone. It appears after ``DELAY`` seconds, so a small archive shows none.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TextIO

#: Seconds of work before a bar is drawn.
DELAY = 0.5

Advance = Callable[[int], None]
"""Called with each step, in bytes (from any thread)."""
Progress = Callable[[str, int], AbstractContextManager[Advance]]
"""``progress(description, total_bytes)``: a context in which the step function is used."""


@contextmanager
def silent(description: str, total: int) -> Iterator[Advance]:  # noqa: ARG001 (a Progress, drawing nothing)
    """No bar."""
    yield lambda _: None


def wanted(*, quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether bars should be drawn: not ``quiet``, and ``stream`` (stderr by default) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    return not quiet and stream.isatty()


def bars(*, quiet: bool) -> Progress:
    """Bars on stderr if ``wanted``; otherwise ``silent``."""
    return _bar if wanted(quiet=quiet) else silent


@contextmanager
def _bar(description: str, total: int) -> Iterator[Advance]:
    from tqdm import tqdm

    lock = threading.Lock()
    with tqdm(
        total=total,
        desc=description,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        delay=DELAY,
        leave=False,
        dynamic_ncols=True,
    ) as bar:

        def advance(step: int) -> None:
            # boto3 reports an upload's parts from its transfer threads.
            with lock:
                bar.update(step)

        yield advance
