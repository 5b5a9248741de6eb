"""Run one built-in model-behaviour check on finished runs' cached models, without re-running them.

For each run folder (an audit's ``--out``, or a benchmark cell's method folder whose cache is the
cell's ``cache/``), loads the cached dataset and trained model, builds the test split's exact region
maps (phantoms) and runs the check as the pipeline would; prints one line per run: the model's test
accuracy, the check's status and headline.  Used to measure a new check on models trained by
earlier versions (their cache keys hold the version, so a rerun would retrain).
Run: ``.venv/bin/python benchmarks/recheck.py CHECK RUN_OR_CACHE_DIR ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def cache_of(folder: Path) -> Path:
    for candidate in (folder / "cache", folder.parent / "cache", folder):
        if any(candidate.glob("train-*")):
            return candidate
    raise SystemExit(f"{folder}: no cache with a trained model")


def main(argv: list[str]) -> int:
    import keras
    import pandas as pd

    from audit.checks import CheckContext, available_checks, run_check
    from audit.config import Config
    from audit.data.dataset import load_dataset
    from audit.model import predict_proba
    from audit.regions import regions_from_label_maps

    name, folders = argv[0], [Path(a) for a in argv[1:]]
    check = available_checks()[name]
    for folder in folders:
        cache = cache_of(folder)
        ds = load_dataset(next(cache.glob("data-*")))
        model = keras.models.load_model(next(cache.glob("train-*")) / "model.keras", compile=False, safe_mode=False)
        te = ds.indices("test")
        images = np.asarray(ds.images[te], np.float32)
        labels = ds.labels[te]
        proba = predict_proba(model, images)
        ctx = CheckContext(
            images=images, labels=labels, regions=regions_from_label_maps(np.asarray(ds.label_maps[te])),
            class_names=ds.class_names, model=model, proba=proba, cams=None, cam_engine=None,
            per_image=pd.DataFrame(), config=Config(), params={}, rng=np.random.default_rng(0), meta=None,
        )  # fmt: skip
        result = run_check(check, ctx)
        acc = float((proba.argmax(1) == labels).mean())
        print(f"{folder}: accuracy {acc:.3f}; {name} {result.status}: {result.headline}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
