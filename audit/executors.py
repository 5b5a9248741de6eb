"""Where the benchmark's cells run: one after another in this process (``"local"``), or each as a Ray
task (``"ray"``) on a local cluster started for the run or on an existing cluster.

A cell is a call ``fn(item)`` whose only shared state is the output folder (its stage caches, so a
cell computed on any worker is reused by every later run).  A cell that raises is recorded with its
error and the others finish; a run that is killed resumes from those caches."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from audit.cores import available_cores, hold_threads, thread_env

__all__ = ["EXECUTORS", "Outcome", "check_executor", "import_ray", "run_all"]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Outcome:
    """One cell's result: ``value`` (what ``fn`` returned) or ``error`` (one line) with its traceback."""

    value: Any = None
    error: str = ""
    traceback: str = ""


def check_executor(executor: str) -> None:
    """A one-line error for an executor that is not one of :data:`EXECUTORS`."""
    if executor not in EXECUTORS:
        raise ValueError(f"benchmark.executor: unknown {executor!r}; available: {', '.join(EXECUTORS)}")


def _failed(exc: BaseException, detail: str) -> Outcome:
    """An exception as an :class:`Outcome`: its type and first line (at most 500 characters), and ``detail``."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return Outcome(error=f"{type(exc).__name__}: {first}"[:500], traceback=detail)


def _call(fn: Callable[[Any], Any], item: Any) -> Outcome:
    """``fn(item)`` as an :class:`Outcome`; an exception becomes the outcome's error (a
    KeyboardInterrupt stops the run instead: it is resumed from the caches)."""
    try:
        return Outcome(value=fn(item))
    except Exception as exc:  # noqa: BLE001 - a failing cell is reported, the rest run on
        return _failed(exc, traceback.format_exc())


def run_all(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    executor: str = "local",
    workers: int = 0,
    address: str = "",
    threads: int = 0,
    on_done: Callable[[int, Outcome], None] | None = None,
) -> list[Outcome]:
    """``fn(item)`` for every item, as outcomes in the items' order; ``on_done(k, outcome)`` is
    called as item ``k`` finishes (in the order they finish).  ``threads`` > 0 holds every item's
    TensorFlow to that many threads (0: its worker's share of the cores)."""
    check_executor(executor)
    if executor == "local":
        if threads:
            hold_threads(threads)
        outcomes = []
        for k, item in enumerate(items):
            outcomes.append(_call(fn, item))
            if on_done:
                on_done(k, outcomes[-1])
        return outcomes
    return _run_on_ray(fn, items, workers, address, threads, on_done)


def import_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError("benchmark.executor = 'ray' needs Ray: pip install 'brain-audit[ray]'") from None
    return ray


def _run_on_ray(fn, items, workers: int, address: str, threads: int, on_done) -> list[Outcome]:
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        if address:
            # On a cluster of its own size each cell asks for one CPU and holds TensorFlow to one thread,
            # so the cluster runs as many cells at once as it has CPUs.
            ray.init(address=address, runtime_env={"env_vars": thread_env(threads or 1)}, log_to_driver=False)
        else:
            cores = available_cores()
            n = workers or cores
            ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": thread_env(threads or max(1, cores // n))})  # fmt: skip
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_call)
        refs = {task.remote(fn, item): k for k, item in enumerate(items)}
        outcomes: list[Outcome | None] = [None] * len(items)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            k = refs[done[0]]
            try:
                outcome = ray.get(done[0])
            except ray.exceptions.RayError as exc:  # the worker died (killed, out of memory), not the cell's code
                outcome = _failed(exc, str(exc))
            outcomes[k] = outcome
            if on_done:
                on_done(k, outcome)
        return outcomes  # type: ignore[return-value]
    finally:
        if started:
            ray.shutdown()
