"""Artifact reliance: does the decision change when only non-anatomical pixels change?

Two counterfactual test sets are built from the region masks:

- *non-anatomy removed*: pixels the masks call artifact, padding or background are replaced
  (``fill``: the image's median background value, OpenCV Telea inpainting, or noisy linear
  imputation after ROAD, Rong et al. 2022);
- *brain blanked*: brain and tumor pixels are replaced, keeping only skull band, background,
  padding and artifacts.

A model that reads anatomy keeps its accuracy on the first.  The check fails when accuracy falls there: the
paired accuracy drop's 95% interval (:func:`audit.checks.flips.drop_status`) lies wholly above ``max_drop``
(0.1); it warns when the drop exceeds half of that.  The share of flipped predictions is reported beside it
but not read: a weak model's borderline decisions flip both ways under any change of pixels, which is
instability, not reliance (a shortcut-free model of 0.90 accuracy on a site-confounded set flipped 8%,
accuracy 0.900 -> 0.897).

The second set is reported, never read into the status.  It asks whether the pixels outside the brain
carry the class *for this model*, far outside anything it was trained on (a dark hole where the brain
was), and on a test set whose classes differ outside the brain any model's answer to such images follows
that difference one way or the other, whether or not it learnt it: models trained with the shortcut drawn
independently of the class (they cannot read it) reached 57-76% balanced accuracy on brainless heads of
confounded test sets while their in-distribution counterfactual moved 0-2% of their predictions
(docs/mitigations.md, five of 28).  On its own it is no evidence that the model uses those pixels; every
model that did rely on them in our benchmarks also failed another counterfactual (this one's first set,
``geometry_transfer`` or ``acquisition_transfer``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult
from audit.checks.flips import drop_status
from audit.regions import BRAIN_TISSUE, REGIONS
from audit.scores import balanced_accuracy, wilson_interval

__all__ = ["ArtifactReliance", "fill_regions"]

_NON_ANATOMY = [REGIONS.index(r) for r in ("artifact", "padding", "background")]
_BRAIN = [REGIONS.index(r) for r in BRAIN_TISSUE]


def _noisy_linear(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, iterations: int = 200) -> np.ndarray:
    """ROAD-style noisy linear imputation (Rong et al. 2022), approximated: each masked pixel
    becomes the mean of its 4 neighbours (Jacobi iterations of the discrete Laplace equation,
    starting from the unmasked mean), plus Gaussian noise of 1% of the image's range."""
    out = img.copy()
    out[mask] = img[~mask].mean() if (~mask).any() else 0.0
    for _ in range(iterations):
        padded = np.pad(out, 1, mode="edge")
        avg = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
        out[mask] = avg[mask]
    noise = rng.normal(0, 0.01 * (float(np.ptp(img)) or 1.0), img.shape)
    out[mask] += noise[mask]
    return out


