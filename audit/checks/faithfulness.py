"""Faithfulness: deletion and insertion curves (Petsiuk et al. 2018, RISE).

Pixels are ranked by the map (upsampled to the image).  *Deletion* replaces the top-ranked
pixels, a growing fraction at a time, with a blurred copy of the image and follows the
probability of the explained class; *insertion* starts from the blurred image and puts the
top-ranked pixels back.  Each curve's AUC is its mean over the fractions 0, 1/S, ..., 1
(trapezoid rule).  A faithful map makes the probability fall fast on deletion (low AUC) and
rise fast on insertion (high AUC), compared with the same curves for a random ranking; a curve
counts as better than random only by more than ``margin`` (0.01).
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult

__all__ = ["Faithfulness", "perturbation_curve"]


def perturbation_curve(
    predict, images: np.ndarray, ranks: np.ndarray, blurred: np.ndarray, targets: np.ndarray, steps: int, insert: bool
) -> np.ndarray:
    """(steps + 1, N) probabilities of ``targets`` as the top-ranked pixels are deleted (or inserted).

    ranks : (N, H*W) pixel order per image, most important first.
    """
    n, h, w, _ = images.shape
    out = []
    for s in range(steps + 1):
        k = int(round(s / steps * h * w))
        chosen = np.zeros((n, h * w), bool)
        np.put_along_axis(chosen, ranks[:, :k], True, axis=1)
        chosen = chosen.reshape(n, h, w, 1)
        x = np.where(chosen, images, blurred) if insert else np.where(chosen, blurred, images)
        out.append(predict(x.astype(np.float32))[np.arange(n), targets])
    return np.stack(out)


def _auc(curve: np.ndarray) -> np.ndarray:
    """Trapezoid-rule area under (steps + 1, N) curves over fractions 0..1."""
    return (curve.sum(axis=0) - (curve[0] + curve[-1]) / 2) / (len(curve) - 1)


class Faithfulness(Check):
    name = "faithfulness"
    title = "Faithfulness: deletion and insertion"
    description = (
        "Deletes (or inserts) pixels in the map's order and follows the explained class's probability; "
        "compares the curves' AUCs with a random pixel order (Petsiuk et al. 2018)."
    )
    needs = ("extra_cams",)
    cost = "medium"
    params = {"sample": 32, "steps": 16, "blur_sigma": 8.0, "margin": 0.01}
    evidence = "explanation_trust"

    def run(self, ctx: CheckContext) -> CheckResult:
        from audit.model import predict_proba

        p = {**self.params, **ctx.params}
        idx, x, targets = ctx.sample(p["sample"])
        maps = ctx.upsampled(np.asarray(ctx.cams.maps)[idx], ctx.cams.grid)
        blurred = np.stack([cv2.GaussianBlur(img, (0, 0), p["blur_sigma"]).reshape(img.shape) for img in x])
        # Ties (flat regions of a coarse map) are broken at random, the same way for every curve.
        jitter = ctx.rng.random(maps.shape).reshape(len(x), -1) * 1e-9
        ranks = np.argsort(-(maps.reshape(len(x), -1) + jitter), axis=1, kind="stable")
        random_ranks = np.stack([ctx.rng.permutation(maps[0].size) for _ in range(len(x))])

        def predict(batch):
            return predict_proba(ctx.model, batch)

        curves = {
            (order, kind): perturbation_curve(predict, x, r, blurred, targets, p["steps"], kind == "insertion")
            for order, r in (("map", ranks), ("random", random_ranks))
            for kind in ("deletion", "insertion")
        }
        aucs = {key: _auc(c) for key, c in curves.items()}
        mean = {f"{kind}_auc_{order}": float(a.mean()) for (order, kind), a in aucs.items()}
        # Beating random by less than the margin (e.g. a model whose output barely moves) does not count.
        deletion_better = mean["deletion_auc_map"] < mean["deletion_auc_random"] - p["margin"]
        insertion_better = mean["insertion_auc_map"] > mean["insertion_auc_random"] + p["margin"]
        status = {2: "pass", 1: "warn", 0: "fail"}[int(deletion_better) + int(insertion_better)]
        headline = (
            f"Deletion AUC {mean['deletion_auc_map']:.2f} (random order {mean['deletion_auc_random']:.2f}, lower is "
            f"better); insertion AUC {mean['insertion_auc_map']:.2f} (random {mean['insertion_auc_random']:.2f}, "
            "higher is better)."
        )
        fractions = np.linspace(0, 1, p["steps"] + 1)
        table = pd.DataFrame({"fraction": fractions.round(3)})
        for (order, kind), c in curves.items():
            table[f"{kind}_{order}"] = c.mean(axis=1).round(4)
        metrics = {"n_images": len(x), "steps": p["steps"], **mean}
        return CheckResult(
            self.name, status, headline, metrics=metrics, tables={"mean curves": table},
            figures={"Deletion and insertion curves": _figure(table)},
        )  # fmt: skip


def _figure(table: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=100)
    for ax, kind in zip(axes, ("deletion", "insertion"), strict=True):
        ax.plot(table["fraction"], table[f"{kind}_map"], label="map order")
        ax.plot(table["fraction"], table[f"{kind}_random"], "--", label="random order")
        ax.set_xlabel(f"fraction of pixels {'deleted' if kind == 'deletion' else 'inserted'}")
        ax.set_ylabel("probability of the explained class")
        ax.set_title(kind.capitalize(), fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return CheckContext.figure_png(fig)
