"""Console feedback: tqdm bars on a terminal, a few plain lines otherwise (CI logs); TensorFlow imported
without its C++ start-up log."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["import_tensorflow_quietly", "progress", "say"]

T = TypeVar("T")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with the process's stderr (file descriptor 2) sent to /dev/null.

    TensorFlow's C++ runtime writes its start-up notices (oneDNN, CUDA drivers, "failed call to
    cuInit" on every machine without a GPU) before its log level applies; they are not ours to
    show.  Python-level errors of the import still raise as usual.  A no-op once TensorFlow is
    imported, or when ``TF_CPP_MIN_LOG_LEVEL`` is 0 (``--debug``).
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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
