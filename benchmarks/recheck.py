"""Run one built-in model-behaviour check on finished runs' cached models, without re-running them.

For each run folder (an audit's ``--out``, a benchmark cell's method folder whose cache is the
cell's ``cache/``, or a mitigation run whose cache is shared: :func:`locate`), loads the cached dataset
and trained model, builds the test split's exact region
maps (phantoms) and runs the check as the pipeline would; prints one line per run: the model's test
accuracy, the check's status and headline.  Used to measure a new check on models trained by
earlier versions (their cache keys hold the version, so a rerun would retrain).
Run: ``.venv/bin/python benchmarks/recheck.py CHECK RUN_OR_CACHE_DIR ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def locate(folder: Path) -> tuple[Path, Path]:
    """(dataset, trained model) cache entries of a run folder.

    With the run's ``config.toml``, the entries its stage keys name, in the nearest cache above it (a cache
    shared by many runs, as the mitigation benchmark's, holds many models); without it, the only ones in
    the cache (an error when there are several: picking one would recheck another run's model)."""
    candidates = (folder / "cache", folder.parent / "cache", folder.parent.parent / "cache", folder)
    if (folder / "config.toml").exists():
        import json

        import audit
        from audit.config import load_config
        from audit.pipeline import stage_keys

        # The keys hold the package version the run had (its results.json records it), not this one's.
        results = folder / "results.json"
        version = json.loads(results.read_text())["versions"]["package"] if results.exists() else audit.__version__
        current, audit.__version__ = audit.__version__, version
        try:
            keys = stage_keys(load_config(folder / "config.toml"))
        finally:
            audit.__version__ = current
        for cache in candidates:
            data, train = cache / f"data-{keys['data']}", cache / f"train-{keys['train']}"
            if data.exists() and train.exists():
                return data, train
    for cache in candidates:
        data, train = sorted(cache.glob("data-*")), sorted(cache.glob("train-*"))
        if len(data) == 1 and len(train) == 1:
            return data[0], train[0]
        if train:
            raise LookupError(f"{len(train)} trained models in {cache} and none named by its config.toml")
    raise LookupError("no cache with a trained model")


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
        try:
            data, train = locate(folder)
        except LookupError as e:
            print(f"{folder}: skipped ({e})", flush=True)
            continue
        ds = load_dataset(data)
        model = keras.models.load_model(train / "model.keras", compile=False, safe_mode=False)
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
