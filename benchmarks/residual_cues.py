"""Can the network still tell a shortcut's carriers after an input mitigation?  (issue 21, a diagnostic)

An input mitigation (``data.preprocess``) removes a shortcut only if the images the network sees no
longer show it.  This asks that before any training: in a benchmark cell at tie strength p < 1 both
classes hold images with and without the planted shortcut (``meta[<artifact>]``; for sites, the
site tied to the tumor class), so *within one class* the carrier flag is independent of the tumor.
For each class, balanced groups of carriers and non-carriers are drawn, each image goes through the
mitigation, and simple statistics of the result (no learning on pixels: brightness percentiles of the
non-zero pixels, their share, Laplacian spread inside the brain and along its rim, high-pass residual,
corner occupancy) are scored two ways:

- the best single statistic's ROC AUC for the carrier flag (folded: max(AUC, 1 - AUC)), and
- a 5-fold cross-validated logistic regression on all of them (its ROC AUC);

each averaged over the two classes, with the same logistic on a shuffled carrier flag as the null
(its spread at this group size is about 0.05).  An AUC well above the null says the shortcut is still
readable after the mitigation, so a network trained on p = 1 data can still take it; near the null
says these statistics cannot see it (a network may still: this bounds from below).

    python benchmarks/residual_cues.py [--shortcuts zoom,padding,intensity,site] [--anatomies mni152]
                                       [--p 0.9] [--n 60] [--mitigations brain_crop,...] [--out DIR]

Writes ``<out>/residual_cues.csv``.  Nothing is tuned on it: the statistics were fixed before the run.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def statistics(image: np.ndarray) -> dict[str, float]:
    """Non-learned statistics of one model input (H, W, C): what a shortcut could leave behind."""
    import cv2

    g = np.asarray(image, np.float32).mean(axis=-1)
    on = g > 0.05
    if not on.any():
        on = np.ones_like(on)
    inner = cv2.erode(on.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    rim = on & ~inner
    lap = cv2.Laplacian(g, cv2.CV_32F)
    high = g - cv2.GaussianBlur(g, (0, 0), 2.0)
    c = max(1, g.shape[0] // 5)
    corners = [on[:c, :c], on[:c, -c:], on[-c:, :c], on[-c:, -c:]]
    vals = g[on]
    return {
        "share_on": float(on.mean()),
        "p10": float(np.percentile(vals, 10)),
        "p50": float(np.percentile(vals, 50)),
        "p90": float(np.percentile(vals, 90)),
        "std_on": float(vals.std()),
        "laplacian_inner": float(lap[inner].std()) if inner.any() else 0.0,
        "laplacian_rim": float(lap[rim].std()) if rim.any() else 0.0,
        "high_pass_inner": float(high[inner].std()) if inner.any() else 0.0,
        "corner_occupancy": float(np.mean([k.mean() for k in corners])),
    }


def carriers(meta: pd.DataFrame, shortcut: str, labels: np.ndarray) -> np.ndarray:
    """Which images carry the planted shortcut: the artifact's flag, or for sites the site most tied to
    the last class."""
    if shortcut != "site":
        return meta[shortcut].astype(bool).to_numpy()
    site = meta["site"].astype(str).to_numpy()
    names = sorted(set(site))
    tied = max(names, key=lambda s: float(np.mean(labels[site == s] == labels.max())) if (site == s).any() else 0)
    return site == tied


def cue_auc(features: pd.DataFrame, flag: np.ndarray, seed: int) -> tuple[float, str, float]:
    """(best single statistic's folded AUC, its name, cross-validated logistic AUC) for ``flag``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    single = {k: roc_auc_score(flag, features[k]) for k in features}
    best = max(single, key=lambda k: max(single[k], 1 - single[k]))
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    proba = cross_val_predict(clf, features.to_numpy(), flag, cv=cv, method="predict_proba")[:, 1]
    return max(single[best], 1 - single[best]), best, float(roc_auc_score(flag, proba))


def main(argv: list[str] | None = None) -> int:
    from audit.benchmark import SITE, Cell, cell_config
    from audit.config import load_config
    from audit.io import write_text_atomic
    from audit.mitigations import InputMitigation, available_mitigations, mitigation_class
    from audit.pipeline import cached_outputs

    inputs = [n for n, m in sorted(available_mitigations().items()) if issubclass(m, InputMitigation)]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shortcuts", default="zoom,padding,intensity,site")
    p.add_argument("--anatomies", default="mni152,colin27")
    p.add_argument("--p", type=float, default=0.9)
    p.add_argument("--n", type=int, default=60, help="images per group (carriers, non-carriers) and class")
    p.add_argument("--mitigations", default=",".join(inputs))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "residual_cues")
    args = p.parse_args(argv)
    if not 0 < args.p < 1:
        raise SystemExit("--p must lie strictly between 0 and 1: both classes need carriers and non-carriers")
    cfg = load_config(ROOT / "experiments" / "benchmark.toml")
    transforms = {"none": lambda im: im}
    for name in [m for m in args.mitigations.split(",") if m]:
        try:  # the registry's own one-line errors: unknown, or a training mitigation
            mit = mitigation_class(name, at_input=True)()
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        transforms[name] = lambda im, mit=mit: mit.transform(im)[0]
    rows = []
    for anatomy in args.anatomies.split(","):
        for shortcut in args.shortcuts.split(","):
            cell = Cell(anatomy, "present", SITE if shortcut == "site" else shortcut, args.p)
            c = cell_config(cfg, cell, "hirescam")
            ds = cached_outputs(c, args.out / cell.name, "data", cache=args.out / "cache")["data"]
            flag = carriers(ds.meta, shortcut, ds.labels)
            # Draws seeded by the cell (and the mitigation, for the null): a row does not depend on which
            # other cells or mitigations the run holds.
            cell_key = zlib.crc32(cell.name.encode())
            rng = np.random.default_rng([args.seed, cell_key])
            groups = []
            for k in np.unique(ds.labels):
                a, b = np.flatnonzero((ds.labels == k) & flag), np.flatnonzero((ds.labels == k) & ~flag)
                n = min(len(a), len(b), args.n)
                groups.append(np.concatenate([rng.choice(a, n, replace=False), rng.choice(b, n, replace=False)]))
            for name, fn in transforms.items():
                scores = []
                null_rng = np.random.default_rng([args.seed, cell_key, zlib.crc32(name.encode())])
                for sel in groups:
                    feats = pd.DataFrame([statistics(fn(ds.images[i])) for i in sel])
                    best, which, cv = cue_auc(feats, flag[sel], args.seed)
                    _, _, null = cue_auc(feats, null_rng.permutation(flag[sel]), args.seed)
                    scores.append((best, which, cv, null, len(sel) // 2))
                row = {
                    "anatomy": anatomy, "shortcut": shortcut, "p": args.p, "mitigation": name,
                    "n_per_group": min(s[4] for s in scores),
                    "best_statistic_auc": float(np.mean([s[0] for s in scores])),
                    "best_statistic": "/".join(s[1] for s in scores),
                    "logistic_auc": float(np.mean([s[2] for s in scores])),
                    "null_logistic_auc": float(np.mean([s[3] for s in scores])),
                }  # fmt: skip
                rows.append(row)
                auc, null = row["logistic_auc"], row["null_logistic_auc"]
                best = f"best {row['best_statistic_auc']:.3f} ({row['best_statistic']})"
                print(f"{cell.name:28s} {name:22s} logistic {auc:.3f} (null {null:.3f})  {best}", flush=True)
                args.out.mkdir(parents=True, exist_ok=True)
                write_text_atomic(args.out / "residual_cues.csv", pd.DataFrame(rows).to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