def fill_regions(
    image: np.ndarray, mask: np.ndarray, how: str, reference: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``image`` (H, W, C) in [0, 1] with ``mask`` (H, W) pixels replaced.

    how : "median" (the median of the image over ``reference`` pixels, its background),
    "inpaint" (cv2.INPAINT_TELEA, radius 3, on 8-bit channels) or "noisy_linear" (see
    :func:`_noisy_linear`).
    """
    out = np.array(image, np.float32, copy=True)
    if not mask.any():
        return out
    if how == "median":
        # The background's median (flat, dark) both when removing the background itself and when
        # blanking the brain; an image without background falls back to the unmasked pixels.
        ref = reference if reference.any() else ~mask
        value = np.median(out[ref], axis=0) if ref.any() else np.zeros(out.shape[-1], np.float32)
        out[mask] = value
    elif how == "inpaint":
        m8 = mask.astype(np.uint8)
        for c in range(out.shape[-1]):
            ch = np.clip(np.round(out[..., c] * 255), 0, 255).astype(np.uint8)
            filled = cv2.inpaint(ch, m8, 3, cv2.INPAINT_TELEA).astype(np.float32) / 255
            out[..., c][mask] = filled[mask]  # unmasked pixels keep their exact values
    elif how == "noisy_linear":
        for c in range(out.shape[-1]):
            out[..., c] = _noisy_linear(out[..., c], mask, rng)
    else:
        raise ValueError(f"fill must be median, inpaint or noisy_linear, got {how!r}")
    return np.clip(out, 0, 1)


class ArtifactReliance(Check):
    name = "artifact_reliance"
    title = "Artifact reliance (counterfactual)"
    description = (
        "Replaces what the region masks call artifact, padding or background (accuracy should hold), and reports "
        "separately what the model says with the brain blanked (not counted: an out-of-distribution probe)."
    )
    needs = ("masks",)
    cost = "low"
    params = {"fill": "median", "max_drop": 0.1}
    evidence = "model_behaviour"

    def run(self, ctx: CheckContext) -> CheckResult:
        p = {**self.params, **ctx.params}
        from audit.model import predict_proba

        k = len(ctx.class_names)
        y = np.asarray(ctx.labels)
        base = np.asarray(ctx.proba)
        pred0 = base.argmax(axis=1)
        regions = np.asarray(ctx.regions)
        background = regions == REGIONS.index("background")
        removed, blanked = [], []
        for img, reg, bg in zip(np.asarray(ctx.images), regions, background, strict=True):
            removed.append(fill_regions(img, np.isin(reg, _NON_ANATOMY), p["fill"], bg, ctx.rng))
            blanked.append(fill_regions(img, np.isin(reg, _BRAIN), p["fill"], bg, ctx.rng))
        rows, preds = [], {}
        for label, images in (("non-anatomy removed", removed), ("brain blanked", blanked)):
            proba = predict_proba(ctx.model, np.stack(images))
            pred = proba.argmax(axis=1)
            preds[label] = pred
            rows.append({
                "counterfactual": label,
                "accuracy": float(np.mean(pred == y)),
                "balanced_accuracy": balanced_accuracy(y, pred),
                "flip_rate": float(np.mean(pred != pred0)),
                "confidence_change": float(np.mean(proba[np.arange(len(y)), pred0] - base[np.arange(len(y)), pred0])),
            })  # fmt: skip
        table = pd.DataFrame(
            [{"counterfactual": "original", "accuracy": float(np.mean(pred0 == y)),
              "balanced_accuracy": balanced_accuracy(y, pred0), "flip_rate": 0.0, "confidence_change": 0.0},
             *rows]
        )  # fmt: skip
        moved = preds["non-anatomy removed"]
        status, drop, low, high = drop_status(pred0 == y, moved == y, p["max_drop"])
        flips = moved != pred0
        flip_low, flip_high = wilson_interval(int(flips.sum()), int(flips.size))
        blank_bacc = rows[1]["balanced_accuracy"]
        chance = 1 / k
        metrics = {
            "accuracy": float(np.mean(pred0 == y)),
            "accuracy_non_anatomy_removed": rows[0]["accuracy"],
            "accuracy_drop": drop,
            "accuracy_drop_ci_low": low,
            "accuracy_drop_ci_high": high,
            "flip_rate_non_anatomy_removed": float(flips.mean()),
            "flip_rate_ci_low": flip_low,
            "flip_rate_ci_high": flip_high,
            "balanced_accuracy_brain_blanked": blank_bacc,
            "chance": chance,
            "fill": p["fill"],
        }
        removed_text = (
            f"with only artifact, padding and background pixels changed, accuracy goes from {metrics['accuracy']:.2f} "
            f"to {rows[0]['accuracy']:.2f} (drop {drop:.3f}, 95% CI {low:.3f} to {high:.3f}; tolerated "
            f"{p['max_drop']:.2f}; {100 * flips.mean():.0f}% of predictions flip)"
        )
        verdict_text = {
            "fail": "the decisions depend on non-anatomical pixels",
            "warn": "more than half the tolerated drop, but the interval does not clear it",
            "pass": "the decisions hold without non-anatomical pixels",
        }[status]
        blank_text = (
            f"With the brain blanked, {100 * blank_bacc:.0f}% balanced accuracy (chance {100 * chance:.0f}%): "
            "reported, not counted (on brainless images of a test set whose classes differ outside the brain, a "
            "model that does not use those pixels can also score above chance)."
        )
        headline = f"{removed_text[0].upper() + removed_text[1:]}: {verdict_text}. {blank_text}"
        return CheckResult(self.name, status, headline, metrics=metrics, tables={"counterfactual test sets": table})
