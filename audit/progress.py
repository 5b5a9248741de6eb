"""Progress feedback: tqdm bars on a terminal, a few plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress", "say"]

T = TypeVar("T")


def say(message: str) -> None:
    """One line of feedback on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


def progress(items: Iterable[T], total: int, desc: str) -> Iterator[T]:
    """Yield ``items``; show a bar on a TTY, else a line at every quarter."""
    if sys.stderr.isatty():
        yield from tqdm(items, total=total, desc=desc, leave=False, file=sys.stderr)
        return
    marks = {max(1, round(total * q)) for q in (0.25, 0.5, 0.75, 1.0)} if total else set()
    t0 = time.perf_counter()
    for i, item in enumerate(items, start=1):
        yield item
        if i in marks:
            say(f"  {desc}: {i}/{total} ({time.perf_counter() - t0:.1f} s)")
