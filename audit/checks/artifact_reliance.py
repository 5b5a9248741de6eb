"""Artifact reliance: does the decision change when only non-anatomical pixels change?

Two counterfactual test sets are built from the region masks:

- *non-anatomy removed*: pixels the masks call artifact, padding or background are replaced
  (``fill``: the image's median background value, OpenCV Telea inpainting, or noisy linear
  imputation after ROAD, Rong et al. 2022);
- *brain blanked*: brain and tumor pixels are replaced, keeping only skull band, background,
  padding and artifacts.

A model that reads anatomy keeps its predictions on the first and falls to chance on the
second.  The check fails when predictions flip on the first (the flip rate's 95% Wilson
interval wholly above ``max_flip_rate``: :func:`audit.checks.flips.flip_status`) or the model
still beats chance clearly on the second (balanced accuracy at least ``1/K + chance_margin``).
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from audit.checks.base import Check, CheckContext, CheckResult
from audit.checks.flips import flip_status
from audit.regions import BRAIN_TISSUE, REGIONS
from audit.scores import balanced_accuracy

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
        "Replaces what the region masks call artifact, padding or background (predictions should not flip), "
        "and separately blanks the brain (accuracy should fall to chance)."
    )
    needs = ("masks",)
    cost = "low"
    params = {"fill": "median", "max_flip_rate": 0.1, "chance_margin": 0.1}
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
        rows, probas = [], {}
        for label, images in (("non-anatomy removed", removed), ("brain blanked", blanked)):
            proba = predict_proba(ctx.model, np.stack(images))
            pred = proba.argmax(axis=1)
            probas[label] = proba
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
        flip_verdict, flips, flips_low, flips_high = flip_status(probas["non-anatomy removed"].argmax(axis=1) != pred0,
                                                                 p["max_flip_rate"])  # fmt: skip
        blank_bacc = rows[1]["balanced_accuracy"]
        chance = 1 / k
        metrics = {
            "accuracy": float(np.mean(pred0 == y)),
            "flip_rate_non_anatomy_removed": flips,
            "flip_rate_ci_low": flips_low,
            "flip_rate_ci_high": flips_high,
            "accuracy_non_anatomy_removed": rows[0]["accuracy"],
            "balanced_accuracy_brain_blanked": blank_bacc,
            "chance": chance,
            "fill": p["fill"],
        }
        flipped = (
            f"{100 * flips:.0f}% (95% CI {100 * flips_low:.0f}-{100 * flips_high:.0f}%) of predictions flip when "
            "only artifact, padding and background pixels change"
        )
        problems = [flipped] if flip_verdict == "fail" else []
        if blank_bacc >= chance + p["chance_margin"]:
            problems.append(
                f"with the brain blanked the model still reaches {100 * blank_bacc:.0f}% balanced accuracy "
                f"(chance {100 * chance:.0f}%)"
            )
        if problems:
            text = "; ".join(problems)
            status, headline = "fail", text[0].upper() + text[1:] + "."
        elif flip_verdict == "warn" or blank_bacc >= chance + p["chance_margin"] / 2:
            status = "warn"
            headline = (
                f"{flipped[0].upper() + flipped[1:]} (tolerated: {100 * p['max_flip_rate']:.0f}%); brain blanked: "
                f"{100 * blank_bacc:.0f}% balanced accuracy (chance {100 * chance:.0f}%)."
            )
        else:
            status = "pass"
            headline = (
                f"Predictions hold without non-anatomical pixels ({100 * flips:.0f}% flip) and fall to chance with "
                f"the brain blanked ({100 * blank_bacc:.0f}% balanced accuracy)."
            )
        return CheckResult(self.name, status, headline, metrics=metrics, tables={"counterfactual test sets": table})
