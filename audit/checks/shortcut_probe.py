"""Dataset shortcut probe: can the label be predicted from pixels and facts that carry no anatomy?

A plain classifier (scikit-learn logistic regression on standardised features, or boosted
trees) predicts the label from image-level acquisition features under stratified 5-fold
cross-validation; its ROC AUC (one-vs-rest macro beyond two classes) measures how much label
information the data offers outside the anatomy.  Hospital identity alone reached AUC 0.86
in a known chest X-ray case (Zech et al. 2018), so such signals are real.

Every feature is computed from pixels outside the brain and tumor (background, padding,
artifacts and, separately, the skull band), from the field of view's geometry, or from
metadata, so a lesion inside the brain cannot move it: a pathology that changes the whole
image's histogram (the moments of 0.5 read the lesion itself) is no shortcut.

- outside = background, padding, artifact: mean of 8-px border strips and 16-px corners
  (their outside pixels only), the share and count of bright pixels (> 0.5), mean, std,
  skewness and kurtosis of the outside pixels;
- skull band: mean and std of its pixels (a scanner's windowing shows there);
- field of view: the head's (brain + tumor + skull band) area fraction, bounding-box aspect and
  centre offset;
- metadata columns ``orig_height``, ``orig_width``, ``orig_aspect``, ``padding`` when present.

A data shortcut is a finding about the data (evidence line ``dataset``): whether the model uses
it is for the model-behaviour and attention lines to show (:mod:`audit.verdict`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult
from audit.regions import BRAIN_TISSUE, REGIONS

__all__ = ["ShortcutProbe", "acquisition_features"]

_ANATOMY = [REGIONS.index(r) for r in BRAIN_TISSUE]
_SKULL = REGIONS.index("skull_band")
_META = ("orig_height", "orig_width", "orig_aspect", "padding")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def _moments(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, SD, skewness m3 / m2^1.5 and excess kurtosis m4 / m2^2 - 3 (central moments m_k, the
    biased estimates, as ``scipy.stats.skew`` / ``kurtosis`` with their defaults); shape moments are 0
    for fewer than 4 values or a spread below 1e-6 (nearly constant: they would be rounding noise)."""
    values = np.asarray(values, np.float64)
    if values.size < 4:
        return _mean(values), 0.0, 0.0, 0.0
    d = values - values.mean()
    m2 = float(np.mean(d**2))
    if m2 < 1e-12:
        return float(values.mean()), float(np.sqrt(m2)), 0.0, 0.0
    return float(values.mean()), float(np.sqrt(m2)), float(np.mean(d**3) / m2**1.5), float(np.mean(d**4) / m2**2 - 3)


def acquisition_features(images: np.ndarray, regions: np.ndarray | None, meta: pd.DataFrame | None) -> pd.DataFrame:
    """One row of non-anatomical features per image (see the module docstring).

    images : (N, H, W, C) in [0, 1]; regions : (N, H, W) region indices, or None (the head is
    then the pixels above 5% of the image's maximum, and there is no skull band).
    """
    rows = []
    for i, img in enumerate(np.asarray(images, np.float32)):
        g = img.mean(axis=-1)
        if regions is not None:
            anatomy, skull = np.isin(regions[i], _ANATOMY), regions[i] == _SKULL
        else:
            anatomy, skull = g > 0.05 * max(float(g.max()), 1e-6), np.zeros(g.shape, bool)
        head = anatomy | skull
        out = ~head
        b, c = 8, 16
        strips = {"border_top": np.s_[:b], "border_bottom": np.s_[-b:],
                  "border_left": np.s_[:, :b], "border_right": np.s_[:, -b:],
                  "corner_tl": np.s_[:c, :c], "corner_tr": np.s_[:c, -c:],
                  "corner_bl": np.s_[-c:, :c], "corner_br": np.s_[-c:, -c:]}  # fmt: skip
        row = {name: _mean(g[sl][~anatomy[sl]]) for name, sl in strips.items()}
        outside = g[out]
        mean, std, skewness, kurt = _moments(outside)
        rr, cc = np.nonzero(head)
        row |= {
            "bright_outside_share": _mean((outside > 0.5).astype(float)),
            "bright_outside_count": float((outside > 0.5).sum()),
            "outside_mean": mean, "outside_std": std, "outside_skewness": skewness, "outside_kurtosis": kurt,
            "skull_mean": _mean(g[skull]), "skull_std": float(g[skull].std()) if skull.any() else 0.0,
            "head_area": float(head.mean()),
            "head_aspect": float(np.ptp(rr) + 1) / float(np.ptp(cc) + 1) if rr.size else 0.0,
            "head_centre_row": float(rr.mean() / g.shape[0] - 0.5) if rr.size else 0.0,
            "head_centre_col": float(cc.mean() / g.shape[1] - 0.5) if rr.size else 0.0,
        }  # fmt: skip
        rows.append(row)
    table = pd.DataFrame(rows).astype(float).fillna(0.0)
    if meta is not None:
        for col in _META:
            if col in meta:
                table[col] = pd.to_numeric(meta[col], errors="coerce").fillna(0.0).to_numpy(float)
    return table


