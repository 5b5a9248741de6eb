"""Does ``shortcut_probe`` see shortcuts, and only shortcuts? (issue 17, deliverable 3)

For each planted signal the phantom generator renders ``N`` test-sized slices (96 px, contrast
t1c, as the default experiment) and the probe (logistic regression, 5-fold CV) is run twice: on
the exact region label maps and on the estimated regions (:func:`audit.regions.estimate_regions`,
what a user's real images get).  Signals:

- ``none``: no artifact, no site; the tumor (a lesion inside the brain) is the only difference
  between the classes: the probe must stay below ``warn_auc`` (0.7);
- ``intensity``, ``noise``, ``site`` (3 scanners with burned-in names), ``marker``, ``zoom``,
  each tied to the tumor class with strength p = 1 (and, for ``none``-like behaviour, untied at
  p = 0 on the same draw): the probe should reach ``warn_auc`` or more at p = 1.

Seeds 5 and 6 are used (neither was used to choose the features).  Nothing is trained: a few
minutes on 2 cores.  Run: ``.venv/bin/python benchmarks/probe_validity.py [N] [SEED ...]``.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

import audit  # noqa: F401  (before TensorFlow, as everywhere)

SIGNALS = ("none", "intensity", "noise", "site", "marker", "zoom")


def _data_config(signal: str, p: float, n: int):
    from audit.config import DataConfig

    base = DataConfig(
        n_images=n, image_size=96, contrasts=("t1c",), min_tumor_area=60, artifacts=(), n_sites=0,
        test_fraction=0.3, val_fraction=0.15,
    )  # fmt: skip
    if signal == "none":
        return base
    if signal == "site":
        return dataclasses.replace(base, n_sites=3, site_p=p, site_marker=True)
    return dataclasses.replace(base, artifacts=(signal,), **{f"{signal}_p": p})


def _auc(images, labels, regions) -> float:
    from audit.checks.base import CheckContext
    from audit.checks.shortcut_probe import ShortcutProbe
    from audit.config import Config

    ctx = CheckContext(
        images=images, labels=labels, regions=regions, class_names=("healthy", "tumor"), model=None,
        proba=np.zeros((len(labels), 2)), cams=None, cam_engine=None, per_image=None, config=Config(),
        params={}, rng=np.random.default_rng(0), meta=None,
    )  # fmt: skip
    return float(ShortcutProbe().run(ctx).metrics["auc"])


def main() -> None:
    from audit.data.synthetic import generate_dataset
    from audit.regions import estimate_regions, regions_from_label_maps

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    seeds = [int(s) for s in sys.argv[2:]] or [5, 6]
    print(f"{'signal':10s} {'p':>4s} {'seed':>4s} {'AUC exact regions':>18s} {'AUC estimated':>14s}")
    t0 = time.perf_counter()
    for signal in SIGNALS:
        for p in (0.0, 1.0) if signal != "none" else (0.0,):
            for seed in seeds:
                ds = generate_dataset(_data_config(signal, p, n), np.random.default_rng(seed))
                images = np.asarray(ds.images)
                exact = regions_from_label_maps(ds.label_maps)
                estimated = np.stack([estimate_regions(img) for img in images]).astype(np.uint8)
                a_exact, a_est = _auc(images, ds.labels, exact), _auc(images, ds.labels, estimated)
                print(f"{signal:10s} {p:4.1f} {seed:4d} {a_exact:18.3f} {a_est:14.3f}", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s; warn_auc 0.7: 'none' and every p = 0 row must stay below it)")


if __name__ == "__main__":
    main()
