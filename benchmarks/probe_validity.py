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

And on a real head we did not generate (when Debian's ``mricron-data`` is installed): 19 axial
slices of Colin27 (``ch2.nii.gz``, 1 mm, with skull and scalp; 35-80% of the brain's extent,
padded square, 96 px), each drawn many times, with a ring-enhancing lesion (bright rim, dark core,
radius 3-7 px) planted inside the ``ch2bet`` brain on half of the draws: the lesion is the only
difference (row ``colin27-lesion``; exact regions from the BET mask, the lesion and the head's
outline).

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
    from audit.config import DataConfig, SyntheticConfig

    r = dataclasses.replace
    syn = SyntheticConfig(n_images=n, contrasts=("t1c",), n_sites=0)
    base = DataConfig(image_size=96, min_tumor_area=60, test_fraction=0.3, val_fraction=0.15, synthetic=syn)
    if signal == "none":
        return base
    if signal == "site":
        return r(base, synthetic=r(syn, n_sites=3, site_p=p, site_marker=True))
    return r(base, artifacts={signal: p})


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


def colin27_lesions(n: int, rng: np.random.Generator, size: int = 96):
    """(images (n, size, size, 1), labels, exact regions) from real Colin27 slices
    (:func:`audit.data.anatomy.colin27_slices`) with a ring-enhancing lesion in the brain on label 1."""
    from scipy import ndimage

    from audit.data.anatomy import colin27_slices
    from audit.data.labels import LABELS
    from audit.regions import REGIONS

    slices, slice_labels = colin27_slices(size=size, n=19)
    labels = np.tile([0, 1], n // 2 + 1)[:n]
    images = np.zeros((n, size, size, 1), np.float32)
    regions = np.zeros((n, size, size), np.uint8)
    rr, cc = np.mgrid[:size, :size]
    for i, y in enumerate(labels):
        k = int(rng.integers(len(slices)))
        img = slices[k] + rng.normal(0, 0.01, slices[k].shape)  # each draw its own noise
        brain = slice_labels[k] == LABELS["grey_matter"]
        reg = np.full(img.shape, REGIONS.index("background"), np.uint8)
        reg[slice_labels[k] != LABELS["background"]] = REGIONS.index("skull_band")
        reg[brain] = REGIONS.index("brain")
        if y:
            inside = np.argwhere(ndimage.binary_erosion(brain, iterations=8))
            r, c = inside[rng.integers(len(inside))]
            radius = rng.uniform(3, 7)
            d = np.hypot(rr - r, cc - c)
            img = np.where(d < radius, np.where(d < 0.6 * radius, 0.25, 0.95), img)
            reg[d < radius] = REGIONS.index("tumor")
        images[i, ..., 0] = np.clip(img, 0, 1)
        regions[i] = reg
    return images, labels, regions


def _whole_image_auc(images, labels) -> float:
    """The 0.5 probe's whole-image histogram moments alone (what read the lesion), same CV."""
    from scipy.stats import kurtosis, skew
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import scale

    g = np.asarray(images, np.float32).mean(axis=-1).reshape(len(images), -1)
    x = scale(np.c_[g.mean(1), g.std(1), skew(g, axis=1), kurtosis(g, axis=1)])
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(
        roc_auc_score(labels, cross_val_predict(LogisticRegression(), x, labels, cv=cv, method="predict_proba")[:, 1])
    )


def main() -> None:
    from audit.data.synthetic import generate_dataset
    from audit.regions import estimate_regions, regions_from_label_maps

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    seeds = [int(s) for s in sys.argv[2:]] or [5, 6]
    print(
        f"{'signal':14s} {'p':>4s} {'seed':>4s} {'AUC exact regions':>18s} {'AUC estimated':>14s} "
        f"{'0.5 whole-image moments':>24s}"
    )
    t0 = time.perf_counter()
    for signal in SIGNALS:
        for p in (0.0, 1.0) if signal != "none" else (0.0,):
            for seed in seeds:
                ds = generate_dataset(_data_config(signal, p, n), np.random.default_rng(seed))
                images = np.asarray(ds.images)
                exact = regions_from_label_maps(ds.label_maps)
                estimated = np.stack([estimate_regions(img) for img in images]).astype(np.uint8)
                a_exact, a_est = _auc(images, ds.labels, exact), _auc(images, ds.labels, estimated)
                old = _whole_image_auc(images, ds.labels)
                print(f"{signal:14s} {p:4.1f} {seed:4d} {a_exact:18.3f} {a_est:14.3f} {old:24.3f}", flush=True)

    from audit.data.anatomy import colin27_dir

    if (colin27_dir() / "ch2.nii.gz").is_file():
        for seed in seeds:
            images, labels, exact = colin27_lesions(n, np.random.default_rng(seed))
            estimated = np.stack([estimate_regions(img) for img in images]).astype(np.uint8)
            a_exact, a_est = _auc(images, labels, exact), _auc(images, labels, estimated)
            old = _whole_image_auc(images, labels)
            print(f"{'colin27-lesion':14s} {0.0:4.1f} {seed:4d} {a_exact:18.3f} {a_est:14.3f} {old:24.3f}", flush=True)
    else:
        print("colin27-lesion: skipped (apt-get install mricron-data)")
    print(
        f"({time.perf_counter() - t0:.0f} s; warn_auc 0.7: 'none', colin27-lesion and every p = 0 row must stay "
        "below it)"
    )


if __name__ == "__main__":
    main()