class ShortcutProbe(Check):
    name = "shortcut_probe"
    title = "Dataset shortcut probe"
    description = (
        "Cross-validated classifier on features that carry no anatomy (pixels outside brain and tumor: borders, "
        "corners, bright pixels, noise and histogram of the background, the skull band's intensity; field of view; "
        "metadata); warns when it predicts the label well: a shortcut the data offers."
    )
    cost = "low"
    params = {"classifier": "logistic", "warn_auc": 0.7, "fail_auc": 0.9, "folds": 5}
    evidence = "dataset"

    def run(self, ctx: CheckContext) -> CheckResult:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        p = {**self.params, **ctx.params}
        y = np.asarray(ctx.labels)
        counts = np.bincount(y, minlength=len(ctx.class_names))
        folds = min(p["folds"], int(counts[counts > 0].min()) if counts.any() else 0)
        if (counts > 0).sum() < 2 or folds < 2:
            return CheckResult(self.name, "skipped", "too few images per class for cross-validation")
        features = acquisition_features(ctx.images, ctx.regions, ctx.meta)
        seed = int(ctx.rng.integers(2**31 - 1))
        if p["classifier"] == "logistic":
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        elif p["classifier"] == "boosted_trees":
            clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
        else:
            raise ValueError(f"classifier must be logistic or boosted_trees, got {p['classifier']!r}")
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        proba = cross_val_predict(clf, features.to_numpy(), y, cv=cv, method="predict_proba")
        if proba.shape[1] == 2:
            auc = float(roc_auc_score(y, proba[:, 1]))
        else:
            auc = float(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
        # Which features carry the label: standardised mean difference between classes (first vs rest).
        z = (features - features.mean()) / features.std(ddof=0).replace(0, 1)
        effect = (z[y == y.max()].mean() - z[y != y.max()].mean()).abs().sort_values(ascending=False)
        top = pd.DataFrame({"feature": effect.index[:8], "standardised_difference": effect.to_numpy()[:8].round(3)})
        metrics = {"auc": auc, "classifier": p["classifier"], "folds": folds, "n_features": features.shape[1]}
        lead = ", ".join(top["feature"][:3])
        if auc >= p["fail_auc"]:
            status = "fail"
        elif auc >= p["warn_auc"]:
            status = "warn"
        else:
            status = "pass"
        if status == "pass":
            headline = (
                f"Acquisition features without anatomy predict the label with AUC {auc:.2f}, "
                f"below the warning level {p['warn_auc']:.2f}."
            )
        else:
            headline = (
                f"Acquisition features without anatomy predict the label with AUC {auc:.2f} "
                f"(strongest: {lead}): the data offers a shortcut."
            )
        return CheckResult(self.name, status, headline, metrics=metrics, tables={"features that differ most": top})
