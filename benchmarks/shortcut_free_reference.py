"""What a model that never saw a shortcut scores on a mitigation cell's test sets (issue 21.3).

The mitigation benchmark (``benchmarks/mitigation.py``) counts a reliance as removed when the mitigated
model learnt the task (balanced accuracy >= 0.8 on the cell's test set, the shortcut tied) and no class
loses 0.05 or more when the shortcut is swapped to the other class.  Both bars assume that a model
reading only anatomy would pass them.  Where the planted shortcut also changes how much anatomy an image
shows (a windowing that saturates the tumor, a field of view that cuts the brain, noise), it need not.

This script measures that reference.  For each shortcut kind and head it trains the benchmark's model on
the cell's data with the shortcut drawn independently of the class (p = 0: no tie to learn; the same
images, split, seed and budget), optionally behind the mitigation a removal uses, and scores it on the
p = 1 (or ``--strength``) cell's test images, tied and swapped, with
:func:`audit.benchmark.measure_reliance`, as ``benchmarks/mitigation.py`` scores a mitigated model.  Its
balanced accuracy on the tied set is what an anatomy-only model of this architecture and budget reaches
there; its per-class drop is the drop such a model shows anyway.  Nothing is tuned here.  Writes
``<out>/shortcut_free_reference.csv``.

    python benchmarks/shortcut_free_reference.py [--shortcuts intensity,zoom] [--anatomies mni152,colin27]
        [--pipelines none,brain_normalization] [--strength 1.0] [--seed N] [--out reports/reference]

``--pipelines``: the mitigations the p = 0 model is trained behind (``none``: the raw images).  A training
mitigation changes only the training images; an input one (``brain_crop``) the test images too.

``--audit``: also audit the shortcut-free model on the cell (``model.path``, the cell's data with its shortcut
tied) and record the verdict, its rule and the checks' statuses.  That is a model that reads no shortcut on
data that offers one, the case of a good model on a confounded set; its right verdict is not ``artifact``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def audit_on_cell(cell, train_entry: Path, out: Path) -> dict:
    """The audit of the model cached in ``train_entry`` on the data of ``cell`` (loaded through ``model.path``,
    as a user's model is): verdict, rule and each check's status."""
    import dataclasses

    from audit.pipeline import run_pipeline

    cfg = dataclasses.replace(
        cell, model=dataclasses.replace(cell.model, path=str(train_entry / "model.keras")),
        train=dataclasses.replace(cell.train, mitigation=""),
    )  # fmt: skip
    results = run_pipeline(cfg, out, cache=out / "cache").results
    return {
        "verdict": results["verdict"]["label"],
        "rule": results["verdict"]["rule"],
        **{f"check_{c['name']}": c["status"] for c in results["checks"]},
    }


def main(argv: list[str] | None = None) -> int:
    from audit.benchmark import SITE, Cell, cell_config, measure_reliance
    from audit.config import load_config
    from audit.io import write_text_atomic
    from audit.mitigations import with_mitigation
    from audit.pipeline import cached_outputs, stage_keys

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shortcuts", default="marker,frame,padding,zoom,intensity,noise,ghost,site")
    p.add_argument("--anatomies", default="mni152,colin27")
    p.add_argument("--pipelines", default="none")
    p.add_argument("--strength", type=float, default=1.0, help="tie strength of the cell scored (default 1.0)")
    p.add_argument("--seed", type=int, default=None, help="data and training seed (default: experiment.seed)")
    p.add_argument("--audit", action="store_true", help="audit each shortcut-free model on the tied cell")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "reference")
    args = p.parse_args(argv)
    cfg = load_config(ROOT / "experiments" / "benchmark.toml")
    rows = []
    t_start = time.perf_counter()
    for anatomy in args.anatomies.split(","):
        for shortcut in args.shortcuts.split(","):
            artifact = shortcut if shortcut != "site" else SITE
            for pipeline in args.pipelines.split(","):
                name = "" if pipeline == "none" else pipeline
                free, cell = (
                    with_mitigation(
                        cell_config(cfg, Cell(anatomy, "present", artifact, tie, args.seed), "hirescam"), name
                    )
                    for tie in (0.0, args.strength)
                )
                t0 = time.perf_counter()
                model = cached_outputs(free, args.out / f"{anatomy}-{shortcut}-p0" / pipeline, "train",
                                       cache=args.out / "cache")["train"].model  # fmt: skip
                ds = cached_outputs(cell, args.out / f"{anatomy}-{shortcut}-p{args.strength:g}" / pipeline, "data",
                                    cache=args.out / "cache")["data"]  # fmt: skip
                rel = measure_reliance(cell, ds, model, cfg.benchmark.strong_drop, 1000)
                row = {"anatomy": anatomy, "shortcut": shortcut, "p_scored": args.strength,
                       "seed": free.experiment.seed, "pipeline": pipeline, **rel}  # fmt: skip
                if args.audit:
                    folder = args.out / f"{anatomy}-{shortcut}-p{args.strength:g}" / pipeline / "audit"
                    row |= audit_on_cell(cell, args.out / "cache" / f"train-{stage_keys(free)['train']}", folder)
                row["seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
                args.out.mkdir(parents=True, exist_ok=True)
                write_text_atomic(args.out / "shortcut_free_reference.csv", pd.DataFrame(rows).to_csv(index=False))
                print(f"{anatomy:8s} {shortcut:10s} {pipeline:28s} balanced accuracy (tied) "
                      f"{row['balanced_accuracy_tied']:.3f}  drop {row['drop']:+.3f} "
                      f"[{row['drop_ci_low']:+.3f}, {row['drop_ci_high']:+.3f}]  worst class ({row['worst_class']}) "
                      f"{row['drop_worst_class']:+.3f}"
                      + (f"  audited: {row['verdict']} (rule {row['rule']})" if args.audit else "")
                      + f"  ({row['seconds']:.0f} s)", flush=True)  # fmt: skip
    print(f"\n{len(rows)} models in {(time.perf_counter() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
