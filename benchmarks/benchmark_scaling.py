"""The benchmark matrix on Ray: same results, and how much faster?  (issue 22.3)

Runs the ``--quick`` matrix (``experiments/benchmark.toml --quick``, or the experiment given) from empty
folders, each run in its own subprocess: the ``local`` executor, then a local Ray cluster of 1 worker
(holding all cores) and of 2 workers (one core's share each); then the three again with every cell held
to one TensorFlow thread (``benchmark.threads = 1``: a cell's numbers depend on its thread count).
Prints each run's wall time, the speed-up of 2 workers over 1, whether the cell results are identical
within each group (verdicts, measured drops and intervals, accuracies, attention shares; the largest
numeric difference otherwise), and an estimate of
the full matrix's time on N workers: the per-cell times of a full run (``--full-json``, a benchmark.json;
default: docs/benchmark.md's fresh full run, 64 cells of median 57 s on 2 cores) scheduled longest-first
on N workers of 2 cores each, and on this machine's cores split N ways with the parallel efficiency
measured here.

    python benchmarks/benchmark_scaling.py [--out reports/benchmark_scaling] [--full-json PATH]
                                           [--set key=value ...] [--runs local,ray1,ray2]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = {"local": ["--executor", "local"], "ray1": ["--executor", "ray", "--workers", "1"],
        "ray2": ["--executor", "ray", "--workers", "2"]}  # fmt: skip
ONE_THREAD = ["--set", "benchmark.threads=1"]
RUNS |= {f"{name}-t1": [*args, *ONE_THREAD] for name, args in list(RUNS.items())}
COMPARED = ["verdict", "learnt", "reliant", "strong", "drop", "drop_ci_low", "drop_ci_high", "accuracy_tied",
            "accuracy_swapped", "balanced_accuracy", "on_anatomy"]  # fmt: skip
FULL_MATRIX = {"cells": 64, "median_s": 57.0, "source": "docs/benchmark.md (fresh full run, 2 cores)"}


def makespan(seconds: list[float], workers: int) -> float:
    """Longest-processing-time-first schedule of the cell times on ``workers`` workers."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads)


def compare_cells(a: list[dict], b: list[dict]) -> tuple[bool, float]:
    """(identical, largest numeric difference) of two runs' cells, matched by cell and method."""
    key = {(r["cell"], r["method"]): r for r in b}
    worst, same = 0.0, len(a) == len(b)
    for r in a:
        o = key.get((r["cell"], r["method"]))
        if o is None:
            return False, float("inf")
        for col in COMPARED:
            x, y = r.get(col), o.get(col)
            if isinstance(x, float) and isinstance(y, float):
                worst = max(worst, abs(x - y))
                same &= x == y or (x != x and y != y)
            else:
                same &= x == y
    return same, worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", nargs="?", default=str(ROOT / "experiments" / "benchmark.toml"))
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmark_scaling")
    p.add_argument("--full-json", type=Path, help="a full run's benchmark.json, for its per-cell times")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--runs", default="local,ray1,ray2,local-t1,ray1-t1,ray2-t1")
    args = p.parse_args(argv)
    import shutil

    walls, cells = {}, {}
    for name in args.runs.split(","):
        out = args.out / name
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, str(ROOT / "run_audit.py"), args.experiment, "--quick", "--out", str(out), *RUNS[name]]
        for o in args.overrides:
            cmd += ["--set", o]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        walls[name] = time.perf_counter() - t0
        out.mkdir(parents=True, exist_ok=True)
        (out / "log.txt").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            print(f"{name}: failed (exit {proc.returncode}); see {out / 'log.txt'}\n{proc.stderr[-1500:]}")
            return 1
        report = json.loads((out / "benchmark.json").read_text())
        cells[name] = report
        print(f"{name:6s}: {walls[name]:6.1f} s wall, {len(report['cell_seconds'])} cells "
              f"({', '.join(f'{s:.0f}' for s in report['cell_seconds'].values())} s each), "
              f"{len(report['summary']['failed_cells'])} failed", flush=True)  # fmt: skip
    names = list(walls)
    summary = {"cores": os.cpu_count(), "wall_s": walls, "identical": {}}
    for group in ("", "-t1"):  # each cell's threads: its worker's share, or 1 (benchmark.threads)
        members = [n for n in names if n.endswith("-t1") == (group == "-t1")]
        for name in members[1:]:
            same, worst = compare_cells(cells[members[0]]["cells"], cells[name]["cells"])
            summary["identical"][f"{name} vs {members[0]}"] = same
            verdict = "identical" if same else f"differ (largest difference {worst:.3g})"
            print(f"cells of {name} vs {members[0]}: {verdict}")
        if f"ray1{group}" in walls and f"ray2{group}" in walls:
            speedup = walls[f"ray1{group}"] / walls[f"ray2{group}"]
            summary[f"speedup_2_over_1{group}"] = speedup
            print(f"speed-up, 2 Ray workers over 1 on {os.cpu_count()} cores"
                  f"{' (1 thread per cell)' if group else ''}: {speedup:.2f}x (goal >= 1.7x)")  # fmt: skip
    if "ray1" in walls and "ray2" in walls:
        per_cell_1 = sum(cells["ray1"]["cell_seconds"].values())
        per_cell_2 = sum(cells["ray2"]["cell_seconds"].values())
        summary["cell_time_ratio_1core_over_2cores"] = per_cell_2 / per_cell_1
        print(f"a cell on one core's share takes {per_cell_2 / per_cell_1:.2f}x as long as on all {os.cpu_count()}")
    if args.full_json:
        full = list(json.loads(args.full_json.read_text())["cell_seconds"].values())
        source = str(args.full_json)
    else:
        full, source = [FULL_MATRIX["median_s"]] * FULL_MATRIX["cells"], FULL_MATRIX["source"]
    estimates = ", ".join(f"N={n} {makespan(full, n) / 60:.1f} min" for n in (2, 4, 8, 16, 32))
    print(f"full matrix, {len(full)} cells ({source}): one process {sum(full) / 60:.1f} min; "
          f"on N workers of 2 cores each: {estimates}")  # fmt: skip
    if "cell_time_ratio_1core_over_2cores" in summary:
        r = summary["cell_time_ratio_1core_over_2cores"]
        print(f"  on this machine as 2 workers of 1 core: {makespan([s * r for s in full], 2) / 60:.1f} min")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
