"""Training speed and accuracy of the default model on the clean phantom experiment
(issue 4 target: >= 95% test accuracy, training <= 180 s on 2 CPU cores).

Runs the data, train and predict stages of ``experiments/clean.toml`` (or the file
given) in a temporary folder and prints the training time, training images/s
(images seen over all epochs / seconds) and the test metrics.
Run: ``.venv/bin/python benchmarks/train_speed.py [EXPERIMENT.toml] [--set k=v ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("experiment", nargs="?", default=str(ROOT / "experiments" / "clean.toml"))
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    from audit.config import load_config
    from audit.pipeline import run_pipeline

    cfg = load_config(args.experiment, args.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_pipeline(cfg, Path(tmp), only="predict")
        seconds = res.timings["train"]
        history = json.loads(next((Path(tmp) / "cache").glob("train-*/history.json")).read_text())
        metrics = json.loads(next((Path(tmp) / "cache").glob("predict-*/metrics.json")).read_text())
    epochs = len(history["history"].get("loss", []))
    n_train = round(cfg.data.synthetic.n_images * (1 - cfg.data.test_fraction) * (1 - cfg.data.val_fraction))
    print(f"cores: {os.cpu_count()}; {cfg.experiment.name}: {cfg.model.architecture}, {n_train} training images")
    print(f"training {seconds:.1f} s = {seconds / 180:.2f} x the 180 s target; {epochs} epochs "
          f"(best {history['best_epoch']}); {n_train * epochs / seconds:.0f} training images/s")  # fmt: skip
    print(f"test accuracy {metrics['test_accuracy']:.3f} (target 0.95), balanced {metrics['balanced_accuracy']:.3f}, "
          f"ROC AUC {metrics['roc_auc']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
