"""How many CPU cores this process may use: ``BRAIN_AUDIT_CORES`` when set (the benchmark's Ray
executor sets it, with TensorFlow's thread counts, to each worker's share), else all of them; and
holding this process's TensorFlow to a thread count (a model's numbers depend on it: another
summation order, as on another machine)."""

from __future__ import annotations

import os

__all__ = ["CORES_ENV", "available_cores", "hold_threads", "thread_env", "threads_in_use"]

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


def hold_threads(threads: int) -> None:
    """Hold this process's TensorFlow (and phantom generator) to ``threads`` threads; a one-line error
    when TensorFlow already runs here with another count (it is fixed once it has run an op)."""
    import tensorflow as tf

    if int(os.environ.get("TF_NUM_INTRAOP_THREADS") or 0) == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        raise ValueError(
            f"benchmark.threads = {threads}: TensorFlow already runs in this process with {threads_in_use()} "
            "threads; set it before anything runs TensorFlow (the command line does), or use --executor ray"
        ) from None
    os.environ.update(thread_env(threads))


def threads_in_use() -> int:
    """The intra-op thread count TensorFlow runs with in this process."""
    import tensorflow as tf

    held = int(os.environ.get("TF_NUM_INTRAOP_THREADS") or 0) or tf.config.threading.get_intra_op_parallelism_threads()
    return held or available_cores()
