"""How many CPU cores this process may use: ``BRAIN_AUDIT_CORES`` when set (the benchmark's Ray
executor sets it, with TensorFlow's thread counts, to each worker's share), else all of them."""

from __future__ import annotations

import os

__all__ = ["CORES_ENV", "available_cores", "thread_env"]

CORES_ENV = "BRAIN_AUDIT_CORES"


def available_cores() -> int:
    """The cores this process may use (at least 1)."""
    value = os.environ.get(CORES_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"{CORES_ENV} must be a whole number of cores, got {value!r}") from None
    return os.cpu_count() or 1


def thread_env(cores: int) -> dict[str, str]:
    """Environment variables that hold a fresh process (its TensorFlow, OpenMP and phantom
    generator) to ``cores`` cores; TensorFlow reads its two before it starts."""
    n = str(max(1, cores))
    return {CORES_ENV: n, "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n, "OMP_NUM_THREADS": n}
