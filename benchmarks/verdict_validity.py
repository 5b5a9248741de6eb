"""Is the verdict true on draws we did not tune on, and on another summation order? (issue 17, deliverable 5)

Runs the negative control (``experiments/clean.toml``: no shortcut tied to the label) and the
positive control (``experiments/shortcut_marker.toml``: a burned-in marker on every tumor image)
for each seed, once with oneDNN's CPU kernels and once with Eigen's (``TF_ENABLE_ONEDNN_OPTS=0``:
another summation order, as on another machine), each a whole audit in its own subprocess from an
empty folder.  Targets: every clean run ``anatomy`` with test accuracy >= 0.95; every marker run
``artifact``.  The seeds (26-30 by default) were never used while choosing thresholds or training
settings: 21-25 were the held-out draw of 0.8.0's training and showed its one miss (clean, seed 21,
Eigen: 0.947), after which the learning-rate halving was added; so 21-25 no longer count as held out
for the training, and the figures for the shipped training are those on 26-30.

Runs are kept under ``reports/verdict_validity/runs/``; a rerun reuses every cached stage (a
changed verdict rule re-renders the report in seconds; delete a folder to train it again); the
table goes to ``reports/verdict_validity/validity.csv`` and
``.json``.  About 4 minutes a run on 2 cores: 20 runs take about 80 minutes.

Run: ``.venv/bin/python benchmarks/verdict_validity.py [--seeds 26 27 28 29 30] [--kernels onednn eigen]
[--experiments clean shortcut_marker]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "reports" / "verdict_validity"
EXPECTED = {"clean": "anatomy", "shortcut_marker": "artifact"}
MIN_CLEAN_ACCURACY = 0.95


def _halvings(rates: list[float]) -> int:
    """How many times the learning rate fell during the run (0 without train.lr_patience)."""
    return sum(b < a for a, b in zip(rates, rates[1:], strict=False))


def run_one(experiment: str, seed: int, kernels: str) -> dict:
    folder = OUT / "runs" / f"{experiment}-seed{seed}-{kernels}"
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if kernels == "onednn" else "0"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_audit.py"), str(ROOT / "experiments" / f"{experiment}.toml"),
         "--set", f"experiment.seed={seed}", "--out", str(folder)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"log-{time.strftime('%Y%m%d-%H%M%S')}.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        return {"experiment": experiment, "seed": seed, "kernels": kernels, "error": proc.stderr[-300:]}
    r = json.loads((folder / "results.json").read_text())
    ev = r["verdict"]["evidence"]
    methods = ev["attention"]["methods"]
    row = {
        "experiment": experiment,
        "seed": seed,
        "kernels": kernels,
        "onednn_recorded": r["compute"]["onednn"],
        "test_accuracy": r["model"]["test_accuracy"],
        "balanced_accuracy": r["model"]["balanced_accuracy"],
        "epochs_run": r["model"]["epochs_run"],
        "lr_halvings": _halvings(r["model"]["history"].get("learning_rate", [])),
        "verdict": r["verdict"]["label"],
        "rule": r["verdict"]["rule"],
        "strength": r["verdict"]["strength"],
        "model_behaviour": ev["model_behaviour"]["status"],
        "attention": ev["attention"]["label"],
        "localisation": ev["localisation"]["status"],
        "dataset": ev["dataset"]["status"],
        "explanation_trust": ev["explanation_trust"]["status"],
        **{f"method_{m}": v["label"] for m, v in methods.items()},
        **{f"on_anatomy_{m}": v["on_anatomy"]["mean"] for m, v in methods.items()},
        "wall_s": wall,
        "compute_s": sum(r["stage_compute_seconds"].values()),
    }
    ok = row["verdict"] == EXPECTED[experiment]
    if experiment == "clean":
        ok = ok and row["test_accuracy"] >= MIN_CLEAN_ACCURACY
    row["as_expected"] = bool(ok)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[26, 27, 28, 29, 30])
    parser.add_argument("--kernels", nargs="+", default=["onednn", "eigen"], choices=["onednn", "eigen"])
    parser.add_argument("--experiments", nargs="+", default=list(EXPECTED), choices=list(EXPECTED))
    args = parser.parse_args()
    import pandas as pd

    rows = []
    for seed in args.seeds:
        for kernels in args.kernels:
            for experiment in args.experiments:
                row = run_one(experiment, seed, kernels)
                rows.append(row)
                if "error" in row:
                    print(f"{experiment} seed {seed} {kernels}: ERROR {row['error']}", flush=True)
                    continue
                print(
                    f"{experiment:16s} seed {seed:3d} {kernels:6s}: acc {row['test_accuracy']:.3f} "
                    f"({row['epochs_run']} epochs) -> {row['verdict']:8s} rule {row['rule']} "
                    f"[{row['strength']}] {'ok' if row['as_expected'] else 'NOT AS EXPECTED'} "
                    f"(stages computed in {row['compute_s']:.0f} s; this call {row['wall_s']:.0f} s)",
                    flush=True,
                )
    frame = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    frame.to_csv(OUT / "validity.csv", index=False)
    (OUT / "validity.json").write_text(frame.to_json(orient="records", indent=2))
    done = frame[~frame.get("error", pd.Series(index=frame.index, dtype=object)).notna()] if "error" in frame else frame
    print()
    for experiment in args.experiments:
        sub = done[done["experiment"] == experiment]
        if len(sub):
            print(f"{experiment}: {int(sub['as_expected'].sum())} of {len(sub)} as expected "
                  f"({EXPECTED[experiment]}{', accuracy >= 0.95' if experiment == 'clean' else ''}); "
                  f"accuracy {sub['test_accuracy'].min():.3f}-{sub['test_accuracy'].max():.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
